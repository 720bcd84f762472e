#include "server/engine/pql.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/engine/dates.h"

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

// One matching event of one condition. 8 bytes: the hits are written once and read
// twice per count. What it adds to its customer's day (its amount) is kept beside it only
// for rules that have amounts other than 1 (see CountPqls).
struct Hit {
  int32_t customer;    // dense id of the usage index
  uint16_t day;        // index from the first day of the trailing window
  uint16_t condition;  // index into the rule's conditions
};
constexpr int kMaxHitDays = std::numeric_limits<uint16_t>::max();

// How often (in customers) the per-customer pass polls `stop`.
constexpr size_t kStopEvery = 4096;

// The first of `moves` (one customer's, in day order) after the day `key` (a DayKey).
size_t FirstMoveAfter(std::span<const Movement> moves, int64_t key) {
  return std::partition_point(moves.begin(), moves.end(),
                              [&](const Movement& m) { return DayKey(m.day) <= key; }) -
         moves.begin();
}

// Whether MRR is above zero at the end of every day of [from, to] (DayKeys). `moves`: one
// customer's movements in day order (before the first, MRR is zero). Several on one day
// count as not paying when any of them ends at zero: a cautious answer, never a wrong skip.
bool PaysThroughout(std::span<const Movement> moves, int64_t from, int64_t to) {
  size_t i = FirstMoveAfter(moves, from);
  if (i == 0 || moves[i - 1].after <= 0) return false;
  for (; i < moves.size() && DayKey(moves[i].day) <= to; ++i) {
    if (moves[i].after <= 0) return false;
  }
  return true;
}

}  // namespace

std::vector<int32_t> LinkToLedger(const UsageIndex& index, const Ledger& ledger) {
  const std::vector<std::string>& ids = index.customer_ids();
  std::vector<int32_t> out(ids.size(), -1);
  for (size_t d = 0; d < ids.size(); ++d) {
    auto it = ledger.customer_index.find(ids[d]);
    if (it != ledger.customer_index.end()) out[d] = it->second;
  }
  return out;
}

