#include "server/engine/engagement.h"

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "server/engine/dates.h"
#include "server/engine/pql.h"

namespace saasmetrics::engine {
namespace {

constexpr int kMaxComponents = 20;

absl::Time MonthStart(absl::CivilMonth m) { return absl::FromCivil(m, absl::UTCTimeZone()); }
constexpr int kMaxTypesPerComponent = 20;

// Per day of `days` (ascending), the customers paying at its end, in ledger order: each
// one's MRR after its last movement on or before the day. One pass over the movements.
std::vector<std::vector<int32_t>> PayingAt(const std::vector<Movement>& movements,
                                           const std::vector<absl::CivilDay>& days) {
  std::vector<std::vector<int32_t>> out(days.size());
  for (size_t i = 0; i < movements.size();) {
    const int32_t c = movements[i].customer;
    size_t end = i;
    while (end < movements.size() && movements[end].customer == c) ++end;
    int64_t mrr = 0;
    for (size_t d = 0; d < days.size(); ++d) {
      for (; i < end && movements[i].day <= days[d]; ++i) mrr = movements[i].after;
      if (mrr > 0) out[d].push_back(c);
    }
    i = end;
  }
  return out;
}

// Nearest rank: the position of the ⌈p·n/100⌉-th smallest of n (at least the first).
size_t RankIndex(size_t n, int p) {
  return std::max<size_t>(1, (static_cast<size_t>(p) * n + 99) / 100) - 1;
}

}  // namespace

void ValidateEngagementModel(const EngagementModel& model, absl::string_view prefix,
                             Violations& out) {
  if (model.window_days < 1 || model.window_days > 365) {
    out.push_back({absl::StrCat(prefix, ".window_days"), "must be 1 to 365"});
  }
  if (model.components.empty() || model.components.size() > kMaxComponents) {
    out.push_back({absl::StrCat(prefix, ".components"),
                   absl::StrCat("must have 1 to ", kMaxComponents, " components")});
  }
  bool positive = false;
  for (size_t i = 0; i < model.components.size() && i < kMaxComponents; ++i) {
    const EngagementComponent& c = model.components[i];
    const std::string at = absl::StrCat(prefix, ".components[", i, "]");
    const int aggregation = static_cast<int>(c.aggregation);
    if (aggregation < 1 || aggregation > 4) {
      out.push_back({absl::StrCat(at, ".aggregation"),
                     "must be COUNT, VALUE_SUM, ACTIVE_DAYS or DISTINCT_USERS"});
    }
    if (!std::isfinite(c.target) || c.target <= 0) {
      out.push_back({absl::StrCat(at, ".target"), "must be a number above 0"});
    }
    if (!std::isfinite(c.weight) || c.weight == 0) {
      out.push_back({absl::StrCat(at, ".weight"), "must be a number other than 0"});
    }
    positive |= std::isfinite(c.weight) && c.weight > 0;
    if (c.event_types.size() > kMaxTypesPerComponent) {
      out.push_back({absl::StrCat(at, ".event_types"),
                     absl::StrCat("at most ", kMaxTypesPerComponent, " types")});
      continue;
    }
    absl::flat_hash_set<std::string> seen;
    for (size_t t = 0; t < c.event_types.size(); ++t) {
      const std::string& type = c.event_types[t];
      if (type.empty() || type.size() > kMaxEventTypeBytes) {
        out.push_back({absl::StrCat(at, ".event_types[", t, "]"),
                       absl::StrCat("must be 1 to ", kMaxEventTypeBytes, " bytes")});
      } else if (!seen.insert(type).second) {
        out.push_back({absl::StrCat(at, ".event_types[", t, "]"), "repeats a type"});
      }
    }
  }
  if (!model.components.empty() && !positive) {
    out.push_back({absl::StrCat(prefix, ".components"), "need at least one positive weight"});
  }
}

double EngagementScore(const EngagementModel& model, std::span<const double> x) {
  double sum = 0, positive = 0;
  for (size_t i = 0; i < model.components.size(); ++i) {
    const EngagementComponent& c = model.components[i];
    sum += c.weight * std::min(x[i] / c.target, 1.0);
    if (c.weight > 0) positive += c.weight;
  }
  return std::clamp(100 * sum / positive, 0.0, 100.0);
}

absl::StatusOr<std::vector<CustomerEngagement>> ScoresAt(const EngagementModel& model,
                                                         const EngagementInputs& in,
                                                         absl::CivilDay day,
                                                         const std::function<bool()>& stop) {
  absl::StatusOr<PayingScores> paying = ScoresOfPaying(model, in, day, stop);
  if (!paying.ok()) return paying.status();
  std::vector<CustomerEngagement> out(paying->customers.size());
  for (size_t s = 0; s < out.size(); ++s) {
    out[s].customer = paying->customers[s];
    const std::span<const double> x = paying->scores.XOf(s);
    out[s].x.assign(x.begin(), x.end());
    out[s].score = paying->scores.score[s];
  }
  return out;
}

absl::StatusOr<PayingScores> ScoresOfPaying(const EngagementModel& model,
                                            const EngagementInputs& in, absl::CivilDay day,
                                            const std::function<bool()>& stop) {
  PayingScores out;
  out.customers = std::move(PayingAt(*in.movements, {day})[0]);
  absl::StatusOr<EngagementScores> scores = ScoresOf(&model, in, day, out.customers, 0, stop);
  if (!scores.ok()) return scores.status();
  out.scores = *std::move(scores);
  return out;
}

absl::StatusOr<EngagementScores> ScoresOf(const EngagementModel* model_or_null,
                                          const EngagementInputs& in, absl::CivilDay day,
                                          const std::vector<int32_t>& paying, int activity_days,
                                          const std::function<bool()>& stop) {
  static const EngagementModel kNoModel{.window_days = 1};
  const EngagementModel& model = model_or_null != nullptr ? *model_or_null : kNoModel;
  const UsagePartitions& partitions = *in.partitions;
  if (absl::Status s = CheckUsageIndex(partitions, *in.index); !s.ok()) return s;
  std::vector<int32_t> slot_of_ledger(in.ledger_size, -1);
  for (size_t s = 0; s < paying.size(); ++s) slot_of_ledger[paying[s]] = static_cast<int32_t>(s);
  const std::vector<int32_t>& ledger_ids = *in.ledger_ids;
  // The window (t − W days, t]: from the start of its first local day to the end of t.
  const absl::Time from = DayStart(day - (model.window_days - 1), in.tz);
  const absl::Time until = DayStart(day + 1, in.tz);
  // The activity window (t − n days, t], and what any partition must cover.
  const absl::Time active_from = DayStart(day - (std::max(activity_days, 1) - 1), in.tz);
  const absl::Time scan_from = activity_days > 0 ? std::min(from, active_from) : from;
  EngagementScores out;
  std::vector<uint8_t>& active = out.active;
  active.assign(activity_days > 0 ? paying.size() : 0, 0);
  const size_t k = model.components.size();
  out.components = k;
  const size_t n = paying.size();
  // The aggregates component by component while the events are read (a component's
  // column is half the memory its values take interleaved, and the visits are random).
  std::vector<double> xc(k * n, 0);
  // The window's local days as instants (unix seconds): an event's day is found from its
  // distance to the first (a local day is 23 to 25 hours), not a time-zone conversion.
  std::vector<int64_t> day_starts;
  for (int d = 0; d <= model.window_days; ++d) {
    day_starts.push_back(absl::ToUnixSeconds(DayStart(day - (model.window_days - 1) + d, in.tz)));
  }
  const int32_t last_index = model.window_days - 1;
  const auto day_index = [&](int64_t t) {  // day_starts[0] <= t < day_starts.back()
    int32_t d = std::clamp(static_cast<int32_t>((t - day_starts[0]) / 86400), 0, last_index);
    while (d < last_index && day_starts[d + 1] <= t) ++d;
    while (d > 0 && day_starts[d] > t) --d;
    return d;
  };
  // Per component, the (customer, day) and (customer, user) pairs seen so far in the
  // window, across partitions (user ids by content: each partition has its dictionary).
  // A component of at most one type visits its events in time order, so a customer's days
  // come in order: the last one counted, next to the count, is enough.
  std::vector<absl::flat_hash_set<std::pair<int32_t, int32_t>>> days(k);
  struct Seen {
    int32_t day = -1;
    int32_t count = 0;
  };
  std::vector<std::vector<Seen>> last_day(k);
  for (size_t c = 0; c < k; ++c) {
    if (model.components[c].event_types.size() <= 1) last_day[c].resize(n);
  }
  std::vector<absl::flat_hash_set<std::pair<int32_t, absl::string_view>>> users(k);
  for (size_t pi = 0; pi < partitions.size(); ++pi) {
    if (stop && stop()) return absl::CancelledError("engagement scores stopped");
    const UsagePartition& p = *partitions[pi];
    const absl::Time month_start = MonthStart(p.month);
    if (month_start >= until || MonthStart(p.month + 1) <= scan_from) continue;
    // The window in the partition's seconds.
    const int64_t lo = std::max<int64_t>(0, absl::ToInt64Seconds(from - month_start));
    const int64_t hi = absl::ToInt64Seconds(until - month_start);
    // Each local customer's slot, found once here rather than through three lookups per event.
    const std::vector<int32_t>& dense = *in.index->local_to_dense[pi];
    std::vector<int32_t> slot_of_local(dense.size());
    for (size_t l = 0; l < dense.size(); ++l) {
      const int32_t ledger = ledger_ids[dense[l]];
      slot_of_local[l] = ledger < 0 ? -1 : slot_of_ledger[ledger];
    }
    const int64_t month_unix = absl::ToUnixSeconds(month_start);
    if (!active.empty()) {
      // Events are in time order: the activity window is one run of them.
      const int64_t active_lo =
          std::max<int64_t>(0, absl::ToInt64Seconds(active_from - month_start));
      const auto first = std::lower_bound(p.second.begin(), p.second.end(), active_lo);
      const auto last = std::lower_bound(first, p.second.end(), hi);
      for (auto it = first; it != last; ++it) {
        const int32_t slot = slot_of_local[p.customer[it - p.second.begin()]];
        if (slot >= 0) active[slot] = 1;
      }
    }
    // The window's events of a component are a run of each of its types' lists (or of all
    // events), each in time order: found by binary search, then visited without a check.
    const auto in_window = [&](std::span<const uint32_t> positions) {
      const auto first = std::lower_bound(positions.begin(), positions.end(), lo,
                                          [&](uint32_t i, int64_t s) { return p.second[i] < s; });
      const auto last = std::lower_bound(first, positions.end(), hi,
                                         [&](uint32_t i, int64_t s) { return p.second[i] < s; });
      return positions.subspan(static_cast<size_t>(first - positions.begin()),
                               static_cast<size_t>(last - first));
    };
    const auto all_in_window = [&] {
      const auto first = std::lower_bound(p.second.begin(), p.second.end(), lo);
      const auto last = std::lower_bound(first, p.second.end(), hi);
      return std::pair<uint32_t, uint32_t>(static_cast<uint32_t>(first - p.second.begin()),
                                           static_cast<uint32_t>(last - p.second.begin()));
    };
    for (size_t c = 0; c < k; ++c) {
      const EngagementComponent& component = model.components[c];
      // Calls `f(i)` for every event of the component in the window; one loop per
      // aggregation, so each visit is inlined into its loop.
      const auto each = [&](auto&& f) {
        if (component.event_types.empty()) {
          const auto [first, last] = all_in_window();
          for (uint32_t i = first; i < last; ++i) f(i);
          return;
        }
        for (const std::string& type : component.event_types) {
          const int32_t t = p.TypeId(type);
          if (t < 0) continue;
          for (uint32_t i : in_window(p.OfType(t))) f(i);
        }
      };
      switch (component.aggregation) {
        case EngagementComponent::Aggregation::kCount:
          each([&, x = xc.data() + c * n](uint32_t i) {
            const int32_t slot = slot_of_local[p.customer[i]];
            if (slot >= 0) x[slot] += 1;
          });
          break;
        case EngagementComponent::Aggregation::kValueSum:
          each([&, x = xc.data() + c * n](uint32_t i) {
            const int32_t slot = slot_of_local[p.customer[i]];
            if (slot >= 0) x[slot] += p.value[i];
          });
          break;
        case EngagementComponent::Aggregation::kActiveDays:
          if (!last_day[c].empty()) {
            each([&, seen = last_day[c].data()](uint32_t i) {
              const int32_t slot = slot_of_local[p.customer[i]];
              if (slot < 0) return;
              const int32_t d = day_index(month_unix + p.second[i]);
              Seen& s = seen[slot];
              if (s.day != d) {
                s.day = d;
                ++s.count;
              }
            });
          } else {
            each([&, x = xc.data() + c * n](uint32_t i) {
              const int32_t slot = slot_of_local[p.customer[i]];
              if (slot >= 0 && days[c].emplace(slot, day_index(month_unix + p.second[i])).second) {
                x[slot] += 1;
              }
            });
          }
          break;
        case EngagementComponent::Aggregation::kDistinctUsers:
          each([&, x = xc.data() + c * n](uint32_t i) {
            const int32_t slot = slot_of_local[p.customer[i]];
            if (slot >= 0 && p.user[i] >= 0 && !p.users[p.user[i]].empty() &&
                users[c].emplace(slot, p.users[p.user[i]]).second) {
              x[slot] += 1;
            }
          });
          break;
      }
    }
  }
  std::vector<double>& x = out.x;
  x.resize(n * k);
  for (size_t c = 0; c < k; ++c) {
    const double* column = xc.data() + c * n;
    const Seen* seen = last_day[c].empty() ? nullptr : last_day[c].data();
    for (size_t s = 0; s < n; ++s) x[s * k + c] = column[s] + (seen != nullptr ? seen[s].count : 0);
  }
  out.score.assign(paying.size(), 0);
  if (model_or_null != nullptr) {
    for (size_t s = 0; s < paying.size(); ++s) out.score[s] = EngagementScore(model, out.XOf(s));
  }
  return out;
}

absl::StatusOr<std::vector<EngagementPoint>> EngagementSeries(const EngagementModel& model,
                                                              const EngagementInputs& in,
                                                              const std::vector<Period>& periods,
                                                              const std::function<bool()>& stop) {
  std::vector<absl::CivilDay> ends;
  for (const Period& period : periods) ends.push_back(period.last);
  const std::vector<std::vector<int32_t>> paying = PayingAt(*in.movements, ends);
  std::vector<EngagementPoint> out;
  for (size_t i = 0; i < periods.size(); ++i) {
    const Period& period = periods[i];
    absl::StatusOr<EngagementScores> scores = ScoresOf(&model, in, period.last, paying[i], 0, stop);
    if (!scores.ok()) return scores.status();
    EngagementPoint& point = out.emplace_back();
    point.period = period;
    point.customers = static_cast<int64_t>(scores->score.size());
    if (scores->score.empty()) continue;
    std::vector<double> s = std::move(scores->score);
    double sum = 0;
    for (double v : s) sum += v;
    point.mean = sum / static_cast<double>(s.size());
    // The five ranks, ascending, each selected in what is left above the one before
    // (linear time; a sort would cost n log n per period end).
    std::optional<double>* ranks[] = {&point.p10, &point.p25, &point.p50, &point.p75, &point.p90};
    static constexpr int kPercent[] = {10, 25, 50, 75, 90};
    auto from = s.begin();
    for (int r = 0; r < 5; ++r) {
      const auto at = s.begin() + static_cast<ptrdiff_t>(RankIndex(s.size(), kPercent[r]));
      if (at >= from) {
        std::nth_element(from, at, s.end());
        from = at;
      }
      *ranks[r] = *at;
    }
  }
  return out;
}

}  // namespace saasmetrics::engine
