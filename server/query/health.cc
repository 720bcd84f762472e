#include "server/query/health.h"

#include <algorithm>
#include <tuple>

#include "server/engine/dates.h"
#include "server/query/metrics.h"

namespace saasmetrics::query {
namespace {

// The trailing days the usage must cover before each day: the model's window and the
// policy's inactivity.
int Lookback(const engine::HealthPolicy& policy, const engine::EngagementModel* model) {
  return std::max(policy.inactive_days, model != nullptr ? model->window_days : 1);
}

}  // namespace

absl::StatusOr<const engine::ChurnRisk*> RiskOn(Reader& reader, const Query& q,
                                                const RiskModel* risk,
                                                const std::vector<absl::CivilDay>& days,
                                                const Context& ctx, engine::ChurnRisk& out) {
  if (risk == nullptr) return nullptr;
  absl::StatusOr<engine::ChurnRisk> found = ChurnRiskOn(reader, q, *risk, days, ctx);
  if (!found.ok()) return found.status();
  out = *std::move(found);
  return &out;
}

absl::StatusOr<std::vector<engine::HealthPoint>> Health(Reader& reader, const Query& q,
                                                        const engine::HealthPolicy& policy,
                                                        const engine::EngagementModel* model,
                                                        const Context& ctx, const RiskModel* risk) {
  UsageView usage;
  // The first transitions start at the end of the day before the first period.
  absl::StatusOr<engine::EngagementInputs> in =
      WindowUsage(reader, q, Lookback(policy, model), q.periods.front().first - 1,
                  q.periods.back().last, ctx, usage);
  if (!in.ok()) return in.status();
  std::vector<absl::CivilDay> days = {q.periods.front().first - 1};
  for (const engine::Period& p : q.periods) days.push_back(p.last);
  engine::ChurnRisk held;
  absl::StatusOr<const engine::ChurnRisk*> at_risk = RiskOn(reader, q, risk, days, ctx, held);
  if (!at_risk.ok()) return at_risk.status();
  absl::StatusOr<std::vector<engine::HealthPoint>> points = engine::HealthSeries(
      policy, model, {*in, q.pauses, *at_risk}, q.periods, ctx.StopFlag(),
      [&reader](std::vector<std::function<void()>>& tasks) { reader.RunAll(tasks); });
  // Stopped: say why (the caller went away, or the deadline passed).
  if (absl::Status s = ctx.Check(); !s.ok()) return s;
  return points;
}

absl::StatusOr<std::vector<HealthRow>> HealthOfCustomers(Reader& reader, const Query& q,
                                                         const engine::HealthPolicy& policy,
                                                         const engine::EngagementModel* model,
                                                         absl::CivilDay day, const Context& ctx,
                                                         const RiskModel* risk) {
  UsageView usage;
  absl::StatusOr<engine::EngagementInputs> in =
      WindowUsage(reader, q, Lookback(policy, model), day, day, ctx, usage);
  if (!in.ok()) return in.status();
  engine::ChurnRisk held;
  absl::StatusOr<const engine::ChurnRisk*> at_risk = RiskOn(reader, q, risk, {day}, ctx, held);
  if (!at_risk.ok()) return at_risk.status();
  absl::StatusOr<std::vector<std::vector<engine::CustomerHealth>>> health =
      engine::HealthAt(policy, model, {*in, q.pauses, *at_risk}, {day}, ctx.StopFlag());
  if (absl::Status s = ctx.Check(); !s.ok()) return s;
  if (!health.ok()) return health.status();
  std::vector<HealthRow> rows;
  rows.reserve((*health)[0].size());
  for (const engine::CustomerHealth& h : (*health)[0]) {
    rows.push_back({.customer_id = q.ledger->customer_ids[h.customer],
                    .group = h.group,
                    .reasons = h.reasons,
                    .mrr = h.mrr,
                    .score = h.score,
                    .churn_day = h.churn_day});
  }
  return rows;
}

absl::StatusOr<std::vector<TransitionRow>> HealthTransitions(Reader& reader, const Query& q,
                                                             const engine::HealthPolicy& policy,
                                                             const engine::EngagementModel* model,
                                                             const Context& ctx,
                                                             const RiskModel* risk) {
  UsageView usage;
  absl::StatusOr<engine::EngagementInputs> in =
      WindowUsage(reader, q, Lookback(policy, model), q.start - 1, q.end, ctx, usage);
  if (!in.ok()) return in.status();
  std::vector<absl::CivilDay> days;
  for (absl::CivilDay d = q.start - 1; d <= q.end; ++d) days.push_back(d);
  engine::ChurnRisk held;
  absl::StatusOr<const engine::ChurnRisk*> at_risk = RiskOn(reader, q, risk, days, ctx, held);
  if (!at_risk.ok()) return at_risk.status();
  absl::StatusOr<std::vector<engine::HealthTransition>> moves = engine::HealthTransitions(
      policy, model, {*in, q.pauses, *at_risk}, q.start, q.end, ctx.StopFlag());
  if (absl::Status s = ctx.Check(); !s.ok()) return s;
  if (!moves.ok()) return moves.status();
  std::vector<TransitionRow> rows;
  rows.reserve(moves->size());
  for (const engine::HealthTransition& t : *moves) {
    rows.push_back({.day = t.day,
                    .customer_id = q.ledger->customer_ids[t.customer],
                    .from = t.from,
                    .to = t.to,
                    .reasons = t.reasons,
                    .mrr = t.mrr,
                    .score = t.score});
  }
  std::sort(rows.begin(), rows.end(), [](const TransitionRow& a, const TransitionRow& b) {
    return std::tie(a.day, a.customer_id) < std::tie(b.day, b.customer_id);
  });
  return rows;
}

TransitionPage PageOfTransitions(const std::vector<TransitionRow>& rows,
                                 std::optional<engine::HealthGroup> to,
                                 const std::optional<TransitionRow>& after, int page_size) {
  return Paginate(
      rows, [&](const TransitionRow& r) { return !to.has_value() || r.to == *to; },
      [](const TransitionRow& a, const TransitionRow& b) {
        return std::tie(a.day, a.customer_id) < std::tie(b.day, b.customer_id);
      },
      after, page_size);
}

absl::StatusOr<std::vector<std::optional<absl::Time>>> LastActivity(
    Reader& reader, const Query& q, const std::vector<std::string>& ids, absl::CivilDay day,
    const Context& ctx) {
  // Month by month back from the day's end, until every customer has one or a year has
  // been read.
  std::vector<std::optional<absl::Time>> latest(ids.size());
  const absl::Time until = engine::DayStart(day + 1, q.tz);
  const absl::Time limit = until - absl::Hours(24 * kLastActivityDays);
  for (absl::CivilMonth m(absl::ToCivilSecond(until - absl::Seconds(1), absl::UTCTimeZone()));
       !ids.empty(); --m) {
    const absl::Time month_start = absl::FromCivil(m, absl::UTCTimeZone());
    const absl::Time from = std::max(month_start, limit);
    if (from >= until) break;
    absl::StatusOr<UsageView> usage = reader.Usage(
        q.tenant.tenant_id, from, std::min(until, absl::FromCivil(m + 1, absl::UTCTimeZone())),
        /*index=*/false, ctx);
    if (!usage.ok()) return usage.status();
    for (const auto& p : usage->partitions) engine::LatestEvents(*p, ids, until, latest);
    if (std::all_of(latest.begin(), latest.end(), [](const auto& t) { return t.has_value(); }) ||
        month_start <= limit) {
      break;
    }
  }
  for (auto& t : latest) {
    if (t.has_value() && *t < limit) t.reset();
  }
  return latest;
}

absl::StatusOr<HealthPage> PageOfHealth(Reader& reader, const Query& q,
                                        const std::vector<HealthRow>& rows,
                                        std::optional<engine::HealthGroup> group, HealthOrder order,
                                        const std::optional<HealthRow>& after, int page_size,
                                        absl::CivilDay day, const Context& ctx) {
  const PageOf<HealthRow> page = Paginate(
      rows,
      [group](const HealthRow& r) {
        return group.has_value() ? r.group == *group : r.group != engine::HealthGroup::kNone;
      },
      [order](const HealthRow& a, const HealthRow& b) {
        switch (order) {
          case HealthOrder::kMrrDesc:
            if (a.mrr != b.mrr) return a.mrr > b.mrr;
            break;
          case HealthOrder::kScoreAsc:
            if (a.score.value_or(-1) != b.score.value_or(-1)) {
              return a.score.value_or(-1) < b.score.value_or(-1);
            }
            break;
          case HealthOrder::kCustomerId:
            break;
        }
        return a.customer_id < b.customer_id;
      },
      after, page_size);
  HealthPage out{.total = page.total, .more = page.more};
  std::vector<std::string> ids;
  for (const HealthRow* r : page.rows) {
    out.rows.push_back(*r);
    ids.push_back(r->customer_id);
  }
  absl::StatusOr<std::vector<std::optional<absl::Time>>> latest =
      LastActivity(reader, q, ids, day, ctx);
  if (!latest.ok()) return latest.status();
  for (size_t i = 0; i < out.rows.size(); ++i) out.rows[i].last_activity = (*latest)[i];
  return out;
}

}  // namespace saasmetrics::query
