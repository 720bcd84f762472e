#include "server/query/metrics.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "server/engine/filters.h"

namespace saasmetrics::query {

engine::MrrSeries Mrr(const Query& q) {
  return q.daily != nullptr ? engine::ComputeMrrSeries(*q.daily, q.periods)
                            : engine::ComputeMrrSeries(*q.movements, q.periods);
}

absl::StatusOr<std::vector<int64_t>> ActiveCustomers(Reader& reader, const Query& q,
                                                     const std::vector<std::string>& types,
                                                     const Context& ctx) {
  absl::StatusOr<UsageView> usage =
      reader.Usage(q.tenant.tenant_id, engine::DayStart(q.start, q.tz),
                   engine::DayStart(q.end + 1, q.tz), /*index=*/true, ctx);
  if (!usage.ok()) return usage.status();
  absl::StatusOr<std::vector<int64_t>> active = engine::ActiveCustomers(
      usage->partitions, *usage->index, q.periods, q.tz, types, q.selected, ctx.StopFlag());
  // Stopped: say why (the caller went away, or the deadline passed).
  if (absl::Status s = ctx.Check(); !s.ok()) return s;
  return active;
}

absl::StatusOr<std::vector<engine::ActivationPoint>> Activation(
    Reader& reader, const Query& q, const std::vector<std::string>& types, int window_days,
    const Context& ctx) {
  const absl::Duration window = absl::Hours(24 * window_days);
  absl::StatusOr<UsageView> usage =
      reader.Usage(q.tenant.tenant_id, engine::DayStart(q.start, q.tz),
                   engine::DayStart(q.end + 1, q.tz) + window, /*index=*/false, ctx);
  if (!usage.ok()) return usage.status();
  return engine::Activation(usage->partitions, *q.customers, q.periods, q.tz, types, window,
                            q.selected);
}

std::vector<std::vector<engine::CurrencyMrr>> NativeMrr(const Query& q) {
  // Bounded: at most 3,700 periods (ReaderLimits) × fewer than 255 currencies.
  return engine::NativeMrrAtPeriodEnds(q.subscription_months, q.periods, q.tz, q.selected);
}

absl::StatusOr<std::vector<engine::PqlPoint>> PqlCount(Reader& reader, const Query& q,
                                                       const engine::PqlRule& rule,
                                                       int conversion_window_days,
                                                       const Context& ctx) {
  // The trailing window reaches back before the first period.
  const History& history = *q.history;
  absl::StatusOr<UsageView> usage =
      reader.Usage(q.tenant.tenant_id, engine::DayStart(q.start - (rule.window_days - 1), q.tz),
                   engine::DayStart(q.end + 1, q.tz), /*index=*/true, ctx, history.shared_ids());
  if (!usage.ok()) return usage.status();
  const std::vector<int32_t>& ledger_ids = *usage->ledger_ids;
  absl::StatusOr<std::vector<engine::PqlPoint>> points = engine::CountPqls(
      rule, usage->partitions, *usage->index,
      [&](int32_t dense) {
        const int32_t customer = ledger_ids[dense];
        return customer < 0 ? std::span<const engine::Movement>() : history.MovementsOf(customer);
      },
      q.periods, q.tz, conversion_window_days, engine::SelectDense(*usage->index, q.selected),
      ctx.StopFlag());
  // Stopped: say why (the caller went away, or the deadline passed).
  if (absl::Status s = ctx.Check(); !s.ok()) return s;
  return points;
}

absl::StatusOr<engine::EngagementInputs> WindowUsage(Reader& reader, const Query& q,
                                                     int window_days, absl::CivilDay first_day,
                                                     absl::CivilDay last_day, const Context& ctx,
                                                     UsageView& usage) {
  absl::StatusOr<UsageView> view = reader.Usage(
      q.tenant.tenant_id, engine::DayStart(first_day - (window_days - 1), q.tz),
      engine::DayStart(last_day + 1, q.tz), /*index=*/true, ctx, q.history->shared_ids());
  if (!view.ok()) return view.status();
  usage = *std::move(view);
  return engine::EngagementInputs{&usage.partitions,
                                  usage.index.get(),
                                  usage.ledger_ids.get(),
                                  q.movements,
                                  q.ledger->customer_ids.size(),
                                  q.tz};
}

absl::StatusOr<std::vector<engine::EngagementPoint>> Engagement(
    Reader& reader, const Query& q, const engine::EngagementModel& model, const Context& ctx) {
  UsageView usage;
  absl::StatusOr<engine::EngagementInputs> in = WindowUsage(
      reader, q, model.window_days, q.periods.front().last, q.periods.back().last, ctx, usage);
  if (!in.ok()) return in.status();
  absl::StatusOr<std::vector<engine::EngagementPoint>> points =
      engine::EngagementSeries(model, *in, q.periods, ctx.StopFlag());
  // Stopped: say why (the caller went away, or the deadline passed).
  if (absl::Status s = ctx.Check(); !s.ok()) return s;
  return points;
}

absl::StatusOr<EngagementTable> EngagementScores(Reader& reader, const Query& q,
                                                 const engine::EngagementModel& model,
                                                 absl::CivilDay day, const Context& ctx) {
  UsageView usage;
  absl::StatusOr<engine::EngagementInputs> in =
      WindowUsage(reader, q, model.window_days, day, day, ctx, usage);
  if (!in.ok()) return in.status();
  absl::StatusOr<engine::PayingScores> scores =
      engine::ScoresOfPaying(model, *in, day, ctx.StopFlag());
  if (absl::Status s = ctx.Check(); !s.ok()) return s;
  if (!scores.ok()) return scores.status();
  EngagementTable table;
  table.x = std::move(scores->scores.x);
  const size_t k = scores->scores.components;
  table.rows.reserve(scores->customers.size());
  for (size_t s = 0; s < scores->customers.size(); ++s) {
    table.rows.push_back({q.ledger->customer_ids[scores->customers[s]], scores->scores.score[s],
                          std::span<const double>(table.x).subspan(s * k, k)});
  }
  return table;
}

EngagementPage PageOfScores(const std::vector<EngagementRow>& rows, ScoreOrder order,
                            std::optional<double> min, std::optional<double> max,
                            const std::optional<ScoreCursor>& after, int page_size) {
  return Paginate(
      rows,
      [&](const EngagementRow& r) {
        return !(min.has_value() && r.score < *min) && !(max.has_value() && r.score > *max);
      },
      [order](const EngagementRow& a, const EngagementRow& b) {
        if (order == ScoreOrder::kCustomerId || a.score == b.score) {
          return a.customer_id < b.customer_id;
        }
        return order == ScoreOrder::kScoreAsc ? a.score < b.score : a.score > b.score;
      },
      after.has_value() ? std::optional<EngagementRow>({after->customer_id, after->score, {}})
                        : std::nullopt,
      page_size);
}

absl::StatusOr<std::vector<std::pair<std::string, std::vector<engine::ChurnPoint>>>> ChurnByGroup(
    const Reader& reader, const Query& q, const std::string& group_by) {
  // Per ledger customer, the groups it belongs to.
  std::vector<std::vector<std::string>> groups_of(q.ledger->customer_ids.size());
  if (group_by == "plan") {
    for (size_t c = 0; c < groups_of.size(); ++c) groups_of[c] = q.ledger->customer_plans[c];
  } else {
    const std::vector<std::string> values =
        engine::CustomerField(*q.ledger, *q.customers, group_by);
    for (size_t c = 0; c < groups_of.size(); ++c) {
      groups_of[c] = {values[c].empty() ? std::string("(none)") : values[c]};
    }
  }
  std::map<std::string, std::vector<bool>> members;
  for (size_t c = 0; c < groups_of.size(); ++c) {
    // Under filters, only the customers they select form groups.
    if (q.selected.has_value() && !q.selected->contains(q.ledger->customer_ids[c])) continue;
    for (const std::string& g : groups_of[c]) {
      std::vector<bool>& in = members[g];
      if (in.empty()) in.resize(groups_of.size());
      in[c] = true;
    }
  }
  if (absl::Status s = reader.CheckAnswerSize(
          static_cast<int64_t>(members.size() * q.periods.size()), "group × period entries");
      !s.ok()) {
    return s;
  }
  std::vector<std::pair<std::string, std::vector<engine::ChurnPoint>>> out;
  for (const auto& [group, in] : members) {
    std::vector<engine::Movement> movements;
    for (const engine::Movement& m : *q.movements) {
      if (in[m.customer]) movements.push_back(m);
    }
    std::vector<engine::PauseChange> pauses;
    for (const engine::PauseChange& p : *q.pauses) {
      if (in[p.customer]) pauses.push_back(p);
    }
    out.emplace_back(group, engine::ComputeChurnSeries(movements, q.periods, &pauses));
  }
  return out;
}

absl::StatusOr<std::vector<engine::Cohort>> Cohorts(const Reader& reader, const Query& q,
                                                    const std::string& group_by) {
  const std::vector<std::string> groups =
      group_by.empty() ? std::vector<std::string>{}
                       : engine::CustomerField(*q.ledger, *q.customers, group_by);
  // Cells: a cohort per period (and group), an offset per later period.
  const int64_t n = static_cast<int64_t>(q.periods.size());
  const int64_t group_count = std::max<int64_t>(
      1,
      static_cast<int64_t>(absl::flat_hash_set<std::string>(groups.begin(), groups.end()).size()));
  if (absl::Status s = reader.CheckAnswerSize(n * (n + 1) / 2 * group_count, "cohort cells");
      !s.ok()) {
    return s;
  }
  return engine::ComputeCohorts(*q.movements, q.periods, groups);
}

absl::StatusOr<std::vector<engine::MrrByCohortPoint>> MrrByCohort(const Reader& reader,
                                                                  const Query& q) {
  const int64_t n = static_cast<int64_t>(q.periods.size());
  if (absl::Status s = reader.CheckAnswerSize(n * (n + 1) / 2, "cohort layers"); !s.ok()) {
    return s;
  }
  if (q.filters.empty() && engine::PeriodsStartOnMonths(q.periods)) {
    return engine::ComputeMrrByCohort(q.history->cohorts(), q.periods);
  }
  return engine::ComputeMrrByCohort(q.movements != nullptr ? *q.movements : q.history->movements(),
                                    q.periods);
}

absl::StatusOr<std::vector<engine::RenewalPoint>> Renewals(Reader& reader, const Query& q,
                                                           engine::Term min_term,
                                                           const Context& ctx) {
  const int64_t until_us = absl::ToUnixMicros(engine::DayStart(q.end + 1, q.tz));
  size_t n = 0;
  for (const auto& month : q.history->months()) n += month->size();
  if (absl::Status s = reader.Charge(static_cast<int64_t>(n * sizeof(engine::LedgerEvent)), ctx);
      !s.ok()) {
    return s;
  }
  std::vector<engine::LedgerEvent> events;
  events.reserve(n);
  for (const auto& month : q.history->months()) {
    for (const engine::LedgerEvent& e : *month) {
      if (e.at_us < until_us) events.push_back(e);
    }
  }
  std::vector<bool> include;
  if (!q.filters.empty()) include = engine::SelectCustomers(*q.ledger, *q.customers, q.filters);
  const std::function<bool()> stop = ctx.StopFlag();
  std::vector<engine::RenewalPoint> points = engine::ComputeRenewals(
      std::move(events), q.periods, q.tz,
      {.min_term = min_term, .include = q.filters.empty() ? nullptr : &include, .stop = &stop});
  if (absl::Status s = ctx.Check(); !s.ok()) return s;
  return points;
}

absl::StatusOr<std::vector<engine::UnitEconomics>> UnitEconomics(Reader& reader, const Query& q,
                                                                 int churn_window_months,
                                                                 const Context& ctx) {
  absl::StatusOr<std::shared_ptr<const std::vector<engine::AcquisitionSpend>>> spend =
      reader.Spend(q.tenant.tenant_id, ctx);
  if (!spend.ok()) return spend.status();
  // Each row in its currency, with the rates of its days when that is not the reporting
  // one (METRICS.md "Currencies": spend converts at each day's rate, before spreading).
  std::vector<engine::SpendRow> rows;
  QueryRates rates(reader, q, ctx);
  for (const auto& a : **spend) {
    engine::SpendRow& row = rows.emplace_back();
    row = {.channel = a.channel, .start = a.start_date, .end = a.end_date, .amount = a.amount};
    if (a.currency == q.tenant.currency) continue;
    absl::StatusOr<const engine::RateTable*> table = rates.Get();
    if (!table.ok()) return table.status();
    absl::StatusOr<std::vector<engine::RateRun>> runs =
        (*table)->Runs(a.currency, a.start_date, a.end_date, &row.shift);
    if (!runs.ok()) return runs.status();
    row.rates = *std::move(runs);
    if (absl::Status s = engine::CheckSpendRow(row); !s.ok()) return s;
  }
  const std::vector<std::string> channels =
      engine::CustomerField(*q.ledger, *q.customers, "acquisition_channel");
  absl::flat_hash_set<std::string> distinct(channels.begin(), channels.end());
  for (const auto& r : rows) distinct.insert(r.channel);
  if (absl::Status s = reader.CheckAnswerSize(
          static_cast<int64_t>(q.periods.size()) * static_cast<int64_t>(distinct.size() + 1),
          "period × channel entries");
      !s.ok()) {
    return s;
  }
  return engine::ComputeUnitEconomics(*q.movements, q.periods, channels, rows,
                                      q.tenant.gross_margin, churn_window_months, q.pauses);
}

MovementPage ListMovements(const Query& q, const std::vector<engine::MovementType>& types,
                           const std::optional<MovementCursor>& after, int page_size) {
  std::vector<const engine::Movement*> selected;
  for (const engine::Movement& m : *q.movements) {
    if (m.day < q.start || m.day > q.end) continue;
    if (!types.empty() && std::find(types.begin(), types.end(), m.type) == types.end()) continue;
    selected.push_back(&m);
  }
  auto key = [&](const engine::Movement* m) {
    return std::tie(m->day, q.ledger->customer_ids[m->customer]);
  };
  std::sort(selected.begin(), selected.end(),
            [&](const auto* a, const auto* b) { return key(a) < key(b); });
  auto first = selected.begin();
  if (after.has_value()) {
    first =
        std::upper_bound(selected.begin(), selected.end(), 0, [&](int, const engine::Movement* m) {
          return std::tie(after->day, after->customer_id) < key(m);
        });
  }
  const auto last = first + std::min<ptrdiff_t>(page_size, selected.end() - first);
  // Drill-down needs each listed customer's events; only the page's customers are gathered.
  absl::flat_hash_map<int32_t, std::vector<engine::LedgerEvent>> by_customer;
  for (auto m = first; m != last; ++m) by_customer[(*m)->customer];
  for (const auto& month : q.history->months()) {
    for (const engine::LedgerEvent& e : *month) {
      auto c = by_customer.find(e.customer);
      if (c != by_customer.end()) c->second.push_back(e);
    }
  }
  MovementPage page;
  for (auto m = first; m != last; ++m) {
    MovementRow& row = page.rows.emplace_back();
    row.movement = **m;
    row.customer_id = q.ledger->customer_ids[(*m)->customer];
    for (int32_t s :
         engine::ChangedSubscriptions(by_customer.at((*m)->customer), (*m)->day, q.tz)) {
      row.subscription_ids.push_back(q.ledger->subscription_ids[s]);
    }
    std::sort(row.subscription_ids.begin(), row.subscription_ids.end());
  }
  page.more = last != selected.end();
  return page;
}

}  // namespace saasmetrics::query
