#include "server/engine/health.h"

#include <cmath>
#include <limits>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "server/engine/tenant.h"

namespace saasmetrics::engine {
namespace {

// Every customer's state at the end of a day, walked forward day by day (ascending): per
// customer a cursor into its movements and pause changes, so each change is applied once
// and a day costs one comparison per customer whose state did not change.
class StateWalker {
 public:
  StateWalker(const std::vector<Movement>& movements, const std::vector<PauseChange>& pauses)
      : movements_(movements), pauses_(pauses) {
    size_t j = 0;
    for (size_t i = 0; i < movements.size();) {
      const int32_t c = movements[i].customer;
      Customer& k = customers_.emplace_back();
      k.customer = c;
      k.movement = static_cast<uint32_t>(i);
      while (i < movements.size() && movements[i].customer == c) ++i;
      k.movement_end = static_cast<uint32_t>(i);
      while (j < pauses.size() && pauses[j].customer < c) ++j;
      k.pause = static_cast<uint32_t>(j);
      while (j < pauses.size() && pauses[j].customer == c) ++j;
      k.pause_end = static_cast<uint32_t>(j);
      k.next = NextDay(k);
    }
  }

  // Brings every customer to the end of `day` (not before the last day asked).
  void AdvanceTo(absl::CivilDay day) {
    const int64_t n = Number(day);
    for (Customer& k : customers_) {
      while (k.next <= n) {
        for (; k.movement < k.movement_end && Number(movements_[k.movement].day) == k.next;
             ++k.movement) {
          k.mrr = movements_[k.movement].after;
        }
        for (; k.pause < k.pause_end && Number(pauses_[k.pause].day) == k.next; ++k.pause) {
          k.paused = pauses_[k.pause].paused;
        }
        k.ever |= k.mrr > 0;
        const bool churned = k.ever && k.mrr == 0 && !k.paused;
        if (churned && !k.churned) k.churn_day = k.next;
        k.churned = churned;
        k.next = NextDay(k);
      }
    }
  }

  struct Customer {
    int32_t customer = 0;
    uint32_t movement = 0, movement_end = 0, pause = 0, pause_end = 0;  // cursors
    int64_t next = kNever;  // the day number of its next change
    int64_t mrr = 0;
    int64_t churn_day = kNever;  // the last day it became churned
    bool paused = false, ever = false, churned = false;
  };
  const std::vector<Customer>& customers() const { return customers_; }

  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
  static int64_t Number(absl::CivilDay day) { return day - absl::CivilDay(1970, 1, 1); }
  static absl::CivilDay Day(int64_t number) { return absl::CivilDay(1970, 1, 1) + number; }

 private:
  int64_t NextDay(const Customer& k) const {
    int64_t next = kNever;
    if (k.movement < k.movement_end) next = Number(movements_[k.movement].day);
    if (k.pause < k.pause_end) next = std::min(next, Number(pauses_[k.pause].day));
    return next;
  }

