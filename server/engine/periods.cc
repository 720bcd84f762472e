#include "server/engine/periods.h"

#include <algorithm>

namespace saasmetrics::engine {

absl::CivilDay PeriodStart(absl::CivilDay day, Interval interval) {
  switch (interval) {
    case Interval::kDay:
      return day;
    case Interval::kWeek:
      return absl::PrevWeekday(day + 1, absl::Weekday::monday);
    case Interval::kMonth:
      return absl::CivilDay(absl::CivilMonth(day));
    case Interval::kQuarter: {
      int first_month = (day.month() - 1) / 3 * 3 + 1;
      return absl::CivilDay(day.year(), first_month, 1);
    }
    case Interval::kYear:
      return absl::CivilDay(absl::CivilYear(day));
  }
  return day;
}

namespace {

absl::CivilDay NextPeriodStart(absl::CivilDay start, Interval interval) {
  switch (interval) {
    case Interval::kDay:
      return start + 1;
    case Interval::kWeek:
      return start + 7;
    case Interval::kMonth:
      return absl::CivilDay(absl::CivilMonth(start) + 1);
    case Interval::kQuarter:
      return absl::CivilDay(absl::CivilMonth(start) + 3);
    case Interval::kYear:
      return absl::CivilDay(absl::CivilYear(start) + 1);
  }
  return start + 1;
}

}  // namespace

std::vector<Period> CutPeriods(absl::CivilDay start, absl::CivilDay end, Interval interval) {
  std::vector<Period> out;
  for (absl::CivilDay p = PeriodStart(start, interval); p <= end;
       p = NextPeriodStart(p, interval)) {
    absl::CivilDay next = NextPeriodStart(p, interval);
    out.push_back({std::max(p, start), std::min(next - 1, end)});
  }
  return out;
}

absl::Time DayStart(absl::CivilDay day, absl::TimeZone tz) {
  const absl::TimeZone::TimeInfo info = tz.At(absl::CivilSecond(day));
  // A midnight skipped by a DST jump: the day begins when the gap ends.
  return info.kind == absl::TimeZone::TimeInfo::SKIPPED ? info.trans : info.pre;
}

}  // namespace saasmetrics::engine
