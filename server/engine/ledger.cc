#include "server/engine/ledger.h"

#include <algorithm>
#include <tuple>

#include "server/engine/mrr.h"
#include "server/engine/periods.h"

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
    ledger.events.push_back({.at_us = absl::ToUnixMicros(e.effective_at),
                             .seq = e.seq,
                             .customer = customer,
                             .subscription = subscription,
                             .mrr = StateMrr(e),
                             .paused = e.status == SubscriptionStatus::kPaused,
                             .interval_unit = static_cast<uint8_t>(e.interval_unit),
                             .interval_count = ClampedIntervalCount(e.interval_count),
                             .state = StateBits(e)});
  }
  return ledger;
}

std::vector<int32_t> ChangedSubscriptions(const std::vector<LedgerEvent>& customer_events,
                                          absl::CivilDay day, absl::TimeZone tz) {
  const int64_t start_us = absl::ToUnixMicros(DayStart(day, tz));
  const int64_t end_us = absl::ToUnixMicros(DayStart(day + 1, tz));
  // Per subscription: the latest event (by time, then ingest order) before each bound.
  struct Latest {
    const LedgerEvent* at_start = nullptr;
    const LedgerEvent* at_end = nullptr;
  };
  absl::flat_hash_map<int32_t, Latest> by_subscription;
  auto later = [](const LedgerEvent* cur, const LedgerEvent& e) {
    return cur == nullptr || std::tie(e.at_us, e.seq) > std::tie(cur->at_us, cur->seq);
  };
  for (const LedgerEvent& e : customer_events) {
    if (e.at_us >= end_us) continue;
    Latest& l = by_subscription[e.subscription];
    if (later(l.at_end, e)) l.at_end = &e;
    if (e.at_us < start_us && later(l.at_start, e)) l.at_start = &e;
  }
  std::vector<int32_t> out;
  for (const auto& [subscription, l] : by_subscription) {
    const int64_t before = l.at_start == nullptr ? 0 : l.at_start->mrr;
    const int64_t after = l.at_end == nullptr ? 0 : l.at_end->mrr;
    if (before != after) out.push_back(subscription);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace saasmetrics::engine
