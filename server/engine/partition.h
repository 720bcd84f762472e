// A cached partition: one (tenant, month) of subscription events as an immutable
// columnar snapshot with partition-local dictionaries, and the merge of snapshots into
// the ledger a query computes on.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "server/engine/events.h"
#include "server/engine/ledger.h"
#include "server/engine/periods.h"

namespace saasmetrics::engine {

// Strings stored back to back: 4 bytes of offset each instead of a std::string object.
class StringDictionary {
 public:
  int32_t Add(absl::string_view s);  // the new entry's index (no deduplication)
  void Truncate(size_t n);           // keeps the first n entries
  absl::string_view operator[](size_t i) const {
    return absl::string_view(chars_.data() + ends_[i] - Length(i), Length(i));
  }
  size_t size() const { return ends_.size(); }
  size_t bytes() const { return chars_.capacity() + ends_.capacity() * sizeof(uint32_t); }
  void Shrink();

 private:
  size_t Length(size_t i) const { return ends_[i] - (i == 0 ? 0 : ends_[i - 1]); }
  std::string chars_;
  std::vector<uint32_t> ends_;
};

inline constexpr uint8_t kNoCurrency = 255;

struct SubscriptionPartition {
  absl::CivilMonth month;  // UTC month of effective_at
  int64_t version = 0;     // the store's version of the month these events are (0: unknown)
  // Dictionaries: local id → external id.
  StringDictionary customers;
  StringDictionary subscriptions;  // paired with subscription_customer
  std::vector<int32_t> subscription_customer;
  StringDictionary plans;
  // Columns, one entry per event, ordered by (at_us, then ingest order): ties can only
  // happen within one month, so the position is the ingest order.
  std::vector<int64_t> at_us;
  std::vector<int64_t> seq;  // the store's tie-breaker (ingest order)
  std::vector<int64_t> mrr;
  std::vector<int32_t> subscription;   // local
  std::vector<int32_t> plan;           // local, -1 for none
  std::vector<uint8_t> state;          // LedgerEvent's state bits: kStatePaused, kStatePastDue, …
  std::vector<uint8_t> interval_unit;  // the state's term (LedgerEvent)
  std::vector<uint16_t> interval_count;  // clamped to 16 bits
  // The state's currency (Iso4217Index; kNoCurrency for a code that is not one): `mrr` is
  // in its minor units, converted into the reporting currency by the history.
  std::vector<uint8_t> currency;
  // Set by ExtendSubscriptionPartition: the version of the partition it extended, and
  // the positions its added events took (ascending). 0 and empty otherwise.
  int64_t extends = 0;
  std::vector<uint32_t> added;

  size_t events() const { return at_us.size(); }
  // Heap bytes held, dictionaries included.
  size_t bytes() const;
};

SubscriptionPartition BuildSubscriptionPartition(absl::CivilMonth month,
                                                 const std::vector<SubscriptionEvent>& events);

// `base` with `added` (events of its month that it does not hold) merged in: the same
// events in the same order as BuildSubscriptionPartition of all of them (local ids may
// be numbered differently).
SubscriptionPartition ExtendSubscriptionPartition(const SubscriptionPartition& base,
                                                  const std::vector<SubscriptionEvent>& added);

// The ledger over `partitions` (any order), keeping events with at_us < until_us.
Ledger MergePartitions(const std::vector<std::shared_ptr<const SubscriptionPartition>>& partitions,
                       int64_t until_us);

// Appends `p`'s events with at_us < until_us to `ledger`, adding the customers,
// subscriptions and plans it has not seen.
void AppendPartition(const SubscriptionPartition& p, int64_t until_us, Ledger& ledger);

// `p`'s events as AppendPartition would append them, when `ids` already knows every
// customer, subscription and (customer, plan) pair they name; nullopt otherwise. Lets a
// dictionary be shared, unchanged, between versions of a history.
std::optional<std::vector<LedgerEvent>> MapPartition(const SubscriptionPartition& p,
                                                     const Ledger& ids);

// The same as MapPartition(p, ids), from `base_events` (MapPartition of the partition `p`
// extends, under the same `ids`) and `p`'s added events alone: the cost of the added
// events and a copy, not of a lookup per event. nullopt when `p` extends nothing, an
// added event names something `ids` does not know, or `base_events` does not fit.
std::optional<std::vector<LedgerEvent>> MapExtension(const SubscriptionPartition& p,
                                                     const Ledger& ids,
                                                     const std::vector<LedgerEvent>& base_events);

// MRR in one native currency (minor units, unconverted).
struct CurrencyMrr {
  std::string currency;
  int64_t mrr = 0;
  bool operator==(const CurrencyMrr&) const = default;
};

// At the end of each period's last day (in `tz`): the MRR of every subscription's latest
// state by then, summed per native currency, unconverted (METRICS.md "Currencies": what
// finance needs to see its exposure). Only currencies with MRR, by code. `customers`:
// those counted (nullopt: all). `partitions` in month order.
std::vector<std::vector<CurrencyMrr>> NativeMrrAtPeriodEnds(
    const std::vector<std::shared_ptr<const SubscriptionPartition>>& partitions,
    const std::vector<Period>& periods, absl::TimeZone tz,
    const std::optional<absl::flat_hash_set<std::string>>& customers);

}  // namespace saasmetrics::engine
