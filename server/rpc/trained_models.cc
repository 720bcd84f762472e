// MetricsService's trained models: stored as the API's Model (trained_models), the latest
// of a kind found for health groups and profiles, made ready to score.
#include "absl/strings/str_cat.h"
#include "server/rpc/metrics_service.h"
#include "server/rpc/models_mapping.h"

namespace saasmetrics::rpc {
namespace {

constexpr size_t kMaxTrainedModels = 50;  // per tenant

}  // namespace

absl::StatusOr<std::optional<MetricsService::TrainedModel>> MetricsService::LatestModel(
    const std::string& tenant_id, v1::ModelKind kind, absl::Time deadline) {
  absl::StatusOr<std::vector<store::StoredDefinition>> all = trained_.List(tenant_id, deadline);
  if (!all.ok()) return all.status();
  std::optional<v1::Model> latest;
  absl::Time latest_time = absl::InfinitePast();
  for (const store::StoredDefinition& stored : *all) {
    absl::StatusOr<v1::Model> m = FromStored(stored);
    if (!m.ok()) return m.status();
    m->set_model_id(stored.id);
    if (m->kind() != kind || stored.update_time < latest_time) continue;
    latest_time = stored.update_time;
    latest = *std::move(m);
  }
  if (!latest.has_value()) return std::nullopt;
  absl::StatusOr<query::RiskModel> scorer = ScorerOf(tenant_id, *latest, deadline);
  if (!scorer.ok()) return scorer.status();
  return TrainedModel{.id = latest->model_id(), .scorer = *std::move(scorer)};
}

absl::StatusOr<query::RiskModel> MetricsService::ScorerOf(const std::string& tenant_id,
                                                          const v1::Model& model,
                                                          absl::Time deadline) {
  if (absl::Status s = CheckFeatures(model); !s.ok()) return s;
  query::RiskModel out;
  out.model = FromProto(model);
  if (model.engagement_model_id().empty()) return out;
  absl::StatusOr<engine::EngagementModel> m =
      Model(tenant_id, model.engagement_model_id(), deadline);
  if (absl::IsNotFound(m.status())) {
    return absl::FailedPreconditionError(
        absl::StrCat("engagement model '", model.engagement_model_id(), "' that model '",
                     model.model_id(), "' was trained with no longer exists: train it again"));
  }
  if (!m.ok()) return m.status();
  out.engagement = *std::move(m);
  return out;
}

absl::Status MetricsService::StoreModel(const v1::Model& model, absl::Time deadline) {
  const std::string json = StoredJson(model);
  absl::StatusOr<store::StoredDefinition> stored =
      trained_.Update(model.tenant_id(), model.model_id(), json, deadline);
  if (!absl::IsNotFound(stored.status())) return stored.status();
  // A new id: within the tenant's bound (every health call reads the models).
  absl::StatusOr<std::vector<store::StoredDefinition>> all =
      trained_.List(model.tenant_id(), deadline);
  if (!all.ok()) return all.status();
  if (all->size() >= kMaxTrainedModels) {
    return absl::FailedPreconditionError(
        absl::StrCat("tenant '", model.tenant_id(), "' has ", all->size(),
                     " trained models, the most it may keep: delete one (DeleteModel) or ",
                     "retrain an existing id"));
  }
  return trained_.Create(model.tenant_id(), model.model_id(), json, deadline).status();
}

absl::StatusOr<MetricsService::HealthSetup> MetricsService::PrepareHealth(
    const v1::MetricsQuery& spec, query::Needs needs, const query::Context& ctx) {
  HealthSetup out;
  absl::StatusOr<std::optional<TrainedModel>> churn =
      LatestModel(spec.tenant_id(), v1::MODEL_KIND_CHURN, ctx.deadline);
  if (!churn.ok()) return churn.status();
  out.churn = *std::move(churn);
  if (out.churn.has_value() && !out.churn->scorer.model.encoding.fields.empty()) {
    needs.customers = true;  // the model's one-hot fields
  }
  absl::StatusOr<query::Query> q = Prepare(spec, needs, ctx);
  if (!q.ok()) return q.status();
  out.q = *std::move(q);
  if (out.churn.has_value()) out.churn->scorer.threshold = out.q.tenant.health_policy.risk_at_least;
  absl::StatusOr<HealthModel> model =
      ModelOfPolicy(out.q.tenant.tenant_id, out.q.tenant.health_policy, ctx.deadline);
  if (!model.ok()) return model.status();
  out.engagement = *std::move(model);
  return out;
}

}  // namespace saasmetrics::rpc
