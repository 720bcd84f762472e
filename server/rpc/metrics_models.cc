// MetricsService's predictive-model RPCs (ANALYTICS.md "Predictive models"): survival
// and retention drivers; churn and upsell models trained, stored and scored.
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/engine/dates.h"
#include "server/engine/tenant.h"
#include "server/query/models.h"
#include "server/rpc/convert.h"
#include "server/rpc/metrics_mapping.h"
#include "server/rpc/metrics_service.h"
#include "server/rpc/models_mapping.h"
#include "server/rpc/paging.h"
#include "server/rpc/status.h"

namespace saasmetrics::rpc {
namespace {

constexpr absl::string_view kService = "saasmetrics.v1.MetricsService";
constexpr size_t kMaxTrainedModels = 50;  // per tenant

// An optional request time: `fallback` when unset; a violation outside 1970 … 9999.
absl::Time TimeOr(bool has, const google::protobuf::Timestamp& t, absl::Time fallback,
                  const char* field, engine::Violations& violations) {
  if (!has) return fallback;
  // 1970-01-01 to 9999-12-31: the days the tenant's calendar can name.
  if (t.seconds() < 0 || t.seconds() > 253402300799 || t.nanos() < 0 || t.nanos() > 999999999) {
    violations.push_back({field, "must be a valid time from 1970 to 9999"});
    return fallback;
  }
  return FromProto(t);
}

// The stored model's features are what this version computes (else it cannot score).
absl::Status CheckFeatures(const v1::Model& m) {
  std::vector<std::string> want = engine::NumericFeatureNames(!m.engagement_model_id().empty());
  for (const v1::FieldEncoding& f : m.encoding()) {
    for (const std::string& v : f.values()) want.push_back(absl::StrCat(f.field(), "=", v));
    want.push_back(absl::StrCat(f.field(), "=other"));
  }
  bool same = want.size() == static_cast<size_t>(m.features_size());
  for (int i = 0; same && i < m.features_size(); ++i) same = m.features(i).name() == want[i];
  if (same) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "model '", m.model_id(), "' was trained on other features than this version computes: ",
      "train it again (TrainModel)"));
}

// What a ScoreCustomers page token is bound to.
std::string ScoreTokenContext(const v1::ScoreCustomersRequest& req, absl::string_view trained) {
  const absl::string_view nul("\0", 1);
  std::string context =
      absl::StrCat("ScoreCustomers", nul, req.query().tenant_id(), nul, req.query().end_date(), nul,
                   req.model_id(), nul, trained, nul, req.order());
  for (const std::string& f : req.query().filter()) absl::StrAppend(&context, nul, f);
  if (req.has_min_probability()) absl::StrAppend(&context, nul, req.min_probability().value());
  return context;
}

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
  if (absl::Status s = CheckFeatures(*latest); !s.ok()) return s;
  TrainedModel out;
  out.id = latest->model_id();
  out.scorer.model = FromProto(*latest);
  if (!latest->engagement_model_id().empty()) {
    absl::StatusOr<engine::EngagementModel> m =
        Model(tenant_id, latest->engagement_model_id(), deadline);
    if (absl::IsNotFound(m.status())) {
      return absl::FailedPreconditionError(
          absl::StrCat("engagement model '", latest->engagement_model_id(), "' that model '",
                       out.id, "' was trained with no longer exists: train it again"));
    }
    if (!m.ok()) return m.status();
    out.scorer.engagement = *std::move(m);
  }
  return out;
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

