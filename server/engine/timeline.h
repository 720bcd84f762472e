// Customer MRR over time and its daily movements (METRICS.md "Movements").
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace saasmetrics::engine {

// One subscription event in the compact form the engine computes on: dense ids, the
// state's MRR precomputed (StateMrr).
struct LedgerEvent {
  int64_t at_us = 0;  // effective_at, Unix microseconds
  int64_t seq = 0;    // ingest order: breaks effective_at ties
  int32_t customer = 0;
  int32_t subscription = 0;  // dense over (customer, subscription id)
  int64_t mrr = 0;
  bool paused = false;
  // The state's billing term (ANALYTICS.md "Renewal rates"): an IntervalUnit and its count
  // (ingest allows at most kMaxIntervalCount; older rows beyond are clamped).
  uint8_t interval_unit = 0;
  uint16_t interval_count = 0;
  // What else the churn model reads of the state (ANALYTICS.md "Churn risk"): kState* bits.
  uint8_t state = 0;
};
static_assert(sizeof(LedgerEvent) == 40, "the term and state fit in the padding after `paused`");

// LedgerEvent::state bits.
inline constexpr uint8_t kStatePaused = 1;
inline constexpr uint8_t kStatePastDue = 2;
inline constexpr uint8_t kStateDiscount = 4;  // a discount (percent or amount) applies

enum class MovementType {
  kNewBusiness = 1,
  kExpansion = 2,
  kContraction = 3,
  kChurn = 4,
  kReactivation = 5,
};

// A customer's MRR change over one day of the tenant's calendar: before = MRR at the
// start of the day, after = at its end (changes within the day net out).
struct Movement {
  absl::CivilDay day;
  int32_t customer = 0;
  MovementType type = MovementType::kNewBusiness;
  int64_t amount = 0;  // after - before
  int64_t before = 0;
  int64_t after = 0;
  bool operator==(const Movement&) const = default;
};

// A customer becoming paused, or ceasing to be, at the end of `day` (METRICS.md: paused =
// MRR 0, MRR > 0 at an earlier day's end, and at least one subscription paused). It can
// change without any MRR movement (a paused subscription canceled), so it is its own list.
struct PauseChange {
  absl::CivilDay day;
  int32_t customer = 0;
  bool paused = false;
  bool operator==(const PauseChange&) const = default;
};

// Calls `fn(movements, pauses)` once per customer with a movement, in customer order, with
// its runs of the two lists (both ordered by customer, then day; a customer's pause changes
// may be empty).
template <typename Fn>
void ForEachCustomerRun(const std::vector<Movement>& movements,
                        const std::vector<PauseChange>& pauses, Fn&& fn) {
  size_t j = 0;
  for (size_t i = 0; i < movements.size();) {
    const int32_t c = movements[i].customer;
    size_t end = i;
    while (end < movements.size() && movements[end].customer == c) ++end;
    while (j < pauses.size() && pauses[j].customer < c) ++j;
    size_t pause_end = j;
    while (pause_end < pauses.size() && pauses[pause_end].customer == c) ++pause_end;
    fn(std::span<const Movement>(movements.data() + i, end - i),
       std::span<const PauseChange>(pauses.data() + j, pause_end - j));
    i = end;
    j = pause_end;
  }
}

class MrrTimeline {
 public:
  // `events` in any order; `customers` is one past the largest dense customer id.
  static MrrTimeline Build(std::vector<LedgerEvent> events, int32_t customers);

  // Every movement on days up to `last_day` in `tz`, from the start of history (whether
  // a customer paid before decides new business against reactivation). Ordered by
  // customer, then day. `include`, when given, selects customers by dense id. `pauses`,
  // when given, receives every change of the paused state (ordered the same way).
  // `stop`, when given, is polled every 1024 customers: when it says so the list ends
  // early (incomplete; the caller, which asked, discards it).
  std::vector<Movement> Movements(absl::TimeZone tz, absl::CivilDay last_day,
                                  const std::vector<bool>* include = nullptr,
                                  std::vector<PauseChange>* pauses = nullptr,
                                  const std::function<bool()>* stop = nullptr) const;

  int32_t customers() const { return static_cast<int32_t>(offsets_.size()) - 1; }

 private:
  struct Change {
    int64_t at_us;
    int64_t mrr_delta;
    int32_t paused_delta;
  };
  std::vector<uint32_t> offsets_;  // customer c's changes: [offsets_[c], offsets_[c+1])
  std::vector<Change> changes_;    // per customer, by time
};

}  // namespace saasmetrics::engine
