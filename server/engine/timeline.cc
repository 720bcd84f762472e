#include "server/engine/timeline.h"

#include <algorithm>
#include <tuple>

namespace saasmetrics::engine {

MrrTimeline MrrTimeline::Build(std::vector<LedgerEvent> events, int32_t customers) {
  std::sort(events.begin(), events.end(), [](const LedgerEvent& a, const LedgerEvent& b) {
    return std::tie(a.subscription, a.at_us, a.seq) < std::tie(b.subscription, b.at_us, b.seq);
  });
  // Each event replaces its subscription's state: the customer's MRR moves by the
  // difference to the subscription's previous state.
  struct Keyed {
    int32_t customer;
    Change change;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    const LedgerEvent& e = events[i];
    const bool first = i == 0 || events[i - 1].subscription != e.subscription;
    const int64_t prev_mrr = first ? 0 : events[i - 1].mrr;
    const int32_t prev_paused = first ? 0 : events[i - 1].paused;
    keyed.push_back({e.customer, {e.at_us, e.mrr - prev_mrr, int32_t{e.paused} - prev_paused}});
  }
  std::stable_sort(keyed.begin(), keyed.end(), [](const Keyed& a, const Keyed& b) {
    return std::tie(a.customer, a.change.at_us) < std::tie(b.customer, b.change.at_us);
  });
  MrrTimeline t;
  t.offsets_.assign(customers + 1, 0);
  t.changes_.reserve(keyed.size());
  for (const Keyed& k : keyed) {
    ++t.offsets_[k.customer + 1];
    t.changes_.push_back(k.change);
  }
  for (int32_t c = 0; c < customers; ++c) t.offsets_[c + 1] += t.offsets_[c];
  return t;
}

namespace {

MovementType Classify(int64_t before, int64_t after, bool paid_before, int32_t paused_start,
                      int32_t paused_end) {
  if (before == 0) {
    if (!paid_before) return MovementType::kNewBusiness;
    // Resuming a pause is expansion, not reactivation.
    return paused_start > 0 ? MovementType::kExpansion : MovementType::kReactivation;
  }
  if (after == 0) return paused_end > 0 ? MovementType::kContraction : MovementType::kChurn;
  return after > before ? MovementType::kExpansion : MovementType::kContraction;
}

}  // namespace

std::vector<Movement> MrrTimeline::Movements(absl::TimeZone tz, absl::CivilDay last_day,
                                             const std::vector<bool>* include,
                                             std::vector<PauseChange>* pauses,
                                             const std::function<bool()>* stop) const {
  std::vector<Movement> out;
  for (int32_t c = 0; c < customers(); ++c) {
    if ((c & 1023) == 0 && stop != nullptr && *stop && (*stop)()) break;
    if (include != nullptr && !(*include)[c]) continue;
    int64_t mrr = 0;
    int32_t paused = 0;
    bool paid_before = false;
    bool customer_paused = false;
    for (uint32_t i = offsets_[c]; i < offsets_[c + 1];) {
      const absl::Time at = absl::FromUnixMicros(changes_[i].at_us);
      const absl::CivilDay day = absl::ToCivilDay(at, tz);
      if (day > last_day) break;
      const int64_t before = mrr;
      const int32_t paused_start = paused;
      // Every change whose local day is `day`.
      for (; i < offsets_[c + 1]; ++i) {
        const absl::Time t = absl::FromUnixMicros(changes_[i].at_us);
        if (t != at && absl::ToCivilDay(t, tz) != day) break;
        mrr += changes_[i].mrr_delta;
        paused += changes_[i].paused_delta;
      }
      if (mrr != before) {
        out.push_back({day, c, Classify(before, mrr, paid_before, paused_start, paused),
                       mrr - before, before, mrr});
      }
      // paid_before still says whether MRR was > 0 at an earlier day's end.
      const bool now_paused = mrr == 0 && paid_before && paused > 0;
      if (pauses != nullptr && now_paused != customer_paused) {
        pauses->push_back({day, c, now_paused});
      }
      customer_paused = now_paused;
      paid_before |= mrr > 0;
    }
  }
  return out;
}

}  // namespace saasmetrics::engine
