#include "tests/engine/reference.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "server/engine/mrr.h"

namespace saasmetrics::reference {

CustomerState StateBefore(const std::vector<SubscriptionEvent>& events, const std::string& customer,
                          absl::Time t, const MrrOf& mrr_of) {
  std::map<std::string, const SubscriptionEvent*> latest;
  for (const SubscriptionEvent& e : events) {
    if (e.customer_id != customer || e.effective_at >= t) continue;
    const SubscriptionEvent*& cur = latest[e.subscription_id];
    if (cur == nullptr || e.effective_at > cur->effective_at ||
        (e.effective_at == cur->effective_at && e.seq > cur->seq)) {
      cur = &e;
    }
  }
  CustomerState s;
  for (const auto& [id, e] : latest) {
    s.mrr += mrr_of ? mrr_of(*e) : engine::StateMrr(*e);
    s.any_paused |= e->status == engine::SubscriptionStatus::kPaused;
  }
  return s;
}

std::vector<RefMovement> Movements(const std::vector<SubscriptionEvent>& events, absl::TimeZone tz,
                                   absl::CivilDay last_day, const MrrOf& mrr_of) {
  std::set<std::string> customers;
  absl::CivilDay first = last_day;
  for (const auto& e : events) {
    customers.insert(e.customer_id);
    first = std::min(first, absl::ToCivilDay(e.effective_at, tz));
  }
  std::vector<RefMovement> out;
  for (const std::string& c : customers) {
    bool paid_before = false;
    for (absl::CivilDay d = first; d <= last_day; ++d) {
      CustomerState a = StateBefore(events, c, engine::DayStart(d, tz), mrr_of);
      CustomerState b = StateBefore(events, c, engine::DayStart(d + 1, tz), mrr_of);
      if (a.mrr != b.mrr) {
        engine::MovementType type;
        if (a.mrr == 0 && b.mrr > 0) {
          type = !paid_before   ? engine::MovementType::kNewBusiness
                 : a.any_paused ? engine::MovementType::kExpansion
                                : engine::MovementType::kReactivation;
        } else if (a.mrr > 0 && b.mrr == 0) {
          type = b.any_paused ? engine::MovementType::kContraction : engine::MovementType::kChurn;
        } else if (b.mrr > a.mrr) {
          type = engine::MovementType::kExpansion;
        } else {
          type = engine::MovementType::kContraction;
        }
        out.push_back({d, c, type, b.mrr - a.mrr});
      }
      if (b.mrr > 0) paid_before = true;
    }
  }
  return out;
}

std::vector<RefPeriod> Series(const std::vector<SubscriptionEvent>& events, absl::TimeZone tz,
                              const std::vector<engine::Period>& periods) {
  std::set<std::string> customers;
  for (const auto& e : events) customers.insert(e.customer_id);
  const std::vector<RefMovement> movements = Movements(events, tz, periods.back().last);
  std::vector<RefPeriod> out;
  for (const engine::Period& p : periods) {
    RefPeriod r;
    for (const std::string& c : customers) {
      const int64_t s = StateBefore(events, c, engine::DayStart(p.first, tz)).mrr;
      const CustomerState end = StateBefore(events, c, engine::DayStart(p.last + 1, tz));
      const int64_t e = end.mrr;
      r.mrr_start += s;
      r.mrr_end += e;
      r.paying_end += e > 0;
      if (s > 0) {
        ++r.customers_at_start;
        // Paying at s, so it had MRR before: at MRR 0 with a paused subscription it is
        // paused, not churned.
        r.churned += e == 0 && !end.any_paused;
        r.retained += e;
        r.floor += std::min(s, e);
      }
    }
    for (const RefMovement& m : movements) {
      if (m.day < p.first || m.day > p.last) continue;
      engine::Movement em;
      em.type = m.type;
      em.amount = m.amount;
      r.movements.Add(em);
    }
    out.push_back(r);
  }
  return out;
}

// The slow way: for each customer paying at the end of `day` (replaying its subscription
// events), read every raw event once per component.
std::map<std::string, std::vector<double>> EngagementX(
    const engine::EngagementModel& model, const std::vector<engine::UsageEvent>& events,
    const std::vector<SubscriptionEvent>& subs, absl::TimeZone tz, absl::CivilDay day) {
  std::set<std::string> customers;
  for (const auto& s : subs) customers.insert(s.customer_id);
  const absl::Time from = absl::FromCivil(day - (model.window_days - 1), tz);
  const absl::Time until = absl::FromCivil(day + 1, tz);
  std::map<std::string, std::vector<double>> out;
  for (const std::string& c : customers) {
    if (StateBefore(subs, c, until).mrr <= 0) continue;
    std::vector<double>& x = out[c];
    for (const engine::EngagementComponent& comp : model.components) {
      double v = 0;
      std::set<absl::CivilDay> days;
      std::set<std::string> users;
      for (const engine::UsageEvent& e : events) {
        if (e.customer_id != c || e.time < from || e.time >= until) continue;
        if (!comp.event_types.empty() && std::find(comp.event_types.begin(), comp.event_types.end(),
                                                   e.type) == comp.event_types.end()) {
          continue;
        }
        if (comp.aggregation == engine::EngagementComponent::Aggregation::kCount) v += 1;
        if (comp.aggregation == engine::EngagementComponent::Aggregation::kValueSum) v += e.value;
        if (comp.aggregation == engine::EngagementComponent::Aggregation::kActiveDays)
          days.insert(absl::ToCivilDay(e.time, tz));
        if (comp.aggregation == engine::EngagementComponent::Aggregation::kDistinctUsers &&
            !e.user_id.empty())
          users.insert(e.user_id);
      }
      if (comp.aggregation == engine::EngagementComponent::Aggregation::kActiveDays)
        v = static_cast<double>(days.size());
      if (comp.aggregation == engine::EngagementComponent::Aggregation::kDistinctUsers)
        v = static_cast<double>(users.size());
      x.push_back(v);
    }
  }
  return out;
}

double EngagementScore(const engine::EngagementModel& model, const std::vector<double>& x) {
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const auto& c = model.components[i];
    num += c.weight * (x[i] >= c.target ? 1.0 : x[i] / c.target);
    if (c.weight > 0) den += c.weight;
  }
  const double s = 100 * num / den;
  return s < 0 ? 0 : s > 100 ? 100 : s;
}

