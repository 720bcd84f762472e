#include "server/query/history.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <tuple>

#include "server/engine/tenant.h"

namespace saasmetrics::query {
namespace {

// Converts the MRR of a month's ledger events into the reporting currency (Conversion),
// loading the rates on the first event that needs one.
class Converter {
 public:
  Converter(const Conversion& conversion, absl::TimeZone tz) : c_(conversion), tz_(tz) {}
  // `events[k]` is `p`'s event k; converts those at `positions` (ascending), or all.
  absl::Status Month(const engine::SubscriptionPartition& p, engine::LedgerEvent* events,
                     const std::vector<uint32_t>* positions = nullptr) {
    if (c_.reporting < 0) return absl::OkStatus();
    const auto reporting = static_cast<uint8_t>(c_.reporting);
    auto one = [&](size_t k) -> absl::Status {
      engine::LedgerEvent& e = events[k];
      if (p.currency[k] == reporting || e.mrr == 0) return absl::OkStatus();
      if (rates_ == nullptr) {
        if (!c_.rates) return absl::InternalError("a history in several currencies without rates");
        absl::StatusOr<std::shared_ptr<const engine::RateTable>> loaded = c_.rates();
        if (!loaded.ok()) return loaded.status();
        rates_ = *std::move(loaded);
      }
      used_ = true;
      absl::StatusOr<int64_t> converted =
          rates_->Convert(e.mrr, engine::Iso4217Code(p.currency[k]),
                          absl::ToCivilDay(absl::FromUnixMicros(e.at_us), tz_));
      if (!converted.ok()) return converted.status();
      e.mrr = *converted;
      return absl::OkStatus();
    };
    if (positions != nullptr) {
      for (uint32_t k : *positions) {
        if (absl::Status s = one(k); !s.ok()) return s;
      }
    } else {
      for (size_t k = 0; k < p.events(); ++k) {
        if (absl::Status s = one(k); !s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }
  bool used() const { return used_; }

 private:
  const Conversion& c_;
  absl::TimeZone tz_;
  std::shared_ptr<const engine::RateTable> rates_;
  bool used_ = false;
};

constexpr int64_t kAll = std::numeric_limits<int64_t>::max();
// An overlay holding more than 1/kCompactFraction of the movements asks to be merged into
// a new base off the query path (History::WantsCompaction); one holding more than
// 1/kOverlayFraction is merged by the update itself (nobody compacted it in time).
constexpr size_t kCompactFraction = 16;
constexpr size_t kOverlayFraction = 2;

absl::Status Stopped(const std::function<bool()>& stop) {
  if (stop && stop()) return absl::CancelledError("the call ended while its history was built");
  return absl::OkStatus();
}

template <typename T>
bool CustomerThenDay(const T& a, const T& b) {
  return std::tie(a.customer, a.day) < std::tie(b.customer, b.day);
}

// `customer`'s entries of `list` (ordered by customer, then day).
template <typename T>
std::span<const T> RangeOf(const std::vector<T>& list, int32_t customer) {
  auto first = std::partition_point(list.begin(), list.end(),
                                    [&](const T& m) { return m.customer < customer; });
  auto last =
      std::partition_point(first, list.end(), [&](const T& m) { return m.customer == customer; });
  return std::span<const T>(list.data() + (first - list.begin()), last - first);
}

// `kept` without the customers `dropped` says, merged with `added`; all ordered by
// customer, then day, and so is the result.
template <typename T, typename Dropped>
std::vector<T> MergeReplacing(const std::vector<T>& kept, const std::vector<T>& added,
                              const Dropped& dropped) {
  std::vector<T> out;
  out.reserve(kept.size() + added.size());
  auto k = kept.begin();
  auto a = added.begin();
  while (k != kept.end() || a != added.end()) {
    if (k != kept.end() && dropped(k->customer)) {
      ++k;
    } else if (a == added.end() || (k != kept.end() && CustomerThenDay(*k, *a))) {
      out.push_back(*k++);
    } else {
      out.push_back(*a++);
    }
  }
  return out;
}

std::shared_ptr<const std::vector<int32_t>> CustomersOf(
    const std::vector<engine::LedgerEvent>& events) {
  std::vector<int32_t> out;
  out.reserve(events.size());
  for (const engine::LedgerEvent& e : events) out.push_back(e.customer);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  out.shrink_to_fit();
  return std::make_shared<const std::vector<int32_t>>(std::move(out));
}

// Adds to `out` every customer whose events differ between two versions of a month (as
// multisets: what an event says, not where it sits).
void ChangedCustomers(const std::vector<engine::LedgerEvent>& before,
                      const std::vector<engine::LedgerEvent>& after,
                      absl::flat_hash_set<int32_t>& out) {
  using Key = std::tuple<int32_t, int64_t, int32_t, int64_t, bool>;
  auto keys = [](const std::vector<engine::LedgerEvent>& events) {
    std::vector<Key> k;
    k.reserve(events.size());
    for (const engine::LedgerEvent& e : events) {
      k.emplace_back(e.customer, e.at_us, e.subscription, e.mrr, e.paused);
    }
    std::sort(k.begin(), k.end());
    return k;
  };
  const std::vector<Key> a = keys(before), b = keys(after);
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      ++i, ++j;
    } else if (j == b.size() || (i < a.size() && a[i] < b[j])) {
      out.insert(std::get<0>(a[i++]));
    } else {
      out.insert(std::get<0>(b[j++]));
    }
  }
}

size_t IdBytes(const engine::Ledger& ids) {
  // Strings, and the hash maps' slots (key, value and control byte).
  size_t b = sizeof(ids);
  for (const auto& id : ids.customer_ids) b += 2 * (sizeof(id) + id.capacity()) + 8;
  for (const auto& id : ids.subscription_ids) b += 2 * (sizeof(id) + id.capacity()) + 16;
  for (const auto& plans : ids.customer_plans) b += sizeof(plans) + plans.size() * 32;
  return b;
}

}  // namespace

const Movements& History::movements() const {
  absl::call_once(flat_->once, [this] {
    if (overlaid_->empty()) {
      flat_->movements = base_;
    } else {
      flat_->movements = std::make_shared<const Movements>(
          MergeReplacing(*base_, *overlay_, [this](int32_t c) { return overlaid_->contains(c); }));
    }
    flat_->made.store(true, std::memory_order_release);
  });
  return *flat_->movements;
}

std::span<const engine::Movement> History::MovementsOf(int32_t customer) const {
  if (overlaid_->contains(customer)) return RangeOf(*overlay_, customer);
  absl::call_once(base_index_->once, [this] {
    const Movements& base = *base_;
    std::vector<uint32_t>& begin = base_index_->begin;
    begin.assign(base.empty() ? 1 : static_cast<size_t>(base.back().customer) + 2, 0);
    for (const engine::Movement& m : base) ++begin[m.customer + 1];
    for (size_t c = 1; c < begin.size(); ++c) begin[c] += begin[c - 1];
  });
  const std::vector<uint32_t>& begin = base_index_->begin;
  if (customer < 0 || static_cast<size_t>(customer) + 1 >= begin.size()) return {};
  return std::span<const engine::Movement>(base_->data() + begin[customer],
                                           begin[customer + 1] - begin[customer]);
}

bool History::WantsCompaction() const {
  if (overlay_->size() * kCompactFraction <= base_->size()) return false;
  if (flat_->made.load(std::memory_order_acquire)) return false;
  return !flat_->asked.exchange(true);
}

size_t History::bytes() const {
  // Shared parts are counted in every version that holds them: an overestimate that keeps
  // the cache within its budget whatever is evicted first.
  size_t b = sizeof(*this) + ids_bytes_ + versions_.capacity() * sizeof(store::PartitionVersion) +
             pauses_->capacity() * sizeof(engine::PauseChange) + daily_.bytes() + cohorts_.bytes();
  for (const auto& m : months_) b += sizeof(m) + m->capacity() * sizeof(engine::LedgerEvent);
  for (const auto& c : month_customers_) b += sizeof(c) + c->capacity() * sizeof(int32_t);
  b += month_versions_.capacity() * sizeof(int64_t);
  const size_t movements = base_->capacity() + overlay_->capacity();
  // The merged list, once asked for, is about as large as the base and overlay together.
  b += (overlaid_->empty() ? 1 : 2) * movements * sizeof(engine::Movement) +
       overlaid_->size() * (sizeof(int32_t) + 1);
  // The base's index counts as made (it is made on first use, after the cache measured).
  b += (ids_->customer_ids.size() + 2) * sizeof(uint32_t);
  return b;
}

absl::StatusOr<History> BuildHistory(const std::vector<store::PartitionVersion>& versions,
                                     const SubscriptionPartitions& partitions, absl::TimeZone tz,
                                     const std::function<bool()>& stop,
                                     const Conversion& conversion) {
  History h;
  h.versions_ = versions;
  h.rates_version_ = conversion.rates_version;
  Converter convert(conversion, tz);
  engine::Ledger ledger;
  size_t total = 0;
  for (const auto& p : partitions) total += p->events();
  ledger.events.reserve(total);
  std::vector<size_t> begin;
  for (const auto& p : partitions) {
    begin.push_back(ledger.events.size());
    engine::AppendPartition(*p, kAll, ledger);
    if (absl::Status s = convert.Month(*p, ledger.events.data() + begin.back()); !s.ok()) return s;
  }
  h.converted_ = convert.used();
  begin.push_back(ledger.events.size());
  for (size_t i = 0; i + 1 < begin.size(); ++i) {
    h.months_.push_back(std::make_shared<const std::vector<engine::LedgerEvent>>(
        ledger.events.begin() + begin[i], ledger.events.begin() + begin[i + 1]));
    h.month_customers_.push_back(CustomersOf(*h.months_.back()));
    h.month_versions_.push_back(partitions[i]->version);
  }
  for (const engine::LedgerEvent& e : ledger.events) h.last_us_ = std::max(h.last_us_, e.at_us);
  if (absl::Status s = Stopped(stop); !s.ok()) return s;
  const int32_t customers = static_cast<int32_t>(ledger.customer_ids.size());
  const engine::MrrTimeline timeline =
      engine::MrrTimeline::Build(std::move(ledger.events), customers);
  ledger.events = {};
  h.ids_ = std::make_shared<const engine::Ledger>(std::move(ledger));
  if (absl::Status s = Stopped(stop); !s.ok()) return s;
  auto pauses = std::make_shared<std::vector<engine::PauseChange>>();
  auto movements = std::make_shared<Movements>(timeline.Movements(
      tz, absl::ToCivilDay(absl::FromUnixMicros(h.last_us_), tz), nullptr, pauses.get(), &stop));
  h.pauses_ = std::move(pauses);
  if (absl::Status s = Stopped(stop); !s.ok()) return s;
  h.daily_ = engine::SumByDay(*movements);
  h.cohorts_ = engine::SumByCohortDay(*movements);
  h.base_ = std::move(movements);
  h.overlay_ = std::make_shared<const Movements>();
  h.overlaid_ = std::make_shared<const absl::flat_hash_set<int32_t>>();
  h.ids_bytes_ = IdBytes(*h.ids_);
  return h;
}

absl::StatusOr<History> UpdateHistory(const History& previous,
                                      const std::vector<store::PartitionVersion>& versions,
                                      const SubscriptionPartitions& partitions, absl::TimeZone tz,
                                      const std::function<bool()>& stop,
                                      const Conversion& conversion) {
  if (previous.converted_ && previous.rates_version_ != conversion.rates_version) {
    // Events were converted at other rates (a late or corrected rate can move any of them).
    return BuildHistory(versions, partitions, tz, stop, conversion);
  }
  // Which months changed; `previous` must be an earlier state of these months.
  std::vector<bool> changed(versions.size(), true);
  std::vector<size_t> previous_index(versions.size(), SIZE_MAX);
  size_t matched = 0;
  for (size_t i = 0, j = 0; i < versions.size(); ++i) {
    if (j < previous.versions_.size() && previous.versions_[j].month < versions[i].month) {
      return BuildHistory(versions, partitions, tz, stop, conversion);  // a month disappeared
    }
    if (j < previous.versions_.size() && previous.versions_[j].month == versions[i].month) {
      if (previous.versions_[j].version > versions[i].version) {
        return BuildHistory(versions, partitions, tz, stop, conversion);  // an older state
      }
      previous_index[i] = j;
      changed[i] = previous.versions_[j].version != versions[i].version;
      ++j;
      ++matched;
    }
  }
  if (matched != previous.versions_.size()) {
    return BuildHistory(versions, partitions, tz, stop, conversion);  // a month disappeared
  }

  History h;
  h.versions_ = versions;
  h.last_us_ = previous.last_us_;
  h.rates_version_ = conversion.rates_version;
  Converter convert(conversion, tz);
  // The changed months' events under the previous ids when they name nothing new; else
  // under a copy that adds what they name.
  h.ids_ = previous.ids_;
  std::shared_ptr<engine::Ledger> grown;
  absl::flat_hash_set<int32_t> affected;  // customers whose events changed
  for (size_t i = 0; i < versions.size(); ++i) {
    const size_t j = previous_index[i];
    const engine::SubscriptionPartition& p = *partitions[i];
    if (!changed[i]) {
      h.months_.push_back(previous.months_[j]);
      h.month_customers_.push_back(previous.month_customers_[j]);
      h.month_versions_.push_back(previous.month_versions_[j]);
      continue;
    }
    h.month_versions_.push_back(p.version);
    // A delta load's extension of the very partition this month was mapped from: only its
    // added events are new, and only their customers are affected.
    if (grown == nullptr && j != SIZE_MAX && p.extends > 0 &&
        previous.month_versions_[j] == p.extends) {
      std::optional<std::vector<engine::LedgerEvent>> extended =
          engine::MapExtension(p, *h.ids_, *previous.months_[j]);
      if (extended.has_value()) {
        // The base's events are converted already.
        if (absl::Status s = convert.Month(p, extended->data(), &p.added); !s.ok()) return s;
        std::vector<int32_t> added;
        for (uint32_t at : p.added) {
          const engine::LedgerEvent& e = (*extended)[at];
          h.last_us_ = std::max(h.last_us_, e.at_us);
          affected.insert(e.customer);
          added.push_back(e.customer);
        }
        std::sort(added.begin(), added.end());
        added.erase(std::unique(added.begin(), added.end()), added.end());
        const std::vector<int32_t>& before = *previous.month_customers_[j];
        std::vector<int32_t> present;
        present.reserve(before.size() + added.size());
        std::set_union(before.begin(), before.end(), added.begin(), added.end(),
                       std::back_inserter(present));
        h.months_.push_back(
            std::make_shared<const std::vector<engine::LedgerEvent>>(std::move(*extended)));
        h.month_customers_.push_back(
            std::make_shared<const std::vector<int32_t>>(std::move(present)));
        continue;
      }
    }
    std::optional<std::vector<engine::LedgerEvent>> events;
    if (grown == nullptr) events = engine::MapPartition(p, *h.ids_);
    if (!events.has_value()) {
      if (grown == nullptr) grown = std::make_shared<engine::Ledger>(*h.ids_);
      engine::AppendPartition(p, kAll, *grown);
      events = std::move(grown->events);
      grown->events = {};
    }
    if (absl::Status s = convert.Month(p, events->data()); !s.ok()) return s;
    for (const engine::LedgerEvent& e : *events) h.last_us_ = std::max(h.last_us_, e.at_us);
    static const std::vector<engine::LedgerEvent> kNone;
    ChangedCustomers(j == SIZE_MAX ? kNone : *previous.months_[j], *events, affected);
    h.months_.push_back(
        std::make_shared<const std::vector<engine::LedgerEvent>>(std::move(*events)));
    h.month_customers_.push_back(CustomersOf(*h.months_.back()));
  }
  h.converted_ = previous.converted_ || convert.used();
  h.ids_bytes_ = previous.ids_bytes_;
  if (grown != nullptr) {
    h.ids_ = std::move(grown);
    h.ids_bytes_ = IdBytes(*h.ids_);
  }
  if (absl::Status s = Stopped(stop); !s.ok()) return s;

  // The affected customers' movements from all their events.
  const int32_t customers = static_cast<int32_t>(h.ids_->customer_ids.size());
  std::vector<bool> include(customers, false);
  for (int32_t c : affected) include[c] = true;
  std::vector<int32_t> sorted_affected(affected.begin(), affected.end());
  std::sort(sorted_affected.begin(), sorted_affected.end());
  std::vector<engine::LedgerEvent> events;
  for (size_t i = 0; i < h.months_.size(); ++i) {
    const std::vector<int32_t>& present = *h.month_customers_[i];
    if (std::none_of(sorted_affected.begin(), sorted_affected.end(), [&](int32_t c) {
          return std::binary_search(present.begin(), present.end(), c);
        })) {
      continue;
    }
    for (const engine::LedgerEvent& e : *h.months_[i]) {
      if (include[e.customer]) events.push_back(e);
    }
  }
  const engine::MrrTimeline timeline = engine::MrrTimeline::Build(std::move(events), customers);
  std::vector<engine::PauseChange> fresh_pauses;
  Movements fresh = timeline.Movements(tz, absl::ToCivilDay(absl::FromUnixMicros(h.last_us_), tz),
                                       &include, &fresh_pauses, &stop);
  if (absl::Status s = Stopped(stop); !s.ok()) return s;

  // Per-day totals: the affected customers' old movements out, their new ones in.
  h.daily_ = previous.daily_;
  h.cohorts_ = previous.cohorts_;
  for (int32_t c : affected) {
    const std::span<const engine::Movement> old = previous.MovementsOf(c);
    for (const engine::Movement& m : old) engine::AddToDaily(m, -1, h.daily_);
    engine::AddCustomerToCohorts(old, -1, h.cohorts_);
  }
  for (const engine::Movement& m : fresh) engine::AddToDaily(m, 1, h.daily_);
  for (size_t i = 0; i < fresh.size();) {
    size_t end = i;
    while (end < fresh.size() && fresh[end].customer == fresh[i].customer) ++end;
    engine::AddCustomerToCohorts(std::span<const engine::Movement>(fresh.data() + i, end - i), 1,
                                 h.cohorts_);
    i = end;
  }

  // Movements: everyone else's stay where they are. The affected customers' go into the
  // overlay, which is merged into a new base once it is large (or when the previous
  // version's whole list was already made, which the update then starts from).
  auto in_affected = [&](int32_t c) { return affected.contains(c); };
  std::shared_ptr<const Movements> base = previous.base_;
  std::shared_ptr<const Movements> overlay = previous.overlay_;
  std::shared_ptr<const absl::flat_hash_set<int32_t>> overlaid = previous.overlaid_;
  std::shared_ptr<History::BaseIndex> base_index = previous.base_index_;
  if (previous.flat_->made.load(std::memory_order_acquire) && previous.flat_->movements != base) {
    base = previous.flat_->movements;
    base_index = std::make_shared<History::BaseIndex>();
    overlay = std::make_shared<const Movements>();
    overlaid = std::make_shared<const absl::flat_hash_set<int32_t>>();
  }
  auto next_overlay = std::make_shared<Movements>(MergeReplacing(*overlay, fresh, in_affected));
  auto next_overlaid = std::make_shared<absl::flat_hash_set<int32_t>>(*overlaid);
  next_overlaid->insert(affected.begin(), affected.end());
  if (next_overlay->size() * kOverlayFraction > base->size()) {
    h.base_ = std::make_shared<const Movements>(MergeReplacing(
        *base, *next_overlay, [&](int32_t c) { return next_overlaid->contains(c); }));
    h.overlay_ = std::make_shared<const Movements>();
    h.overlaid_ = std::make_shared<const absl::flat_hash_set<int32_t>>();
    h.base_index_ = std::make_shared<History::BaseIndex>();
  } else {
    h.base_index_ = std::move(base_index);
    h.base_ = std::move(base);
    h.overlay_ = std::move(next_overlay);
    h.overlaid_ = std::move(next_overlaid);
  }
  // Pauses: shared unless an affected customer had or has one.
  const bool pauses_changed =
      !fresh_pauses.empty() || std::any_of(affected.begin(), affected.end(), [&](int32_t c) {
        return !RangeOf(*previous.pauses_, c).empty();
      });
  h.pauses_ = pauses_changed ? std::make_shared<const std::vector<engine::PauseChange>>(
                                   MergeReplacing(*previous.pauses_, fresh_pauses, in_affected))
                             : previous.pauses_;
  return h;
}

}  // namespace saasmetrics::query
