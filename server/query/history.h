// A tenant's whole subscription history, merged, with its movements from the first day to
// the last event's (in one time zone). Movements on a day depend only on events up to that
// day, so one such snapshot answers every range by filtering days.
//
// Kept up to date incrementally: a late or new event changes one month's partition, and
// only the customers with events in the changed months get their movements recomputed;
// everyone else's are reused. Months are never removed and a month's events only grow,
// so a later version of the same months is always reachable this way; anything else
// (fewer months, a lower version) rebuilds from scratch.
//
// Versions share what did not change instead of copying it: the id dictionary (unless the
// changed months name new customers, subscriptions or plans), every unchanged month's
// events, and the movements of everyone not affected (an overlay holds the affected
// customers' new movements until the whole list is asked for, or the overlay grows past a
// fraction of it). The affected customers are those whose events differ between the two
// versions of a changed month (when the new partition is a delta load's extension of the
// old, the added events' customers, found without reading the month); the per-day totals are
// adjusted by their old and new movements, and only the months holding one of them are read. So an
// update costs about what the changed months and the affected customers hold.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/cache/partition_cache.h"
#include "server/engine/cohorts.h"
#include "server/engine/currency.h"
#include "server/engine/ledger.h"
#include "server/engine/partition.h"
#include "server/engine/series.h"
#include "server/engine/timeline.h"
#include "server/store/metrics_store.h"

namespace saasmetrics::query {

using SubscriptionPartitions = std::vector<std::shared_ptr<const engine::SubscriptionPartition>>;
using Movements = std::vector<engine::Movement>;

// How a history converts its events' MRR into the tenant's reporting currency (METRICS.md
// "Currencies"): each state's MRR, computed and rounded in its own currency, at the rate of
// the day (in the history's zone) of the event that set it, rounded once. A state of zero
// MRR needs no rate. The default converts nothing (every event is taken as in the
// reporting currency).
struct Conversion {
  int reporting = -1;         // engine::Iso4217Index of the reporting currency; -1: none
  int64_t rates_version = 0;  // of the rates `rates` loads
  // The tenant's rates, loaded on first need: a tenant billing only in its reporting
  // currency never reads them.
  std::function<absl::StatusOr<std::shared_ptr<const engine::RateTable>>()> rates;
};

class History : public cache::Snapshot {
 public:
  // The dense ids of customers and subscriptions and each customer's plans (its `events`
  // are empty: they are in `months`).
  const engine::Ledger& ids() const { return *ids_; }
  // The same, shared: one pointer for as long as no new customer, subscription or plan
  // appears, so what is derived from the ids can be kept by it.
  const std::shared_ptr<const engine::Ledger>& shared_ids() const { return ids_; }
  // The months (in order) and versions it was built from, and each one's events.
  const std::vector<store::PartitionVersion>& versions() const { return versions_; }
  const std::vector<std::shared_ptr<const std::vector<engine::LedgerEvent>>>& months() const {
    return months_;
  }

  // Every movement, ordered by customer, then day (made once, on first use, when an
  // update left an overlay).
  const Movements& movements() const;
  // One customer's movements, by day, without making the whole list.
  std::span<const engine::Movement> MovementsOf(int32_t customer) const;
  const std::vector<engine::PauseChange>& pauses() const { return *pauses_; }  // likewise
  const engine::DailyTotals& daily() const { return daily_; }  // the movements per day
  // The movements per cohort month and day (the layer cake's partial sums).
  const engine::CohortDailyTotals& cohorts() const { return cohorts_; }

  size_t bytes() const override;

  // True once the overlay is large enough that the next update would copy a good part of
  // it: whoever keeps this version should make the whole list (movements()) off the query
  // path, which the next update then starts from. Says so once per version.
  bool WantsCompaction() const;

 private:
  friend absl::StatusOr<History> BuildHistory(const std::vector<store::PartitionVersion>&,
                                              const SubscriptionPartitions&, absl::TimeZone,
                                              const std::function<bool()>&, const Conversion&);
  friend absl::StatusOr<History> UpdateHistory(const History&,
                                               const std::vector<store::PartitionVersion>&,
                                               const SubscriptionPartitions&, absl::TimeZone,
                                               const std::function<bool()>&, const Conversion&);
  // Where each customer's movements begin in `base_` (made on first use; shared by the
  // versions that share `base_`): a customer's movements without a search.
  struct BaseIndex {
    absl::once_flag once;
    std::vector<uint32_t> begin;  // per customer up to the last in the base, and one more
  };
  struct Flat {
    absl::once_flag once;
    std::shared_ptr<const Movements> movements;
    std::atomic<bool> made{false};           // set (release) once `movements` is
    mutable std::atomic<bool> asked{false};  // WantsCompaction said so
  };

  std::shared_ptr<const engine::Ledger> ids_;
  std::vector<store::PartitionVersion> versions_;
  std::vector<std::shared_ptr<const std::vector<engine::LedgerEvent>>> months_;
  // The version of the partition each month's events were mapped from (its data, which
  // can be newer than `versions_` says): an extension of exactly that version maps only
  // its added events (engine::MapExtension).
  std::vector<int64_t> month_versions_;
  // Each month's customers (sorted, distinct): an update reads only the months that hold
  // an affected customer.
  std::vector<std::shared_ptr<const std::vector<int32_t>>> month_customers_;
  int64_t last_us_ = 0;  // the latest event's time
  // The version of the rates its events were converted at, and whether any event needed
  // one: a history that converted nothing does not depend on the rates.
  int64_t rates_version_ = 0;
  bool converted_ = false;
  // Movements: `base_`, except that the customers in `overlaid_` have theirs in `overlay_`
  // (both ordered by customer, then day).
  std::shared_ptr<const Movements> base_;
  std::shared_ptr<BaseIndex> base_index_ = std::make_shared<BaseIndex>();  // of `base_`
  std::shared_ptr<const Movements> overlay_;
  std::shared_ptr<const absl::flat_hash_set<int32_t>> overlaid_;
  std::shared_ptr<Flat> flat_ = std::make_shared<Flat>();
  std::shared_ptr<const std::vector<engine::PauseChange>> pauses_;
  size_t ids_bytes_ = 0;  // of `ids_`: measured once per dictionary, shared with it
  engine::DailyTotals daily_;
  engine::CohortDailyTotals cohorts_;
};

// From scratch. `versions` and `partitions` are parallel, in month order. `stop` is polled
// between steps: when it says so the build ends with CANCELLED. A state whose currency has
// no rate on its day fails the build (FAILED_PRECONDITION naming the currency and day).
absl::StatusOr<History> BuildHistory(const std::vector<store::PartitionVersion>& versions,
                                     const SubscriptionPartitions& partitions, absl::TimeZone tz,
                                     const std::function<bool()>& stop,
                                     const Conversion& conversion = {});

// `previous` brought to `versions`: re-derives only the customers of the months that
// changed. Falls back to BuildHistory when `previous` is not an earlier state of these
// months, or converted events at other rates than `conversion` has.
absl::StatusOr<History> UpdateHistory(const History& previous,
                                      const std::vector<store::PartitionVersion>& versions,
                                      const SubscriptionPartitions& partitions, absl::TimeZone tz,
                                      const std::function<bool()>& stop,
                                      const Conversion& conversion = {});

}  // namespace saasmetrics::query
