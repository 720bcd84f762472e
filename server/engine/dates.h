#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"

namespace saasmetrics::engine {

// Strict "YYYY-MM-DD" (a real calendar day); false otherwise.
bool ParseIsoDate(absl::string_view text, absl::CivilDay* out);
std::string FormatIsoDate(absl::CivilDay day);

}  // namespace saasmetrics::engine
