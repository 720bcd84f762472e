#include "server/engine/health.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "server/engine/dates.h"
#include "server/engine/tenant.h"

namespace saasmetrics::engine {
namespace {

// Every customer's state at the end of a day, walked forward day by day (ascending). The
// history up to the first day is applied at construction, customer by customer in one
// sequential pass; what changes after it is kept as one list ordered by day, so a later
// day costs only its own changes. The states are arrays by position (customer order): a
// day's passes over every customer read a few compact columns.
class StateWalker {
 public:
  enum Flag : uint8_t { kPaused = 1, kEver = 2, kChurned = 4 };
  static constexpr int32_t kNever = std::numeric_limits<int32_t>::max();

  StateWalker(const std::vector<Movement>& movements, const std::vector<PauseChange>& pauses,
              absl::CivilDay first) {
    size_t j = 0;
    for (size_t i = 0; i < movements.size();) {
      const int32_t c = movements[i].customer;
      const int32_t at = static_cast<int32_t>(customer.size());
      customer.push_back(c);
      mrr.push_back(0);
      churn_day.push_back(kNever);
      flags.push_back(0);
      while (j < pauses.size() && pauses[j].customer < c) ++j;
      // Merge the customer's movements and pause changes by day: each day up to `first`
      // is applied now, each later one becomes a change.
      for (;;) {
        const bool movement = i < movements.size() && movements[i].customer == c;
        const bool pause = j < pauses.size() && pauses[j].customer == c;
        if (!movement && !pause) break;
        const absl::CivilDay day = !pause      ? movements[i].day
                                   : !movement ? pauses[j].day
                                               : std::min(movements[i].day, pauses[j].day);
        if (day > first) break;
        for (; i < movements.size() && movements[i].customer == c && movements[i].day == day; ++i) {
          mrr[at] = movements[i].after;
        }
        for (; j < pauses.size() && pauses[j].customer == c && pauses[j].day == day; ++j) {
          SetPaused(at, pauses[j].paused);
        }
        Settle(at, day);
      }
      for (; i < movements.size() && movements[i].customer == c; ++i) {
        changes_.push_back({.day = Number(movements[i].day), .at = at, .mrr = movements[i].after});
      }
      for (; j < pauses.size() && pauses[j].customer == c; ++j) {
        changes_.push_back({.day = Number(pauses[j].day),
                            .at = at,
                            .paused = static_cast<int8_t>(pauses[j].paused ? 1 : 0)});
      }
    }
    // By day; within a day, by customer, a customer's movements before its pause changes
    // (a counting sort, stable: ingest keeps days within a few centuries).
    if (changes_.empty()) return;
    int32_t lo = changes_[0].day, hi = lo;
    for (const Change& c : changes_) {
      lo = std::min(lo, c.day);
      hi = std::max(hi, c.day);
    }
    if (static_cast<int64_t>(hi) - lo > (int64_t{1} << 20)) {
      std::stable_sort(changes_.begin(), changes_.end(),
                       [](const Change& a, const Change& b) { return a.day < b.day; });
      return;
    }
    std::vector<uint32_t> start(static_cast<size_t>(hi - lo) + 2, 0);
    for (const Change& c : changes_) ++start[static_cast<size_t>(c.day - lo) + 1];
    for (size_t d = 1; d < start.size(); ++d) start[d] += start[d - 1];
    std::vector<Change> sorted(changes_.size());
    for (const Change& c : changes_) sorted[start[static_cast<size_t>(c.day - lo)]++] = c;
    changes_ = std::move(sorted);
  }

  // Brings every customer to the end of `day` (not before the last day asked).
  void AdvanceTo(absl::CivilDay day) {
    const int32_t n = Number(day);
    while (next_ < changes_.size() && changes_[next_].day <= n) {
      const Change& first = changes_[next_];
      for (; next_ < changes_.size() && changes_[next_].day == first.day &&
             changes_[next_].at == first.at;
           ++next_) {
        const Change& c = changes_[next_];
        if (c.paused < 0) {
          mrr[c.at] = c.mrr;
        } else {
          SetPaused(c.at, c.paused != 0);
        }
      }
      Settle(first.at, first.day);
    }
  }

  size_t size() const { return customer.size(); }

  static int32_t Number(absl::CivilDay day) {
    return static_cast<int32_t>(day - absl::CivilDay(1970, 1, 1));
  }
  static absl::CivilDay Day(int32_t number) { return absl::CivilDay(1970, 1, 1) + number; }

  // By position: the ledger id, the MRR at the end of the day, the last day it became
  // churned (kNever: never), and its flags.
  std::vector<int32_t> customer;
  std::vector<int64_t> mrr;
  std::vector<int32_t> churn_day;
  std::vector<uint8_t> flags;

