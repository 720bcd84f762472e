#include "server/engine/tenant.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace saasmetrics::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

Tenant Valid() {
  return Tenant{.tenant_id = "acme",
                .display_name = "Acme",
                .currency = "USD",
                .timezone = "Europe/Berlin",
                .gross_margin = 0.8};
}

Violations Check(const Tenant& t) {
  Violations v;
  ValidateTenantSettings(t, "tenant", v);
  return v;
}

TEST(ResourceId, AcceptsAndRejects) {
  struct Case {
    std::string id;
    bool ok;
  };
  const Case cases[] = {
      {"acme", true},
      {"a", true},
      {"0day-co_2", true},
      {std::string(63, 'a'), true},
      {std::string(64, 'a'), false},
      {"", false},
      {"Acme", false},
      {"-acme", false},
      {"_acme", false},
      {"acme corp", false},
      {"acmé", false},
      {"acme/x", false},
  };
  for (const Case& c : cases) EXPECT_EQ(IsValidResourceId(c.id), c.ok) << "'" << c.id << "'";
}

TEST(Currency, Iso4217) {
  for (const char* code : {"USD", "EUR", "JPY", "GBP", "CHF", "XOF", "AED", "ZWG"}) {
    EXPECT_TRUE(IsIso4217Currency(code)) << code;
  }
  for (const char* code : {"usd", "US", "USDD", "XXX", "XAU", "ABC", ""}) {
    EXPECT_FALSE(IsIso4217Currency(code)) << code;
  }
}

TEST(TimeZone, Iana) {
  for (const char* tz : {"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"}) {
    EXPECT_TRUE(IsIanaTimeZone(tz)) << tz;
  }
  for (const char* tz : {"", "Mars/Olympus", "CEST+1", "europe/berlin_x"}) {
    EXPECT_FALSE(IsIanaTimeZone(tz)) << tz;
  }
  for (const char* tz : {"America/Argentina/Buenos_Aires", "Etc/GMT+5", "Etc/GMT-14"}) {
    EXPECT_TRUE(IsIanaTimeZone(tz)) << tz;
  }
}

// Issue 13, hardening 1 and 2: the time-zone library takes file paths (one of which blocks
// a worker reading a pipe) and caches every name it sees; neither reaches it now.
TEST(TimeZone, PathsAndHugeNamesAreRefusedBeforeTheLibrarySeesThem) {
  for (const char* tz :
       {"/etc/localtime", "../../usr/share/zoneinfo/UTC", "/proc/self/fd/2", "Europe//Berlin",
        "Europe/Berlin/", "Europe/../UTC", "./UTC", "zone.tab", "Europe/Berlin\n"}) {
    EXPECT_FALSE(IsIanaTimeZone(tz)) << tz;
  }
  EXPECT_FALSE(IsIanaTimeZone(std::string(1 << 20, 'A')));
  EXPECT_FALSE(IsIanaTimeZone("Europe"));  // a directory of the database, not a zone
}

TEST(ValidateTenantSettings, ValidTenantHasNoViolations) { EXPECT_THAT(Check(Valid()), IsEmpty()); }

TEST(ValidateTenantSettings, EachRuleNamesItsField) {
  struct Case {
    void (*mutate)(Tenant&);
    std::string field;
    std::string says;
  };
  const Case cases[] = {
      {[](Tenant& t) { t.tenant_id = ""; }, "tenant.tenant_id", "must not be empty"},
      {[](Tenant& t) { t.tenant_id = "Bad Id"; }, "tenant.tenant_id", "[a-z0-9_-]"},
      {[](Tenant& t) { t.currency = "XYZ"; }, "tenant.currency", "not an ISO 4217"},
      {[](Tenant& t) { t.currency = ""; }, "tenant.currency", "not an ISO 4217"},
      {[](Tenant& t) { t.timezone = "Mars/Base"; }, "tenant.timezone", "not an IANA time zone"},
      {[](Tenant& t) { t.gross_margin = 0; }, "tenant.gross_margin", "(0, 1]"},
      {[](Tenant& t) { t.gross_margin = -0.5; }, "tenant.gross_margin", "(0, 1]"},
      {[](Tenant& t) { t.gross_margin = 1.0001; }, "tenant.gross_margin", "(0, 1]"},
      {[](Tenant& t) { t.gross_margin = std::numeric_limits<double>::quiet_NaN(); },
       "tenant.gross_margin", "(0, 1]"},
      {[](Tenant& t) { t.display_name = std::string(201, 'x'); }, "tenant.display_name",
       "at most 200"},
  };
  for (const Case& c : cases) {
    Tenant t = Valid();
    c.mutate(t);
    Violations v = Check(t);
    ASSERT_EQ(v.size(), 1u) << c.field;
    EXPECT_EQ(v[0].field, c.field);
    EXPECT_THAT(v[0].description, HasSubstr(c.says));
  }
}

TEST(ValidateTenantSettings, ReportsEveryViolation) {
  Tenant t = Valid();
  t.currency = "usd";
  t.timezone = "nowhere";
  t.gross_margin = 2;
  EXPECT_THAT(Check(t), ElementsAre(Field(&FieldViolation::field, "tenant.currency"),
                                    Field(&FieldViolation::field, "tenant.timezone"),
                                    Field(&FieldViolation::field, "tenant.gross_margin")));
}

TEST(ValidateTenantSettings, MarginOfExactlyOneIsAllowed) {
  Tenant t = Valid();
  t.gross_margin = 1.0;
  EXPECT_THAT(Check(t), IsEmpty());
}

}  // namespace
}  // namespace saasmetrics::engine
