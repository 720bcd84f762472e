// A tenant's whole subscription history, merged, with its movements from the first day to
// the last event's (in one time zone). Movements on a day depend only on events up to that
// day, so one such snapshot answers every range by filtering days.
//
// Kept up to date incrementally: a late or new event changes one month's partition, and
// only the customers with events in the changed months get their movements recomputed;
// everyone else's are reused. Months are never removed and a month's events only grow,
// so a later version of the same months is always reachable this way; anything else
// (fewer months, a lower version) rebuilds from scratch.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/cache/partition_cache.h"
#include "server/engine/ledger.h"
#include "server/engine/partition.h"
#include "server/engine/series.h"
#include "server/engine/timeline.h"
#include "server/store/metrics_store.h"

namespace saasmetrics::query {

using SubscriptionPartitions = std::vector<std::shared_ptr<const engine::SubscriptionPartition>>;

struct History : cache::Snapshot {
  engine::Ledger ledger;
  std::vector<engine::Movement> movements;  // ordered by customer, then day
  std::vector<engine::PauseChange> pauses;  // likewise
  engine::DailyTotals daily;                // the movements summed per day
  // The months (in order) and versions it was built from; ledger.events of versions[i] are
  // [month_begin[i], month_begin[i + 1]).
  std::vector<store::PartitionVersion> versions;
  std::vector<size_t> month_begin;
  size_t bytes() const override;
};

// From scratch. `versions` and `partitions` are parallel, in month order. `stop` is polled
// between steps: when it says so the build ends with CANCELLED.
absl::StatusOr<History> BuildHistory(const std::vector<store::PartitionVersion>& versions,
                                     const SubscriptionPartitions& partitions, absl::TimeZone tz,
                                     const std::function<bool()>& stop);

// `previous` brought to `versions`: re-derives only the customers of the months that
// changed. Falls back to BuildHistory when `previous` is not an earlier state of these
// months.
absl::StatusOr<History> UpdateHistory(const History& previous,
                                      const std::vector<store::PartitionVersion>& versions,
                                      const SubscriptionPartitions& partitions, absl::TimeZone tz,
                                      const std::function<bool()>& stop);

}  // namespace saasmetrics::query
