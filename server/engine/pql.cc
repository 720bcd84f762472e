#include "server/engine/pql.h"

#include <cmath>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace saasmetrics::engine {

void ValidatePqlRule(const PqlRule& rule, absl::string_view prefix, Violations& out) {
  auto path = [&](absl::string_view f) { return absl::StrCat(prefix, ".", f); };
  if (rule.window_days < 1 || rule.window_days > 365) {
    out.push_back(
        {path("window_days"), absl::StrCat("must be between 1 and 365, got ", rule.window_days)});
  }
  if (rule.conditions.empty() || rule.conditions.size() > 20) {
    out.push_back({path("conditions"), "must have between 1 and 20 conditions"});
  }
  for (size_t i = 0; i < rule.conditions.size(); ++i) {
    const PqlCondition& c = rule.conditions[i];
    const std::string at = path(absl::StrCat("conditions[", i, "]"));
    const int kind = static_cast<int>(c.kind);
    if (kind < 1 || kind > 3) {
      out.push_back({at + ".kind", absl::StrCat("is required (EVENT_COUNT, VALUE_SUM or "
                                                "DISTINCT_USERS), got ",
                                                kind)});
    }
    if (c.event_type.empty() && c.kind != PqlCondition::Kind::kDistinctUsers) {
      out.push_back({at + ".event_type", "must not be empty"});
    }
    if (!std::isfinite(c.threshold) || c.threshold < 0) {
      out.push_back({at + ".threshold", "must be a finite number >= 0"});
    }
    if (!std::isfinite(c.weight) || c.weight < 0) {
      out.push_back({at + ".weight", "must be a finite number >= 0"});
    }
  }
  if (rule.score_threshold &&
      (!std::isfinite(*rule.score_threshold) || *rule.score_threshold <= 0)) {
    out.push_back({path("score_threshold"), "must be a finite number > 0"});
  }
}

std::optional<double> PqlPoint::conversion_rate() const {
  if (pqls == 0) return std::nullopt;
  return static_cast<double>(conversions) / static_cast<double>(pqls);
}

namespace {

// One customer's usage per local day: per condition, the count or sum, and for
// distinct-user conditions the users seen.
struct DayUsage {
  std::vector<double> amount;                           // per condition
  std::vector<absl::flat_hash_set<std::string>> users;  // per condition
};

}  // namespace

std::vector<PqlPoint> CountPqls(const PqlRule& rule, const UsagePartitions& usage,
                                const std::vector<Movement>& movements,
                                const std::vector<std::string>& customer_ids,
                                const std::vector<Period>& periods, absl::TimeZone tz,
                                int conversion_window_days, const CustomerSet& selected) {
  std::vector<PqlPoint> out(periods.size());
  for (size_t p = 0; p < periods.size(); ++p) out[p].period = periods[p];
  if (periods.empty()) return out;
  const size_t n = rule.conditions.size();
  const absl::CivilDay first_day = periods.front().first - (rule.window_days - 1);
  const absl::CivilDay last_day = periods.back().last;

  // Keyed by views into the partitions' dictionaries, which outlive this call.
  struct CustomerUsage {
    std::map<absl::CivilDay, DayUsage> days;
    std::vector<const Movement*> moves;
  };
  absl::flat_hash_map<absl::string_view, CustomerUsage> per_customer;
  for (const auto& part : usage) {
    for (size_t i = 0; i < part->events(); ++i) {
      const absl::string_view customer = part->customers[part->customer[i]];
      if (selected.has_value() && !selected->contains(customer)) continue;
      const absl::CivilDay day = absl::ToCivilDay(part->time(i), tz);
      if (day < first_day || day > last_day) continue;
      const absl::string_view type = part->types[part->type[i]];
      DayUsage* d = nullptr;
      for (size_t c = 0; c < n; ++c) {
        const PqlCondition& cond = rule.conditions[c];
        if (!cond.event_type.empty() && cond.event_type != type) continue;
        if (d == nullptr) {
          d = &per_customer[customer].days[day];
          if (d->amount.empty()) {
            d->amount.assign(n, 0);
            d->users.resize(n);
          }
        }
        switch (cond.kind) {
          case PqlCondition::Kind::kEventCount:
            d->amount[c] += 1;
            break;
          case PqlCondition::Kind::kValueSum:
            d->amount[c] += part->value[i];
            break;
          case PqlCondition::Kind::kDistinctUsers:
            if (part->user[i] >= 0) d->users[c].insert(std::string(part->users[part->user[i]]));
            break;
        }
      }
    }
  }
  // Per customer: (day, MRR after) of its movements, and its new-business days.
  // Only the customers with usage in the window need their movements: one lookup per
  // run of a customer's movements (they come ordered by customer), no copies.
  CustomerUsage* current = nullptr;
  int last_customer = -1;
  for (const Movement& m : movements) {
    if (static_cast<int>(m.customer) != last_customer) {
      last_customer = static_cast<int>(m.customer);
      auto it = per_customer.find(absl::string_view(customer_ids[m.customer]));
      current = it == per_customer.end() ? nullptr : &it->second;
    }
    if (current != nullptr) current->moves.push_back(&m);
  }

  for (const auto& [customer, usage_of] : per_customer) {
    const std::map<absl::CivilDay, DayUsage>& days = usage_of.days;
    const std::vector<const Movement*>& mv = usage_of.moves;
    auto paying_at_end = [&](absl::CivilDay d) {
      int64_t mrr = 0;
      for (const Movement* m : mv) {
        if (m->day > d) break;
        mrr = m->after;
      }
      return mrr > 0;
    };
    for (size_t p = 0; p < periods.size(); ++p) {
      std::optional<absl::CivilDay> first_qualifying;
      for (absl::CivilDay d = periods[p].first; d <= periods[p].last && !first_qualifying; ++d) {
        // Only days with usage in the window can qualify: skip quickly when there is none.
        auto lo = days.lower_bound(d - (rule.window_days - 1));
        auto hi = days.upper_bound(d);
        if (lo == hi) continue;
        std::vector<double> amount(n, 0);
        std::vector<absl::flat_hash_set<std::string>> users(n);
        for (auto it = lo; it != hi; ++it) {
          for (size_t c = 0; c < n; ++c) {
            amount[c] += it->second.amount[c];
            users[c].insert(it->second.users[c].begin(), it->second.users[c].end());
          }
        }
        double score = 0;
        bool all = true;
        for (size_t c = 0; c < n; ++c) {
          const PqlCondition& cond = rule.conditions[c];
          const double value = cond.kind == PqlCondition::Kind::kDistinctUsers
                                   ? static_cast<double>(users[c].size())
                                   : amount[c];
          const bool holds = value >= cond.threshold;
          all = all && holds;
          if (holds) score += cond.weight;
        }
        const bool qualifies = rule.score_threshold ? score >= *rule.score_threshold : all;
        if (qualifies && !paying_at_end(d)) first_qualifying = d;
      }
      if (!first_qualifying) continue;
      ++out[p].pqls;
      for (const Movement* m : mv) {
        if (m->type == MovementType::kNewBusiness && m->day >= *first_qualifying &&
            m->day <= *first_qualifying + conversion_window_days) {
          ++out[p].conversions;
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace saasmetrics::engine