 private:
  struct Change {
    int32_t day = 0;  // day number
    int32_t at = 0;   // position
    int64_t mrr = 0;
    int8_t paused = -1;  // -1: an MRR change; 0/1: a pause change
  };

  void SetPaused(int32_t at, bool paused) {
    flags[at] = static_cast<uint8_t>(paused ? flags[at] | kPaused : flags[at] & ~kPaused);
  }
  // The end of a day with changes: ever paid, and churned (since when).
  void Settle(int32_t at, absl::CivilDay day) { Settle(at, Number(day)); }
  void Settle(int32_t at, int32_t day) {
    uint8_t f = flags[at];
    if (mrr[at] > 0) f |= kEver;
    const bool churned = (f & kEver) != 0 && mrr[at] == 0 && (f & kPaused) == 0;
    if (churned && (f & kChurned) == 0) churn_day[at] = day;
    f = static_cast<uint8_t>(churned ? f | kChurned : f & ~kChurned);
    flags[at] = f;
  }

  std::vector<Change> changes_;
  size_t next_ = 0;
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
  int32_t churn_day = StateWalker::kNever;  // day number
  CustomerHealth ToHealth() const {
    CustomerHealth h{.customer = customer, .group = group, .reasons = reasons, .mrr = mrr};
    if (scored) h.score = score;
    if (churn_day != StateWalker::kNever) h.churn_day = StateWalker::Day(churn_day);
    return h;
  }
};

// Calls `emit(d, placed)` for every customer that has ever paid by the end of each of
// `days` (ascending), in customer order within a day.
template <typename Emit>
absl::Status WalkHealth(const HealthPolicy& policy, const EngagementModel* model,
                        const HealthInputs& in, const std::vector<absl::CivilDay>& days,
                        const std::function<bool()>& stop, Emit&& emit) {
  if (days.empty()) return absl::OkStatus();
  StateWalker walker(*in.usage.movements, *in.pauses, days.front());
  std::vector<int32_t> paying;
  for (size_t d = 0; d < days.size(); ++d) {
    if (stop && stop()) return absl::CancelledError("health groups stopped");
    // The day's customers at risk by the churn model (ascending: read in customer order).
    const std::vector<int32_t>* at_risk = nullptr;
    if (in.risk != nullptr) {
      const auto it = std::lower_bound(in.risk->days.begin(), in.risk->days.end(), days[d]);
      if (it == in.risk->days.end() || *it != days[d]) {
        return absl::InternalError(absl::StrCat("no churn risk for ", FormatIsoDate(days[d])));
      }
      at_risk = &in.risk->at_risk[static_cast<size_t>(it - in.risk->days.begin())];
    }
    size_t next_risk = 0;
    walker.AdvanceTo(days[d]);
    const int32_t day = StateWalker::Number(days[d]);
    paying.clear();
    for (size_t i = 0; i < walker.size(); ++i) {
      if (walker.mrr[i] > 0) paying.push_back(walker.customer[i]);
    }
    absl::StatusOr<EngagementScores> scores =
        ScoresOf(model, in.usage, days[d], paying, policy.inactive_days, stop);
    if (!scores.ok()) return scores.status();
    size_t next_score = 0;
    for (size_t i = 0; i < walker.size(); ++i) {
      const uint8_t flags = walker.flags[i];
      if ((flags & StateWalker::kEver) == 0) continue;
      Placed h;
      h.customer = walker.customer[i];
      h.mrr = walker.mrr[i];
      if ((flags & StateWalker::kChurned) != 0) {
        h.churn_day = walker.churn_day[i];
        if (day - h.churn_day < policy.lost_window_days) {
          h.group = HealthGroup::kLost;
          h.reasons = kReasonChurned;
        }
      } else if (h.mrr == 0) {  // ever paid, MRR 0, not churned: paused
        h.group = HealthGroup::kAtRisk;
        h.reasons = kReasonPaused;
      } else {
        const size_t s = next_score++;
        const double score = scores->score[s];
        if (model != nullptr) {
          h.scored = true;
          h.score = score;
          if (score < policy.at_risk_below) h.reasons |= kReasonLowScore;
        }
        if (scores->active[s] == 0) h.reasons |= kReasonInactive;
        if (at_risk != nullptr) {
          while (next_risk < at_risk->size() && (*at_risk)[next_risk] < h.customer) ++next_risk;
          if (next_risk < at_risk->size() && (*at_risk)[next_risk] == h.customer) {
            h.reasons |= kReasonChurnRisk;
          }
        }
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
