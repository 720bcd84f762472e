#include "server/engine/dates.h"

#include <gtest/gtest.h>

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

TEST(FormatIsoDate, PadsAndRoundTrips) {
  EXPECT_EQ(FormatIsoDate(absl::CivilDay(2024, 3, 5)), "2024-03-05");
  absl::CivilDay d;
  ASSERT_TRUE(ParseIsoDate(FormatIsoDate(absl::CivilDay(1999, 12, 31)), &d));
  EXPECT_EQ(d, absl::CivilDay(1999, 12, 31));
}

}  // namespace
}  // namespace saasmetrics::engine
