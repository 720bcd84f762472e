#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"

namespace saasmetrics::engine {

// Strict "YYYY-MM-DD" (a real calendar day); false otherwise.
bool ParseIsoDate(absl::string_view text, absl::CivilDay* out);
std::string FormatIsoDate(absl::CivilDay day);

// A number that orders civil days as they fall, and cheaply: comparing two absl::CivilDay
// compares six fields with a branch each, comparing two keys is one comparison. Not a count
// of days (subtract civil days for that).
inline int64_t DayKey(absl::CivilDay day) {
  return static_cast<int64_t>(day.year()) * 512 + day.month() * 32 + day.day();
}

// `months` months after `day`, a day the month lacks clipped to its last day (ANALYTICS.md:
// Jan 31 + 1 month = Feb 28 or 29).
absl::CivilDay AddMonthsClipped(absl::CivilDay day, int64_t months);

}  // namespace saasmetrics::engine
