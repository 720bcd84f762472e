// Renewal rates (ANALYTICS.md): each edge the definition names worked by hand (an anchor on
// the 31st, an anchor reset by a term change or a resume, a renewal that expands, a plan
// change on the date, min_term and nominal lengths, the customer level), and the engine
// against the slow day-by-day reference on random histories with pauses, cancels, returns,
// term changes and month-end anchors, in UTC and New York.
#include "server/engine/renewals.h"

#include <gtest/gtest.h>

#include <random>

#include "absl/strings/str_cat.h"
#include "server/engine/dates.h"
#include "server/engine/ledger.h"
#include "tests/engine/reference.h"

namespace saasmetrics::engine {
namespace {

const absl::TimeZone kUtc = absl::UTCTimeZone();
using D = absl::CivilDay;

absl::Time At(absl::CivilDay day, int hour = 9, absl::TimeZone tz = kUtc) {
  return absl::FromCivil(absl::CivilSecond(day.year(), day.month(), day.day(), hour), tz);
}

// A subscription state: `amount` per term (0: canceled), `status` overriding.
SubscriptionEvent State(const std::string& customer, const std::string& subscription, absl::Time at,
                        int64_t amount, IntervalUnit unit = IntervalUnit::kYear, int32_t count = 1,
                        SubscriptionStatus status = SubscriptionStatus::kUnspecified,
                        const std::string& plan = "pro") {
  static int64_t seq = 0;
  SubscriptionEvent e;
  e.event_id = absl::StrCat("e", ++seq);
  e.seq = seq;
  e.customer_id = customer;
  e.subscription_id = subscription;
  e.effective_at = at;
  e.status = status != SubscriptionStatus::kUnspecified ? status
             : amount > 0                               ? SubscriptionStatus::kActive
                                                        : SubscriptionStatus::kCanceled;
  e.plan_id = plan;
  e.quantity = 1;
  e.unit_amount = amount > 0 ? amount : 12000;
  e.currency = "USD";
  e.interval_unit = unit;
  e.interval_count = count;
  return e;
}

std::vector<RenewalPoint> Renew(const std::vector<SubscriptionEvent>& events, absl::CivilDay start,
                                absl::CivilDay end, Interval interval = Interval::kMonth,
                                Term min_term = {}, absl::TimeZone tz = kUtc) {
  return ComputeRenewals(BuildLedger(events).events, CutPeriods(start, end, interval), tz,
                         {.min_term = min_term});
}

// The one period's subscription-level counts.
RenewalCounts Subs(const std::vector<SubscriptionEvent>& events, absl::CivilDay start,
                   absl::CivilDay end, Term min_term = {}) {
  const auto points = Renew(events, start, end, Interval::kYear, min_term);
  EXPECT_EQ(points.size(), 1u);
  return points.empty() ? RenewalCounts{} : points[0].subscriptions;
}

TEST(RenewalDate, CountsFromTheAnchorAndClipsToTheMonthsLastDay) {
  const absl::CivilDay jan31(2024, 1, 31);
  const Term month{IntervalUnit::kMonth, 1};
  EXPECT_EQ(RenewalDate(jan31, month, 1), absl::CivilDay(2024, 2, 29));
  EXPECT_EQ(RenewalDate(jan31, month, 2), absl::CivilDay(2024, 3, 31)) << "not chained";
  EXPECT_EQ(RenewalDate(jan31, month, 3), absl::CivilDay(2024, 4, 30));
  EXPECT_EQ(RenewalDate(absl::CivilDay(2024, 2, 29), {IntervalUnit::kYear, 1}, 1),
            absl::CivilDay(2025, 2, 28));
  EXPECT_EQ(RenewalDate(absl::CivilDay(2024, 2, 29), {IntervalUnit::kYear, 1}, 4),
            absl::CivilDay(2028, 2, 29));
  EXPECT_EQ(RenewalDate(jan31, {IntervalUnit::kWeek, 2}, 3), jan31 + 42);
  EXPECT_EQ(RenewalDate(jan31, {IntervalUnit::kDay, 30}, 2), jan31 + 60);
}

TEST(NominalTwelfths, TwelveMonthsIsAYearAnd52WeeksIsLess) {
  EXPECT_EQ(NominalTwelfths({IntervalUnit::kMonth, 12}), NominalTwelfths({IntervalUnit::kYear, 1}));
  EXPECT_EQ(NominalTwelfths({IntervalUnit::kDay, 365}), NominalTwelfths({IntervalUnit::kYear, 1}));
  EXPECT_LT(NominalTwelfths({IntervalUnit::kWeek, 52}), NominalTwelfths({IntervalUnit::kYear, 1}));
  EXPECT_EQ(NominalTwelfths({IntervalUnit::kUnspecified, 3}), 0);
}

TEST(Renewals, AnAnnualSubscriptionThatRenewsAndOneCanceledOnItsDate) {
  // a renews on 2025-03-10; b is canceled at 00:00 on its date 2025-03-20: paying at the
  // start, not at the end.
  const std::vector<SubscriptionEvent> events = {
      State("a", "a1", At(D(2024, 3, 10)), 12000),
      State("b", "b1", At(D(2024, 3, 20)), 24000),
      State("b", "b1", At(D(2025, 3, 20), 0), 0),
  };
  const auto points = Renew(events, D(2025, 1, 1), D(2025, 4, 30));
  ASSERT_EQ(points.size(), 4u);
  EXPECT_EQ(points[0].subscriptions.up, 0);
  const RenewalCounts& march = points[2].subscriptions;
  EXPECT_EQ(march.up, 2);
  EXPECT_EQ(march.renewed, 1);
  EXPECT_EQ(march.mrr_up, 1000 + 2000);
  EXPECT_EQ(march.mrr_renewed, 1000);
  EXPECT_EQ(points[2].customers.up, 2);
  EXPECT_EQ(points[2].customers.renewed, 1);
  EXPECT_EQ(points[2].period, (Period{D(2025, 3, 1), D(2025, 3, 31)}));
}

TEST(Renewals, AnAnchorOnThe31stRenewsOnEachMonthsLastDay) {
  const std::vector<SubscriptionEvent> events = {
      State("a", "a1", At(D(2024, 1, 31)), 5000, IntervalUnit::kMonth, 1)};
  const auto points =
      Renew(events, D(2024, 2, 1), D(2024, 5, 31), Interval::kDay, {IntervalUnit::kMonth, 1});
  std::vector<absl::CivilDay> dates;
  for (const RenewalPoint& p : points) {
    if (p.subscriptions.up > 0) dates.push_back(p.period.first);
  }
  EXPECT_EQ(dates, (std::vector<absl::CivilDay>{D(2024, 2, 29), D(2024, 3, 31), D(2024, 4, 30),
                                                D(2024, 5, 31)}));
}

TEST(Renewals, ARenewalThatExpandsRaisesTheAmountRateAboveOne) {
  SubscriptionEvent more = State("a", "a1", At(D(2025, 6, 1), 0), 12000);
  more.quantity = 3;
  const RenewalCounts c =
      Subs({State("a", "a1", At(D(2024, 6, 1)), 12000), more}, D(2025, 1, 1), D(2025, 12, 31));
  EXPECT_EQ(c.up, 1);
  EXPECT_EQ(c.renewed, 1);
  EXPECT_EQ(c.mrr_up, 1000);
  EXPECT_EQ(c.mrr_renewed, 3000);
}

TEST(Renewals, APlanChangeOnTheDateThatStillPaysIsARenewal) {
  const RenewalCounts c = Subs({State("a", "a1", At(D(2024, 6, 1)), 12000),
                                State("a", "a1", At(D(2025, 6, 1), 15), 6000, IntervalUnit::kYear,
                                      1, SubscriptionStatus::kUnspecified, "basic")},
                               D(2025, 1, 1), D(2025, 12, 31));
  EXPECT_EQ(c.up, 1);
  EXPECT_EQ(c.renewed, 1);
  EXPECT_EQ(c.mrr_renewed, 500);
}

TEST(Renewals, ATermChangeResetsTheAnchorAndAnEqualNominalTermDoesNot) {
  // Annual from 2024-03-15; on 2024-06-10 to two years: anchor 2024-06-10, next date
  // 2026-06-10, nothing in 2025.
  const std::vector<SubscriptionEvent> longer = {
      State("a", "a1", At(D(2024, 3, 15)), 12000),
      State("a", "a1", At(D(2024, 6, 10)), 24000, IntervalUnit::kYear, 2)};
  EXPECT_EQ(Subs(longer, D(2025, 1, 1), D(2025, 12, 31)).up, 0);
  const auto two = Renew(longer, D(2026, 6, 1), D(2026, 6, 30), Interval::kDay);
  EXPECT_EQ(two[9].subscriptions.up, 1) << "2026-06-10";
  // To 12 months (the same nominal length): the anchor stays 2024-03-15.
  const std::vector<SubscriptionEvent> same = {
      State("a", "a1", At(D(2024, 3, 15)), 12000),
      State("a", "a1", At(D(2024, 6, 10)), 12000, IntervalUnit::kMonth, 12)};
  const auto march = Renew(same, D(2025, 3, 1), D(2025, 3, 31), Interval::kDay);
  EXPECT_EQ(march[14].subscriptions.up, 1) << "2025-03-15";
}

TEST(Renewals, AResumeResetsTheAnchor) {
  const std::vector<SubscriptionEvent> events = {
      State("a", "a1", At(D(2024, 1, 10)), 12000),
      State("a", "a1", At(D(2024, 5, 1)), 12000, IntervalUnit::kYear, 1,
            SubscriptionStatus::kPaused),
      State("a", "a1", At(D(2024, 7, 20)), 12000)};
  const auto points = Renew(events, D(2025, 1, 1), D(2025, 12, 31));
  for (int m = 0; m < 12; ++m) EXPECT_EQ(points[m].subscriptions.up, m == 6 ? 1 : 0) << m;
  // A trial that converts: the anchor is the day it starts paying.
  const std::vector<SubscriptionEvent> trial = {
      State("b", "b1", At(D(2024, 2, 1)), 12000, IntervalUnit::kYear, 1,
            SubscriptionStatus::kTrialing),
      State("b", "b1", At(D(2024, 2, 15)), 12000)};
  const auto feb = Renew(trial, D(2025, 2, 1), D(2025, 2, 28), Interval::kDay);
  EXPECT_EQ(feb[0].subscriptions.up, 0);
  EXPECT_EQ(feb[14].subscriptions.up, 1);
}

TEST(Renewals, MinTermComparesNominalLengths) {
  const std::vector<SubscriptionEvent> events = {
      State("a", "a1", At(D(2024, 3, 1)), 1000, IntervalUnit::kMonth, 1),
      State("b", "b1", At(D(2024, 3, 1)), 12000, IntervalUnit::kMonth, 12),
      State("c", "c1", At(D(2024, 3, 1)), 12000, IntervalUnit::kWeek, 52),
      State("d", "d1", At(D(2024, 3, 1)), 3000, IntervalUnit::kMonth, 3)};
  // Default one year: only the 12-month term (52 weeks is shorter).
  EXPECT_EQ(Subs(events, D(2025, 3, 1), D(2025, 3, 1)).up, 1);
  // A quarter: the 12-month and the quarterly (2025-03-01), not 52 weeks (2025-02-28).
  EXPECT_EQ(Subs(events, D(2025, 3, 1), D(2025, 3, 1), {IntervalUnit::kMonth, 3}).up, 2);
  EXPECT_EQ(Subs(events, D(2025, 2, 28), D(2025, 2, 28), {IntervalUnit::kWeek, 1}).up, 1);
  // A month: every one of them on 2025-03-01 except 52 weeks.
  EXPECT_EQ(Subs(events, D(2025, 3, 1), D(2025, 3, 1), {IntervalUnit::kMonth, 1}).up, 3);
}

TEST(Renewals, ACustomerRenewsWhenAllItsSubscriptionsUpInThePeriodRenew) {
  const std::vector<SubscriptionEvent> events = {
      State("a", "a1", At(D(2024, 5, 2)), 12000), State("a", "a2", At(D(2024, 5, 20)), 24000),
      State("a", "a2", At(D(2025, 5, 20), 3), 0), State("b", "b1", At(D(2024, 5, 9)), 36000),
      State("b", "b2", At(D(2024, 5, 9)), 12000), State("c", "c1", At(D(2024, 8, 1)), 12000),
  };
  const auto points = Renew(events, D(2025, 5, 1), D(2025, 5, 31));
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0].subscriptions.up, 4);
  EXPECT_EQ(points[0].subscriptions.renewed, 3);
  EXPECT_EQ(points[0].customers.up, 2) << "c has no date in May";
  EXPECT_EQ(points[0].customers.renewed, 1) << "a lost a2";
  EXPECT_EQ(points[0].customers.mrr_up, 1000 + 2000 + 3000 + 1000);
  EXPECT_EQ(points[0].customers.mrr_renewed, 3000 + 1000) << "b's pairs only";
  // Filtered to customer b (dense id 1).
  const std::vector<bool> only_b = {false, true, false};
  const auto b = ComputeRenewals(BuildLedger(events).events,
                                 CutPeriods(D(2025, 5, 1), D(2025, 5, 31), Interval::kMonth), kUtc,
                                 {.include = &only_b});
  EXPECT_EQ(b[0].subscriptions.up, 2);
  EXPECT_EQ(b[0].customers.renewed, 1);
}

