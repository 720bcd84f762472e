#include "tests/engine/reference.h"

#include <map>
#include <set>

#include "server/engine/mrr.h"

namespace saasmetrics::reference {

CustomerState StateBefore(const std::vector<SubscriptionEvent>& events, const std::string& customer,
                          absl::Time t) {
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
    s.mrr += engine::StateMrr(*e);
    s.any_paused |= e->status == engine::SubscriptionStatus::kPaused;
  }
  return s;
}

std::vector<RefMovement> Movements(const std::vector<SubscriptionEvent>& events, absl::TimeZone tz,
                                   absl::CivilDay last_day) {
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
      CustomerState a = StateBefore(events, c, engine::DayStart(d, tz));
      CustomerState b = StateBefore(events, c, engine::DayStart(d + 1, tz));
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

}  // namespace saasmetrics::reference
