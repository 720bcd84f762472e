#include "server/engine/dates.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

namespace saasmetrics::engine {

bool ParseIsoDate(absl::string_view text, absl::CivilDay* out) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return false;
  int y = 0, m = 0, d = 0;
  if (!absl::SimpleAtoi(text.substr(0, 4), &y) || !absl::SimpleAtoi(text.substr(5, 2), &m) ||
      !absl::SimpleAtoi(text.substr(8, 2), &d)) {
    return false;
  }
  for (char c : text) {
    if (c != '-' && (c < '0' || c > '9')) return false;  // SimpleAtoi allows '+'/spaces
  }
  absl::CivilDay day(y, m, d);
  // CivilDay normalises (2023-02-30 → 2023-03-02); a real date round-trips.
  if (day.year() != y || day.month() != m || day.day() != d) return false;
  *out = day;
  return true;
}

std::string FormatIsoDate(absl::CivilDay day) {
  return absl::StrFormat("%04d-%02d-%02d", day.year(), day.month(), day.day());
}

absl::CivilDay AddMonthsClipped(absl::CivilDay day, int64_t months) {
  const absl::CivilMonth month = absl::CivilMonth(day) + months;
  const absl::CivilDay last = absl::CivilDay(month + 1) - 1;
  return std::min(absl::CivilDay(month.year(), month.month(), day.day()), last);
}

}  // namespace saasmetrics::engine
