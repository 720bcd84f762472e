// Subscription events → the engine's compact ledger: dense customer and subscription
// ids, each state's MRR computed once.
#pragma once

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "server/engine/events.h"
#include "server/engine/timeline.h"

namespace saasmetrics::engine {

struct Ledger {
  std::vector<std::string> customer_ids;  // dense id → external id
  absl::flat_hash_map<std::string, int32_t> customer_index;
  std::vector<std::string> subscription_ids;  // dense id → external id
  // (dense customer, external subscription id) → dense subscription id: a subscription id
  // names one subscription of one customer.
  absl::flat_hash_map<std::pair<int32_t, std::string>, int32_t> subscription_index;
  std::vector<LedgerEvent> events;
  // Per dense customer: the plans its subscription events named.
  std::vector<std::vector<std::string>> customer_plans;

  int32_t CustomerIndex(const std::string& id);                       // adds unknown ids
  int32_t SubscriptionIndex(int32_t customer, absl::string_view id);  // adds unknown ones
};

Ledger BuildLedger(const std::vector<SubscriptionEvent>& events);

// Drill-down (METRICS.md "Movements"): of one customer's events (any order), the dense ids
// of the subscriptions whose MRR at the end of `day` (in `tz`) differs from the start of
// the day, ascending.
std::vector<int32_t> ChangedSubscriptions(const std::vector<LedgerEvent>& customer_events,
                                          absl::CivilDay day, absl::TimeZone tz);

}  // namespace saasmetrics::engine