std::map<std::string, RefHealth> Health(const engine::HealthPolicy& policy,
                                        const engine::EngagementModel* model,
                                        const std::vector<engine::UsageEvent>& events,
                                        const std::vector<SubscriptionEvent>& subs,
                                        absl::TimeZone tz, absl::CivilDay day) {
  std::set<std::string> customers;
  absl::CivilDay first = day;
  for (const auto& e : subs) {
    customers.insert(e.customer_id);
    first = std::min(first, absl::ToCivilDay(e.effective_at, tz));
  }
  const std::map<std::string, std::vector<double>> x =
      model != nullptr ? EngagementX(*model, events, subs, tz, day)
                       : std::map<std::string, std::vector<double>>{};
  std::map<std::string, RefHealth> out;
  for (const std::string& c : customers) {
    bool paid = false;
    enum { kNever, kPaying, kPaused, kChurned } state = kNever;
    std::optional<absl::CivilDay> churn_day;
    int64_t mrr = 0;
    for (absl::CivilDay d = first; d <= day; ++d) {
      const CustomerState s = StateBefore(subs, c, engine::DayStart(d + 1, tz));
      paid |= s.mrr > 0;
      const auto was = state;
      state = !paid ? kNever : s.mrr > 0 ? kPaying : s.any_paused ? kPaused : kChurned;
      if (state == kChurned && (was == kPaying || was == kPaused)) churn_day = d;
      mrr = s.mrr;
    }
    if (state == kNever) continue;
    RefHealth& h = out[c];
    h.mrr = mrr;
    if (state == kChurned) {
      if (day - *churn_day < policy.lost_window_days) {
        h.group = "lost";
        h.reasons = {"churned"};
      } else {
        h.group = "none";
      }
      continue;
    }
    if (state == kPaused) {
      h.group = "at_risk";
      h.reasons = {"paused"};
      continue;
    }
    if (model != nullptr) {
      h.score = EngagementScore(*model, x.at(c));
      if (*h.score < policy.at_risk_below) h.reasons.push_back("low_score");
    }
    const absl::Time from = engine::DayStart(day - (policy.inactive_days - 1), tz);
    const absl::Time until = engine::DayStart(day + 1, tz);
    bool active = false;
    for (const engine::UsageEvent& e : events) {
      active |= e.customer_id == c && e.time >= from && e.time < until;
    }
    if (!active) h.reasons.push_back("inactive");
    if (!h.reasons.empty()) {
      h.group = "at_risk";
    } else if (h.score.has_value() && *h.score >= policy.power_at_least) {
      h.group = "power";
      h.reasons = {"high_score"};
    } else {
      h.group = "normal";
    }
  }
  return out;
}

