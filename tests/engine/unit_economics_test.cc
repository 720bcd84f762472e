#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "server/engine/cohorts.h"
#include "server/engine/ledger.h"

namespace saasmetrics::engine {
namespace {

SubscriptionEvent Event(const std::string& customer, absl::CivilDay day, SubscriptionStatus status,
                        int64_t amount, int64_t seq) {
  SubscriptionEvent e;
  e.customer_id = customer;
  e.subscription_id = "s";
  e.effective_at = absl::FromCivil(day, absl::UTCTimeZone()) + absl::Hours(12);
  e.status = status;
  e.quantity = 1;
  e.unit_amount = amount;
  e.interval_unit = IntervalUnit::kMonth;
  e.interval_count = 1;
  e.seq = seq;
  return e;
}

// Ten customers from June 2023; one churns in each of July..December (churn rates 1/10,
// 1/9, 1/8, 1/7, 1/6, 1/5: mean 0.1409392). In January 2024 two new customers join:
// "new-ads" (3000, channel ads) and "new-seo" (1000, channel seo).
struct Scenario {
  Ledger ledger;
  std::vector<Movement> movements;
  std::vector<std::string> channels;
};

Scenario Build() {
  std::vector<SubscriptionEvent> events;
  for (int i = 0; i < 10; ++i) {
    events.push_back(Event(absl::StrCat("old", i), absl::CivilDay(2023, 6, 1),
                           SubscriptionStatus::kActive, 1000, events.size()));
  }
  for (int i = 0; i < 6; ++i) {
    events.push_back(Event(absl::StrCat("old", i), absl::CivilDay(2023, 7 + i, 15),
                           SubscriptionStatus::kCanceled, 1000, events.size()));
  }
  events.push_back(
      Event("new-ads", absl::CivilDay(2024, 1, 10), SubscriptionStatus::kActive, 3000, 100));
  events.push_back(
      Event("new-seo", absl::CivilDay(2024, 1, 20), SubscriptionStatus::kActive, 1000, 101));
  Scenario s{BuildLedger(events), {}, {}};
  MrrTimeline t = MrrTimeline::Build(s.ledger.events, s.ledger.customer_ids.size());
  s.movements = t.Movements(absl::UTCTimeZone(), absl::CivilDay(2024, 1, 31));
  for (const auto& id : s.ledger.customer_ids) {
    s.channels.push_back(id == "new-ads" ? "ads" : id == "new-seo" ? "seo" : "");
  }
  return s;
}

TEST(UnitEconomics, HandComputedJanuary) {
  Scenario s = Build();
  const std::vector<SpendRow> spend = {
      {"ads", absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 1, 31), 6200},
      {"seo", absl::CivilDay(2023, 12, 17), absl::CivilDay(2024, 1, 15),
       3000},  // 30 days, 15 of them in January
  };
  const std::vector<Period> periods = {{absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 1, 31)}};
  const UnitEconomics u = ComputeUnitEconomics(s.movements, periods, s.channels, spend, 0.8, 6)[0];
  EXPECT_EQ(u.new_customers, 2);
  EXPECT_EQ(u.asp, 2000);   // (3000 + 1000) / 2
  EXPECT_EQ(u.arpa, 1333);  // 8000 / 6, rounded for display only
  // From exact totals, rounded once: (8000 / 6) x 0.8 / 0.1409392 = 7568.27 (the rounded
  // ARPA would give 1333 x 0.8 / 0.1409392 = 7566.4).
  const double mean_churn = (1.0 / 10 + 1.0 / 9 + 1.0 / 8 + 1.0 / 7 + 1.0 / 6 + 1.0 / 5) / 6;
  EXPECT_NEAR(mean_churn, 0.1409392, 1e-6);
  EXPECT_EQ(u.ltv, std::llround(8000.0 / 6 * 0.8 / mean_churn));
  EXPECT_EQ(u.spend, 7700);  // 6200 + 3000 x 15/30
  EXPECT_EQ(u.cac, 3850);
  EXPECT_NEAR(*u.ltv_to_cac, (8000.0 / 6 * 0.8 / mean_churn) / (7700.0 / 2), 1e-12);
  EXPECT_NEAR(*u.cac_payback_months, 3850.0 / (2000 * 0.8), 1e-12);
  ASSERT_EQ(u.channels.size(), 2u);
  EXPECT_EQ(u.channels[0].channel, "ads");
  EXPECT_EQ(u.channels[0].spend, 6200);
  EXPECT_EQ(u.channels[0].cac, 6200);
  EXPECT_EQ(u.channels[1].channel, "seo");
  EXPECT_EQ(u.channels[1].spend, 1500);
  EXPECT_EQ(u.channels[1].cac, 1500);
}

