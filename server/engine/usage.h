// Product usage (METRICS.md "Product usage"): cached month partitions of usage events
// and the metrics over them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "server/engine/events.h"
#include "server/engine/partition.h"
#include "server/engine/periods.h"

namespace saasmetrics::engine {

struct UsagePartition {
  absl::CivilMonth month;  // UTC
  int64_t version = 0;     // the store's version of the month these events are (0: unknown)
  StringDictionary customers, types, users;
  // Columns, one entry per event, ordered by time.
  std::vector<uint32_t> second;   // seconds since the month's start (UTC)
  std::vector<int32_t> customer;  // local
  std::vector<int32_t> type;      // local
  std::vector<int32_t> user;      // local, -1 for none
  std::vector<double> value;
  // The events grouped by type, each group in time order: type t's are the positions
  // by_type[type_begin[t] .. type_begin[t + 1]) (a metric that counts a few types reads
  // just theirs).
  std::vector<uint32_t> by_type;
  std::vector<uint32_t> type_begin;

  size_t events() const { return second.size(); }
  std::span<const uint32_t> OfType(int32_t t) const {
    return std::span<const uint32_t>(by_type.data() + type_begin[t],
                                     type_begin[t + 1] - type_begin[t]);
  }
  // The local id of `type`, or -1.
  int32_t TypeId(absl::string_view type) const;
  size_t bytes() const;
  absl::Time time(size_t i) const;
};

// Builds a partition one event at a time, interning strings as they come, so a store
// can fill it straight from query results without materialising events first.
class UsagePartitionBuilder {
 public:
  explicit UsagePartitionBuilder(absl::CivilMonth month);
  // Starts from `base`'s events: Finish returns them with the added ones, exactly as a
  // builder given all of them would (local ids may be numbered differently). Costs a copy
  // of `base` and one pass over its dictionaries, not a re-interning of its events.
  explicit UsagePartitionBuilder(const UsagePartition& base);
  void Reserve(size_t events);  // events to add
  // `second`: seconds since the month's start (UTC); `user` empty for none.
  void Add(absl::string_view customer, absl::string_view type, absl::string_view user, double value,
           uint32_t second);
  // Orders the events by time, and events of one second by their content (customer, type,
  // user, value): the partition is the same whatever order the rows came in.
  UsagePartition Finish() &&;

 private:
  static int32_t Intern(absl::flat_hash_map<std::string, int32_t>& index, StringDictionary& dict,
                        absl::string_view s);
  // With a base: gives the added events the base's local ids for strings it already has.
  void ResolveAgainstBase();
  UsagePartition p_;
  size_t base_events_ = 0;  // events taken from a base (ordered already)
  size_t base_customers_ = 0, base_types_ = 0, base_users_ = 0;  // its dictionaries' sizes
  absl::flat_hash_map<std::string, int32_t> customers_, types_, users_;
  bool ordered_ = true;  // events came in time order so far
  bool tied_ = false;    // two adjacent events share a second (only checked while ordered)
};

UsagePartition BuildUsagePartition(absl::CivilMonth month, const std::vector<UsageEvent>& events);

using UsagePartitions = std::vector<std::shared_ptr<const UsagePartition>>;

// Which customers (by external id) a query counts; empty optional: all.
using CustomerSet = std::optional<absl::flat_hash_set<std::string>>;

// For each of `customer_ids` still without one in `latest` (same size), the time of its
// latest event in `p` before `until`. Reads the partition's events newest first and stops
// once every customer has one.
void LatestEvents(const UsagePartition& p, const std::vector<std::string>& customer_ids,
                  absl::Time until, std::vector<std::optional<absl::Time>>& latest);

// Tenant-wide dense ids for the customers of a set of partitions: built once per set
// (and cached), so metrics count with bitmaps instead of hashing ids per event.
// `local_to_dense` is positional, so the index records the months (and local customer
// counts) it was built over, and every use checks them: applied to partitions in another
// order or of another load, it fails instead of reading out of bounds.
struct UsageIndex {
  struct Ids {
    std::vector<std::string> customer_ids;            // dense id → external id
    absl::flat_hash_map<std::string, int32_t> dense;  // external id → dense id
  };
  // Shared between versions of an index until a changed month names a new customer.
  std::shared_ptr<const Ids> ids = std::make_shared<const Ids>();
  std::vector<absl::CivilMonth> months;  // per partition, the month it indexes
  // Per partition, per local customer; shared with the version it was updated from.
  std::vector<std::shared_ptr<const std::vector<int32_t>>> local_to_dense;
  const std::vector<std::string>& customer_ids() const { return ids->customer_ids; }
  size_t bytes() const;
};

UsageIndex BuildUsageIndex(const UsagePartitions& partitions);

// The index of `partitions` from `previous`, which indexed the same months where
// `reusable[i]` says partition i is the one it indexed (unchanged): only the other
// partitions are indexed again. Anything else (other months) builds afresh.
UsageIndex UpdateUsageIndex(const UsageIndex& previous, const UsagePartitions& partitions,
                            const std::vector<bool>& reusable);

// Per dense customer id of `index`: whether `selected` holds it (nullopt: every customer).
std::optional<std::vector<bool>> SelectDense(const UsageIndex& index, const CustomerSet& selected);

// OK when `index` was built over exactly `partitions` (same months, same order, same local
// customer dictionaries' sizes); INTERNAL naming the first difference otherwise.
absl::Status CheckUsageIndex(const UsagePartitions& partitions, const UsageIndex& index);

// Customers with at least one event (of `types`, if any) in each period. INTERNAL when
// `index` does not fit `partitions` (CheckUsageIndex).
// `stop`, when given, is polled between partitions: CANCELLED when it says so.
absl::StatusOr<std::vector<int64_t>> ActiveCustomers(
    const UsagePartitions& partitions, const UsageIndex& index, const std::vector<Period>& periods,
    absl::TimeZone tz, const std::vector<std::string>& types, const CustomerSet& customers,
    const std::function<bool()>& stop = nullptr);

struct ActivationPoint {
  Period period;
  int64_t new_customers = 0;  // created in the period
  int64_t activated = 0;      // of them, with an activation event within the window
  std::optional<double> rate() const;
};

// Customers created in each period who perform any of `types` within `window` of
// created_at.
std::vector<ActivationPoint> Activation(const UsagePartitions& partitions,
                                        const std::vector<Customer>& customers,
                                        const std::vector<Period>& periods, absl::TimeZone tz,
                                        const std::vector<std::string>& types,
                                        absl::Duration window, const CustomerSet& selected);

}  // namespace saasmetrics::engine
