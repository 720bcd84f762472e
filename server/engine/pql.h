// Product-qualified leads (METRICS.md "Product usage").
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "server/engine/field_violation.h"
#include "server/engine/ledger.h"
#include "server/engine/periods.h"
#include "server/engine/timeline.h"
#include "server/engine/usage.h"

namespace saasmetrics::engine {

// The longest event type a rule may name (usage event types are ids, at most this long).
inline constexpr size_t kMaxEventTypeBytes = 200;

struct PqlCondition {
  enum class Kind { kEventCount = 1, kValueSum = 2, kDistinctUsers = 3 };
  Kind kind = Kind::kEventCount;
  std::string event_type;  // kDistinctUsers: empty means any type
  double threshold = 0;
  double weight = 0;
};

struct PqlRule {
  int window_days = 0;
  std::vector<PqlCondition> conditions;
  std::optional<double> score_threshold;  // absent: every condition must hold
};

// Rule violations under `prefix` ("rule").
void ValidatePqlRule(const PqlRule& rule, absl::string_view prefix, Violations& out);

struct PqlPoint {
  Period period;
  int64_t pqls = 0;         // customers qualifying on at least one day of the period
  int64_t conversions = 0;  // of them, new business within the conversion window
  std::optional<double> conversion_rate() const;
};

// Per dense customer id of `index`, the customer's id in `ledger` (-1: it has no
// subscription events, so its MRR is always 0). Costs one hash lookup per customer:
// worth keeping while neither the index's ids nor the ledger's change.
std::vector<int32_t> LinkToLedger(const UsageIndex& index, const Ledger& ledger);

// A customer qualifies on day D when its MRR at the end of D is 0 and, over the days
// D-W+1..D, the rule holds. Customers are the dense ids of `index` (built over exactly
// `usage`: INTERNAL otherwise); `movements_of` gives one's MRR movements, ordered by day;
// `selected`, when given, says which dense ids count. Customers whose hits cannot meet
// the rule on any day (fewer events, users or positive value than a threshold asks, over
// the whole range) are passed over without looking at their days. `stop`, when given,
// is polled between partitions and every few thousand customers: CANCELLED when it says so.
absl::StatusOr<std::vector<PqlPoint>> CountPqls(
    const PqlRule& rule, const UsagePartitions& usage, const UsageIndex& index,
    absl::FunctionRef<std::span<const Movement>(int32_t dense)> movements_of,
    const std::vector<Period>& periods, absl::TimeZone tz, int conversion_window_days,
    const std::optional<std::vector<bool>>& selected, const std::function<bool()>& stop = nullptr);

}  // namespace saasmetrics::engine
