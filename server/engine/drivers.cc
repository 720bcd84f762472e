#include "server/engine/drivers.h"

#include <algorithm>
#include <map>

#include "server/engine/dates.h"
#include "server/engine/stats.h"
#include "server/engine/usage.h"

namespace saasmetrics::engine {
namespace {

// A customer of the population: its window [from, until) in Unix seconds.
struct Member {
  int32_t customer = 0;
  int64_t from = 0, until = 0;
  bool retained = false;
};

// The population: first new business in [first, last], observable at day nb + R.
std::vector<Member> Population(const EngagementInputs& in, const std::vector<PauseChange>& pauses,
                               absl::CivilDay first, absl::CivilDay last, const DriverSettings& s) {
  std::vector<Member> out;
  ForEachCustomerRun(
      *in.movements, pauses, [&](std::span<const Movement> ms, std::span<const PauseChange> ps) {
        const Movement& nb = ms.front();
        const absl::CivilDay at = nb.day + s.retained_days;
        if (nb.type != MovementType::kNewBusiness || nb.day < first || nb.day > last ||
            DayStart(at + 1, in.tz) > s.as_of) {
          return;
        }
        int64_t mrr = 0;
        for (size_t m = 0; m < ms.size() && ms[m].day <= at; ++m) mrr = ms[m].after;
        bool paused = false;
        for (size_t p = 0; p < ps.size() && ps[p].day <= at; ++p) paused = ps[p].paused;
        out.push_back({.customer = nb.customer,
                       .from = absl::ToUnixSeconds(DayStart(nb.day, in.tz)),
                       .until = absl::ToUnixSeconds(DayStart(nb.day + s.window_days, in.tz)),
                       .retained = mrr > 0 || paused});
      });
  return out;
}

bool Before(const RetentionDriver& a, const RetentionDriver& b) {
  if (a.eligible != b.eligible) return a.eligible;
  if (a.eligible) {
    if (a.lift.has_value() != b.lift.has_value()) return a.lift.has_value();
    if (a.lift.has_value() && *a.lift != *b.lift) return *a.lift > *b.lift;
  }
  return a.type < b.type;
}

}  // namespace

absl::StatusOr<DriversResult> RetentionDrivers(const EngagementInputs& in,
                                               const std::vector<PauseChange>& pauses,
                                               absl::CivilDay first, absl::CivilDay last,
                                               const DriverSettings& s,
                                               const std::function<bool()>& stop) {
  const UsagePartitions& partitions = *in.partitions;
  if (absl::Status st = CheckUsageIndex(partitions, *in.index); !st.ok()) return st;
  const std::vector<Member> members = Population(in, pauses, first, last, s);
  DriversResult out;
  out.customers = static_cast<int64_t>(members.size());
  for (const Member& m : members) out.retained += m.retained ? 1 : 0;
  std::vector<int32_t> slot_of_ledger(in.ledger_size, -1);
  for (size_t i = 0; i < members.size(); ++i) {
    slot_of_ledger[static_cast<size_t>(members[i].customer)] = static_cast<int32_t>(i);
  }
  // Every type in the partitions, by name; per partition, each local customer's slot.
  std::map<std::string, std::vector<std::pair<size_t, int32_t>>> types;  // → (partition, local)
  std::vector<std::vector<int32_t>> slots(partitions.size());
  for (size_t pi = 0; pi < partitions.size(); ++pi) {
    const UsagePartition& p = *partitions[pi];
    for (int32_t t = 0; t < static_cast<int32_t>(p.types.size()); ++t) {
      if (!p.OfType(t).empty()) types[std::string(p.types[t])].emplace_back(pi, t);
    }
    const std::vector<int32_t>& dense = *in.index->local_to_dense[pi];
    slots[pi].resize(dense.size());
    for (size_t l = 0; l < dense.size(); ++l) {
      const int32_t ledger = (*in.ledger_ids)[static_cast<size_t>(dense[l])];
      slots[pi][l] = ledger < 0 ? -1 : slot_of_ledger[static_cast<size_t>(ledger)];
    }
  }
  // Type by type: each member's events of it within its window (saturating at n).
  std::vector<int32_t> count(members.size());
  for (const auto& [type, parts] : types) {
    if (stop && stop()) return absl::CancelledError("retention drivers stopped");
    std::fill(count.begin(), count.end(), 0);
    for (const auto& [pi, t] : parts) {
      const UsagePartition& p = *partitions[pi];
      const int64_t month = absl::ToUnixSeconds(absl::FromCivil(p.month, absl::UTCTimeZone()));
      for (const uint32_t e : p.OfType(t)) {
        const int32_t slot = slots[pi][static_cast<size_t>(p.customer[e])];
        if (slot < 0) continue;
        const Member& m = members[static_cast<size_t>(slot)];
        const int64_t at = month + p.second[e];
        if (at >= m.from && at < m.until && count[static_cast<size_t>(slot)] < s.min_events) {
          ++count[static_cast<size_t>(slot)];
        }
      }
    }
    RetentionDriver d;
    d.type = type;
    for (size_t i = 0; i < members.size(); ++i) {
      const bool did = count[i] >= s.min_events;
      (did ? d.did : d.did_not) += 1;
      if (members[i].retained) (did ? d.did_retained : d.did_not_retained) += 1;
    }
    if (d.did > 0) d.retention_did = static_cast<double>(d.did_retained) / d.did;
    if (d.did_not > 0) {
      d.retention_did_not = static_cast<double>(d.did_not_retained) / d.did_not;
    }
    if (d.retention_did.has_value() && d.retention_did_not.has_value()) {
      d.difference = *d.retention_did - *d.retention_did_not;
      if (d.did_not_retained > 0) d.lift = *d.retention_did / *d.retention_did_not;
    }
    d.p_value = FisherExactTwoSided(d.did_retained, d.did - d.did_retained, d.did_not_retained,
                                    d.did_not - d.did_not_retained);
    d.eligible = d.did >= s.min_arm && d.did_not >= s.min_arm;
    out.drivers.push_back(std::move(d));
  }
  std::sort(out.drivers.begin(), out.drivers.end(), Before);
  return out;
}

}  // namespace saasmetrics::engine
