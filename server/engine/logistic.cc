#include "server/engine/logistic.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <numeric>

namespace saasmetrics::engine {
namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

double Sigmoid(double z) {
  if (z >= 0) return 1 / (1 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1 + e);
}

// log(1 + e^z), without overflow.
double Softplus(double z) { return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z)); }

}  // namespace

size_t Standardization::KeptCount() const {
  return static_cast<size_t>(std::count(kept.begin(), kept.end(), true));
}

Standardization Standardize(const Design& d) {
  Standardization s;
  s.mean.assign(d.cols, 0);
  s.sd.assign(d.cols, 0);
  s.kept.assign(d.cols, false);
  if (d.rows == 0) return s;
  for (size_t r = 0; r < d.rows; ++r) {
    for (size_t c = 0; c < d.cols; ++c) s.mean[c] += d.row(r)[c];
  }
  for (size_t c = 0; c < d.cols; ++c) s.mean[c] /= static_cast<double>(d.rows);
  for (size_t r = 0; r < d.rows; ++r) {
    for (size_t c = 0; c < d.cols; ++c) {
      const double v = d.row(r)[c] - s.mean[c];
      s.sd[c] += v * v;
    }
  }
  for (size_t c = 0; c < d.cols; ++c) {
    s.sd[c] = std::sqrt(s.sd[c] / static_cast<double>(d.rows));
    // Constant up to rounding of the mean: dropped.
    s.kept[c] = s.sd[c] > 1e-12 * std::max(1.0, std::abs(s.mean[c]));
  }
  return s;
}

void Standardization::ApplyRow(const double* row, std::vector<double>& out) const {
  out.clear();
  for (size_t c = 0; c < kept.size(); ++c) {
    if (kept[c]) out.push_back((row[c] - mean[c]) / sd[c]);
  }
}

Design Standardization::Apply(const Design& d) const {
  Design out;
  out.rows = d.rows;
  out.cols = KeptCount();
  out.x.reserve(out.rows * out.cols);
  std::vector<double> row;
  for (size_t r = 0; r < d.rows; ++r) {
    ApplyRow(d.row(r), row);
    out.x.insert(out.x.end(), row.begin(), row.end());
  }
  return out;
}

double LogisticFit::Probability(const double* row) const {
  double z = intercept;
  for (size_t j = 0; j < coefficient.size(); ++j) z += coefficient[j] * row[j];
  return Sigmoid(z);
}

