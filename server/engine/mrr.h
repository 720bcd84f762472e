// MRR of one subscription state (METRICS.md "MRR").
#pragma once

#include <cstdint>

#include "server/engine/events.h"

namespace saasmetrics::engine {

// True for the statuses whose state counts toward MRR: active and past_due.
bool IsPayingStatus(SubscriptionStatus status);

// (unit_amount × quantity − discount) normalised to one month — month ×1, year ÷12,
// week ×52/12, day ×365/12, then ÷ interval_count — rounded half away from zero to a
// whole minor unit; 0 unless the status is paying. Computed in 128-bit integers: exact.
int64_t StateMrr(const SubscriptionEvent& state);
// The state's LedgerEvent::state bits: paused, past_due, a discount.
uint8_t StateBits(const SubscriptionEvent& state);

// n ÷ d rounded half away from zero; d > 0.
int64_t DivideRoundHalfAway(__int128 n, __int128 d);

}  // namespace saasmetrics::engine