TEST(UnitEconomics, AbsentWhenUndefined) {
  Scenario s = Build();
  // July 2023: nobody new, no spend, and no churn history before June.
  const std::vector<Period> periods = {{absl::CivilDay(2023, 7, 1), absl::CivilDay(2023, 7, 31)}};
  const UnitEconomics u = ComputeUnitEconomics(s.movements, periods, s.channels, {}, 1.0, 6)[0];
  EXPECT_EQ(u.new_customers, 0);
  EXPECT_FALSE(u.asp.has_value());
  EXPECT_FALSE(u.cac.has_value());
  EXPECT_FALSE(u.ltv.has_value()) << "June's churn is 0 and earlier months have no customers";
  EXPECT_FALSE(u.ltv_to_cac.has_value());
  EXPECT_FALSE(u.cac_payback_months.has_value());
}

// The movements (and pause changes) of `events` through January 2024, UTC.
std::vector<Movement> MovementsOf(const std::vector<SubscriptionEvent>& events,
                                  std::vector<PauseChange>* pauses = nullptr) {
  const Ledger ledger = BuildLedger(events);
  const MrrTimeline t = MrrTimeline::Build(ledger.events, ledger.customer_ids.size());
  return t.Movements(absl::UTCTimeZone(), absl::CivilDay(2024, 1, 31), nullptr, pauses);
}

// METRICS.md's example: ARPA 3001/3 with a mean churn of 1/2 gives LTV 2001 (from the exact
// ARPA), not 2000 (from the rounded one).
TEST(UnitEconomics, LtvIsRoundedOnceFromExactTotals) {
  std::vector<SubscriptionEvent> events = {
      Event("a", absl::CivilDay(2023, 11, 1), SubscriptionStatus::kActive, 1000, 1),
      Event("b", absl::CivilDay(2023, 11, 1), SubscriptionStatus::kActive, 1000, 2),
      Event("b", absl::CivilDay(2023, 12, 10), SubscriptionStatus::kCanceled, 1000, 3),
      Event("c", absl::CivilDay(2024, 1, 5), SubscriptionStatus::kActive, 1000, 4),
      Event("d", absl::CivilDay(2024, 1, 5), SubscriptionStatus::kActive, 1001, 5),
  };
  const std::vector<Movement> movements = MovementsOf(events);
  const std::vector<Period> january = {{absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 1, 31)}};
  const UnitEconomics u = ComputeUnitEconomics(movements, january, {}, {}, 1.0, 1)[0];
  EXPECT_EQ(u.arpa, 1000);  // 3001 / 3, rounded for display
  EXPECT_EQ(u.ltv, 2001);   // (3001 / 3) / (1 / 2) = 2000.67
}

// A pause is neither churn nor paying; a customer paused at a month's end is not churned,
// so LTV's churn window does not count it.
TEST(UnitEconomics, APausedCustomerIsNotChurnedInLtvsWindow) {
  std::vector<SubscriptionEvent> events = {
      Event("a", absl::CivilDay(2023, 11, 1), SubscriptionStatus::kActive, 1000, 1),
      Event("b", absl::CivilDay(2023, 11, 1), SubscriptionStatus::kActive, 1000, 2),
      Event("c", absl::CivilDay(2023, 11, 1), SubscriptionStatus::kActive, 1000, 3),
      Event("b", absl::CivilDay(2023, 12, 10), SubscriptionStatus::kPaused, 1000, 4),
      Event("c", absl::CivilDay(2023, 12, 12), SubscriptionStatus::kCanceled, 1000, 5),
  };
  std::vector<PauseChange> pauses;
  const std::vector<Movement> movements = MovementsOf(events, &pauses);
  ASSERT_EQ(pauses.size(), 1u);
  EXPECT_EQ(pauses[0].day, absl::CivilDay(2023, 12, 10));
  const std::vector<Period> december = {
      {absl::CivilDay(2023, 12, 1), absl::CivilDay(2023, 12, 31)}};
  const ChurnPoint churn = ComputeChurnSeries(movements, december, &pauses)[0];
  EXPECT_EQ(churn.customers_at_start, 3);
  EXPECT_EQ(churn.churned, 1) << "c churned; b is paused";
  const std::vector<Period> january = {{absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 1, 31)}};
  const UnitEconomics u = ComputeUnitEconomics(movements, january, {}, {}, 1.0, 1, &pauses)[0];
  EXPECT_EQ(u.ltv, 3000);  // ARPA 1000 / (1/3)
}

TEST(SpendIn, SpreadsEachRowEvenlyOverItsDays) {
  const std::vector<SpendRow> rows = {
      {"a", absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 1, 3), 100}};
  EXPECT_EQ(SpendIn(rows, {absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 1, 1)}), 33);  // 33.33
  EXPECT_EQ(SpendIn(rows, {absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 1, 2)}), 67);  // 66.67
  EXPECT_EQ(SpendIn(rows, {absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 12, 31)}), 100);
  EXPECT_EQ(SpendIn(rows, {absl::CivilDay(2024, 2, 1), absl::CivilDay(2024, 2, 29)}), 0);
  const std::string other = "b";
  EXPECT_EQ(SpendIn(rows, {absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 1, 31)}, &other), 0);
}

