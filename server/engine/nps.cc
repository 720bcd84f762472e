#include "server/engine/nps.h"

#include <algorithm>
#include <numeric>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "server/engine/dates.h"

namespace saasmetrics::engine {

std::map<std::string, std::vector<NpsPoint>> NpsByGroup(
    const std::vector<SurveyResponse>& responses, const std::vector<Period>& periods,
    absl::TimeZone tz, const NpsGroupOf& group_of, const std::function<bool()>& stop,
    const std::optional<std::string>& always) {
  // The responses in time order, ties by ingest order.
  std::vector<uint32_t> order(responses.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return std::tie(responses[a].time, responses[a].seq) <
           std::tie(responses[b].time, responses[b].seq);
  });
  std::map<std::string, std::vector<NpsPoint>> out;
  auto series_of = [&](const std::string& group) -> std::vector<NpsPoint>& {
    std::vector<NpsPoint>& series = out[group];
    if (series.empty()) {
      series.resize(periods.size());
      for (size_t q = 0; q < periods.size(); ++q) series[q].period = periods[q];
    }
    return series;
  };
  if (always.has_value()) series_of(*always);
  for (size_t p = 0; p < periods.size(); ++p) {
    if (stop && stop()) return {};
    const absl::Time from = DayStart(periods[p].first, tz);
    const absl::Time until = DayStart(periods[p].last + 1, tz);
    auto begin = std::lower_bound(order.begin(), order.end(), from,
                                  [&](uint32_t i, absl::Time t) { return responses[i].time < t; });
    // Each respondent's latest response in the period: the last one seen in time order.
    absl::flat_hash_map<std::pair<absl::string_view, absl::string_view>, uint32_t> latest;
    for (auto it = begin; it != order.end() && responses[*it].time < until; ++it) {
      const SurveyResponse& r = responses[*it];
      latest[{r.customer_id, r.user_id}] = *it;
    }
    for (const auto& [respondent, i] : latest) {
      const SurveyResponse& r = responses[i];
      for (const std::string& group : group_of(r, p)) {
        NpsPoint& point = series_of(group)[p];
        ++point.respondents;
        if (r.score >= 9) {
          ++point.promoters;
        } else if (r.score >= 7) {
          ++point.passives;
        } else {
          ++point.detractors;
        }
      }
    }
  }
  for (auto& [group, series] : out) {
    for (NpsPoint& point : series) {
      if (point.respondents > 0) {
        point.nps = 100.0 * static_cast<double>(point.promoters - point.detractors) /
                    static_cast<double>(point.respondents);
      }
    }
  }
  return out;
}

}  // namespace saasmetrics::engine
