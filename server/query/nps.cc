#include "server/query/nps.h"

#include "absl/container/flat_hash_map.h"
#include "server/engine/filters.h"
#include "server/query/health.h"
#include "server/query/metrics.h"

namespace saasmetrics::query {
namespace {

constexpr absl::string_view kNoValue = "(none)";

// Per period end, each ledger customer's health group name (absent: never paid, "none").
absl::StatusOr<std::vector<std::vector<absl::string_view>>> HealthGroups(
    Reader& reader, const Query& q, const engine::HealthPolicy& policy,
    const engine::EngagementModel* model, const Context& ctx, const RiskModel* risk) {
  std::vector<absl::CivilDay> ends;
  for (const engine::Period& p : q.periods) ends.push_back(p.last);
  UsageView usage;
  absl::StatusOr<engine::EngagementInputs> in = WindowUsage(
      reader, q, std::max(policy.inactive_days, model != nullptr ? model->window_days : 1),
      ends.front(), ends.back(), ctx, usage);
  if (!in.ok()) return in.status();
  engine::ChurnRisk held;
  absl::StatusOr<const engine::ChurnRisk*> at_risk = RiskOn(reader, q, risk, ends, ctx, held);
  if (!at_risk.ok()) return at_risk.status();
  absl::StatusOr<std::vector<std::vector<engine::CustomerHealth>>> health =
      engine::HealthAt(policy, model, {*in, q.pauses, *at_risk}, ends, ctx.StopFlag());
  if (absl::Status s = ctx.Check(); !s.ok()) return s;
  if (!health.ok()) return health.status();
  std::vector<std::vector<absl::string_view>> out(
      ends.size(),
      std::vector<absl::string_view>(q.ledger->customer_ids.size(),
                                     engine::HealthGroupName(engine::HealthGroup::kNone)));
  for (size_t d = 0; d < ends.size(); ++d) {
    for (const engine::CustomerHealth& h : (*health)[d]) {
      out[d][h.customer] = engine::HealthGroupName(h.group);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<NpsAnswer> Nps(Reader& reader, const Query& q, const std::string& group_by,
                              const engine::HealthPolicy& policy,
                              const engine::EngagementModel* model, const Context& ctx,
                              const RiskModel* risk) {
  absl::StatusOr<std::shared_ptr<const std::vector<engine::SurveyResponse>>> responses =
      reader.SurveyResponses(q.tenant.tenant_id, ctx);
  if (!responses.ok()) return responses.status();
  auto kept = [&](const engine::SurveyResponse& r) {
    return !q.selected.has_value() || q.selected->contains(r.customer_id);
  };
  NpsAnswer answer;
  {
    auto all = engine::NpsByGroup(
        **responses, q.periods, q.tz,
        [&](const engine::SurveyResponse& r, size_t) {
          return kept(r) ? std::vector<std::string>{""} : std::vector<std::string>{};
        },
        ctx.StopFlag(), "");
    if (absl::Status s = ctx.Check(); !s.ok()) return s;
    answer.all = std::move(all[""]);
  }
  if (group_by.empty()) return answer;

  engine::NpsGroupOf group_of;
  std::vector<std::vector<absl::string_view>> health;
  absl::flat_hash_map<absl::string_view, std::string> field;
  if (group_by == "health") {
    absl::StatusOr<std::vector<std::vector<absl::string_view>>> groups =
        HealthGroups(reader, q, policy, model, ctx, risk);
    if (!groups.ok()) return groups.status();
    health = *std::move(groups);
    group_of = [&](const engine::SurveyResponse& r, size_t p) -> std::vector<std::string> {
      if (!kept(r)) return {};
      const auto it = q.ledger->customer_index.find(r.customer_id);
      if (it == q.ledger->customer_index.end()) {
        return {std::string(engine::HealthGroupName(engine::HealthGroup::kNone))};
      }
      return {std::string(health[p][it->second])};
    };
  } else if (group_by == "plan") {
    group_of = [&](const engine::SurveyResponse& r, size_t) -> std::vector<std::string> {
      if (!kept(r)) return {};
      const auto it = q.ledger->customer_index.find(r.customer_id);
      if (it == q.ledger->customer_index.end()) return {};  // on no plan
      return q.ledger->customer_plans[it->second];
    };
  } else {
    for (const engine::Customer& c : *q.customers) {
      field[c.customer_id] = engine::FieldValue(c, group_by);
    }
    group_of = [&](const engine::SurveyResponse& r, size_t) -> std::vector<std::string> {
      if (!kept(r)) return {};
      const auto it = field.find(r.customer_id);
      return {it == field.end() || it->second.empty() ? std::string(kNoValue) : it->second};
    };
  }
  auto groups = engine::NpsByGroup(**responses, q.periods, q.tz, group_of, ctx.StopFlag());
  if (absl::Status s = ctx.Check(); !s.ok()) return s;
  if (absl::Status s = reader.CheckAnswerSize(
          static_cast<int64_t>(groups.size() * q.periods.size()), "group × period entries");
      !s.ok()) {
    return s;
  }
  for (auto& [name, series] : groups) answer.groups.emplace_back(name, std::move(series));
  return answer;
}

}  // namespace saasmetrics::query