TEST(Renewals, DaysAreTheTenantsLocalDays) {
  // 2024-11-03 00:30 in New York is 04:30 UTC; the renewal is on the local day, 2025-11-03.
  const absl::TimeZone ny = [] {
    absl::TimeZone tz;
    EXPECT_TRUE(absl::LoadTimeZone("America/New_York", &tz));
    return tz;
  }();
  const std::vector<SubscriptionEvent> events = {
      State("a", "a1", At(D(2024, 11, 3), 0, ny) + absl::Minutes(30), 12000)};
  const auto points = Renew(events, D(2025, 11, 1), D(2025, 11, 5), Interval::kDay, {}, ny);
  EXPECT_EQ(points[2].subscriptions.up, 1);
  EXPECT_EQ(points[1].subscriptions.up + points[3].subscriptions.up, 0);
}

// Random histories: a few customers with one or two subscriptions, each a run of states
// (monthly, quarterly, 12-month, annual, 52-week, 30-day and two-year terms; active, past
// due, trialing, paused, canceled), dated at month ends, exactly a term later, or anywhere.
std::vector<SubscriptionEvent> RandomHistory(std::mt19937_64& rng, absl::TimeZone tz) {
  const std::vector<std::pair<IntervalUnit, int32_t>> terms = {
      {IntervalUnit::kMonth, 1}, {IntervalUnit::kMonth, 3}, {IntervalUnit::kMonth, 12},
      {IntervalUnit::kYear, 1},  {IntervalUnit::kWeek, 52}, {IntervalUnit::kDay, 30},
      {IntervalUnit::kYear, 2}};
  const std::vector<SubscriptionStatus> statuses = {
      SubscriptionStatus::kActive,   SubscriptionStatus::kActive,  SubscriptionStatus::kActive,
      SubscriptionStatus::kPastDue,  SubscriptionStatus::kPaused,  SubscriptionStatus::kCanceled,
      SubscriptionStatus::kTrialing, SubscriptionStatus::kCanceled};
  std::vector<SubscriptionEvent> out;
  const int customers = 1 + static_cast<int>(rng() % 6);
  for (int c = 0; c < customers; ++c) {
    const int subs = 1 + static_cast<int>(rng() % 2);
    for (int s = 0; s < subs; ++s) {
      absl::CivilDay day = absl::CivilDay(2023, 1, 1) + static_cast<int64_t>(rng() % 500);
      if (rng() % 3 == 0) day = absl::CivilDay(absl::CivilMonth(day) + 1) - 1;  // a month end
      auto [unit, count] = terms[rng() % terms.size()];
      const int states = 1 + static_cast<int>(rng() % 5);
      for (int k = 0; k < states; ++k) {
        const SubscriptionStatus status =
            k == 0 ? SubscriptionStatus::kActive : statuses[rng() % statuses.size()];
        if (rng() % 4 == 0) std::tie(unit, count) = terms[rng() % terms.size()];
        SubscriptionEvent e = State(absl::StrCat("c", c), absl::StrCat("s", s),
                                    At(day, static_cast<int>(rng() % 24), tz),
                                    1200 * (1 + rng() % 5), unit, count, status);
        e.quantity = 1 + static_cast<int64_t>(rng() % 3);
        out.push_back(e);
        switch (rng() % 4) {
          case 0:
            day = RenewalDate(day, {unit, count}, 1);  // on the renewal date
            break;
          case 1:
            day = AddMonthsClipped(day, 1 + static_cast<int64_t>(rng() % 14));
            break;
          case 2:
            day += static_cast<int64_t>(rng() % 3);  // same day or soon after
            break;
          default:
            day += 1 + static_cast<int64_t>(rng() % 400);
        }
      }
    }
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

TEST(Renewals, MatchTheDayByDayReferenceOnRandomHistories) {
  absl::TimeZone ny;
  ASSERT_TRUE(absl::LoadTimeZone("America/New_York", &ny));
  std::mt19937_64 rng(2026);
  const std::vector<Term> min_terms = {
      {IntervalUnit::kYear, 1}, {IntervalUnit::kMonth, 1}, {IntervalUnit::kDay, 1}};
  int64_t total_pairs = 0;
  for (int round = 0; round < 60; ++round) {
    const absl::TimeZone tz = round % 2 == 0 ? kUtc : ny;
    const std::vector<SubscriptionEvent> events = RandomHistory(rng, tz);
    const Term min_term = min_terms[round % min_terms.size()];
    const std::vector<Period> periods = CutPeriods(
        D(2023, 6, 15), D(2026, 3, 31), round % 3 == 0 ? Interval::kQuarter : Interval::kMonth);
    const auto engine =
        ComputeRenewals(BuildLedger(events).events, periods, tz, {.min_term = min_term});
    const auto ref = reference::Renewals(events, tz, periods, min_term.unit, min_term.count);
    ASSERT_EQ(engine.size(), ref.size());
    int64_t pairs = 0;
    for (size_t p = 0; p < periods.size(); ++p) {
      auto as_ref = [](const RenewalCounts& c) {
        return reference::RefRenewalCounts{c.up, c.renewed, c.mrr_up, c.mrr_renewed};
      };
      EXPECT_EQ(as_ref(engine[p].subscriptions), ref[p].subscriptions)
          << "round " << round << " period " << FormatIsoDate(periods[p].first);
      EXPECT_EQ(as_ref(engine[p].customers), ref[p].customers)
          << "round " << round << " period " << FormatIsoDate(periods[p].first);
      pairs += ref[p].subscriptions.up;
    }
    total_pairs += pairs;
  }
  EXPECT_GT(total_pairs, 200) << "the histories must have renewals to compare";
}

}  // namespace
}  // namespace saasmetrics::engine
