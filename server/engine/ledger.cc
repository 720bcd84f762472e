#include "server/engine/ledger.h"

#include <algorithm>

#include "server/engine/mrr.h"

namespace saasmetrics::engine {

int32_t Ledger::CustomerIndex(const std::string& id) {
  auto [it, added] = customer_index.try_emplace(id, static_cast<int32_t>(customer_ids.size()));
  if (added) {
    customer_ids.push_back(id);
    customer_plans.emplace_back();
  }
  return it->second;
}

int32_t Ledger::SubscriptionIndex(int32_t customer, absl::string_view id) {
  auto [it, added] = subscription_index.try_emplace(std::make_pair(customer, std::string(id)),
                                                    static_cast<int32_t>(subscription_ids.size()));
  if (added) subscription_ids.emplace_back(id);
  return it->second;
}

Ledger BuildLedger(const std::vector<SubscriptionEvent>& events) {
  Ledger ledger;
  ledger.events.reserve(events.size());
  for (const SubscriptionEvent& e : events) {
    const int32_t customer = ledger.CustomerIndex(e.customer_id);
    const int32_t subscription = ledger.SubscriptionIndex(customer, e.subscription_id);
    auto& plans = ledger.customer_plans[customer];
    if (!e.plan_id.empty() && std::find(plans.begin(), plans.end(), e.plan_id) == plans.end()) {
      plans.push_back(e.plan_id);
    }
    ledger.events.push_back({absl::ToUnixMicros(e.effective_at), e.seq, customer, subscription,
                             StateMrr(e), e.status == SubscriptionStatus::kPaused});
  }
  return ledger;
}

}  // namespace saasmetrics::engine