absl::StatusOr<LogisticFit> FitLogistic(const Design& d, const std::vector<uint8_t>& y,
                                        double lambda, const std::function<bool()>& stop) {
  if (d.rows == 0) return absl::InvalidArgumentError("no examples to fit");
  const Eigen::Index n = static_cast<Eigen::Index>(d.rows);
  const Eigen::Index p = static_cast<Eigen::Index>(d.cols) + 1;  // the intercept first
  // The design in place (no copy: it can be hundreds of megabytes); the intercept's column
  // of ones is implicit.
  const Eigen::Map<const RowMatrix> x(d.x.data(), n, p - 1);
  Eigen::VectorXd t(n);
  int64_t positives = 0;
  for (Eigen::Index r = 0; r < n; ++r) {
    t(r) = y[static_cast<size_t>(r)] != 0 ? 1.0 : 0.0;
    positives += y[static_cast<size_t>(r)] != 0 ? 1 : 0;
  }
  if (lambda <= 0 && (positives == 0 || positives == n)) {
    return absl::InvalidArgumentError("one class only: without a penalty the fit diverges");
  }
  Eigen::VectorXd penalty = Eigen::VectorXd::Constant(p, lambda);
  penalty(0) = 0;
  const auto linear = [&](const Eigen::VectorXd& beta) -> Eigen::VectorXd {
    return (x * beta.tail(p - 1)).array() + beta(0);
  };
  const auto objective = [&](const Eigen::VectorXd& beta) {
    const Eigen::VectorXd z = linear(beta);
    double f = 0;
    for (Eigen::Index r = 0; r < n; ++r) f += Softplus(z(r)) - t(r) * z(r);
    return f + 0.5 * (penalty.array() * beta.array().square()).sum();
  };
  Eigen::VectorXd beta = Eigen::VectorXd::Zero(p);
  Eigen::VectorXd grad(p);
  Eigen::MatrixXd hessian(p, p);
  // Row by row (rank-one updates, in row order): no n × p temporary.
  const auto derivatives = [&](const Eigen::VectorXd& b) {
    const Eigen::VectorXd z = linear(b);
    grad = (penalty.array() * b.array()).matrix();
    hessian.setZero();
    Eigen::VectorXd row(p);
    row(0) = 1;
    for (Eigen::Index r = 0; r < n; ++r) {
      const double mu = Sigmoid(z(r));
      row.tail(p - 1) = x.row(r).transpose();
      grad += (mu - t(r)) * row;
      hessian.selfadjointView<Eigen::Lower>().rankUpdate(row, mu * (1 - mu));
    }
    hessian = hessian.selfadjointView<Eigen::Lower>();
    hessian.diagonal() += penalty;
  };
  LogisticFit fit;
  double f = objective(beta);
  derivatives(beta);
  for (int it = 0; it < 100; ++it) {
    if (stop && stop()) return absl::CancelledError("model fit stopped");
    if (grad.cwiseAbs().maxCoeff() < 1e-9) break;
    const Eigen::LDLT<Eigen::MatrixXd> ldlt(hessian);
    if (ldlt.info() != Eigen::Success) {
      return absl::InvalidArgumentError("the Hessian is singular: the features are collinear");
    }
    const Eigen::VectorXd step = ldlt.solve(grad);
    bool accepted = false;
    for (double s = 1; s > 1e-12 && !accepted; s /= 2) {
      const Eigen::VectorXd next = beta - s * step;
      const double next_f = objective(next);
      if (std::isfinite(next_f) && next_f <= f + 1e-13 * std::abs(f)) {
        beta = next;
        f = next_f;
        accepted = true;
      }
    }
    if (!accepted) break;
    fit.iterations = it + 1;
    derivatives(beta);
  }
  const Eigen::MatrixXd inverse = hessian.ldlt().solve(Eigen::MatrixXd::Identity(p, p));
  fit.intercept = beta(0);
  fit.intercept_standard_error = std::sqrt(std::max(0.0, inverse(0, 0)));
  for (Eigen::Index j = 1; j < p; ++j) {
    fit.coefficient.push_back(beta(j));
    fit.standard_error.push_back(std::sqrt(std::max(0.0, inverse(j, j))));
  }
  return fit;
}

Evaluation Evaluate(const std::vector<double>& p, const std::vector<uint8_t>& y) {
  Evaluation e;
  e.examples = static_cast<int64_t>(p.size());
  for (const uint8_t v : y) e.positives += v != 0 ? 1 : 0;
  e.calibration.resize(10);
  for (size_t b = 0; b < 10; ++b) {
    e.calibration[b].lower = static_cast<double>(b) / 10;
    e.calibration[b].upper = static_cast<double>(b + 1) / 10;
  }
  if (p.empty()) return e;
  std::vector<double> predicted_sum(10, 0);
  for (size_t i = 0; i < p.size(); ++i) {
    const double truth = y[i] != 0 ? 1 : 0;
    e.brier += (p[i] - truth) * (p[i] - truth);
    const double clipped = std::clamp(p[i], 1e-15, 1 - 1e-15);
    e.log_loss -= truth * std::log(clipped) + (1 - truth) * std::log(1 - clipped);
    const size_t bin = std::min<size_t>(9, static_cast<size_t>(std::floor(p[i] * 10)));
    ++e.calibration[bin].examples;
    e.calibration[bin].positives += y[i] != 0 ? 1 : 0;
    predicted_sum[bin] += p[i];
  }
  e.brier /= static_cast<double>(p.size());
  e.log_loss /= static_cast<double>(p.size());
  for (size_t b = 0; b < 10; ++b) {
    CalibrationBin& c = e.calibration[b];
    if (c.examples == 0) continue;
    c.mean_predicted = predicted_sum[b] / static_cast<double>(c.examples);
    c.observed = static_cast<double>(c.positives) / static_cast<double>(c.examples);
  }
  // AUC: the Mann–Whitney statistic with average ranks for ties.
  const int64_t negatives = e.examples - e.positives;
  if (e.positives == 0 || negatives == 0) return e;
  std::vector<size_t> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  double rank_sum = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && p[order[j]] == p[order[i]]) ++j;
    const double average_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (size_t k = i; k < j; ++k) {
      if (y[order[k]] != 0) rank_sum += average_rank;
    }
    i = j;
  }
  const double n1 = static_cast<double>(e.positives), n0 = static_cast<double>(negatives);
  e.auc = (rank_sum - n1 * (n1 + 1) / 2) / (n1 * n0);
  return e;
}

}  // namespace saasmetrics::engine
