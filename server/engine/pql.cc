#include "server/engine/pql.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

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
    } else if (c.event_type.size() > kMaxEventTypeBytes) {
      out.push_back({at + ".event_type", absl::StrCat("must be at most ", kMaxEventTypeBytes,
                                                      " bytes, got ", c.event_type.size())});
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

// One matching event of one condition: what it adds to its customer's day.
struct Hit {
  int32_t customer;  // compact id of this call
  int32_t day;       // index from the first day of the trailing window
  int32_t condition;
  int32_t user;  // compact user id for distinct-user conditions, else -1
  double amount;
};

}  // namespace

std::vector<PqlPoint> CountPqls(const PqlRule& rule, const UsagePartitions& usage,
                                const std::vector<Movement>& movements, const Ledger& ledger,
                                const std::vector<Period>& periods, absl::TimeZone tz,
                                int conversion_window_days, const CustomerSet& selected) {
  std::vector<PqlPoint> out(periods.size());
  for (size_t p = 0; p < periods.size(); ++p) out[p].period = periods[p];
  if (periods.empty()) return out;
  const int n = static_cast<int>(rule.conditions.size());
  const int window = rule.window_days;
  const absl::CivilDay first_day = periods.front().first - (window - 1);
  const absl::CivilDay last_day = periods.back().last;
  const int days = static_cast<int>(last_day - first_day) + 1;
  std::vector<int64_t> day_start(days + 1);  // Unix seconds where each day begins
  for (int k = 0; k <= days; ++k) day_start[k] = absl::ToUnixSeconds(DayStart(first_day + k, tz));

  // Every event that feeds a condition, in partition and time order, with compact
  // customer and user ids (strings are hashed once per partition entry, not per event).
  absl::flat_hash_map<absl::string_view, int32_t> customer_index, user_index;
  std::vector<absl::string_view> names;
  std::vector<Hit> hits;
  for (const auto& part : usage) {
    std::vector<uint32_t> feeds(part->types.size(), 0);  // per local type: condition bits
    for (size_t t = 0; t < part->types.size(); ++t) {
      for (int c = 0; c < n; ++c) {
        const std::string& type = rule.conditions[c].event_type;
        if (type.empty() || type == part->types[t]) feeds[t] |= 1u << c;
      }
    }
    std::vector<int32_t> local_customer(part->customers.size(), -2);  // -2: not yet seen
    std::vector<int32_t> local_user(part->users.size(), -2);
    const int64_t month_start =
        absl::ToUnixSeconds(absl::FromCivil(part->month, absl::UTCTimeZone()));
    int k = 0;
    for (size_t i = 0; i < part->events(); ++i) {
      const uint32_t bits = feeds[part->type[i]];
      if (bits == 0) continue;
      const int64_t t = month_start + part->second[i];
      if (t < day_start[0] || t >= day_start[days]) continue;
      while (t >= day_start[k + 1]) ++k;  // events come in time order
      while (t < day_start[k]) --k;
      int32_t& customer = local_customer[part->customer[i]];
      if (customer == -2) {
        const absl::string_view name = part->customers[part->customer[i]];
        if (selected.has_value() && !selected->contains(name)) {
          customer = -1;
        } else {
          auto [it, added] = customer_index.try_emplace(name, static_cast<int32_t>(names.size()));
          if (added) names.push_back(name);
          customer = it->second;
        }
      }
      if (customer < 0) continue;
      for (int c = 0; c < n; ++c) {
        if (!(bits & (1u << c))) continue;
        const PqlCondition& cond = rule.conditions[c];
        Hit h{customer, k, c, -1, 1.0};
        if (cond.kind == PqlCondition::Kind::kValueSum) h.amount = part->value[i];
        if (cond.kind == PqlCondition::Kind::kDistinctUsers && part->user[i] >= 0) {
          int32_t& user = local_user[part->user[i]];
          if (user == -2) {
            user = user_index
                       .try_emplace(part->users[part->user[i]],
                                    static_cast<int32_t>(user_index.size()))
                       .first->second;
          }
          h.user = user;
        }
        hits.push_back(h);
      }
    }
  }
  // Hits grouped by customer, keeping their order (a stable counting sort).
  const size_t customers = names.size();
  std::vector<size_t> begin(customers + 1, 0);
  for (const Hit& h : hits) ++begin[h.customer + 1];
  for (size_t c = 0; c < customers; ++c) begin[c + 1] += begin[c];
  std::vector<Hit> by_customer(hits.size());
  {
    std::vector<size_t> next(begin.begin(), begin.end() - 1);
    for (const Hit& h : hits) by_customer[next[h.customer]++] = h;
  }
  // Each such customer's movements (they come ordered by customer, then day): every
  // ledger customer's range in one pass, then one lookup per customer with hits.
  std::vector<std::pair<size_t, size_t>> range(ledger.customer_ids.size(), {0, 0});
  for (size_t i = 0; i < movements.size();) {
    size_t j = i;
    while (j < movements.size() && movements[j].customer == movements[i].customer) ++j;
    range[movements[i].customer] = {i, j};
    i = j;
  }
  std::vector<std::pair<size_t, size_t>> moves(customers, {0, 0});
  for (size_t c = 0; c < customers; ++c) {
    auto it = ledger.customer_index.find(names[c]);
    if (it != ledger.customer_index.end()) moves[c] = range[it->second];
  }
  std::vector<int> period_of_day(days, -1);
  for (size_t p = 0; p < periods.size(); ++p) {
    for (absl::CivilDay d = periods[p].first; d <= periods[p].last; ++d) {
      period_of_day[d - first_day] = static_cast<int>(p);
    }
  }

  // Per customer: per-day sums, then one pass over the days with the trailing window —
  // only the days whose window holds one of its hits (from its first hit's day to its
  // last's plus the window; elsewhere nothing can qualify), and the per-day arrays are
  // cleared where its hits wrote, so a customer costs its hits and that span, not every
  // day of the query.
  std::vector<double> amount(static_cast<size_t>(n) * days);
  std::vector<int> any(days);
  std::vector<absl::flat_hash_map<int32_t, int>> in_window(n);  // user → hits in window
  std::vector<std::vector<int32_t>> users_on(static_cast<size_t>(n) * days);
  std::vector<std::optional<absl::CivilDay>> first_qualifying(periods.size());
  // Event counts in the window, slid day by day: whole numbers, so exact in a double
  // whatever the order (a value sum is added up afresh, oldest day first).
  std::vector<double> count_in_window(n);
  for (size_t c = 0; c < customers; ++c) {
    if (begin[c] == begin[c + 1]) continue;
    std::fill(count_in_window.begin(), count_in_window.end(), 0.0);
    for (auto& m : in_window) m.clear();
    std::fill(first_qualifying.begin(), first_qualifying.end(), std::nullopt);
    int first_hit = days, last_hit = -1;
    for (size_t h = begin[c]; h < begin[c + 1]; ++h) {
      const Hit& hit = by_customer[h];
      const size_t at = static_cast<size_t>(hit.condition) * days + hit.day;
      amount[at] += hit.amount;
      ++any[hit.day];
      if (hit.user >= 0) users_on[at].push_back(hit.user);
      first_hit = std::min(first_hit, hit.day);
      last_hit = std::max(last_hit, hit.day);
    }
    const int span_end = std::min(days, last_hit + window);  // exclusive
    const auto [move_begin, move_end] = moves[c];
    size_t move = move_begin;
    int64_t mrr = 0;  // at the end of the day looked at
    int any_in_window = 0;
    for (int d = first_hit; d < span_end; ++d) {
      // Slide the window to d-W+1..d.
      any_in_window += any[d];
      if (d >= window) any_in_window -= any[d - window];
      for (int k = 0; k < n; ++k) {
        if (rule.conditions[k].kind == PqlCondition::Kind::kEventCount) {
          count_in_window[k] += amount[static_cast<size_t>(k) * days + d];
          if (d >= window) count_in_window[k] -= amount[static_cast<size_t>(k) * days + d - window];
        }
        for (int32_t u : users_on[static_cast<size_t>(k) * days + d]) ++in_window[k][u];
        if (d >= window) {
          for (int32_t u : users_on[static_cast<size_t>(k) * days + d - window]) {
            auto it = in_window[k].find(u);
            if (--it->second == 0) in_window[k].erase(it);
          }
        }
      }
      const int p = period_of_day[d];
      if (p < 0 || first_qualifying[p] || any_in_window == 0) continue;
      double score = 0;
      bool all = true;
      for (int k = 0; k < n; ++k) {
        const PqlCondition& cond = rule.conditions[k];
        double value = 0;
        if (cond.kind == PqlCondition::Kind::kDistinctUsers) {
          value = static_cast<double>(in_window[k].size());
        } else if (cond.kind == PqlCondition::Kind::kEventCount) {
          value = count_in_window[k];
        } else {  // summed day by day, oldest first, as the definition reads
          for (int w = d - window + 1; w <= d; ++w) {
            value += amount[static_cast<size_t>(k) * days + w];
          }
        }
        const bool holds = value >= cond.threshold;
        all = all && holds;
        if (holds) score += cond.weight;
      }
      if (!(rule.score_threshold ? score >= *rule.score_threshold : all)) continue;
      const absl::CivilDay day = first_day + d;
      while (move < move_end && movements[move].day <= day) mrr = movements[move++].after;
      if (mrr <= 0) first_qualifying[p] = day;
    }
    for (size_t h = begin[c]; h < begin[c + 1]; ++h) {  // clear what this customer wrote
      const Hit& hit = by_customer[h];
      const size_t at = static_cast<size_t>(hit.condition) * days + hit.day;
      amount[at] = 0;
      any[hit.day] = 0;
      users_on[at].clear();
    }
    for (size_t p = 0; p < periods.size(); ++p) {
      if (!first_qualifying[p]) continue;
      ++out[p].pqls;
      for (size_t m = move_begin; m < move_end; ++m) {
        const Movement& mv = movements[m];
        if (mv.type == MovementType::kNewBusiness && mv.day >= *first_qualifying[p] &&
            mv.day <= *first_qualifying[p] + conversion_window_days) {
          ++out[p].conversions;
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace saasmetrics::engine
