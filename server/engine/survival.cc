#include "server/engine/survival.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/engine/stats.h"

namespace saasmetrics::engine {
namespace {

// The distinct event days of sorted lifetimes, each with its number at risk and events,
// handed to `visit(day, at_risk, events)` in ascending order.
template <typename Visit>
void EachEventDay(const std::vector<Lifetime>& sorted, Visit&& visit) {
  const int64_t n = static_cast<int64_t>(sorted.size());
  for (int64_t i = 0; i < n;) {
    const int32_t day = sorted[static_cast<size_t>(i)].days;
    int64_t events = 0, j = i;
    for (; j < n && sorted[static_cast<size_t>(j)].days == day; ++j) {
      if (sorted[static_cast<size_t>(j)].churned) ++events;
    }
    if (events > 0) visit(day, n - i, events);
    i = j;
  }
}

void SortLifetimes(std::vector<Lifetime>& lifetimes) {
  std::sort(lifetimes.begin(), lifetimes.end(), [](const Lifetime& a, const Lifetime& b) {
    return a.days != b.days ? a.days < b.days : a.churned > b.churned;
  });
}

bool AtMostHalf(double s) { return s <= 0.5 * (1 + 1e-12); }

// S, Greenwood's sum and the events so far, carried forward over event days.
struct KmState {
  double survival = 1;
  double greenwood = 0;  // Σ d ÷ (n (n − d))
  int64_t churned = 0;
};

SurvivalPoint PointOf(int32_t day, const KmState& s, int64_t at_risk) {
  SurvivalPoint p;
  p.day = day;
  p.survival = s.survival;
  p.at_risk = at_risk;
  p.churned = s.churned;
  p.standard_error = s.survival * std::sqrt(s.greenwood);
  if (s.survival > 0 && s.survival < 1) {
    const double log_s = std::log(s.survival);
    const double spread = kZ95 * std::sqrt(s.greenwood) / std::abs(log_s);
    p.lower = std::pow(s.survival, std::exp(spread));
    p.upper = std::pow(s.survival, std::exp(-spread));
  }
  return p;
}

void Step(KmState& s, int64_t at_risk, int64_t events) {
  s.survival *= 1 - static_cast<double>(events) / static_cast<double>(at_risk);
  if (at_risk > events) {
    s.greenwood += static_cast<double>(events) /
                   (static_cast<double>(at_risk) * static_cast<double>(at_risk - events));
  }
  s.churned += events;
}

}  // namespace

std::vector<CustomerLifetime> LifetimesOf(const std::vector<Movement>& movements,
                                          const std::vector<PauseChange>& pauses,
                                          absl::CivilDay first, absl::CivilDay last) {
  std::vector<CustomerLifetime> out;
  ForEachCustomerRun(
      movements, pauses, [&](std::span<const Movement> ms, std::span<const PauseChange> ps) {
        // The first movement is the new business (MRR from 0 to > 0 for the first time).
        const Movement& nb = ms.front();
        if (nb.type != MovementType::kNewBusiness || nb.day < first || nb.day > last) return;
        CustomerLifetime l{.customer = nb.customer, .start = nb.day, .first_mrr = nb.after};
        l.lifetime.days = static_cast<int32_t>(last - nb.day);
        // Walk the later days with a change (movement or pause), in order, to the first end
        // of a day that finds the customer churned.
        int64_t mrr = nb.after;
        bool paused = false;
        size_t m = 1, p = 0;
        for (; p < ps.size() && ps[p].day <= nb.day; ++p) paused = ps[p].paused;
        while (m < ms.size() || p < ps.size()) {
          const absl::CivilDay day = p == ps.size()   ? ms[m].day
                                     : m == ms.size() ? ps[p].day
                                                      : std::min(ms[m].day, ps[p].day);
          if (day > last) break;
          for (; m < ms.size() && ms[m].day == day; ++m) mrr = ms[m].after;
          for (; p < ps.size() && ps[p].day == day; ++p) paused = ps[p].paused;
          if (mrr == 0 && !paused) {
            l.lifetime = {.days = static_cast<int32_t>(day - nb.day), .churned = true};
            break;
          }
        }
        out.push_back(l);
      });
  return out;
}

SurvivalCurve KaplanMeier(std::vector<Lifetime> lifetimes, int32_t step) {
  SortLifetimes(lifetimes);
  SurvivalCurve curve;
  curve.lifetimes = static_cast<int64_t>(lifetimes.size());
  if (lifetimes.empty()) return curve;
  curve.longest_days = lifetimes.back().days;
  KmState state;
  size_t at = 0;  // lifetimes before `at` are shorter than the next point's day
  int32_t next_point = step;
  const auto emit_points_before = [&](int32_t day) {
    // Points on days before `day` see the state as it is (no event between).
    for (; next_point < day && next_point <= curve.longest_days; next_point += step) {
      while (at < lifetimes.size() && lifetimes[at].days < next_point) ++at;
      curve.points.push_back(
          PointOf(next_point, state, static_cast<int64_t>(lifetimes.size() - at)));
    }
  };
  EachEventDay(lifetimes, [&](int32_t day, int64_t at_risk, int64_t events) {
    emit_points_before(day);
    Step(state, at_risk, events);
    if (!curve.median_days.has_value() && AtMostHalf(state.survival)) curve.median_days = day;
  });
  emit_points_before(curve.longest_days + 1);
  curve.churned = state.churned;
  return curve;
}

SurvivalPoint KaplanMeierAt(std::vector<Lifetime> lifetimes, int32_t day) {
  SortLifetimes(lifetimes);
  KmState state;
  EachEventDay(lifetimes, [&](int32_t d, int64_t at_risk, int64_t events) {
    if (d <= day) Step(state, at_risk, events);
  });
  const int64_t at_risk = std::count_if(lifetimes.begin(), lifetimes.end(),
                                        [&](const Lifetime& l) { return l.days >= day; });
  return PointOf(day, state, at_risk);
}

std::optional<LogRank> LogRankTest(const std::vector<std::vector<Lifetime>>& groups) {
  // Every lifetime with its group, by day.
  struct Tagged {
    int32_t days;
    bool churned;
    int32_t group;
  };
  std::vector<Tagged> all;
  std::vector<int64_t> at_risk(groups.size(), 0);
  std::vector<int32_t> present;
  for (size_t g = 0; g < groups.size(); ++g) {
    for (const Lifetime& l : groups[g]) {
      all.push_back({l.days, l.churned, static_cast<int32_t>(g)});
    }
    at_risk[g] = static_cast<int64_t>(groups[g].size());
    if (!groups[g].empty()) present.push_back(static_cast<int32_t>(g));
  }
  if (present.size() < 2) return std::nullopt;
  std::sort(all.begin(), all.end(),
            [](const Tagged& a, const Tagged& b) { return a.days < b.days; });
  const size_t k = groups.size();
  LogRank out;
  out.observed.assign(k, 0);
  out.expected.assign(k, 0);
  Eigen::MatrixXd v =
      Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(k));
  std::vector<int64_t> events(k, 0), leaving(k, 0);
  int64_t total_at_risk = static_cast<int64_t>(all.size());
  for (size_t i = 0; i < all.size();) {
    const int32_t day = all[i].days;
    std::fill(events.begin(), events.end(), 0);
    std::fill(leaving.begin(), leaving.end(), 0);
    size_t j = i;
    for (; j < all.size() && all[j].days == day; ++j) {
      ++leaving[static_cast<size_t>(all[j].group)];
      if (all[j].churned) ++events[static_cast<size_t>(all[j].group)];
    }
    int64_t d = 0;
    for (const int64_t e : events) d += e;
    if (d > 0) {
      const double n = static_cast<double>(total_at_risk);
      const double dd = static_cast<double>(d);
      const double spread = n > 1 ? dd * (n - dd) / (n - 1) : 0;
      for (size_t g = 0; g < k; ++g) {
        const double share = static_cast<double>(at_risk[g]) / n;
        out.observed[g] += static_cast<double>(events[g]);
        out.expected[g] += dd * share;
        for (size_t h = 0; h < k; ++h) {
          const double other = static_cast<double>(at_risk[h]) / n;
          v(static_cast<Eigen::Index>(g), static_cast<Eigen::Index>(h)) +=
              spread * share * ((g == h ? 1.0 : 0.0) - other);
        }
      }
    }
    for (size_t g = 0; g < k; ++g) at_risk[g] -= leaving[g];
    total_at_risk -= static_cast<int64_t>(j - i);
    i = j;
  }
  // The statistic over the groups present but the last (their differences determine it).
  const Eigen::Index m = static_cast<Eigen::Index>(present.size()) - 1;
  Eigen::VectorXd u(m);
  Eigen::MatrixXd vm(m, m);
  for (Eigen::Index a = 0; a < m; ++a) {
    const size_t ga = static_cast<size_t>(present[static_cast<size_t>(a)]);
    u(a) = out.observed[ga] - out.expected[ga];
    for (Eigen::Index b = 0; b < m; ++b) {
      vm(a, b) = v(static_cast<Eigen::Index>(ga),
                   static_cast<Eigen::Index>(present[static_cast<size_t>(b)]));
    }
  }
  // A generalized inverse: a group whose lifetimes all end before the first event adds a
  // zero row (no information), which the pseudo-inverse ignores.
  const Eigen::VectorXd solved = vm.completeOrthogonalDecomposition().solve(u);
  out.chi_square = std::max(0.0, u.dot(solved));
  out.degrees_of_freedom = static_cast<int32_t>(m);
  out.p_value = ChiSquareSurvival(out.chi_square, out.degrees_of_freedom);
  return out;
}