absl::StatusOr<std::vector<PqlPoint>> CountPqls(
    const PqlRule& rule, const UsagePartitions& usage, const UsageIndex& index,
    absl::FunctionRef<std::span<const Movement>(int32_t dense)> movements_of,
    const std::vector<Period>& periods, absl::TimeZone tz, int conversion_window_days,
    const std::optional<std::vector<bool>>& selected, const std::function<bool()>& stop) {
  if (absl::Status s = CheckUsageIndex(usage, index); !s.ok()) return s;
  const size_t dense_count = index.customer_ids().size();
  if (selected.has_value() && selected->size() != dense_count) {
    return absl::InternalError(absl::StrCat("customer selection of ", selected->size(),
                                            " entries for an index of ", dense_count));
  }
  auto cancelled = [] { return absl::CancelledError("the PQL count was stopped"); };
  std::vector<PqlPoint> out(periods.size());
  for (size_t p = 0; p < periods.size(); ++p) out[p].period = periods[p];
  if (periods.empty()) return out;
  const int n = static_cast<int>(rule.conditions.size());
  const int window = rule.window_days;
  const absl::CivilDay first_day = periods.front().first - (window - 1);
  const absl::CivilDay last_day = periods.back().last;
  const int days = static_cast<int>(last_day - first_day) + 1;
  if (days > kMaxHitDays) {
    return absl::InvalidArgumentError(absl::StrCat("a PQL count spans at most ", kMaxHitDays,
                                                   " days with its window, got ", days));
  }
  std::vector<int64_t> day_start(days + 1);  // Unix seconds where each day begins
  for (int k = 0; k <= days; ++k) day_start[k] = absl::ToUnixSeconds(DayStart(first_day + k, tz));
  bool distinct_users = false;
  for (const PqlCondition& c : rule.conditions) {
    distinct_users = distinct_users || c.kind == PqlCondition::Kind::kDistinctUsers;
  }

  // Every event that feeds a condition, condition by condition, each in partition and time
  // order, by dense customer id (users get compact ids, hashed once per partition entry,
  // not per event). A condition on one type reads only that type's events. Visited once,
  // into a flat list: a second visit to place them (tried) costs more than the list.
  absl::flat_hash_map<absl::string_view, int32_t> user_index;
  auto each_hit = [&](auto emit) {
    for (size_t pi = 0; pi < usage.size(); ++pi) {
      if (stop && stop()) return false;
      const UsagePartition& part = *usage[pi];
      const std::vector<int32_t>& to_dense = *index.local_to_dense[pi];
      std::vector<int32_t> local_user(distinct_users ? part.users.size() : 0, -2);  // -2: unseen
      const int64_t month_start =
          absl::ToUnixSeconds(absl::FromCivil(part.month, absl::UTCTimeZone()));
      // Positions in time order: only those within the days looked at.
      auto within = [&](auto positions, auto second_at) {
        auto at_or_after = [&](int64_t t) {
          if (t <= month_start) return positions.begin();
          if (t - month_start > std::numeric_limits<uint32_t>::max()) return positions.end();
          return std::partition_point(positions.begin(), positions.end(), [&](auto pos) {
            return second_at(pos) < static_cast<uint32_t>(t - month_start);
          });
        };
        return std::make_pair(at_or_after(day_start[0]), at_or_after(day_start[days]));
      };
      for (int c = 0; c < n; ++c) {
        const PqlCondition& cond = rule.conditions[c];
        auto add = [&](size_t i, int& k) {
          const int32_t customer = to_dense[part.customer[i]];
          if (selected.has_value() && !(*selected)[customer]) return;
          const int64_t t = month_start + part.second[i];
          while (t >= day_start[k + 1]) ++k;
          const Hit h{customer, static_cast<uint16_t>(k), static_cast<uint16_t>(c)};
          double amount = 1;
          if (cond.kind == PqlCondition::Kind::kValueSum) amount = part.value[i];
          if (cond.kind == PqlCondition::Kind::kDistinctUsers) {
            amount = -1;
            if (part.user[i] >= 0) {
              int32_t& user = local_user[part.user[i]];
              if (user == -2) {
                user = user_index
                           .try_emplace(part.users[part.user[i]],
                                        static_cast<int32_t>(user_index.size()))
                           .first->second;
              }
              amount = user;
            }
          }
          emit(h, amount);
        };
        int k = 0;
        if (cond.event_type.empty()) {  // any type: every event
          const std::span<const uint32_t> seconds(part.second);
          const auto [from, until] = within(seconds, [](uint32_t s) { return s; });
          for (auto it = from; it != until; ++it) add(it - seconds.begin(), k);
          continue;
        }
        const int32_t type = part.TypeId(cond.event_type);
        if (type < 0) continue;
        const std::span<const uint32_t> of_type = part.OfType(type);
        const auto [from, until] = within(of_type, [&](uint32_t pos) { return part.second[pos]; });
        for (auto it = from; it != until; ++it) add(*it, k);
      }
    }
    return true;
  };
  std::vector<Hit> hits;
  {
    size_t at_most = 0;  // events of the conditions' types in the partitions
    for (const auto& part : usage) {
      for (const PqlCondition& cond : rule.conditions) {
        const int32_t type = cond.event_type.empty() ? -1 : part->TypeId(cond.event_type);
        at_most += cond.event_type.empty() ? part->events()
                   : type < 0              ? 0
                                           : part->OfType(type).size();
      }
    }
    if (at_most > std::numeric_limits<uint32_t>::max()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("a PQL count reads at most 2^32 events, this one would read ", at_most,
                       ": narrow the dates or the rule's event types"));
    }
    hits.reserve(at_most);
  }
  // A value sum's value, an event count's 1, or a distinct-user condition's compact user
  // id (-1: the event names no user; ids are exact in a double), per hit; empty when
  // every condition counts events (each amount is 1).
  std::vector<double> hit_amount;
  const bool amounts =
      std::any_of(rule.conditions.begin(), rule.conditions.end(),
                  [](const PqlCondition& c) { return c.kind != PqlCondition::Kind::kEventCount; });
  if (amounts) hit_amount.reserve(hits.capacity());
  if (!each_hit([&](const Hit& h, double amount) {
        hits.push_back(h);
        if (amounts) hit_amount.push_back(amount);
      })) {
    return cancelled();
  }

  // Customers passed over before their hits are grouped (most are, and grouping is the
  // costly part): when every condition must hold, those with fewer hits of one counted
  // condition than its threshold (hits bound both an event count and a number of distinct
  // users); and those who pay on every day of the periods (never a PQL).
  int filter = -1;  // the counted condition with the highest threshold
  for (int k = 0; k < n && !rule.score_threshold; ++k) {
    const PqlCondition& cond = rule.conditions[k];
    if (cond.kind == PqlCondition::Kind::kValueSum) continue;
    if (filter < 0 || cond.threshold > rule.conditions[filter].threshold) filter = k;
  }
  // With one condition counting events, its hits are the customer's hits.
  const bool filter_is_all =
      n == 1 && filter == 0 && rule.conditions[0].kind == PqlCondition::Kind::kEventCount;
  const bool count_filter = filter >= 0 && !filter_is_all;
  std::vector<uint32_t> begin(dense_count + 1, 0);  // hits per customer, then offsets
  std::vector<uint32_t> filter_hits(count_filter ? dense_count : 0, 0);
  for (size_t i = 0; i < hits.size(); ++i) {
    const Hit& h = hits[i];
    ++begin[h.customer + 1];
    if (count_filter && h.condition == filter && (!amounts || hit_amount[i] >= 0)) {
      ++filter_hits[h.customer];
    }
  }
  std::vector<bool> keep(dense_count, false);
  for (size_t c = 0; c < dense_count; ++c) {
    uint32_t& count = begin[c + 1];
    if (count == 0) continue;
    const uint32_t of_filter = count_filter ? filter_hits[c] : count;
    if ((filter >= 0 && of_filter < rule.conditions[filter].threshold) ||
        PaysThroughout(movements_of(static_cast<int32_t>(c)), DayKey(periods.front().first),
                       DayKey(last_day))) {
      count = 0;
    } else {
      keep[c] = true;
    }
  }
  filter_hits = {};
  for (size_t c = 0; c < dense_count; ++c) begin[c + 1] += begin[c];
  // Grouped by customer, each customer's in the order they came (a stable counting sort).
  std::unique_ptr<Hit[]> by_customer(new Hit[begin[dense_count]]);
  std::unique_ptr<double[]> amount_of(amounts ? new double[begin[dense_count]] : nullptr);
  {
    std::vector<uint32_t> next(begin.begin(), begin.end() - 1);
    for (size_t i = 0; i < hits.size(); ++i) {
      const Hit& h = hits[i];
      if (!keep[h.customer]) continue;
      const uint32_t at = next[h.customer]++;
      by_customer[at] = h;
      if (amounts) amount_of[at] = hit_amount[i];
    }
  }
  hits = {};
  hit_amount = {};
  auto amount_at = [&](size_t h) { return amounts ? amount_of[h] : 1.0; };
  std::vector<int> period_of_day(days, -1);
  for (size_t p = 0; p < periods.size(); ++p) {
    for (absl::CivilDay d = periods[p].first; d <= periods[p].last; ++d) {
      period_of_day[d - first_day] = static_cast<int>(p);
    }
  }

  // Whether a customer's hits could meet the rule on some day: each condition's value in
  // any window is at most what all of its hits give (their count, their users, their
  // positive values — with room for rounding, which differs by summation order), so a
  // customer for whom even that misses is passed over. Weights are summed in condition
  // order over a superset of the conditions any day can meet, so the bound on the score
  // rounds no lower than a day's score.
  std::vector<double> upper(n), negative(n);
  auto can_qualify = [&](size_t first, size_t last) {
    std::fill(upper.begin(), upper.end(), 0.0);
    std::fill(negative.begin(), negative.end(), 0.0);
    for (size_t h = first; h < last; ++h) {
      const Hit& hit = by_customer[h];
      const double amount = amount_at(h);
      switch (rule.conditions[hit.condition].kind) {
        case PqlCondition::Kind::kValueSum:
          (amount > 0 ? upper : negative)[hit.condition] += std::abs(amount);
          break;
        case PqlCondition::Kind::kDistinctUsers:
          if (amount >= 0) upper[hit.condition] += 1;
          break;
        default:
          upper[hit.condition] += 1;
      }
    }
    double score = 0;
    for (int k = 0; k < n; ++k) {
      const PqlCondition& cond = rule.conditions[k];
      double bound = upper[k];
      if (cond.kind == PqlCondition::Kind::kValueSum) bound += 1e-6 * (upper[k] + negative[k]);
      const bool may_hold = bound >= cond.threshold;
      if (!may_hold && !rule.score_threshold) return false;
      if (may_hold) score += cond.weight;
    }
    return !rule.score_threshold || score >= *rule.score_threshold;
  };

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
  std::vector<PqlCondition::Kind> kind(n);
  for (int k = 0; k < n; ++k) kind[k] = rule.conditions[k].kind;
  std::vector<int64_t> key_of(days);  // (adding days to a civil day is not cheap)
  for (int d = 0; d < days; ++d) key_of[d] = DayKey(first_day + d);
  size_t looked_at = 0;
  for (size_t c = 0; c < dense_count; ++c) {
    if (begin[c] == begin[c + 1]) continue;
    if (++looked_at % kStopEvery == 0 && stop && stop()) return cancelled();
    if (!can_qualify(begin[c], begin[c + 1])) continue;
    const std::span<const Movement> moves = movements_of(static_cast<int32_t>(c));
    std::fill(count_in_window.begin(), count_in_window.end(), 0.0);
    for (auto& m : in_window) m.clear();
    std::fill(first_qualifying.begin(), first_qualifying.end(), std::nullopt);
    int first_hit = days, last_hit = -1;
    for (size_t h = begin[c]; h < begin[c + 1]; ++h) {
      const Hit& hit = by_customer[h];
      const size_t at = static_cast<size_t>(hit.condition) * days + hit.day;
      const double value = amount_at(h);
      if (kind[hit.condition] != PqlCondition::Kind::kDistinctUsers) {
        amount[at] += value;
      } else if (value >= 0) {
        users_on[at].push_back(static_cast<int32_t>(value));
      }
      ++any[hit.day];
      first_hit = std::min<int>(first_hit, hit.day);
      last_hit = std::max<int>(last_hit, hit.day);
    }
    const int span_end = std::min(days, last_hit + window);  // exclusive
    size_t move = FirstMoveAfter(moves, key_of[first_hit]);
    int64_t mrr = move == 0 ? 0 : moves[move - 1].after;  // at the end of the day looked at
    int any_in_window = 0;
    bool qualified = false;
    for (int d = first_hit; d < span_end; ++d) {
      // Slide the window to d-W+1..d.
      any_in_window += any[d];
      if (d >= window) any_in_window -= any[d - window];
      for (int k = 0; k < n; ++k) {
        if (kind[k] == PqlCondition::Kind::kEventCount) {
          count_in_window[k] += amount[static_cast<size_t>(k) * days + d];
          if (d >= window) count_in_window[k] -= amount[static_cast<size_t>(k) * days + d - window];
        }
        if (kind[k] != PqlCondition::Kind::kDistinctUsers) continue;
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
      while (move < moves.size() && DayKey(moves[move].day) <= key_of[d]) {
        mrr = moves[move++].after;
      }
      if (mrr <= 0) {
        first_qualifying[p] = first_day + d;
        qualified = true;
      }
    }
    for (size_t h = begin[c]; h < begin[c + 1]; ++h) {  // clear what this customer wrote
      const Hit& hit = by_customer[h];
      const size_t at = static_cast<size_t>(hit.condition) * days + hit.day;
      amount[at] = 0;
      any[hit.day] = 0;
      users_on[at].clear();
    }
    if (!qualified) continue;
    for (size_t p = 0; p < periods.size(); ++p) {
      if (!first_qualifying[p]) continue;
      ++out[p].pqls;
      for (const Movement& mv : moves) {
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
