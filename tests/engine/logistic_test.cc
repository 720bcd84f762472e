// Logistic regression against a published worked example and an independent solver
// written here (plain gradient descent, no Eigen); AUC against counting pairs.
#include "server/engine/logistic.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace saasmetrics::engine {
namespace {

// Wikipedia, "Logistic regression", worked example: hours studied against passing an exam
// (20 students): β0 = −4.077713, β1 = 1.504645, standard errors 1.7610 and 0.6287.
TEST(Logistic, WikipediaHoursStudiedExample) {
  const std::vector<double> hours = {0.50, 0.75, 1.00, 1.25, 1.50, 1.75, 1.75, 2.00, 2.25, 2.50,
                                     2.75, 3.00, 3.25, 3.50, 4.00, 4.25, 4.50, 4.75, 5.00, 5.50};
  const std::vector<uint8_t> pass = {0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1};
  const Design d{.rows = hours.size(), .cols = 1, .x = hours};
  const absl::StatusOr<LogisticFit> fit = FitLogistic(d, pass, 0);
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_NEAR(fit->intercept, -4.077713, 1e-6);
  EXPECT_NEAR(fit->coefficient[0], 1.504645, 1e-6);
  EXPECT_NEAR(fit->intercept_standard_error, 1.7610, 5e-5);
  EXPECT_NEAR(fit->standard_error[0], 0.6287, 5e-5);
  // Two hours: p ≈ 0.26; four hours: p ≈ 0.87.
  const double two = 2, four = 4;
  EXPECT_NEAR(fit->Probability(&two), 0.26, 5e-3);
  EXPECT_NEAR(fit->Probability(&four), 0.87, 5e-3);
}

// The penalised objective's gradient, computed directly.
std::vector<double> Gradient(const Design& d, const std::vector<uint8_t>& y, double lambda,
                             const std::vector<double>& beta) {  // intercept first
  std::vector<double> g(d.cols + 1, 0);
  for (size_t r = 0; r < d.rows; ++r) {
    double z = beta[0];
    for (size_t c = 0; c < d.cols; ++c) z += beta[c + 1] * d.row(r)[c];
    const double err = 1 / (1 + std::exp(-z)) - (y[r] != 0 ? 1 : 0);
    g[0] += err;
    for (size_t c = 0; c < d.cols; ++c) g[c + 1] += err * d.row(r)[c];
  }
  for (size_t c = 1; c <= d.cols; ++c) g[c] += lambda * beta[c];
  return g;
}

// An independent fit: gradient descent with Nesterov momentum at step 1/L, L bounding the
// Hessian (¼ Σ‖x̃‖² + λ), until the gradient is below 1e-11.
std::vector<double> SlowFit(const Design& d, const std::vector<uint8_t>& y, double lambda) {
  double l = lambda;
  for (size_t r = 0; r < d.rows; ++r) {
    double norm = 1;
    for (size_t c = 0; c < d.cols; ++c) norm += d.row(r)[c] * d.row(r)[c];
    l += 0.25 * norm;
  }
  std::vector<double> beta(d.cols + 1, 0), prev = beta;
  for (int it = 1; it < 2000000; ++it) {
    std::vector<double> look(beta.size());
    const double m = (it - 1.0) / (it + 2.0);
    for (size_t j = 0; j < beta.size(); ++j) look[j] = beta[j] + m * (beta[j] - prev[j]);
    const std::vector<double> g = Gradient(d, y, lambda, look);
    prev = beta;
    double largest = 0;
    for (size_t j = 0; j < beta.size(); ++j) {
      beta[j] = look[j] - g[j] / l;
      largest = std::max(largest, std::abs(g[j]));
    }
    if (largest < 1e-11) break;
  }
  return beta;
}

TEST(Logistic, MatchesAnIndependentSolverTo1e6OnRandomData) {
  std::mt19937_64 rng(42);
  std::normal_distribution<double> normal(0, 1);
  std::uniform_real_distribution<double> u(0, 1);
  for (int round = 0; round < 6; ++round) {
    const size_t n = 150 + 50 * static_cast<size_t>(round), p = 2 + static_cast<size_t>(round % 4);
    Design d{.rows = n, .cols = p, .x = {}};
    std::vector<uint8_t> y;
    for (size_t r = 0; r < n; ++r) {
      double z = -0.5;
      for (size_t c = 0; c < p; ++c) {
        const double v = c % 2 == 0 ? normal(rng) : (u(rng) < 0.3 ? 1.0 : 0.0);
        d.x.push_back(v);
        z += (c % 3 == 0 ? 1.2 : -0.7) * v;
      }
      y.push_back(u(rng) < 1 / (1 + std::exp(-z)) ? 1 : 0);
    }
    const Design z = Standardize(d).Apply(d);
    const double lambda = round % 2 == 0 ? 1.0 : 0.1;
    const absl::StatusOr<LogisticFit> fit = FitLogistic(z, y, lambda);
    ASSERT_TRUE(fit.ok()) << fit.status();
    const std::vector<double> want = SlowFit(z, y, lambda);
    EXPECT_NEAR(fit->intercept, want[0], 1e-6) << round;
    for (size_t j = 0; j < z.cols; ++j)
      EXPECT_NEAR(fit->coefficient[j], want[j + 1], 1e-6) << round;
    std::vector<double> beta = {fit->intercept};
    beta.insert(beta.end(), fit->coefficient.begin(), fit->coefficient.end());
    for (const double g : Gradient(z, y, lambda, beta)) EXPECT_LT(std::abs(g), 1e-9);
    // Deterministic: the same data, bit-identical coefficients.
    const absl::StatusOr<LogisticFit> again = FitLogistic(z, y, lambda);
    EXPECT_EQ(again->coefficient, fit->coefficient);
    EXPECT_EQ(again->intercept, fit->intercept);
  }
}

TEST(Logistic, OneClassOnlyFitsWithAPenaltyAndNotWithout) {
  const Design d{.rows = 3, .cols = 1, .x = {1, 2, 3}};
  EXPECT_EQ(FitLogistic(d, {0, 0, 0}, 0).status().code(), absl::StatusCode::kInvalidArgument);
  const absl::StatusOr<LogisticFit> fit = FitLogistic(d, {0, 0, 0}, 1);
  ASSERT_TRUE(fit.ok());
  EXPECT_LT(fit->Probability(d.row(0)), 0.01);  // the intercept is not penalised
}

TEST(Standardize, PopulationDeviationAndConstantColumnsDropped) {
  const Design d{.rows = 4, .cols = 3, .x = {1, 5, 0, 2, 5, 0, 3, 5, 1, 4, 5, 1}};
  const Standardization s = Standardize(d);
  EXPECT_EQ(s.kept, (std::vector<bool>{true, false, true}));
  EXPECT_DOUBLE_EQ(s.mean[0], 2.5);
  EXPECT_DOUBLE_EQ(s.sd[0], std::sqrt(1.25));  // ÷ n, not n − 1
  const Design z = s.Apply(d);
  EXPECT_EQ(z.cols, 2u);
  EXPECT_DOUBLE_EQ(z.row(0)[1], -1);
}

TEST(Evaluate, AucCountsPairsWithTiesHalfAndCalibrationBins) {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int> score(0, 9);
  std::vector<double> p;
  std::vector<uint8_t> y;
  for (int i = 0; i < 300; ++i) {
    p.push_back(score(rng) / 10.0);
    y.push_back(static_cast<uint8_t>(rng() % 3 == 0 ? 1 : 0));
  }
  double pairs = 0, wins = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    for (size_t j = 0; j < p.size(); ++j) {
      if (y[i] == 1 && y[j] == 0) {
        pairs += 1;
        wins += p[i] > p[j] ? 1 : p[i] == p[j] ? 0.5 : 0;
      }
    }
  }
  const Evaluation e = Evaluate(p, y);
  ASSERT_TRUE(e.auc.has_value());
  EXPECT_NEAR(*e.auc, wins / pairs, 1e-12);
  int64_t in_bins = 0;
  for (const CalibrationBin& b : e.calibration) in_bins += b.examples;
  EXPECT_EQ(in_bins, 300);
  // Perfect predictions: AUC 1, Brier 0; one class: no AUC.
  const Evaluation perfect = Evaluate({0, 1, 1}, {0, 1, 1});
  EXPECT_EQ(*perfect.auc, 1);
  EXPECT_EQ(perfect.brier, 0);
  EXPECT_EQ(perfect.calibration[9].examples, 2);  // p = 1 is in the last bin
  EXPECT_FALSE(Evaluate({0.2, 0.4}, {0, 0}).auc.has_value());
  EXPECT_NEAR(Evaluate({0.5, 0.5}, {0, 1}).log_loss, std::log(2.0), 1e-15);
}

}  // namespace
}  // namespace saasmetrics::engine
