// Currencies (METRICS.md "Currencies"): exponents, exact decimal rates, one rounding.
#include "server/engine/currency.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "server/engine/mrr.h"
#include "server/engine/partition.h"

namespace saasmetrics::engine {
namespace {

using ::testing::HasSubstr;

TEST(Currency, ExponentsFollowIso4217) {
  EXPECT_EQ(CurrencyExponent("USD"), 2);
  EXPECT_EQ(CurrencyExponent("EUR"), 2);
  EXPECT_EQ(CurrencyExponent("JPY"), 0);
  EXPECT_EQ(CurrencyExponent("KRW"), 0);
  EXPECT_EQ(CurrencyExponent("KWD"), 3);
  EXPECT_EQ(CurrencyExponent("BHD"), 3);
  EXPECT_EQ(CurrencyExponent("XAU"), -1) << "gold is not a billing currency";
  EXPECT_EQ(CurrencyExponent("usd"), -1);
}

TEST(Currency, RatesAreExactDecimals) {
  EXPECT_EQ(ParseRate("1.0832"), (Decimal{10832, 4}));
  EXPECT_EQ(ParseRate("1.50"), (Decimal{15, 1})) << "trailing zeros say nothing";
  EXPECT_EQ(ParseRate("007.5"), (Decimal{75, 1}));
  EXPECT_EQ(ParseRate("150"), (Decimal{150, 0}));
  EXPECT_EQ(ParseRate("0.000000000000000001"), (Decimal{1, 18}));
  EXPECT_EQ(ParseRate(".5"), (Decimal{5, 1}));
  EXPECT_EQ(FormatDecimal({10832, 4}), "1.0832");
  EXPECT_EQ(FormatDecimal({5, 3}), "0.005");
  EXPECT_EQ(FormatDecimal({150, 0}), "150");
  std::string why;
  for (const char* bad : {"", "0", "0.000", "-1", "+1", "1e3", "1..2", "1.2.3", ".", "1,5", " 1",
                          "1234567890123456789", "0.0000000000000000001"}) {
    EXPECT_EQ(ParseRate(bad, &why), std::nullopt) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
  ParseRate("0", &why);
  EXPECT_THAT(why, HasSubstr("greater than zero"));
}

TEST(Currency, ConversionRoundsOnceHalfAwayFromZero) {
  // 10.00 EUR at 1.0832 USD = 10.832 USD: 1083.2 cents.
  EXPECT_EQ(ConvertAmount(1000, 2, 2, {10832, 4}), 1083);
  // Half a cent goes away from zero, both ways.
  EXPECT_EQ(ConvertAmount(1, 2, 2, {5, 1}), 1);
  EXPECT_EQ(ConvertAmount(-1, 2, 2, {5, 1}), -1);
  EXPECT_EQ(ConvertAmount(3, 2, 2, {5, 1}), 2);  // 1.5
  // A third of a cent: 1 cent at 0.3333333 is 0.333 cents, 2 cents 0.667.
  EXPECT_EQ(ConvertAmount(1, 2, 2, {3333333, 7}), 0);
  EXPECT_EQ(ConvertAmount(2, 2, 2, {3333333, 7}), 1);
  // Exponent 0 → 2: 1,000 JPY at 0.006667 USD = 6.667 USD = 666.7 cents.
  EXPECT_EQ(ConvertAmount(1000, 0, 2, {6667, 6}), 667);
  // 2 → 0: 10.00 USD at 150.25 JPY = 1,502.5 yen.
  EXPECT_EQ(ConvertAmount(1000, 2, 0, {15025, 2}), 1503);
  // 3 → 2 and 2 → 3: 1.000 KWD at 3.25 USD; 1.00 USD at 0.307 KWD.
  EXPECT_EQ(ConvertAmount(1000, 3, 2, {325, 2}), 325);
  EXPECT_EQ(ConvertAmount(100, 2, 3, {307, 3}), 307);
  // 0.001 KWD (one fils) at 3.25 USD: 0.325 cents.
  EXPECT_EQ(ConvertAmount(1, 3, 2, {325, 2}), 0);
  // The widest rate and the largest amount do not overflow inside; a result that does
  // not fit in int64 is refused.
  EXPECT_EQ(ConvertAmount(std::numeric_limits<int64_t>::max(), 2, 2, {1, 18}), 9);
  EXPECT_EQ(ConvertAmount(std::numeric_limits<int64_t>::max(), 2, 2, {2, 0}), std::nullopt);
  EXPECT_EQ(ConvertAmount(std::numeric_limits<int64_t>::max(), 0, 3, {999999999999999999, 0}),
            std::nullopt);
}

TEST(Currency, TheRateForADayIsTheLatestOnOrBeforeIt) {
  const RateTable rates("USD", {{absl::CivilDay(2024, 3, 1), "EUR", {11, 1}},
                                {absl::CivilDay(2024, 1, 1), "EUR", {1, 0}},
                                {absl::CivilDay(2024, 2, 1), "JPY", {7, 3}}});
  EXPECT_EQ(*rates.Convert(1000, "EUR", absl::CivilDay(2024, 1, 1)), 1000);
  EXPECT_EQ(*rates.Convert(1000, "EUR", absl::CivilDay(2024, 2, 29)), 1000);
  EXPECT_EQ(*rates.Convert(1000, "EUR", absl::CivilDay(2024, 3, 1)), 1100);
  EXPECT_EQ(*rates.Convert(1000, "EUR", absl::CivilDay(2030, 1, 1)), 1100);
  EXPECT_EQ(*rates.Convert(1000, "JPY", absl::CivilDay(2024, 2, 1)), 700);  // ¥1,000 = $7
  EXPECT_EQ(*rates.Convert(1234, "USD", absl::CivilDay(1999, 1, 1)), 1234) << "no rate needed";

  const absl::StatusOr<int64_t> early = rates.Convert(1000, "EUR", absl::CivilDay(2023, 12, 31));
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(early.status().message(), HasSubstr("EUR"));
  EXPECT_THAT(early.status().message(), HasSubstr("2023-12-31"));
  const absl::StatusOr<int64_t> none = rates.Convert(1000, "GBP", absl::CivilDay(2024, 6, 1));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(none.status().message(), HasSubstr("GBP"));
  EXPECT_EQ(rates.Convert(std::numeric_limits<int64_t>::max(), "EUR", absl::CivilDay(2024, 3, 1))
                .status()
                .code(),
            absl::StatusCode::kOutOfRange);
}

// MRR per native currency at period ends, against a brute force that, for every period end,
// takes each subscription's latest event before it (by time, then ingest order).
TEST(Currency, NativeMrrAtPeriodEndsMatchesTheLatestStateOfEverySubscription) {
  absl::TimeZone tz;
  ASSERT_TRUE(absl::LoadTimeZone("Europe/Berlin", &tz));
  const std::vector<Period> periods =
      CutPeriods(absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 6, 30), Interval::kMonth);
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    std::mt19937_64 rng(seed);
    auto pick = [&](int n) { return static_cast<int>(rng() % n); };
    std::map<absl::CivilMonth, std::vector<SubscriptionEvent>> months;
    std::vector<SubscriptionEvent> all;
    for (int i = 0; i < 200; ++i) {
      SubscriptionEvent e;
      e.event_id = absl::StrCat("e", i);
      e.customer_id = absl::StrCat("c", pick(20));
      e.subscription_id = absl::StrCat("s", pick(2));
      // Days up to 31 (normalised into the next month): some events fall on a period end.
      e.effective_at = absl::FromCivil(
          absl::CivilSecond(2024, 1 + pick(7), 1 + pick(31), pick(24), 0, 0), absl::UTCTimeZone());
      e.status = pick(4) == 0 ? SubscriptionStatus::kCanceled : SubscriptionStatus::kActive;
      e.quantity = 1;
      e.unit_amount = 100 * (1 + pick(9));
      e.currency = std::vector<std::string>{"USD", "EUR", "JPY"}[pick(3)];
      e.interval_unit = IntervalUnit::kMonth;
      e.interval_count = 1;
      e.seq = i;
      months[absl::ToCivilMonth(e.effective_at, absl::UTCTimeZone())].push_back(e);
      all.push_back(e);
    }
    std::vector<std::shared_ptr<const SubscriptionPartition>> partitions;
    for (const auto& [month, events] : months) {
      partitions.push_back(
          std::make_shared<const SubscriptionPartition>(BuildSubscriptionPartition(month, events)));
    }
    const std::optional<absl::flat_hash_set<std::string>> some =
        absl::flat_hash_set<std::string>{"c1", "c2", "c3", "c5", "c8", "c13"};
    for (const auto& customers : {std::optional<absl::flat_hash_set<std::string>>(), some}) {
      const auto got = NativeMrrAtPeriodEnds(partitions, periods, tz, customers);
      ASSERT_EQ(got.size(), periods.size());
      for (size_t p = 0; p < periods.size(); ++p) {
        const absl::Time end = DayStart(periods[p].last + 1, tz);
        std::map<std::pair<std::string, std::string>, const SubscriptionEvent*> latest;
        for (const SubscriptionEvent& e : all) {
          if (e.effective_at >= end) continue;
          if (customers.has_value() && !customers->contains(e.customer_id)) continue;
          const SubscriptionEvent*& cur = latest[{e.customer_id, e.subscription_id}];
          if (cur == nullptr ||
              std::tie(e.effective_at, e.seq) > std::tie(cur->effective_at, cur->seq)) {
            cur = &e;
          }
        }
        std::map<std::string, int64_t> want;
        for (const auto& [key, e] : latest) want[e->currency] += StateMrr(*e);
        std::vector<CurrencyMrr> expected;
        for (const auto& [currency, mrr] : want) {
          if (mrr != 0) expected.push_back({currency, mrr});
        }
        EXPECT_EQ(got[p], expected) << "period " << p;
      }
    }
  }
}

}  // namespace
}  // namespace saasmetrics::engine
