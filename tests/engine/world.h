// Test data for the usage-based analytics (engagement, health): raw usage and subscription
// events, and the World a query would hand the engine for them.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "server/engine/engagement.h"
#include "server/engine/events.h"
#include "server/engine/ledger.h"
#include "server/engine/pql.h"
#include "server/engine/timeline.h"
#include "server/engine/usage.h"

namespace saasmetrics::engine {

inline UsageEvent Use(const std::string& customer, const std::string& type, const std::string& user,
                      absl::Time at, double value = 1) {
  UsageEvent e;
  e.customer_id = customer;
  e.type = type;
  e.user_id = user;
  e.time = at;
  e.value = value;
  return e;
}

// A monthly subscription "s-<customer>" (or `subscription`) at `amount` per month from `at`:
// canceled with 0, paused with `paused`.
inline SubscriptionEvent Sub(const std::string& customer, absl::Time at, int64_t amount,
                             bool paused = false, const std::string& subscription = "") {
  SubscriptionEvent e;
  e.customer_id = customer;
  e.subscription_id = subscription.empty() ? "s-" + customer : subscription;
  e.effective_at = at;
  e.status = paused       ? SubscriptionStatus::kPaused
             : amount > 0 ? SubscriptionStatus::kActive
                          : SubscriptionStatus::kCanceled;
  e.quantity = 1;
  e.unit_amount = amount > 0 ? amount : 1000;
  e.interval_unit = IntervalUnit::kMonth;
  e.interval_count = 1;
  return e;
}

// The data a query hands the engine: monthly partitions with their index, the ledger with
// its movements and pause changes (ordered by customer, then day), and the link between them.
struct World {
  UsagePartitions usage;
  UsageIndex index;
  Ledger ledger;
  std::vector<Movement> movements;
  std::vector<PauseChange> pauses;
  std::vector<int32_t> link;
  EngagementInputs inputs(absl::TimeZone tz) const {
    return {&usage, &index, &link, &movements, ledger.customer_ids.size(), tz};
  }
};

inline World Build(const std::vector<UsageEvent>& events,
                   const std::vector<SubscriptionEvent>& subs, absl::TimeZone tz,
                   absl::CivilDay last_day) {
  World w;
  std::map<absl::CivilMonth, std::vector<UsageEvent>> by_month;
  for (const UsageEvent& e : events) {
    by_month[absl::CivilMonth(absl::ToCivilSecond(e.time, absl::UTCTimeZone()))].push_back(e);
  }
  for (const auto& [month, list] : by_month) {
    w.usage.push_back(std::make_shared<const UsagePartition>(BuildUsagePartition(month, list)));
  }
  w.index = BuildUsageIndex(w.usage);
  w.ledger = BuildLedger(subs);
  w.movements =
      MrrTimeline::Build(w.ledger.events, static_cast<int32_t>(w.ledger.customer_ids.size()))
          .Movements(tz, last_day, nullptr, &w.pauses);
  w.link = LinkToLedger(w.index, w.ledger);
  return w;
}

}  // namespace saasmetrics::engine
