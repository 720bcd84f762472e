#include "server/engine/ingest_validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <limits>

namespace saasmetrics::engine {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

const absl::Time kNow =
    absl::FromCivil(absl::CivilSecond(2024, 6, 1, 12, 0, 0), absl::UTCTimeZone());
const IngestRules kRules{"USD", kNow, IngestLimits{}};

SubscriptionEvent ValidSub() {
  SubscriptionEvent e;
  e.event_id = "ev1";
  e.subscription_id = "sub1";
  e.customer_id = "cus1";
  e.effective_at = kNow - absl::Hours(24 * 30);
  e.status = SubscriptionStatus::kActive;
  e.plan_id = "pro";
  e.quantity = 2;
  e.unit_amount = 4900;
  e.currency = "USD";
  e.interval_unit = IntervalUnit::kMonth;
  e.interval_count = 1;
  return e;
}

UsageEvent ValidUsage() {
  UsageEvent e;
  e.id = "u1";
  e.source = "app";
  e.type = "report.created";
  e.customer_id = "cus1";
  e.time = kNow - absl::Hours(1);
  e.properties = {{"plan", "pro"}};
  return e;
}

Customer ValidCustomer() {
  return Customer{.customer_id = "cus1",
                  .created_at = kNow - absl::Hours(100),
                  .acquisition_channel = "ads",
                  .country = "DE",
                  .updated_at = kNow};
}

AcquisitionSpend ValidSpend() {
  return AcquisitionSpend{.spend_id = "s1",
                          .channel = "ads",
                          .start_date = absl::CivilDay(2024, 5, 1),
                          .end_date = absl::CivilDay(2024, 5, 31),
                          .amount = 100000,
                          .currency = "USD"};
}

template <typename T>
struct Case {
  std::string name;
  std::function<void(T&)> mutate;
  std::string field;
  std::string says;
};

template <typename T, typename Validate>
void ExpectOneViolationEach(T valid, const std::vector<Case<T>>& cases, Validate validate) {
  {
    Violations none;
    validate(std::vector<T>{valid}, kRules, none);
    EXPECT_THAT(none, IsEmpty()) << none[0].field << ": " << none[0].description;
  }
  for (const Case<T>& c : cases) {
    // The broken item sits second, so the index in the field path is checked too.
    std::vector<T> items = {valid, valid};
    c.mutate(items[1]);
    Violations v;
    validate(items, kRules, v);
    ASSERT_EQ(v.size(), 1u) << c.name;
    EXPECT_EQ(v[0].field, c.field) << c.name;
    EXPECT_THAT(v[0].description, HasSubstr(c.says)) << c.name;
  }
}

TEST(ValidateSubscriptionEvents, EveryRule) {
  using C = Case<SubscriptionEvent>;
  ExpectOneViolationEach<SubscriptionEvent>(
      ValidSub(),
      {
          C{"empty event_id", [](auto& e) { e.event_id = ""; }, "events[1].event_id", "empty"},
          C{"long id", [](auto& e) { e.subscription_id = std::string(257, 'x'); },
            "events[1].subscription_id", "at most 256 bytes"},
          C{"empty customer", [](auto& e) { e.customer_id = ""; }, "events[1].customer_id",
            "empty"},
          C{"unset time", [](auto& e) { e.effective_at = absl::InfinitePast(); },
            "events[1].effective_at", "required"},
          C{"before 1990",
            [](auto& e) {
              e.effective_at = absl::FromCivil(absl::CivilDay(1989, 12, 31), absl::UTCTimeZone());
            },
            "events[1].effective_at", "before 1990"},
          C{"future", [](auto& e) { e.effective_at = kNow + absl::Hours(25); },
            "events[1].effective_at", "more than a day in the future"},
          C{"no status", [](auto& e) { e.status = SubscriptionStatus::kUnspecified; },
            "events[1].status", "required"},
          C{"unknown status", [](auto& e) { e.status = static_cast<SubscriptionStatus>(9); },
            "events[1].status", "unknown value 9"},
          C{"no unit", [](auto& e) { e.interval_unit = IntervalUnit::kUnspecified; },
            "events[1].interval_unit", "required"},
          C{"unknown unit", [](auto& e) { e.interval_unit = static_cast<IntervalUnit>(7); },
            "events[1].interval_unit", "unknown value 7"},
          C{"count 0", [](auto& e) { e.interval_count = 0; }, "events[1].interval_count",
            "must be 1 to 10000, got 0"},
          C{"count 10001", [](auto& e) { e.interval_count = 10001; }, "events[1].interval_count",
            "must be 1 to 10000, got 10001"},
          C{"negative qty", [](auto& e) { e.quantity = -1; }, "events[1].quantity", "negative"},
          C{"negative amount", [](auto& e) { e.unit_amount = -5; }, "events[1].unit_amount",
            "negative"},
          C{"overflow",
            [](auto& e) {
              e.unit_amount = int64_t{1} << 40;
              e.quantity = int64_t{1} << 30;
            },
            "events[1].unit_amount", "int64 range"},
          C{"over the maximum amount",
            [](auto& e) {
              e.unit_amount = 100'000'000'001;
              e.quantity = 1;
            },
            "events[1].unit_amount", "at most 100000000000 minor units per interval"},
          C{"INT64_MAX, a day interval",
            [](auto& e) {
              e.unit_amount = std::numeric_limits<int64_t>::max();
              e.quantity = 1;
              e.interval_unit = IntervalUnit::kDay;
            },
            "events[1].unit_amount", "at most 100000000000"},
          C{"currency", [](auto& e) { e.currency = "XAU"; }, "events[1].currency",
            "not an ISO 4217 currency code"},
          C{"lower-case currency", [](auto& e) { e.currency = "eur"; }, "events[1].currency",
            "not an ISO 4217 currency code"},
          C{"bps", [](auto& e) { e.discount_bps = 10001; }, "events[1].discount.percent_off_bps",
            "between 0 and 10000"},
          C{"neg discount", [](auto& e) { e.discount_amount = -1; },
            "events[1].discount.amount_off", "negative"},
          C{"discount > price", [](auto& e) { e.discount_amount = 9801; },
            "events[1].discount.amount_off", "must not exceed unit_amount × quantity (9800)"},
      },
      ValidateSubscriptionEvents);
}

TEST(ValidateSubscriptionEvents, EdgesThatAreFine) {
  SubscriptionEvent e = ValidSub();
  e.quantity = 0;  // a seat-less state is a zero MRR, not an error
  e.discount_bps = 10000;
  e.effective_at = kNow + absl::Hours(23);
  e.currency = "JPY";  // any ISO 4217 currency: converted at the tenant's rates
  Violations v;
  ValidateSubscriptionEvents({e}, kRules, v);
  EXPECT_THAT(v, IsEmpty());
}

TEST(ValidateUsageEvents, EveryRule) {
  using C = Case<UsageEvent>;
  ExpectOneViolationEach<UsageEvent>(
      ValidUsage(),
      {
          C{"id", [](auto& e) { e.id = ""; }, "events[1].id", "empty"},
          C{"source", [](auto& e) { e.source = ""; }, "events[1].source", "empty"},
          C{"type", [](auto& e) { e.type = ""; }, "events[1].type", "empty"},
          C{"nul", [](auto& e) { e.type = std::string("a\0b", 3); }, "events[1].type", "NUL bytes"},
          C{"nul prop",
            [](auto& e) {
              e.properties = {{"k", std::string("\0", 1)}};
            },
            "events[1].properties", "NUL bytes"},
          C{"subject", [](auto& e) { e.customer_id = ""; }, "events[1].subject", "empty"},
          C{"time", [](auto& e) { e.time = absl::InfinitePast(); }, "events[1].time", "required"},
          C{"nan", [](auto& e) { e.value = std::nan(""); }, "events[1].value", "finite"},
          C{"inf", [](auto& e) { e.value = INFINITY; }, "events[1].value", "finite"},
          C{"too many props",
            [](auto& e) {
              e.properties.clear();
              for (int i = 0; i < 65; ++i) e.properties.push_back({std::to_string(i), "v"});
            },
            "events[1].properties", "at most 64 entries"},
          C{"long value",
            [](auto& e) {
              e.properties = {{"k", std::string(1025, 'v')}};
            },
            "events[1].properties[\"k\"]", "at most 1024 bytes"},
          C{"empty key",
            [](auto& e) {
              e.properties = {{"", "v"}};
            },
            "events[1].properties[\"\"]", "keys must be 1-128 bytes"},
      },
      ValidateUsageEvents);
}

TEST(ValidateCustomers, EveryRule) {
  using C = Case<Customer>;
  ExpectOneViolationEach<Customer>(
      ValidCustomer(),
      {
          C{"id", [](auto& c) { c.customer_id = ""; }, "customers[1].customer_id", "empty"},
          C{"created", [](auto& c) { c.created_at = absl::InfinitePast(); },
            "customers[1].created_at", "required"},
          C{"country", [](auto& c) { c.country = "Germany"; }, "customers[1].country",
            "ISO 3166-1 alpha-2"},
          C{"country case", [](auto& c) { c.country = "de"; }, "customers[1].country",
            "ISO 3166-1 alpha-2"},
      },
      ValidateCustomers);
}

TEST(ValidateSpend, EveryRule) {
  using C = Case<AcquisitionSpend>;
  ExpectOneViolationEach<AcquisitionSpend>(
      ValidSpend(),
      {
          C{"id", [](auto& s) { s.spend_id = ""; }, "spend[1].spend_id", "empty"},
          C{"channel", [](auto& s) { s.channel = ""; }, "spend[1].channel", "empty"},
          C{"amount", [](auto& s) { s.amount = -1; }, "spend[1].amount", "negative"},
          C{"INT64_MAX", [](auto& s) { s.amount = std::numeric_limits<int64_t>::max(); },
            "spend[1].amount", "at most 100000000000 minor units"},
          C{"currency", [](auto& s) { s.currency = "XAU"; }, "spend[1].currency", "ISO 4217"},
          C{"order", [](auto& s) { s.end_date = s.start_date - 1; }, "spend[1].end_date",
            "before start_date"},
          C{"old",
            [](auto& s) {
              s.start_date = absl::CivilDay(1980, 1, 1);
              s.end_date = s.start_date;
            },
            "spend[1].start_date", "between 1990-01-01"},
          C{"millennia", [](auto& s) { s.end_date = absl::CivilDay(9999, 12, 31); },
            "spend[1].end_date", "within 3660 days of start_date"},
      },
      ValidateSpend);
}

TEST(ValidateExchangeRates, EveryRule) {
  using C = Case<ExchangeRate>;
  ExpectOneViolationEach<ExchangeRate>(
      ExchangeRate{absl::CivilDay(2024, 3, 1), "EUR", {10832, 4}},
      {
          C{"not ISO", [](auto& r) { r.currency = "XAU"; }, "rates[1].currency", "ISO 4217"},
          C{"reporting", [](auto& r) { r.currency = "USD"; }, "rates[1].currency",
            "reporting currency: it needs no rate"},
          C{"old", [](auto& r) { r.date = absl::CivilDay(1989, 12, 31); }, "rates[1].date",
            "between 1990-01-01 and tomorrow"},
          C{"future", [](auto& r) { r.date = absl::ToCivilDay(kNow, absl::UTCTimeZone()) + 2; },
            "rates[1].date", "between 1990-01-01 and tomorrow"},
      },
      ValidateExchangeRates);
}

}  // namespace
}  // namespace saasmetrics::engine