  const std::vector<Movement>& movements_;
  const std::vector<PauseChange>& pauses_;
  std::vector<Customer> customers_;
};

// A customer's health as the walk finds it: CustomerHealth without the civil-time
// conversion of its churn day, which only a listing needs.
struct Placed {
  int32_t customer = 0;
  HealthGroup group = HealthGroup::kNone;
  uint8_t reasons = 0;
  bool scored = false;
  int64_t mrr = 0;
  double score = 0;
  int64_t churn_day = StateWalker::kNever;  // day number
  CustomerHealth ToHealth() const {
    CustomerHealth h{.customer = customer, .group = group, .reasons = reasons, .mrr = mrr};
    if (scored) h.score = score;
    if (churn_day != StateWalker::kNever) h.churn_day = StateWalker::Day(churn_day);
    return h;
  }
};

// Calls `emit(d, placed)` for every customer that has ever paid by the end of each of
// `days` (ascending), in customer order within a day.
absl::Status WalkHealth(const HealthPolicy& policy, const EngagementModel* model,
                        const HealthInputs& in, const std::vector<absl::CivilDay>& days,
                        const std::function<bool()>& stop,
                        absl::FunctionRef<void(size_t, const Placed&)> emit) {
  StateWalker walker(*in.usage.movements, *in.pauses);
  std::vector<int32_t> paying;
  for (size_t d = 0; d < days.size(); ++d) {
    if (stop && stop()) return absl::CancelledError("health groups stopped");
    walker.AdvanceTo(days[d]);
    const int64_t day = StateWalker::Number(days[d]);
    paying.clear();
    for (const StateWalker::Customer& k : walker.customers()) {
      if (k.mrr > 0) paying.push_back(k.customer);
    }
    absl::StatusOr<EngagementScores> scores =
        ScoresOf(model, in.usage, days[d], paying, policy.inactive_days, stop);
    if (!scores.ok()) return scores.status();
    size_t next_score = 0;
    for (const StateWalker::Customer& k : walker.customers()) {
      if (!k.ever) continue;
      Placed h;
      h.customer = k.customer;
      h.mrr = k.mrr;
      if (k.churned) {
        h.churn_day = k.churn_day;
        if (day - k.churn_day < policy.lost_window_days) {
          h.group = HealthGroup::kLost;
          h.reasons = kReasonChurned;
        }
      } else if (k.mrr == 0) {  // ever paid, MRR 0, not churned: paused
        h.group = HealthGroup::kAtRisk;
        h.reasons = kReasonPaused;
      } else {
        const size_t i = next_score++;
        const double score = scores->score[i];
        if (model != nullptr) {
          h.scored = true;
          h.score = score;
          if (score < policy.at_risk_below) h.reasons |= kReasonLowScore;
        }
        if (scores->active[i] == 0) h.reasons |= kReasonInactive;
        if (h.reasons != 0) {
          h.group = HealthGroup::kAtRisk;
        } else if (model != nullptr && score >= policy.power_at_least) {
          h.group = HealthGroup::kPower;
          h.reasons = kReasonHighScore;
        } else {
          h.group = HealthGroup::kNormal;
        }
      }
      emit(d, h);
    }
  }
  return absl::OkStatus();
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
  std::vector<std::vector<CustomerHealth>> out(days.size());
  absl::Status s = WalkHealth(policy, model, in, days, stop,
                              [&](size_t d, const Placed& p) { out[d].push_back(p.ToHealth()); });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<HealthTransition>> HealthTransitions(
    const HealthPolicy& policy, const EngagementModel* model, const HealthInputs& in,
    absl::CivilDay first, absl::CivilDay last, const std::function<bool()>& stop) {
  std::vector<absl::CivilDay> days;
  for (absl::CivilDay d = first - 1; d <= last; ++d) days.push_back(d);
  std::vector<HealthGroup> group(in.usage.ledger_size, HealthGroup::kNone);
  std::vector<HealthTransition> out;
  absl::Status s = WalkHealth(policy, model, in, days, stop, [&](size_t d, const Placed& p) {
    if (d > 0 && group[p.customer] != p.group) {
      const CustomerHealth h = p.ToHealth();
      out.push_back({.day = days[d],
                     .customer = h.customer,
                     .from = group[p.customer],
                     .to = h.group,
                     .reasons = h.reasons,
                     .mrr = h.mrr,
                     .score = h.score});
    }
    group[p.customer] = p.group;
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<HealthPoint>> HealthSeries(
    const HealthPolicy& policy, const EngagementModel* model, const HealthInputs& in,
    const std::vector<Period>& periods, const std::function<bool()>& stop, const RunAll& run_all) {
  if (periods.empty()) return std::vector<HealthPoint>{};
  // The day before the first period, then each period's last day: point d − 1 is made at
  // day d from the groups at day d − 1.
  std::vector<absl::CivilDay> days = {periods.front().first - 1};
  for (const Period& p : periods) days.push_back(p.last);
  std::vector<HealthPoint> out(periods.size());
  for (size_t i = 0; i < periods.size(); ++i) out[i].period = periods[i];
  // Runs over days [first, last] (indices), the first only setting the groups moved from.
  auto run = [&](size_t first, size_t last) {
    const std::vector<absl::CivilDay> part(days.begin() + static_cast<ptrdiff_t>(first),
                                           days.begin() + static_cast<ptrdiff_t>(last) + 1);
    std::vector<HealthGroup> group(in.usage.ledger_size, HealthGroup::kNone);
    return WalkHealth(policy, model, in, part, stop, [&](size_t d, const Placed& h) {
      if (d > 0) {
        // Customers not emitted have never paid: they stay in none.
        HealthPoint& point = out[first + d - 1];
        const int to = static_cast<int>(h.group);
        ++point.customers[to];
        point.mrr[to] += h.mrr;
        const int from = static_cast<int>(group[h.customer]);
        if (from != to || h.group != HealthGroup::kNone) ++point.moved[from][to];
      }
      group[h.customer] = h.group;
    });
  };
  const size_t n = days.size();
  if (!run_all || n < 4) {
    if (absl::Status s = run(0, n - 1); !s.ok()) return s;
    return out;
  }
  const size_t middle = n / 2;  // the first run ends there, the second starts there
  absl::Status first_status, second_status;
  std::vector<std::function<void()>> tasks = {[&] { first_status = run(0, middle); },
                                              [&] { second_status = run(middle, n - 1); }};
  run_all(tasks);
  if (!first_status.ok()) return first_status;
  if (!second_status.ok()) return second_status;
  return out;
}

}  // namespace saasmetrics::engine
