#include "server/engine/health.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/engine/tenant.h"

namespace saasmetrics::engine {
namespace {

// A customer's state at the end of a day, once it has ever paid.
struct State {
  int32_t customer = 0;
  int64_t mrr = 0;
  bool churned = false;                     // MRR 0 and not paused
  std::optional<absl::CivilDay> churn_day;  // the last day it became churned
};

// Per day of `days` (ascending), the state of every customer that has paid by its end, in
// customer order: one pass over each customer's movements and pause changes, merged by day.
std::vector<std::vector<State>> StatesAt(const std::vector<Movement>& movements,
                                         const std::vector<PauseChange>& pauses,
                                         const std::vector<absl::CivilDay>& days) {
  std::vector<std::vector<State>> out(days.size());
  size_t j = 0;
  for (size_t i = 0; i < movements.size();) {
    const int32_t c = movements[i].customer;
    size_t end = i;
    while (end < movements.size() && movements[end].customer == c) ++end;
    while (j < pauses.size() && pauses[j].customer < c) ++j;
    size_t pause_end = j;
    while (pause_end < pauses.size() && pauses[pause_end].customer == c) ++pause_end;
    int64_t mrr = 0;
    bool paused = false, ever = false;
    State state{.customer = c};
    for (size_t d = 0; d < days.size(); ++d) {
      for (;;) {
        // The next day on which something changes, if it is not after days[d].
        std::optional<absl::CivilDay> next;
        if (i < end) next = movements[i].day;
        if (j < pause_end && (!next.has_value() || pauses[j].day < *next)) next = pauses[j].day;
        if (!next.has_value() || *next > days[d]) break;
        for (; i < end && movements[i].day == *next; ++i) mrr = movements[i].after;
        for (; j < pause_end && pauses[j].day == *next; ++j) paused = pauses[j].paused;
        ever |= mrr > 0;
        const bool churned = ever && mrr == 0 && !paused;
        if (churned && !state.churned) state.churn_day = *next;
        state.churned = churned;
        state.mrr = mrr;
      }
      if (ever) out[d].push_back(state);
    }
    i = end;
    j = pause_end;
  }
  return out;
}

bool InRange(double v, double lo, double hi) { return std::isfinite(v) && v >= lo && v <= hi; }

}  // namespace

void ValidateHealthPolicy(const HealthPolicy& policy, absl::string_view prefix, Violations& out) {
  auto field = [&](absl::string_view name) { return absl::StrCat(prefix, ".", name); };
  if (!policy.engagement_model_id.empty() && !IsValidResourceId(policy.engagement_model_id)) {
    out.push_back({field("engagement_model_id"),
                   absl::StrCat("'", policy.engagement_model_id, "' is not a model id")});
  }
  const bool power_ok = InRange(policy.power_at_least, 0, 100);
  const bool risk_ok = InRange(policy.at_risk_below, 0, 100);
  if (!power_ok) out.push_back({field("power_at_least"), "must be 0 to 100"});
  if (!risk_ok) out.push_back({field("at_risk_below"), "must be 0 to 100"});
  if (power_ok && risk_ok && policy.at_risk_below > policy.power_at_least) {
    out.push_back({field("at_risk_below"),
                   absl::StrCat("must not be above power_at_least (", policy.power_at_least, ")")});
  }
  if (policy.inactive_days < 1 || policy.inactive_days > 365) {
    out.push_back({field("inactive_days"), "must be 1 to 365"});
  }
  if (policy.lost_window_days < 1 || policy.lost_window_days > 3650) {
    out.push_back({field("lost_window_days"), "must be 1 to 3650"});
  }
  if (!InRange(policy.risk_at_least, 0, 1)) {
    out.push_back({field("risk_at_least"), "must be 0 to 1"});
  }
}

std::vector<absl::string_view> HealthReasonNames(uint8_t reasons) {
  static constexpr std::pair<HealthReason, absl::string_view> kNames[] = {
      {kReasonChurned, "churned"},      {kReasonPaused, "paused"},
      {kReasonLowScore, "low_score"},   {kReasonInactive, "inactive"},
      {kReasonChurnRisk, "churn_risk"}, {kReasonHighScore, "high_score"}};
  std::vector<absl::string_view> out;
  for (const auto& [bit, name] : kNames) {
    if ((reasons & bit) != 0) out.push_back(name);
  }
  return out;
}

absl::string_view HealthGroupName(HealthGroup group) {
  switch (group) {
    case HealthGroup::kPower:
      return "power";
    case HealthGroup::kNormal:
      return "normal";
    case HealthGroup::kAtRisk:
      return "at_risk";
    case HealthGroup::kLost:
      return "lost";
    case HealthGroup::kNone:
      break;
  }
  return "none";
}

absl::StatusOr<std::vector<std::vector<CustomerHealth>>> HealthAt(
    const HealthPolicy& policy, const EngagementModel* model, const HealthInputs& in,
    const std::vector<absl::CivilDay>& days, const std::function<bool()>& stop) {
  const std::vector<std::vector<State>> states = StatesAt(*in.usage.movements, *in.pauses, days);
  std::vector<std::vector<CustomerHealth>> out(days.size());
  for (size_t d = 0; d < days.size(); ++d) {
    if (stop && stop()) return absl::CancelledError("health groups stopped");
    std::vector<int32_t> paying;
    for (const State& s : states[d]) {
      if (s.mrr > 0) paying.push_back(s.customer);
    }
    absl::StatusOr<std::vector<CustomerEngagement>> scores =
        ScoresOf(model, in.usage, days[d], paying, policy.inactive_days, stop);
    if (!scores.ok()) return scores.status();
    size_t next_score = 0;
    out[d].reserve(states[d].size());
    for (const State& s : states[d]) {
      CustomerHealth& h = out[d].emplace_back();
      h.customer = s.customer;
      h.mrr = s.mrr;
      if (s.churned) {
        h.churn_day = s.churn_day;
        if (days[d] - *s.churn_day < policy.lost_window_days) {
          h.group = HealthGroup::kLost;
          h.reasons = kReasonChurned;
        }
        continue;
      }
      if (s.mrr == 0) {  // ever paid, MRR 0, not churned: paused
        h.group = HealthGroup::kAtRisk;
        h.reasons = kReasonPaused;
        continue;
      }
      const CustomerEngagement& e = (*scores)[next_score++];
      if (model != nullptr) {
        h.score = e.score;
        if (e.score < policy.at_risk_below) h.reasons |= kReasonLowScore;
      }
      if (!e.active) h.reasons |= kReasonInactive;
      if (h.reasons != 0) {
        h.group = HealthGroup::kAtRisk;
      } else if (model != nullptr && e.score >= policy.power_at_least) {
        h.group = HealthGroup::kPower;
        h.reasons = kReasonHighScore;
      } else {
        h.group = HealthGroup::kNormal;
      }
    }
  }
  return out;
}

absl::StatusOr<std::vector<HealthPoint>> HealthSeries(const HealthPolicy& policy,
                                                      const EngagementModel* model,
                                                      const HealthInputs& in,
                                                      const std::vector<Period>& periods,
                                                      const std::function<bool()>& stop) {
  if (periods.empty()) return std::vector<HealthPoint>{};
  // The day before the first period, then each period's last day.
  std::vector<absl::CivilDay> days = {periods.front().first - 1};
  for (const Period& p : periods) days.push_back(p.last);
  absl::StatusOr<std::vector<std::vector<CustomerHealth>>> health =
      HealthAt(policy, model, in, days, stop);
  if (!health.ok()) return health.status();
  std::vector<HealthGroup> group(in.usage.ledger_size, HealthGroup::kNone);
  for (const CustomerHealth& h : (*health)[0]) group[h.customer] = h.group;
  std::vector<HealthPoint> out(periods.size());
  for (size_t i = 0; i < periods.size(); ++i) {
    HealthPoint& point = out[i];
    point.period = periods[i];
    // Customers absent from this day's list have never paid: they stay in none.
    for (const CustomerHealth& h : (*health)[i + 1]) {
      const int to = static_cast<int>(h.group);
      ++point.customers[to];
      point.mrr[to] += h.mrr;
      const int from = static_cast<int>(group[h.customer]);
      if (from != to || h.group != HealthGroup::kNone) ++point.moved[from][to];
      group[h.customer] = h.group;
    }
  }
  return out;
}

}  // namespace saasmetrics::engine
