// Health groups (ANALYTICS.md "Health groups"): at the end of a day every customer that has
// ever paid is lost, at risk, power or normal — the first that applies — or in no group
// (churned longer ago than the lost window), with the reasons that placed it.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "server/engine/engagement.h"
#include "server/engine/field_violation.h"
#include "server/engine/periods.h"
#include "server/engine/timeline.h"

namespace saasmetrics::engine {

// A tenant's health policy; the defaults are ANALYTICS.md's.
struct HealthPolicy {
  std::string engagement_model_id;  // empty: the tenant's first model (by creation)
  double power_at_least = 70;       // score ≥ this: power
  double at_risk_below = 30;        // score < this: at risk
  int inactive_days = 14;           // no usage event in this many days: at risk
  int lost_window_days = 90;        // churned within this many days: lost
  double risk_at_least = 0.5;       // churn risk ≥ this: at risk (with a trained model)
  bool operator==(const HealthPolicy&) const = default;
};

// Violations under `prefix` ("tenant.health_policy"): thresholds in [0, 100] with
// at_risk_below ≤ power_at_least, inactive_days 1..365, lost_window_days 1..3650,
// risk_at_least in [0, 1], a model id that is empty or valid.
void ValidateHealthPolicy(const HealthPolicy& policy, absl::string_view prefix, Violations& out);

enum class HealthGroup : uint8_t { kNone = 0, kPower = 1, kNormal = 2, kAtRisk = 3, kLost = 4 };
inline constexpr int kHealthGroups = 5;  // kNone included

// Why a customer is where it is (a bit set), in ANALYTICS.md's order.
enum HealthReason : uint8_t {
  kReasonChurned = 1,
  kReasonPaused = 2,
  kReasonLowScore = 4,
  kReasonInactive = 8,
  kReasonChurnRisk = 16,
  kReasonHighScore = 32,
};
// "churned", "paused", … for each bit set, in that order.
std::vector<absl::string_view> HealthReasonNames(uint8_t reasons);
absl::string_view HealthGroupName(HealthGroup group);  // "power", "at_risk", "none", …

struct CustomerHealth {
  int32_t customer = 0;  // ledger id
  HealthGroup group = HealthGroup::kNone;
  uint8_t reasons = 0;
  int64_t mrr = 0;                          // at the end of the day
  std::optional<double> score;              // paying customers, when there is a model
  std::optional<absl::CivilDay> churn_day;  // churned customers: the last churn day
};

// The customers whose churn risk (the tenant's latest churn model) is at least the policy's
// `risk_at_least` at the end of each of `days` (ascending): their ledger ids, ascending.
struct ChurnRisk {
  std::vector<absl::CivilDay> days;
  std::vector<std::vector<int32_t>> at_risk;  // per day
};

// What health is computed from: the usage and movements of engagement (the partitions
// cover the model's window and the policy's inactive days before each day), the selected
// customers' pause changes, ordered by customer, then day, and (with a trained churn model)
// who is at risk by it on every day the computation reads (else INTERNAL).
struct HealthInputs {
  EngagementInputs usage;
  const std::vector<PauseChange>* pauses = nullptr;
  const ChurnRisk* risk = nullptr;
};

// Every customer that has ever paid by the end of each of `days` (ascending), by ledger
// id, with its group (kNone included: churned before the lost window). `model` null: no
// score rules. `stop` is polled between days and partitions: CANCELLED when it says so.
absl::StatusOr<std::vector<std::vector<CustomerHealth>>> HealthAt(
    const HealthPolicy& policy, const EngagementModel* model, const HealthInputs& in,
    const std::vector<absl::CivilDay>& days, const std::function<bool()>& stop = nullptr);

// A customer whose group at the end of `day` differs from the end of the day before (a
// customer that had never paid was in none), with the new group's reasons.
struct HealthTransition {
  absl::CivilDay day;
  int32_t customer = 0;  // ledger id
  HealthGroup from = HealthGroup::kNone, to = HealthGroup::kNone;
  uint8_t reasons = 0;
  int64_t mrr = 0;  // at the end of the day
  std::optional<double> score;
};

// Every transition on the days first..last, by day (within a day in the walk's order).
// `in` covers the lookback before `first` − 1. `stop` as for HealthAt.
absl::StatusOr<std::vector<HealthTransition>> HealthTransitions(
    const HealthPolicy& policy, const EngagementModel* model, const HealthInputs& in,
    absl::CivilDay first, absl::CivilDay last, const std::function<bool()>& stop = nullptr);

// Per period end: customers and MRR per group, and how many customers moved from each
// group to each other between the previous period's end (for the first, the day before
// it starts) and this one (none → none is not counted).
struct HealthPoint {
  Period period;
  std::array<int64_t, kHealthGroups> customers{};  // [kNone]: ever paid, in no group
  std::array<int64_t, kHealthGroups> mrr{};
  std::array<std::array<int64_t, kHealthGroups>, kHealthGroups> moved{};  // [from][to]
};

// Runs every task of the list, perhaps at once on other threads, and returns when all
// have finished (the query layer lends its worker pool this way).
using RunAll = std::function<void(std::vector<std::function<void()>>& tasks)>;

// `run_all`, when given, splits the period ends into two runs that go at once (each walks
// its own copy of the states; the second starts one day early for its first moves).
absl::StatusOr<std::vector<HealthPoint>> HealthSeries(const HealthPolicy& policy,
                                                      const EngagementModel* model,
                                                      const HealthInputs& in,
                                                      const std::vector<Period>& periods,
                                                      const std::function<bool()>& stop = nullptr,
                                                      const RunAll& run_all = nullptr);

}  // namespace saasmetrics::engine
