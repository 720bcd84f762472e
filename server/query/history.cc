#include "server/query/history.h"

#include <algorithm>
#include <limits>
#include <tuple>

namespace saasmetrics::query {
namespace {

constexpr int64_t kAll = std::numeric_limits<int64_t>::max();

absl::Status Stopped(const std::function<bool()>& stop) {
  if (stop && stop()) return absl::CancelledError("the call ended while its history was built");
  return absl::OkStatus();
}

absl::CivilDay LastDay(const engine::Ledger& ledger, absl::TimeZone tz) {
  int64_t last_us = 0;
  for (const engine::LedgerEvent& e : ledger.events) last_us = std::max(last_us, e.at_us);
  return absl::ToCivilDay(absl::FromUnixMicros(last_us), tz);
}

// `previous` without the affected customers, merged with `fresh` (theirs, recomputed);
// both ordered by customer, then day, and so is the result.
template <typename T>
std::vector<T> MergeAffected(const std::vector<T>& previous, const std::vector<T>& fresh,
                             const std::vector<bool>& affected) {
  auto before = [](const T& a, const T& b) {
    return std::tie(a.customer, a.day) < std::tie(b.customer, b.day);
  };
  std::vector<T> out;
  out.reserve(previous.size() + fresh.size());
  auto kept = previous.begin();
  auto added = fresh.begin();
  while (kept != previous.end() || added != fresh.end()) {
    if (kept != previous.end() && affected[kept->customer]) {
      ++kept;
    } else if (added == fresh.end() || (kept != previous.end() && before(*kept, *added))) {
      out.push_back(*kept++);
    } else {
      out.push_back(*added++);
    }
  }
  return out;
}

}  // namespace

size_t History::bytes() const {
  size_t b = sizeof(*this) + ledger.events.capacity() * sizeof(engine::LedgerEvent) +
             movements.capacity() * sizeof(engine::Movement) +
             pauses.capacity() * sizeof(engine::PauseChange) +
             versions.capacity() * sizeof(store::PartitionVersion) +
             month_begin.capacity() * sizeof(size_t) + daily.bytes();
  // Strings, and the hash maps' slots (key, value and control byte).
  for (const auto& id : ledger.customer_ids) b += 2 * (sizeof(id) + id.capacity()) + 8;
  for (const auto& id : ledger.subscription_ids) b += 2 * (sizeof(id) + id.capacity()) + 16;
  for (const auto& plans : ledger.customer_plans) b += sizeof(plans) + plans.size() * 32;
  return b;
}

absl::StatusOr<History> BuildHistory(const std::vector<store::PartitionVersion>& versions,
                                     const SubscriptionPartitions& partitions, absl::TimeZone tz,
                                     const std::function<bool()>& stop) {
  History h;
  h.versions = versions;
  size_t total = 0;
  for (const auto& p : partitions) total += p->events();
  h.ledger.events.reserve(total);
  for (const auto& p : partitions) {
    h.month_begin.push_back(h.ledger.events.size());
    engine::AppendPartition(*p, kAll, h.ledger);
  }
  h.month_begin.push_back(h.ledger.events.size());
  if (absl::Status s = Stopped(stop); !s.ok()) return s;
  const engine::MrrTimeline timeline = engine::MrrTimeline::Build(
      h.ledger.events, static_cast<int32_t>(h.ledger.customer_ids.size()));
  if (absl::Status s = Stopped(stop); !s.ok()) return s;
  h.movements = timeline.Movements(tz, LastDay(h.ledger, tz), nullptr, &h.pauses);
  h.daily = engine::SumByDay(h.movements);
  return h;
}

absl::StatusOr<History> UpdateHistory(const History& previous,
                                      const std::vector<store::PartitionVersion>& versions,
                                      const SubscriptionPartitions& partitions, absl::TimeZone tz,
                                      const std::function<bool()>& stop) {
  // Which months changed; `previous` must be an earlier state of these months.
  std::vector<bool> changed(versions.size(), true);
  std::vector<size_t> previous_index(versions.size(), SIZE_MAX);
  size_t matched = 0, unchanged = 0;
  for (size_t i = 0, j = 0; i < versions.size(); ++i) {
    while (j < previous.versions.size() && previous.versions[j].month < versions[i].month) {
      return BuildHistory(versions, partitions, tz, stop);  // a month disappeared
    }
    if (j < previous.versions.size() && previous.versions[j].month == versions[i].month) {
      if (previous.versions[j].version > versions[i].version) {
        return BuildHistory(versions, partitions, tz, stop);  // an older state
      }
      previous_index[i] = j;
      changed[i] = previous.versions[j].version != versions[i].version;
      unchanged += !changed[i];
      ++j;
      ++matched;
    }
  }
  if (matched != previous.versions.size() || unchanged * 2 < versions.size()) {
    return BuildHistory(versions, partitions, tz, stop);  // more changed than not
  }

  History h;
  h.versions = versions;
  h.ledger.customer_ids = previous.ledger.customer_ids;
  h.ledger.customer_index = previous.ledger.customer_index;
  h.ledger.subscription_ids = previous.ledger.subscription_ids;
  h.ledger.subscription_index = previous.ledger.subscription_index;
  h.ledger.customer_plans = previous.ledger.customer_plans;
  // Customers whose events changed: those in a changed month, before or after.
  std::vector<bool> affected(previous.ledger.customer_ids.size(), false);
  size_t total = 0;
  for (const auto& p : partitions) total += p->events();
  h.ledger.events.reserve(total);
  for (size_t i = 0; i < versions.size(); ++i) {
    h.month_begin.push_back(h.ledger.events.size());
    if (!changed[i]) {
      const size_t j = previous_index[i];
      h.ledger.events.insert(h.ledger.events.end(),
                             previous.ledger.events.begin() + previous.month_begin[j],
                             previous.ledger.events.begin() + previous.month_begin[j + 1]);
      continue;
    }
    if (const size_t j = previous_index[i]; j != SIZE_MAX) {
      for (size_t e = previous.month_begin[j]; e < previous.month_begin[j + 1]; ++e) {
        affected[previous.ledger.events[e].customer] = true;
      }
    }
    const size_t begin = h.ledger.events.size();
    engine::AppendPartition(*partitions[i], kAll, h.ledger);
    affected.resize(h.ledger.customer_ids.size(), false);
    for (size_t e = begin; e < h.ledger.events.size(); ++e) {
      affected[h.ledger.events[e].customer] = true;
    }
  }
  h.month_begin.push_back(h.ledger.events.size());
  if (absl::Status s = Stopped(stop); !s.ok()) return s;

  // The affected customers' movements from all their events; everyone else's as before.
  std::vector<engine::LedgerEvent> events;
  for (const engine::LedgerEvent& e : h.ledger.events) {
    if (affected[e.customer]) events.push_back(e);
  }
  const engine::MrrTimeline timeline = engine::MrrTimeline::Build(
      std::move(events), static_cast<int32_t>(h.ledger.customer_ids.size()));
  std::vector<engine::PauseChange> fresh_pauses;
  const std::vector<engine::Movement> fresh =
      timeline.Movements(tz, LastDay(h.ledger, tz), &affected, &fresh_pauses);
  if (absl::Status s = Stopped(stop); !s.ok()) return s;
  h.movements = MergeAffected(previous.movements, fresh, affected);
  h.pauses = MergeAffected(previous.pauses, fresh_pauses, affected);
  h.daily = engine::SumByDay(h.movements);
  return h;
}

}  // namespace saasmetrics::query
