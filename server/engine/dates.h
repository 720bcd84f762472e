#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"

namespace saasmetrics::engine {

// Strict "YYYY-MM-DD" (a real calendar day); false otherwise.
bool ParseIsoDate(absl::string_view text, absl::CivilDay* out);
std::string FormatIsoDate(absl::CivilDay day);

// `months` months after `day`, a day the month lacks clipped to its last day (ANALYTICS.md:
// Jan 31 + 1 month = Feb 28 or 29).
absl::CivilDay AddMonthsClipped(absl::CivilDay day, int64_t months);

}  // namespace saasmetrics::engine