namespace {

// A term's nominal length in days as a fraction {numerator, denominator}; {0, 1}: none.
std::pair<int64_t, int64_t> NominalDays(engine::IntervalUnit unit, int64_t count) {
  switch (unit) {
    case engine::IntervalUnit::kDay:
      return {count, 1};
    case engine::IntervalUnit::kWeek:
      return {7 * count, 1};
    case engine::IntervalUnit::kMonth:
      return {365 * count, 12};
    case engine::IntervalUnit::kYear:
      return {365 * count, 1};
    default:
      return {0, 1};
  }
}

int Compare(std::pair<int64_t, int64_t> a, std::pair<int64_t, int64_t> b) {
  const int64_t l = a.first * b.second, r = b.first * a.second;
  return l < r ? -1 : l > r ? 1 : 0;
}

bool IsRenewalDate(absl::CivilDay anchor, engine::IntervalUnit unit, int64_t count,
                   absl::CivilDay d) {
  for (int64_t k = 1;; ++k) {
    absl::CivilDay date;
    if (unit == engine::IntervalUnit::kDay || unit == engine::IntervalUnit::kWeek) {
      date = anchor + k * count * (unit == engine::IntervalUnit::kWeek ? 7 : 1);
    } else {
      const int64_t months = k * count * (unit == engine::IntervalUnit::kYear ? 12 : 1);
      const absl::CivilMonth m = absl::CivilMonth(anchor) + months;
      int last = 28;
      while (absl::CivilDay(m.year(), m.month(), last + 1).month() == m.month()) ++last;
      date = absl::CivilDay(m.year(), m.month(), std::min(anchor.day(), last));
    }
    if (date == d) return true;
    if (date > d) return false;
  }
}

}  // namespace

std::vector<RefRenewals> Renewals(const std::vector<SubscriptionEvent>& events, absl::TimeZone tz,
                                  const std::vector<engine::Period>& periods,
                                  engine::IntervalUnit min_unit, int64_t min_count) {
  std::vector<RefRenewals> out(periods.size());
  std::map<std::pair<std::string, std::string>, std::vector<const SubscriptionEvent*>> subs;
  for (const SubscriptionEvent& e : events) subs[{e.customer_id, e.subscription_id}].push_back(&e);
  for (auto& [key, list] : subs) {
    std::sort(list.begin(), list.end(), [](const SubscriptionEvent* a, const SubscriptionEvent* b) {
      return std::tie(a->effective_at, a->seq) < std::tie(b->effective_at, b->seq);
    });
  }
  // Per (period, customer): whether every pair renewed, Σ start and Σ end MRR.
  struct CustomerCell {
    bool all = true;
    int64_t start = 0, end = 0;
  };
  for (size_t p = 0; p < periods.size(); ++p) {
    std::map<std::string, CustomerCell> customers;
    for (absl::CivilDay d = periods[p].first; d <= periods[p].last; ++d) {
      const absl::Time start = engine::DayStart(d, tz), end = engine::DayStart(d + 1, tz);
      for (const auto& [key, list] : subs) {
        const SubscriptionEvent* before = nullptr;
        const SubscriptionEvent* after = nullptr;
        absl::CivilDay anchor;
        for (const SubscriptionEvent* e : list) {
          if (e->effective_at >= end) break;
          if (e->effective_at < start) {
            const bool was_paying = before != nullptr && engine::StateMrr(*before) > 0;
            const bool term_changed =
                before != nullptr &&
                Compare(NominalDays(before->interval_unit, before->interval_count),
                        NominalDays(e->interval_unit, e->interval_count)) != 0;
            if ((!was_paying && engine::StateMrr(*e) > 0) || term_changed) {
              anchor = absl::ToCivilDay(e->effective_at, tz);
            }
            before = e;
          }
          after = e;
        }
        if (before == nullptr || engine::StateMrr(*before) <= 0) continue;
        const auto nominal = NominalDays(before->interval_unit, before->interval_count);
        if (nominal.first == 0 || Compare(nominal, NominalDays(min_unit, min_count)) < 0) continue;
        if (!IsRenewalDate(anchor, before->interval_unit, before->interval_count, d)) continue;
        const int64_t s = engine::StateMrr(*before), t = engine::StateMrr(*after);
        RefRenewalCounts& c = out[p].subscriptions;
        ++c.up;
        c.mrr_up += s;
        if (t > 0) {
          ++c.renewed;
          c.mrr_renewed += t;
        }
        CustomerCell& cell = customers[key.first];
        cell.all = cell.all && t > 0;
        cell.start += s;
        cell.end += t;
      }
    }
    for (const auto& [customer, cell] : customers) {
      RefRenewalCounts& c = out[p].customers;
      ++c.up;
      c.mrr_up += cell.start;
      if (cell.all) {
        ++c.renewed;
        c.mrr_renewed += cell.end;
      }
    }
  }
  return out;
}

}  // namespace saasmetrics::reference