absl::StatusOr<CoxFit> FitCox(const std::vector<Lifetime>& lifetimes,
                              const std::vector<std::vector<double>>& columns,
                              const std::function<bool()>& stop) {
  const Eigen::Index n = static_cast<Eigen::Index>(lifetimes.size());
  const Eigen::Index p = static_cast<Eigen::Index>(columns.size());
  if (std::none_of(lifetimes.begin(), lifetimes.end(),
                   [](const Lifetime& l) { return l.churned; })) {
    return absl::InvalidArgumentError("no lifetime ends in churn: a Cox model needs events");
  }
  // Longest first: the risk set of a day is a prefix. Centred covariates (the fit is the
  // same; the sums stay well scaled).
  std::vector<Eigen::Index> order(static_cast<size_t>(n));
  for (Eigen::Index i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  std::stable_sort(order.begin(), order.end(), [&](Eigen::Index a, Eigen::Index b) {
    return lifetimes[static_cast<size_t>(a)].days > lifetimes[static_cast<size_t>(b)].days;
  });
  Eigen::MatrixXd x(n, p);
  for (Eigen::Index j = 0; j < p; ++j) {
    const std::vector<double>& col = columns[static_cast<size_t>(j)];
    double mean = 0;
    for (const double v : col) mean += v;
    mean /= static_cast<double>(std::max<Eigen::Index>(n, 1));
    for (Eigen::Index r = 0; r < n; ++r) {
      x(r, j) = col[static_cast<size_t>(order[static_cast<size_t>(r)])] - mean;
    }
  }
  std::vector<int32_t> days(static_cast<size_t>(n));
  std::vector<char> churned(static_cast<size_t>(n));
  for (Eigen::Index r = 0; r < n; ++r) {
    const Lifetime& l = lifetimes[static_cast<size_t>(order[static_cast<size_t>(r)])];
    days[static_cast<size_t>(r)] = l.days;
    churned[static_cast<size_t>(r)] = l.churned ? 1 : 0;
  }
  // The partial log-likelihood, score and information at beta.
  const auto evaluate = [&](const Eigen::VectorXd& beta, Eigen::VectorXd* score,
                            Eigen::MatrixXd* info) {
    const Eigen::VectorXd eta = x * beta;
    double loglik = 0, s0 = 0;
    Eigen::VectorXd s1 = Eigen::VectorXd::Zero(p);
    Eigen::MatrixXd s2 = Eigen::MatrixXd::Zero(p, p);
    if (score != nullptr) score->setZero(p);
    if (info != nullptr) info->setZero(p, p);
    for (Eigen::Index r = 0; r < n;) {
      const int32_t day = days[static_cast<size_t>(r)];
      Eigen::Index e = r;
      int64_t d = 0;
      Eigen::VectorXd event_x = Eigen::VectorXd::Zero(p);
      double event_eta = 0;
      for (; e < n && days[static_cast<size_t>(e)] == day; ++e) {
        const double w = std::exp(eta(e));
        s0 += w;
        s1 += w * x.row(e).transpose();
        if (info != nullptr) s2.noalias() += w * x.row(e).transpose() * x.row(e);
        if (churned[static_cast<size_t>(e)] != 0) {
          ++d;
          event_x += x.row(e).transpose();
          event_eta += eta(e);
        }
      }
      if (d > 0) {
        const double dd = static_cast<double>(d);
        loglik += event_eta - dd * std::log(s0);
        const Eigen::VectorXd mean = s1 / s0;
        if (score != nullptr) *score += event_x - dd * mean;
        if (info != nullptr) *info += dd * (s2 / s0 - mean * mean.transpose());
      }
      r = e;
    }
    return loglik;
  };
  CoxFit fit;
  Eigen::VectorXd beta = Eigen::VectorXd::Zero(p);
  Eigen::VectorXd score;
  Eigen::MatrixXd info;
  double loglik = evaluate(beta, &score, &info);
  for (int it = 0; it < 100; ++it) {
    if (stop && stop()) return absl::CancelledError("Cox fit stopped");
    if (p == 0) break;
    Eigen::LDLT<Eigen::MatrixXd> ldlt(info);
    if (ldlt.info() != Eigen::Success || !ldlt.isPositive() ||
        (ldlt.vectorD().array() <= 1e-12 * std::max(1.0, info.diagonal().maxCoeff())).any()) {
      std::vector<int> flat;
      for (Eigen::Index j = 0; j < p; ++j) {
        if (info(j, j) <= 1e-12) flat.push_back(static_cast<int>(j));
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "the Cox covariates are collinear or constant on these customers",
          flat.empty() ? "" : absl::StrCat(" (columns ", absl::StrJoin(flat, ", "), ")")));
    }
    if (score.cwiseAbs().maxCoeff() < 1e-9) break;
    const Eigen::VectorXd delta = ldlt.solve(score);
    // The full step, halved until the likelihood does not fall (it is concave).
    bool accepted = false;
    for (double t = 1; t > 1e-12 && !accepted; t /= 2) {
      const Eigen::VectorXd next = beta + t * delta;
      const double next_loglik = evaluate(next, nullptr, nullptr);
      // (A fall within rounding is no fall: near the optimum Newton's step still
      // shrinks the score although the likelihood cannot rise in doubles.)
      if (std::isfinite(next_loglik) && next_loglik >= loglik - 1e-13 * std::abs(loglik)) {
        accepted = true;
        beta = next;
      }
    }
    if (!accepted) break;  // no step improves: at the optimum to rounding
    fit.iterations = it + 1;
    loglik = evaluate(beta, &score, &info);
  }
  fit.log_likelihood = loglik;
  fit.coefficient.assign(beta.data(), beta.data() + p);
  fit.standard_error.assign(static_cast<size_t>(p), 0);
  if (p > 0) {
    const Eigen::MatrixXd inverse = info.ldlt().solve(Eigen::MatrixXd::Identity(p, p));
    for (Eigen::Index j = 0; j < p; ++j) {
      fit.standard_error[static_cast<size_t>(j)] = std::sqrt(std::max(0.0, inverse(j, j)));
    }
  }
  return fit;
}

}  // namespace saasmetrics::engine
