// Reporting periods: calendar days, ISO weeks, months, quarters, years, as civil dates
// in the tenant's time zone.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace saasmetrics::engine {

enum class Interval { kDay = 1, kWeek = 2, kMonth = 3, kQuarter = 4, kYear = 5 };

// An inclusive range of days.
struct Period {
  absl::CivilDay first;
  absl::CivilDay last;
  bool operator==(const Period&) const = default;
};

// The periods covering [start, end], cut at calendar boundaries of `interval` and
// clipped to the range (a monthly query from Jan 15 starts with Jan 15-31).
std::vector<Period> CutPeriods(absl::CivilDay start, absl::CivilDay end, Interval interval);

// The first day of the calendar period of `interval` containing `day`.
absl::CivilDay PeriodStart(absl::CivilDay day, Interval interval);

// Months as consecutive integers (year * 12 + month - 1), for keys and sets.
inline int64_t MonthIndex(absl::CivilMonth m) { return m.year() * 12 + m.month() - 1; }
inline absl::CivilMonth MonthFromIndex(int64_t i) { return absl::CivilMonth(i / 12, i % 12 + 1); }

// The instant a civil day begins in `tz` (DST-correct: the first instant whose local
// date is `day`).
absl::Time DayStart(absl::CivilDay day, absl::TimeZone tz);

}  // namespace saasmetrics::engine
