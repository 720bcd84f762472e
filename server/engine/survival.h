// Survival analysis (ANALYTICS.md "Survival"): Kaplan–Meier curves with Greenwood's
// variance and log-log intervals, the log-rank test across groups, and Cox proportional
// hazards with Breslow's ties. Lifetimes are whole days; deterministic (no randomness, a
// fixed order of summation).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "server/engine/timeline.h"

namespace saasmetrics::engine {

// One lifetime: `days` ≥ 0 from its start to its event (churned) or to its censoring.
struct Lifetime {
  int32_t days = 0;
  bool churned = false;
};

// A customer's lifetime from its first new-business day (ANALYTICS.md "Survival").
struct CustomerLifetime {
  int32_t customer = 0;   // ledger id
  absl::CivilDay start;   // the first new-business day
  int64_t first_mrr = 0;  // at the end of that day
  Lifetime lifetime;
};
// The customers whose first new-business day is in [first, last], each with its lifetime
// to the first day after it at whose end it is churned (MRR 0, not paused; reactivations
// start no new lifetime), censored at `last`. `movements` and `pauses` are ordered by
// customer, then day (MrrTimeline::Movements); days after `last` are ignored. By customer.
std::vector<CustomerLifetime> LifetimesOf(const std::vector<Movement>& movements,
                                          const std::vector<PauseChange>& pauses,
                                          absl::CivilDay first, absl::CivilDay last);

// z of a two-sided 95 % interval.
inline constexpr double kZ95 = 1.959963984540054;

struct SurvivalPoint {
  int32_t day = 0;
  double survival = 1;          // S(day): the product over event days ≤ day
  std::optional<double> lower;  // 95 % log-log interval; absent where S is 0 or 1
  std::optional<double> upper;
  double standard_error = 0;  // Greenwood: S × √Σ d ÷ (n (n − d))
  int64_t at_risk = 0;        // lifetimes of at least `day` days
  int64_t churned = 0;        // events on days ≤ day
};

struct SurvivalCurve {
  int64_t lifetimes = 0;
  int64_t churned = 0;
  std::optional<int32_t> median_days;  // the first event day with S ≤ 0.5
  int32_t longest_days = 0;            // the longest lifetime, event or censored
  std::vector<SurvivalPoint> points;   // at step, 2·step, … up to the longest lifetime
};

// `step` > 0. S ≤ 0.5 is judged with a relative tolerance of 1e-12, so that a product of
// fractions that is exactly one half in arithmetic counts as one half.
SurvivalCurve KaplanMeier(std::vector<Lifetime> lifetimes, int32_t step = 30);
// The survival and its interval at any day (for tests and one-off reads).
SurvivalPoint KaplanMeierAt(std::vector<Lifetime> lifetimes, int32_t day);

struct LogRank {
  double chi_square = 0;
  int32_t degrees_of_freedom = 0;  // groups with a lifetime − 1
  double p_value = 1;
  std::vector<double> observed, expected;  // events per group, and expected under equality
};
// Absent with fewer than two groups that have a lifetime. Empty groups take no part (their
// observed and expected are 0).
std::optional<LogRank> LogRankTest(const std::vector<std::vector<Lifetime>>& groups);

// Cox proportional hazards, Breslow's ties, fitted by Newton's method (step halving on the
// partial likelihood) until the score's largest element is below 1e-9 or the likelihood
// stops improving. `columns[j][i]` is covariate j of lifetime i.
struct CoxFit {
  std::vector<double> coefficient;
  std::vector<double> standard_error;  // √ diagonal of the inverse information
  double log_likelihood = 0;           // partial, at the fit
  int iterations = 0;
};
// INVALID_ARGUMENT when no lifetime ends in an event, or the information is singular at
// the start (collinear or constant covariates): the message names the columns by index.
// CANCELLED when `stop` says so (polled each iteration).
absl::StatusOr<CoxFit> FitCox(const std::vector<Lifetime>& lifetimes,
                              const std::vector<std::vector<double>>& columns,
                              const std::function<bool()>& stop = nullptr);

}  // namespace saasmetrics::engine
