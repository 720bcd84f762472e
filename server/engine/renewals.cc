#include "server/engine/renewals.h"

#include <algorithm>
#include <numeric>
#include <tuple>

#include "server/engine/dates.h"

namespace saasmetrics::engine {
namespace {

Term TermOf(const LedgerEvent& e) {
  return {static_cast<IntervalUnit>(e.interval_unit), e.interval_count};
}

// The smallest k ≥ 1 whose renewal date is after `day`.
int64_t FirstRenewalAfter(absl::CivilDay anchor, Term term, absl::CivilDay day) {
  if (day < anchor) return 1;
  int64_t k = 1;
  switch (term.unit) {
    case IntervalUnit::kDay:
    case IntervalUnit::kWeek: {
      const int64_t step = term.count * (term.unit == IntervalUnit::kWeek ? 7 : 1);
      return (day - anchor) / step + 1;
    }
    case IntervalUnit::kMonth:
    case IntervalUnit::kYear: {
      // Below the answer: k whole terms end at least a month before `day`'s month.
      const int64_t step = term.count * (term.unit == IntervalUnit::kYear ? 12 : 1);
      const int64_t months = absl::CivilMonth(day) - absl::CivilMonth(anchor);
      k = std::max<int64_t>(1, months / step - 1);
      break;
    }
    default:
      return 1;
  }
  while (RenewalDate(anchor, term, k) <= day) ++k;
  return k;
}

// One (subscription, renewal date) pair, for the customer level.
struct Pair {
  int32_t period;
  int64_t start_mrr;
  int64_t end_mrr;
};

void AddPair(RenewalCounts& c, int64_t start_mrr, int64_t end_mrr) {
  ++c.up;
  c.mrr_up += start_mrr;
  if (end_mrr > 0) {
    ++c.renewed;
    c.mrr_renewed += end_mrr;
  }
}

// Adds one customer's pairs (any order; emptied) to the customer-level counts.
void AddCustomer(std::vector<Pair>& pairs, std::vector<RenewalPoint>& out) {
  std::sort(pairs.begin(), pairs.end(),
            [](const Pair& a, const Pair& b) { return a.period < b.period; });
  for (size_t i = 0; i < pairs.size();) {
    size_t j = i;
    bool all = true;
    int64_t start = 0, end = 0;
    for (; j < pairs.size() && pairs[j].period == pairs[i].period; ++j) {
      all = all && pairs[j].end_mrr > 0;
      start += pairs[j].start_mrr;
      end += pairs[j].end_mrr;
    }
    RenewalCounts& c = out[pairs[i].period].customers;
    ++c.up;
    c.mrr_up += start;
    if (all) {
      ++c.renewed;
      c.mrr_renewed += end;
    }
    i = j;
  }
  pairs.clear();
}

}  // namespace

int64_t NominalTwelfths(Term term) {
  switch (term.unit) {
    case IntervalUnit::kDay:
      return 12 * term.count;
    case IntervalUnit::kWeek:
      return 84 * term.count;
    case IntervalUnit::kMonth:
      return 365 * term.count;
    case IntervalUnit::kYear:
      return 4380 * term.count;
    default:
      return 0;
  }
}

absl::CivilDay RenewalDate(absl::CivilDay anchor, Term term, int64_t k) {
  switch (term.unit) {
    case IntervalUnit::kDay:
      return anchor + k * term.count;
    case IntervalUnit::kWeek:
      return anchor + 7 * k * term.count;
    case IntervalUnit::kMonth:
      return AddMonthsClipped(anchor, k * term.count);
    case IntervalUnit::kYear:
      return AddMonthsClipped(anchor, 12 * k * term.count);
    default:
      return anchor;
  }
}

std::vector<RenewalPoint> ComputeRenewals(std::vector<LedgerEvent> events,
                                          const std::vector<Period>& periods, absl::TimeZone tz,
                                          const RenewalOptions& options) {
  std::vector<RenewalPoint> out(periods.size());
  for (size_t i = 0; i < periods.size(); ++i) out[i].period = periods[i];
  if (periods.empty()) return out;
  const absl::CivilDay first = periods.front().first, last = periods.back().last;
  const absl::CivilDay before_first = first - 1;  // civil-day arithmetic normalises: once
  const int64_t until_us = absl::ToUnixMicros(DayStart(last + 1, tz));
  const int64_t min_term = NominalTwelfths(options.min_term);
  std::erase_if(events, [&](const LedgerEvent& e) {
    return e.at_us >= until_us ||
           (options.include != nullptr && !(*options.include)[static_cast<size_t>(e.customer)]);
  });
  // Only a subscription whose term reaches min_term at some state can come up for renewal
  // (a pair needs such a state; the others add nothing, at either level): the rest are
  // dropped before the grouping — most of a tenant's subscriptions are monthly.
  {
    int32_t subscriptions = 0;
    for (const LedgerEvent& e : events) subscriptions = std::max(subscriptions, e.subscription + 1);
    std::vector<uint8_t> counted(static_cast<size_t>(subscriptions), 0);
    for (const LedgerEvent& e : events) {
      const int64_t nominal = NominalTwelfths(TermOf(e));
      if (nominal > 0 && nominal >= min_term) counted[static_cast<size_t>(e.subscription)] = 1;
    }
    std::erase_if(events, [&](const LedgerEvent& e) {
      return counted[static_cast<size_t>(e.subscription)] == 0;
    });
  }
  // In time order (the query layer's months come so), each event's day in the tenant's
  // zone: looked up only when an event falls outside the previous one's day.
  auto by_time = [](const LedgerEvent& a, const LedgerEvent& b) {
    return std::tie(a.at_us, a.seq) < std::tie(b.at_us, b.seq);
  };
  if (!std::is_sorted(events.begin(), events.end(), by_time)) {
    std::sort(events.begin(), events.end(), by_time);
  }
  const size_t n = events.size();
  std::vector<absl::CivilDay> days(n);
  int64_t day_start = 0, day_end = 0;
  absl::CivilDay day;
  for (size_t i = 0; i < n; ++i) {
    if (i == 0 || events[i].at_us < day_start || events[i].at_us >= day_end) {
      day = absl::ToCivilDay(absl::FromUnixMicros(events[i].at_us), tz);
      day_start = absl::ToUnixMicros(DayStart(day, tz));
      day_end = absl::ToUnixMicros(DayStart(day + 1, tz));
    }
    days[i] = day;
  }
  // Grouped by customer, then subscription, keeping time order within: two stable counting
  // sorts over the dense ids (by subscription, then by customer).
  std::vector<uint32_t> order(n), by_subscription(n);
  auto counting_sort = [](const std::vector<uint32_t>& in, std::vector<uint32_t>& out, auto key) {
    size_t keys = 0;
    for (uint32_t i : in) keys = std::max(keys, static_cast<size_t>(key(i)) + 1);
    std::vector<uint32_t> start(keys + 1, 0);
    for (uint32_t i : in) ++start[static_cast<size_t>(key(i)) + 1];
    for (size_t k = 1; k <= keys; ++k) start[k] += start[k - 1];
    for (uint32_t i : in) out[start[static_cast<size_t>(key(i))]++] = i;
  };
  std::iota(order.begin(), order.end(), 0u);
  // Each pass's key in a compact column first: the sorts visit it in permuted order, and
  // a permuted walk over the events themselves would miss the cache at every step.
  std::vector<int32_t> key(n);
  for (size_t i = 0; i < n; ++i) key[i] = events[i].subscription;
  counting_sort(order, by_subscription, [&](uint32_t i) { return key[i]; });
  for (size_t i = 0; i < n; ++i) key[i] = events[i].customer;
  counting_sort(by_subscription, order, [&](uint32_t i) { return key[i]; });
  std::vector<LedgerEvent> grouped(n);
  std::vector<absl::CivilDay> day_of(n);
  for (size_t i = 0; i < n; ++i) {
    grouped[i] = events[order[i]];
    day_of[i] = days[order[i]];
  }
  events = std::move(grouped);
  auto period_of = [&](absl::CivilDay d) {
    return static_cast<int32_t>(
        std::upper_bound(periods.begin(), periods.end(), d,
                         [](absl::CivilDay day, const Period& p) { return day < p.first; }) -
        periods.begin() - 1);
  };
  // The state in effect after a day's events: the latest event, and the anchor.
  struct State {
    const LedgerEvent* event = nullptr;
    absl::CivilDay anchor;
  };
  std::vector<Pair> pairs;  // the current customer's
  int subscriptions = 0;
  for (size_t i = 0; i < events.size();) {
    if (options.stop != nullptr && ++subscriptions % 1024 == 0 && (*options.stop)()) break;
    const int32_t customer = events[i].customer, subscription = events[i].subscription;
    State state;
    absl::CivilDay day_of_state;  // the day whose end `state` is
    while (true) {
      const bool more = i < events.size() && events[i].subscription == subscription &&
                        events[i].customer == customer;
      // The renewal dates in (day_of_state, next] with `state` in effect at their start:
      // next is the next event's day (its end MRR is the state after that day's events),
      // or the last day.
      State next = state;
      absl::CivilDay next_day = last;
      if (more) {
        next_day = day_of[i];
        for (; i < events.size() && events[i].subscription == subscription &&
               events[i].customer == customer && day_of[i] == next_day;
             ++i) {
          const LedgerEvent& e = events[i];
          const bool was_paying = next.event != nullptr && next.event->mrr > 0;
          const bool term_changed = next.event != nullptr && NominalTwelfths(TermOf(*next.event)) !=
                                                                 NominalTwelfths(TermOf(e));
          if ((!was_paying && e.mrr > 0) || term_changed) next.anchor = next_day;
          next.event = &e;
        }
      }
      if (state.event != nullptr && state.event->mrr > 0) {
        const Term term = TermOf(*state.event);
        const int64_t nominal = NominalTwelfths(term);
        const absl::CivilDay lo = std::max(day_of_state, before_first);
        const absl::CivilDay hi = std::min(next_day, last);
        if (nominal > 0 && nominal >= min_term && lo < hi) {
          for (int64_t k = FirstRenewalAfter(state.anchor, term, lo);; ++k) {
            const absl::CivilDay d = RenewalDate(state.anchor, term, k);
            if (d > hi) break;
            const int64_t start = state.event->mrr;
            const int64_t end = more && d == next_day ? next.event->mrr : start;
            const int32_t p = period_of(d);
            AddPair(out[p].subscriptions, start, end);
            pairs.push_back({p, start, end});
          }
        }
      }
      if (!more) break;
      state = next;
      day_of_state = next_day;
    }
    if (i == events.size() || events[i].customer != customer) AddCustomer(pairs, out);
  }
  return out;
}

}  // namespace saasmetrics::engine