// METRICS.md "Currencies": spend converts at each day's rate, before spreading; one
// rounding per row and period. The tenant reports in EUR.
TEST(SpendIn, EachDaysShareConvertsAtThatDaysRate) {
  auto day = [](int d) { return absl::CivilDay(2024, 1, d); };
  const RateTable rates("EUR", {{day(1), "GBP", {11, 1}},
                                {day(3), "GBP", {12, 1}},
                                {day(1), "JPY", {61, 4}},
                                {day(2), "JPY", {62, 4}},
                                {day(5), "KWD", {3, 0}}});
  auto row = [&](const std::string& currency, int first, int last, int64_t amount) {
    SpendRow r{.channel = "a", .start = day(first), .end = day(last), .amount = amount};
    absl::StatusOr<std::vector<RateRun>> runs = rates.Runs(currency, r.start, r.end, &r.shift);
    EXPECT_TRUE(runs.ok()) << runs.status();
    if (runs.ok()) r.rates = *runs;
    EXPECT_TRUE(CheckSpendRow(r).ok());
    return r;
  };
  auto in = [](const SpendRow& r, int first, int last) {
    return SpendIn({r}, {absl::CivilDay(2024, 1, first), absl::CivilDay(2024, 1, last)});
  };
  // £3.00 over Jan 1–3: £1.00 a day at 1.1, 1.1, then 1.2: €1.10 + €1.10 + €1.20.
  const SpendRow gbp = row("GBP", 1, 3, 300);
  EXPECT_EQ(gbp.rates.size(), 2u);
  EXPECT_EQ(in(gbp, 1, 1), 110);
  EXPECT_EQ(in(gbp, 2, 3), 230);
  EXPECT_EQ(in(gbp, 1, 31), 340);
  // £1.00 over the same days: 36.67 cents a day at 1.1; two days 73.33, once rounded.
  const SpendRow third = row("GBP", 1, 3, 100);
  EXPECT_EQ(in(third, 1, 1), 37);
  EXPECT_EQ(in(third, 1, 2), 73);
  EXPECT_EQ(in(third, 1, 3), 113);  // 36.667 + 36.667 + 40
  // ¥1,000 (exponent 0) over Jan 1–2: ¥500 at 0.0061 and at 0.0062 = €3.05 + €3.10.
  EXPECT_EQ(in(row("JPY", 1, 2, 1000), 1, 2), 615);
  // 1.000 KWD (exponent 3) on Jan 5 at 3: €3.00.
  EXPECT_EQ(in(row("KWD", 5, 5, 1000), 1, 31), 300);
  // The reporting currency needs no rate.
  EXPECT_TRUE(row("EUR", 1, 3, 300).rates.empty());
  EXPECT_EQ(in(row("EUR", 1, 3, 300), 1, 1), 100);

  int shift = 0;
  const absl::StatusOr<std::vector<RateRun>> missing = rates.Runs("KWD", day(4), day(6), &shift);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.status().message(), ::testing::HasSubstr("KWD"));
  EXPECT_THAT(missing.status().message(), ::testing::HasSubstr("2024-01-04"));
  SpendRow huge{.channel = "a", .start = day(1), .end = day(1), .amount = 100'000'000'000};
  huge.rates = {{day(1), {1'000'000, 0}}};
  EXPECT_EQ(CheckSpendRow(huge).code(), absl::StatusCode::kOutOfRange);
}

TEST(Cohorts, GroupedByChannelWithRetention) {
  Scenario s = Build();
  const std::vector<Period> periods = {{absl::CivilDay(2023, 6, 1), absl::CivilDay(2023, 6, 30)},
                                       {absl::CivilDay(2023, 7, 1), absl::CivilDay(2023, 7, 31)}};
  std::vector<std::string> groups(s.ledger.customer_ids.size(), "organic");
  const std::vector<Cohort> cohorts = ComputeCohorts(s.movements, periods, groups);
  ASSERT_EQ(cohorts.size(), 1u);
  const Cohort& june = cohorts[0];
  EXPECT_EQ(june.group, "organic");
  EXPECT_EQ(june.customers, 10);
  EXPECT_EQ(june.initial_mrr, 10000);
  ASSERT_EQ(june.cells.size(), 2u);
  EXPECT_DOUBLE_EQ(*june.logo_retention(june.cells[0]), 1.0);
  EXPECT_DOUBLE_EQ(*june.logo_retention(june.cells[1]), 0.9);
  EXPECT_DOUBLE_EQ(*june.mrr_retention(june.cells[1]), 0.9);
}

}  // namespace
}  // namespace saasmetrics::engine
