// Engagement scores (ANALYTICS.md "Engagement score"): a tenant's model weighs a few usage
// aggregates over a trailing window into a score from 0 to 100 per customer and day.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/engine/field_violation.h"
#include "server/engine/periods.h"
#include "server/engine/timeline.h"
#include "server/engine/usage.h"

namespace saasmetrics::engine {

struct EngagementComponent {
  enum class Aggregation { kCount = 1, kValueSum = 2, kActiveDays = 3, kDistinctUsers = 4 };
  std::vector<std::string> event_types;  // empty: any type
  Aggregation aggregation = Aggregation::kCount;
  double target = 0;  // > 0: the aggregate at which the component is complete
  double weight = 0;  // != 0; negative for a sign of trouble
};

struct EngagementModel {
  int window_days = 30;
  std::vector<EngagementComponent> components;
};

// Model violations under `prefix` ("model"): 1..365 days, 1..20 components, each with
// known aggregation, target > 0 and finite, weight != 0 and finite, at most 20 event
// types of at most kMaxEventTypeBytes; at least one positive weight.
void ValidateEngagementModel(const EngagementModel& model, absl::string_view prefix,
                             Violations& out);

// clamp(100 × Σ w_i × min(x_i ÷ T_i, 1) ÷ Σ_{w_i > 0} w_i, 0, 100).
double EngagementScore(const EngagementModel& model, std::span<const double> x);

// One customer's score at the end of a day, with each component's aggregate x_i.
struct CustomerEngagement {
  int32_t customer = 0;  // ledger id
  double score = 0;
  std::vector<double> x;
};

// The distribution of the scores of the customers paying at the end of a period.
struct EngagementPoint {
  Period period;
  int64_t customers = 0;                                // paying at the period's end
  std::optional<double> mean, p10, p25, p50, p75, p90;  // absent with no paying customer
};

// What the scores are computed from: usage partitions covering every window (and their
// dense-id index), per dense id the customer's ledger id (-1: none; engine::LinkToLedger),
// and the movements of the customers that count (a query's filters applied), ordered by
// customer, then day: paying = MRR > 0 at the end of the day.
struct EngagementInputs {
  const UsagePartitions* partitions = nullptr;
  const UsageIndex* index = nullptr;
  const std::vector<int32_t>* ledger_ids = nullptr;
  const std::vector<Movement>* movements = nullptr;
  size_t ledger_size = 0;  // ledger ids are below it
  absl::TimeZone tz;
};

// The scores, at the end of `day`, of the customers paying then, by ledger id. `stop`,
// when given, is polled between partitions: CANCELLED when it says so.
absl::StatusOr<std::vector<CustomerEngagement>> ScoresAt(
    const EngagementModel& model, const EngagementInputs& in, absl::CivilDay day,
    const std::function<bool()>& stop = nullptr);

// Scores of a list of customers, by position in it (flat: no allocation per customer).
struct EngagementScores {
  size_t components = 0;
  std::vector<double> score;
  std::vector<double> x;        // `components` per customer
  std::vector<uint8_t> active;  // with activity_days: a usage event in the last that many days
  std::span<const double> XOf(size_t i) const {
    return std::span<const double>(x).subspan(i * components, components);
  }
};

// The scores at the end of `day` of `customers` (ledger ids), in their order. Without a
// model, no scores (0, no components). With `activity_days` > 0, `active` says whether
// each has any usage event in the last that many days (the partitions cover them).
absl::StatusOr<EngagementScores> ScoresOf(const EngagementModel* model, const EngagementInputs& in,
                                          absl::CivilDay day, const std::vector<int32_t>& customers,
                                          int activity_days, const std::function<bool()>& stop);

// The customers paying at the end of `day` (ledger ids, ascending) and their scores, by
// position: ScoresAt without a vector per customer.
struct PayingScores {
  std::vector<int32_t> customers;
  EngagementScores scores;
};
absl::StatusOr<PayingScores> ScoresOfPaying(const EngagementModel& model,
                                            const EngagementInputs& in, absl::CivilDay day,
                                            const std::function<bool()>& stop = nullptr);

// Per period, the distribution at its last day (nearest-rank percentiles).
absl::StatusOr<std::vector<EngagementPoint>> EngagementSeries(
    const EngagementModel& model, const EngagementInputs& in, const std::vector<Period>& periods,
    const std::function<bool()>& stop = nullptr);

}  // namespace saasmetrics::engine