grpc::ServerUnaryReactor* MetricsService::GetSurvival(grpc::CallbackServerContext* ctx,
                                                      const v1::GetSurvivalRequest* req,
                                                      v1::GetSurvivalResponse* resp) {
  return RunUnary(
      ctx, env_, kService, "GetSurvival", {auth::kRead, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        engine::Violations violations;
        if (!req->group_by().empty()) {
          CheckGroupName("group_by", req->group_by(), {.plan = true}, violations);
        }
        if (req->cox_fields_size() > query::kMaxCoxFields) {
          violations.push_back(
              {"cox_fields", absl::StrCat("name at most ", query::kMaxCoxFields, " fields")});
        }
        if (req->cox_fields_size() > 0 && !req->cox()) {
          violations.push_back({"cox_fields", "set cox to fit the model they are for"});
        }
        for (int i = 0; i < req->cox_fields_size() && i < query::kMaxCoxFields; ++i) {
          CheckGroupName(absl::StrCat("cox_fields[", i, "]"), req->cox_fields(i), {.plan = true},
                         violations);
          for (int j = 0; j < i; ++j) {
            if (req->cox_fields(j) == req->cox_fields(i)) {
              violations.push_back({absl::StrCat("cox_fields[", i, "]"),
                                    absl::StrCat("repeats cox_fields[", j, "]")});
            }
          }
        }
        if (!violations.empty()) return InvalidArgument(violations);
        const bool fields = !req->group_by().empty() || req->cox_fields_size() > 0;
        absl::StatusOr<query::Query> q =
            Prepare(req->query(), {.interval = false, .customers = fields}, ctx);
        if (!q.ok()) return ToGrpcStatus(q.status());
        const std::vector<std::string> cox_fields(req->cox_fields().begin(),
                                                  req->cox_fields().end());
        const absl::StatusOr<query::SurvivalAnswer> answer =
            query::Survival(reader_, *q, req->group_by(), req->cox(), cox_fields, ctx);
        if (!answer.ok()) return ToGrpcStatus(answer.status());
        resp->set_start_date(engine::FormatIsoDate(q->start));
        resp->set_end_date(engine::FormatIsoDate(q->end));
        resp->set_currency(q->tenant.currency);
        ToProto(*answer, resp);
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* MetricsService::GetRetentionDrivers(
    grpc::CallbackServerContext* ctx, const v1::GetRetentionDriversRequest* req,
    v1::GetRetentionDriversResponse* resp) {
  return RunUnary(
      ctx, env_, kService, "GetRetentionDrivers", {auth::kRead, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        engine::Violations violations;
        const auto bounded = [&](const char* field, int32_t value, int32_t fallback, int32_t most) {
          if (value < 0 || value > most) {
            violations.push_back(
                {field, absl::StrCat("must be 0 (default ", fallback, ") to ", most)});
          }
          return value == 0 ? fallback : value;
        };
        engine::DriverSettings settings;
        settings.min_events = bounded("min_events", req->min_events(), 1, 10000);
        settings.window_days = bounded("window_days", req->window_days(), 14, 366);
        settings.retained_days = bounded("retained_days", req->retained_days(), 90, 3660);
        settings.as_of = TimeOr(req->has_as_of(), req->as_of(), absl::Now(), "as_of", violations);
        if (!violations.empty()) return InvalidArgument(violations);
        absl::StatusOr<query::Query> q = Prepare(req->query(), {.interval = false}, ctx);
        if (!q.ok()) return ToGrpcStatus(q.status());
        const absl::StatusOr<engine::DriversResult> found =
            query::RetentionDrivers(reader_, *q, settings, ctx);
        if (!found.ok()) return ToGrpcStatus(found.status());
        resp->set_start_date(engine::FormatIsoDate(q->start));
        resp->set_end_date(engine::FormatIsoDate(q->end));
        ToProto(*found, resp);
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* MetricsService::TrainModel(grpc::CallbackServerContext* ctx,
                                                     const v1::TrainModelRequest* req,
                                                     v1::Model* resp) {
  return RunUnary(
      ctx, env_, kService, "TrainModel", {auth::kAdmin, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        engine::Violations violations;
        if (!engine::IsValidResourceId(req->model_id())) {
          violations.push_back(
              {"model_id",
               absl::StrCat("'", req->model_id(), "' is not a model id ([a-z0-9_-], 1 to 64)")});
        }
        if (req->kind() != v1::MODEL_KIND_CHURN && req->kind() != v1::MODEL_KIND_UPSELL) {
          violations.push_back({"kind", "must be MODEL_KIND_CHURN or MODEL_KIND_UPSELL"});
        }
        engine::TrainSettings settings;
        settings.kind = req->kind() == v1::MODEL_KIND_UPSELL ? engine::ModelKind::kUpsell
                                                             : engine::ModelKind::kChurn;
        if (req->horizon_days() < 0 || req->horizon_days() > 365) {
          violations.push_back({"horizon_days", "must be 0 (default 90) to 365"});
        }
        settings.horizon_days = req->horizon_days() == 0 ? 90 : req->horizon_days();
        settings.lambda = req->has_lambda() ? req->lambda().value() : 1.0;
        if (!(settings.lambda > 0 && settings.lambda <= 1e6)) {
          violations.push_back({"lambda", "must be above 0 and at most 1e6"});
        }
        if (req->max_examples() < 0 || req->max_examples() > 2000000) {
          violations.push_back({"max_examples", "must be 0 (default 500,000) to 2,000,000"});
        }
        settings.max_examples = req->max_examples() == 0 ? 500000 : req->max_examples();
        if (req->fields_size() > 5) violations.push_back({"fields", "name at most 5 fields"});
        for (int i = 0; i < req->fields_size() && i < 5; ++i) {
          CheckGroupName(absl::StrCat("fields[", i, "]"), req->fields(i), {.plan = true},
                         violations);
          for (int j = 0; j < i; ++j) {
            if (req->fields(j) == req->fields(i)) {
              violations.push_back(
                  {absl::StrCat("fields[", i, "]"), absl::StrCat("repeats fields[", j, "]")});
            }
          }
        }
        const absl::Time now = absl::Now();
        settings.as_of = TimeOr(req->has_as_of(), req->as_of(), now, "as_of", violations);
        if (!violations.empty()) return InvalidArgument(violations);
        absl::StatusOr<query::Query> q =
            Prepare(req->query(), {.interval = false, .customers = req->fields_size() > 0}, ctx);
        if (!q.ok()) return ToGrpcStatus(q.status());
        settings.month_ends = query::MonthEndsOf(*q);
        if (settings.month_ends.empty()) {
          return InvalidArgument({{"query",
                                   "the range holds no month end: the examples are "
                                   "taken at month ends, so widen it"}});
        }
        absl::StatusOr<HealthModel> engagement =
            ModelOfPolicy(q->tenant.tenant_id, q->tenant.health_policy, ctx.deadline);
        if (!engagement.ok()) return ToGrpcStatus(engagement.status());
        const std::vector<std::string> fields(req->fields().begin(), req->fields().end());
        absl::StatusOr<engine::Model> model =
            query::Train(reader_, *q, settings, fields,
                         engagement->model.has_value() ? &*engagement->model : nullptr, ctx);
        if (!model.ok()) return ToGrpcStatus(model.status());
        v1::Model out;
        ToProto(*model, &out);
        out.set_tenant_id(q->tenant.tenant_id);
        out.set_model_id(req->model_id());
        out.set_start_date(engine::FormatIsoDate(q->start));
        out.set_end_date(engine::FormatIsoDate(q->end));
        for (const std::string& f : req->query().filter()) out.add_filter(f);
        out.set_engagement_model_id(engagement->model.has_value() ? engagement->id : "");
        int64_t versions = 0;
        for (const auto& v : q->history->versions()) versions += v.version;
        out.set_data_version(absl::StrCat(q->history->versions().size(), " subscription months, ",
                                          "version sum ", versions));
        ToProto(now, out.mutable_trained_at());
        ToProto(settings.as_of, out.mutable_as_of());
        out.set_currency(q->tenant.currency);
        const std::string json = StoredJson(out);
        absl::StatusOr<store::StoredDefinition> stored =
            trained_.Update(q->tenant.tenant_id, req->model_id(), json, ctx.deadline);
        if (absl::IsNotFound(stored.status())) {
          // A new id: within the tenant's bound (every health call reads the models).
          absl::StatusOr<std::vector<store::StoredDefinition>> all =
              trained_.List(q->tenant.tenant_id, ctx.deadline);
          if (!all.ok()) return ToGrpcStatus(all.status());
          if (all->size() >= kMaxTrainedModels) {
            return ToGrpcStatus(absl::FailedPreconditionError(
                absl::StrCat("tenant '", q->tenant.tenant_id, "' has ", all->size(),
                             " trained models, the most ",
                             "it may keep: delete one (DeleteModel) or retrain an existing id")));
          }
          stored = trained_.Create(q->tenant.tenant_id, req->model_id(), json, ctx.deadline);
        }
        if (!stored.ok()) return ToGrpcStatus(stored.status());
        *resp = std::move(out);
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* MetricsService::GetModel(grpc::CallbackServerContext* ctx,
                                                   const v1::GetModelRequest* req,
                                                   v1::Model* resp) {
  return RunUnary(ctx, env_, kService, "GetModel", {auth::kRead, req->tenant_id()},
                  [this, req, resp](const query::Context& ctx) {
                    if (!engine::IsValidResourceId(req->model_id())) {
                      return InvalidArgument({{"model_id", absl::StrCat("'", req->model_id(),
                                                                        "' is not a model id")}});
                    }
                    absl::StatusOr<store::StoredDefinition> stored =
                        trained_.Get(req->tenant_id(), req->model_id(), ctx.deadline);
                    if (!stored.ok()) return ToGrpcStatus(stored.status());
                    absl::StatusOr<v1::Model> model = FromStored(*stored);
                    if (!model.ok()) return ToGrpcStatus(model.status());
                    *resp = *std::move(model);
                    return grpc::Status::OK;
                  });
}

grpc::ServerUnaryReactor* MetricsService::ListModels(grpc::CallbackServerContext* ctx,
                                                     const v1::ListModelsRequest* req,
                                                     v1::ListModelsResponse* resp) {
  return RunUnary(ctx, env_, kService, "ListModels", {auth::kRead, req->tenant_id()},
                  [this, req, resp](const query::Context& ctx) {
                    absl::StatusOr<std::vector<store::StoredDefinition>> all =
                        trained_.List(req->tenant_id(), ctx.deadline);
                    if (!all.ok()) return ToGrpcStatus(all.status());
                    for (const store::StoredDefinition& stored : *all) {
                      absl::StatusOr<v1::Model> m = FromStored(stored);
                      if (!m.ok()) return ToGrpcStatus(m.status());
                      v1::ModelSummary* o = resp->add_models();
                      o->set_model_id(stored.id);
                      o->set_kind(m->kind());
                      o->set_start_date(m->start_date());
                      o->set_end_date(m->end_date());
                      o->set_horizon_days(m->horizon_days());
                      o->set_examples(m->examples());
                      o->set_positives(m->positives());
                      if (m->evaluation().has_auc()) *o->mutable_auc() = m->evaluation().auc();
                      *o->mutable_trained_at() = m->trained_at();
                    }
                    return grpc::Status::OK;
                  });
}

grpc::ServerUnaryReactor* MetricsService::DeleteModel(grpc::CallbackServerContext* ctx,
                                                      const v1::DeleteModelRequest* req,
                                                      v1::DeleteModelResponse*) {
  return RunUnary(
      ctx, env_, kService, "DeleteModel", {auth::kAdmin, req->tenant_id()},
      [this, req](const query::Context& ctx) {
        if (!engine::IsValidResourceId(req->model_id())) {
          return InvalidArgument(
              {{"model_id", absl::StrCat("'", req->model_id(), "' is not a model id")}});
        }
        return ToGrpcStatus(trained_.Delete(req->tenant_id(), req->model_id(), ctx.deadline));
      });
}

grpc::ServerUnaryReactor* MetricsService::ScoreCustomers(grpc::CallbackServerContext* ctx,
                                                         const v1::ScoreCustomersRequest* req,
                                                         v1::ScoreCustomersResponse* resp) {
  using Order = v1::ScoreCustomersRequest;
  return RunUnary(
      ctx, env_, kService, "ScoreCustomers", {auth::kRead, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        engine::Violations violations;
        if (!engine::IsValidResourceId(req->model_id())) {
          violations.push_back(
              {"model_id", absl::StrCat("'", req->model_id(), "' is not a model id")});
        }
        if (req->order() < 0 || req->order() > Order::ORDER_CUSTOMER_ID) {
          violations.push_back({"order", absl::StrCat("unknown value ", req->order())});
        }
        if (req->has_min_probability() &&
            !(req->min_probability().value() >= 0 && req->min_probability().value() <= 1)) {
          violations.push_back({"min_probability", "must be in [0, 1]"});
        }
        if (req->page_size() < 0) violations.push_back({"page_size", "must not be negative"});
        if (!violations.empty()) return InvalidArgument(violations);
        absl::StatusOr<store::StoredDefinition> stored =
            trained_.Get(req->query().tenant_id(), req->model_id(), ctx.deadline);
        if (!stored.ok()) return ToGrpcStatus(stored.status());
        absl::StatusOr<v1::Model> model = FromStored(*stored);
        if (!model.ok()) return ToGrpcStatus(model.status());
        if (absl::Status s = CheckFeatures(*model); !s.ok()) return ToGrpcStatus(s);
        // The cursor: the (probability, customer id) of the last customer served, for this
        // very model (a retrained one starts over).
        const std::string token_context =
            ScoreTokenContext(*req, absl::StrCat(absl::ToUnixMicros(stored->update_time)));
        std::optional<std::pair<double, std::string>> after;
        if (!req->page_token().empty()) {
          auto keys = OpenCursor(page_secret_, token_context, req->page_token());
          double p = 0;
          if (!keys.has_value() || !absl::SimpleAtod(keys->first, &p)) {
            return InvalidArgument({{"page_token", kNotOurToken}});
          }
          after.emplace(p, keys->second);
        }
        v1::MetricsQuery day = req->query();
        day.set_start_date(day.end_date());
        absl::StatusOr<query::Query> q =
            Prepare(day, {.interval = false, .customers = model->encoding_size() > 0}, ctx);
        if (!q.ok()) return ToGrpcStatus(q.status());
        std::optional<engine::EngagementModel> engagement;
        if (!model->engagement_model_id().empty()) {
          absl::StatusOr<engine::EngagementModel> m =
              Model(q->tenant.tenant_id, model->engagement_model_id(), ctx.deadline);
          if (absl::IsNotFound(m.status())) {
            return ToGrpcStatus(absl::FailedPreconditionError(absl::StrCat(
                "engagement model '", model->engagement_model_id(), "' that model '",
                req->model_id(), "' was trained with no longer exists: train it again")));
          }
          if (!m.ok()) return ToGrpcStatus(m.status());
          engagement = *std::move(m);
        }
        const engine::Model scorer = FromProto(*model);
        absl::StatusOr<std::vector<query::ScoredCustomer>> scores = query::Scores(
            reader_, *q, scorer, engagement.has_value() ? &*engagement : nullptr, ctx);
        if (!scores.ok()) return ToGrpcStatus(scores.status());
        // The page: filter, order (ties by customer id), after the cursor.
        const auto before = [&](const query::ScoredCustomer& a, const query::ScoredCustomer& b) {
          const double pa = a.score.probability, pb = b.score.probability;
          switch (req->order()) {
            case Order::ORDER_PROBABILITY_ASC:
              return pa != pb ? pa < pb : a.customer_id < b.customer_id;
            case Order::ORDER_CUSTOMER_ID:
              return a.customer_id < b.customer_id;
            default:
              return pa != pb ? pa > pb : a.customer_id < b.customer_id;
          }
        };
        std::optional<query::ScoredCustomer> last_served;
        if (after.has_value()) {
          last_served.emplace();
          last_served->score.probability = after->first;
          last_served->customer_id = after->second;
        }
        const double min = req->has_min_probability() ? req->min_probability().value() : 0;
        const query::PageOf<query::ScoredCustomer> page = query::Paginate(
            *scores, [&](const query::ScoredCustomer& c) { return c.score.probability >= min; },
            before, last_served, PageSize(req->page_size()));
        resp->set_date(engine::FormatIsoDate(q->end));
        resp->set_model_id(req->model_id());
        resp->set_kind(model->kind());
        resp->set_total(page.total);
        for (const query::ScoredCustomer* c : page.rows) {
          v1::CustomerScore* o = resp->add_scores();
          o->set_customer_id(c->customer_id);
          o->set_probability(c->score.probability);
          for (size_t k = 0; k < c->score.top.size(); ++k) {
            v1::ScoreFactor* f = o->add_top_factors();
            f->set_feature(scorer.features[static_cast<size_t>(c->score.top[k])].name);
            f->set_value(c->score.value[k]);
            f->set_contribution(c->score.contribution[k]);
          }
        }
        if (page.more) {
          const query::ScoredCustomer& last = *page.rows.back();
          resp->set_next_page_token(SealCursor(page_secret_, token_context,
                                               absl::StrFormat("%.17g", last.score.probability),
                                               last.customer_id));
        }
        return grpc::Status::OK;
      });
}

}  // namespace saasmetrics::rpc
