// Renewal rates by count and by amount, at subscription and customer level (ANALYTICS.md
// "Renewal rates").
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "server/engine/events.h"
#include "server/engine/periods.h"
#include "server/engine/timeline.h"

namespace saasmetrics::engine {

// A billing term: `count` intervals of `unit`.
struct Term {
  IntervalUnit unit = IntervalUnit::kYear;
  int64_t count = 1;
};

// A term's nominal length in twelfths of a day (day 12, week 84, month 365, year 4380), so
// terms compare exactly: 12 months is one year, 52 weeks is less. 0 for no term.
int64_t NominalTwelfths(Term term);

// The k-th renewal date of a term anchored on `anchor`: anchor + k × term, counted from the
// anchor (Jan 31 + 2 months = Mar 31, a day the month lacks clipped to its last day).
absl::CivilDay RenewalDate(absl::CivilDay anchor, Term term, int64_t k);

// Over the (subscription, renewal date) pairs with the date in one period.
struct RenewalCounts {
  int64_t up = 0;           // up for renewal
  int64_t renewed = 0;      // of those, paying at the end of the date
  int64_t mrr_up = 0;       // Σ MRR at the start of the date, of every pair up
  int64_t mrr_renewed = 0;  // Σ MRR at the end of the date, of the renewed pairs
};

struct RenewalPoint {
  Period period;
  RenewalCounts subscriptions;
  // A customer with any pair in the period counts once, renewed when all its pairs
  // renewed; by amount, the renewed customers' pairs' end MRR over all customers' pairs'
  // start MRR.
  RenewalCounts customers;
};

struct RenewalOptions {
  Term min_term;  // default one year
  // Selects customers by dense id; null: all.
  const std::vector<bool>* include = nullptr;
  // Polled every 1024 subscriptions; when it says so the answer ends early (the caller,
  // which asked, discards it).
  const std::function<bool()>* stop = nullptr;
};

// One point per period. `events` (any order) are the ledger's, with their terms; only
// those before the end of the last period matter.
std::vector<RenewalPoint> ComputeRenewals(std::vector<LedgerEvent> events,
                                          const std::vector<Period>& periods, absl::TimeZone tz,
                                          const RenewalOptions& options);

}  // namespace saasmetrics::engine
