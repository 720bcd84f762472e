// The slow, obviously correct reference for METRICS.md's MRR definitions: it replays
// the raw events at every day boundary. Property tests compare the engine against it.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "server/engine/engagement.h"
#include "server/engine/events.h"
#include "server/engine/health.h"
#include "server/engine/periods.h"
#include "server/engine/series.h"
#include "server/engine/timeline.h"

namespace saasmetrics::reference {

using engine::SubscriptionEvent;

struct CustomerState {
  int64_t mrr = 0;
  bool any_paused = false;
};

// A state's MRR in the reporting currency; empty: engine::StateMrr (one currency).
using MrrOf = std::function<int64_t(const SubscriptionEvent&)>;

// The customer's state from every event with effective_at < t: per subscription the
// latest event (by effective_at, then seq) decides.
CustomerState StateBefore(const std::vector<SubscriptionEvent>& events, const std::string& customer,
                          absl::Time t, const MrrOf& mrr_of = {});

struct RefMovement {
  absl::CivilDay day;
  std::string customer;
  engine::MovementType type;
  int64_t amount;
};

// Day by day from the first event's day to `last_day`, per customer.
std::vector<RefMovement> Movements(const std::vector<SubscriptionEvent>& events, absl::TimeZone tz,
                                   absl::CivilDay last_day, const MrrOf& mrr_of = {});

struct RefPeriod {
  int64_t mrr_start = 0, mrr_end = 0, paying_end = 0;
  engine::MovementTotals movements;
  int64_t customers_at_start = 0, churned = 0, retained = 0, floor = 0;
};

std::vector<RefPeriod> Series(const std::vector<SubscriptionEvent>& events, absl::TimeZone tz,
                              const std::vector<engine::Period>& periods);

// Engagement (ANALYTICS.md): each component's aggregate for every customer paying at the
// end of `day`, reading every raw usage event once per component, and the score from them.
std::map<std::string, std::vector<double>> EngagementX(
    const engine::EngagementModel& model, const std::vector<engine::UsageEvent>& events,
    const std::vector<SubscriptionEvent>& subs, absl::TimeZone tz, absl::CivilDay day);
double EngagementScore(const engine::EngagementModel& model, const std::vector<double>& x);

// Health groups (ANALYTICS.md): every customer that has paid by the end of `day`, its group
// ("power", "normal", "at_risk", "lost", "none") and reasons, replaying the raw events day
// by day from the first one. `model` null: no score rules.
struct RefHealth {
  std::string group;
  std::vector<std::string> reasons;
  int64_t mrr = 0;
  std::optional<double> score;
};
std::map<std::string, RefHealth> Health(const engine::HealthPolicy& policy,
                                        const engine::EngagementModel* model,
                                        const std::vector<engine::UsageEvent>& events,
                                        const std::vector<SubscriptionEvent>& subs,
                                        absl::TimeZone tz, absl::CivilDay day);

// Renewal rates (ANALYTICS.md): for every subscription and every day d of the periods, the
// state at the start and end of d and the anchor and term in effect at d's start, each found
// by replaying the subscription's raw events again; d is a renewal date when anchor + k ×
// term (k = 1, 2, …, months counted with their own clipping) equals it.
struct RefRenewalCounts {
  int64_t up = 0, renewed = 0, mrr_up = 0, mrr_renewed = 0;
  bool operator==(const RefRenewalCounts&) const = default;
};
struct RefRenewals {
  RefRenewalCounts subscriptions, customers;
};
std::vector<RefRenewals> Renewals(const std::vector<SubscriptionEvent>& events, absl::TimeZone tz,
                                  const std::vector<engine::Period>& periods,
                                  engine::IntervalUnit min_unit, int64_t min_count);

}  // namespace saasmetrics::reference
