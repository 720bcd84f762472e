// Net promoter score (ANALYTICS.md "NPS"): per period, each respondent's latest response
// in it — a respondent is (customer, user_id), or the customer when user_id is empty —
// counted as promoter (9–10), passive (7–8) or detractor (0–6).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/engine/events.h"
#include "server/engine/periods.h"

namespace saasmetrics::engine {

struct NpsPoint {
  Period period;
  int64_t respondents = 0, promoters = 0, passives = 0, detractors = 0;
  // 100 × (promoters − detractors) ÷ respondents; absent with no respondent.
  std::optional<double> nps;
};

// The groups a respondent's latest response in period `period` (an index) counts in
// (several: a customer on several plans); none leaves it out (the filters exclude it).
using NpsGroupOf =
    std::function<std::vector<std::string>(const SurveyResponse& latest, size_t period)>;

// Per group (ordered by name), a series over `periods`: a group appears when any period
// has a respondent in it (`always`, when given, appears regardless). `responses` in any order; of
// two at one time the later ingested (higher seq) is the latest. `stop` is polled per period: an
// empty map when it says so (the caller, which asked, discards it).
std::map<std::string, std::vector<NpsPoint>> NpsByGroup(
    const std::vector<SurveyResponse>& responses, const std::vector<Period>& periods,
    absl::TimeZone tz, const NpsGroupOf& group_of, const std::function<bool()>& stop = nullptr,
    const std::optional<std::string>& always = std::nullopt);

}  // namespace saasmetrics::engine
