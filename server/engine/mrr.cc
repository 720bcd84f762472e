#include "server/engine/mrr.h"

#include "server/engine/timeline.h"

namespace saasmetrics::engine {

bool IsPayingStatus(SubscriptionStatus status) {
  return status == SubscriptionStatus::kActive || status == SubscriptionStatus::kPastDue;
}

int64_t DivideRoundHalfAway(__int128 n, __int128 d) {
  __int128 q = n / d;
  __int128 r = n % d;
  if (r < 0) r = -r;
  if (2 * r >= d) q += n < 0 ? -1 : 1;
  return static_cast<int64_t>(q);
}

uint8_t StateBits(const SubscriptionEvent& s) {
  uint8_t bits = 0;
  if (s.status == SubscriptionStatus::kPaused) bits |= kStatePaused;
  if (s.status == SubscriptionStatus::kPastDue) bits |= kStatePastDue;
  if (s.discount_bps > 0 || s.discount_amount > 0) bits |= kStateDiscount;
  return bits;
}

int64_t StateMrr(const SubscriptionEvent& s) {
  if (!IsPayingStatus(s.status) || s.interval_count < 1) return 0;
  // Scaled by 10000 so a basis-point discount stays an integer.
  const __int128 gross = static_cast<__int128>(s.unit_amount) * s.quantity;
  const __int128 net =
      gross * (10000 - s.discount_bps) - static_cast<__int128>(s.discount_amount) * 10000;
  __int128 num = 1, den = 1;
  switch (s.interval_unit) {
    case IntervalUnit::kMonth:
      break;
    case IntervalUnit::kYear:
      den = 12;
      break;
    case IntervalUnit::kWeek:
      num = 52, den = 12;
      break;
    case IntervalUnit::kDay:
      num = 365, den = 12;
      break;
    case IntervalUnit::kUnspecified:
      return 0;
  }
  return DivideRoundHalfAway(net * num, den * 10000 * s.interval_count);
}

}  // namespace saasmetrics::engine
