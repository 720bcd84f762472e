#include "server/engine/dates.h"

#include <gtest/gtest.h>

#include <vector>

namespace saasmetrics::engine {
namespace {

TEST(ParseIsoDate, AcceptsRealDatesOnly) {
  absl::CivilDay d;
  ASSERT_TRUE(ParseIsoDate("2024-02-29", &d));
  EXPECT_EQ(d, absl::CivilDay(2024, 2, 29));
  for (const char* bad : {"2023-02-29", "2024-13-01", "2024-00-10", "2024-1-01", "24-01-01",
                          "2024/01/01", "2024-01-01T00", "", "+024-01-01", "2024-01- 1"}) {
    EXPECT_FALSE(ParseIsoDate(bad, &d)) << bad;
  }
}

TEST(DayKey, OrdersDaysAsTheyFall) {
  // Every pair among days across month, year and leap-day edges, negative years too.
  std::vector<absl::CivilDay> days;
  for (absl::CivilDay d(-2, 12, 25); d <= absl::CivilDay(-1, 1, 5); ++d) days.push_back(d);
  for (absl::CivilDay d(2023, 12, 20); d <= absl::CivilDay(2024, 3, 10); ++d) days.push_back(d);
  days.push_back(absl::CivilDay(9999, 12, 31));
  for (absl::CivilDay a : days) {
    for (absl::CivilDay b : days) {
      ASSERT_EQ(DayKey(a) < DayKey(b), a < b) << a << " " << b;
      ASSERT_EQ(DayKey(a) == DayKey(b), a == b) << a << " " << b;
    }
  }
}

TEST(FormatIsoDate, PadsAndRoundTrips) {
  EXPECT_EQ(FormatIsoDate(absl::CivilDay(2024, 3, 5)), "2024-03-05");
  absl::CivilDay d;
  ASSERT_TRUE(ParseIsoDate(FormatIsoDate(absl::CivilDay(1999, 12, 31)), &d));
  EXPECT_EQ(d, absl::CivilDay(1999, 12, 31));
}

}  // namespace
}  // namespace saasmetrics::engine
