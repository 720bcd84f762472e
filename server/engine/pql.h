// Product-qualified leads (METRICS.md "Product usage").
#pragma once

#include <optional>
#include <string>
#include <vector>

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

// A customer qualifies on day D when its MRR at the end of D is 0 and, over the days
// D-W+1..D, the rule holds. `movements` are the MRR movements (all history, ordered by
// customer) with `customer_ids` naming their dense ids; `selected` restricts customers.
std::vector<PqlPoint> CountPqls(const PqlRule& rule, const UsagePartitions& usage,
                                const std::vector<Movement>& movements, const Ledger& ledger,
                                const std::vector<Period>& periods, absl::TimeZone tz,
                                int conversion_window_days, const CustomerSet& selected);

}  // namespace saasmetrics::engine
