// MetricsService's predictive-model RPCs (ANALYTICS.md "Predictive models"): survival
// and retention drivers; churn and upsell models trained, stored and scored. Each handler
// validates, maps, and calls the query layer (server/query/models.h).
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/engine/dates.h"
#include "server/engine/tenant.h"
#include "server/query/models.h"
#include "server/rpc/metrics_mapping.h"
#include "server/rpc/metrics_service.h"
#include "server/rpc/models_mapping.h"
#include "server/rpc/paging.h"
#include "server/rpc/status.h"

namespace saasmetrics::rpc {
namespace {

constexpr absl::string_view kService = "saasmetrics.v1.MetricsService";

}  // namespace

grpc::ServerUnaryReactor* MetricsService::GetSurvival(grpc::CallbackServerContext* ctx,
                                                      const v1::GetSurvivalRequest* req,
                                                      v1::GetSurvivalResponse* resp) {
  return RunUnary(ctx, env_, kService, "GetSurvival", {auth::kRead, req->query().tenant_id()},
                  [this, req, resp](const query::Context& ctx) {
                    engine::Violations violations;
                    if (!req->group_by().empty()) {
                      CheckGroupName("group_by", req->group_by(), {.plan = true}, violations);
                    }
                    CheckFieldNames("cox_fields", req->cox_fields(), query::kMaxCoxFields,
                                    violations);
                    if (req->cox_fields_size() > 0 && !req->cox()) {
                      violations.push_back({"cox_fields", "set cox to fit the model they are for"});
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
        const engine::DriverSettings settings = DriverSettingsFrom(*req, absl::Now(), violations);
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
        const absl::Time now = absl::Now();
        engine::TrainSettings settings = TrainSettingsFrom(*req, now, violations);
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
        DescribeTraining(*q, *req, engagement->model.has_value() ? engagement->id : "", now,
                         settings.as_of, &out);
        if (absl::Status s = StoreModel(out, ctx.deadline); !s.ok()) return ToGrpcStatus(s);
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
                      m->set_model_id(stored.id);
                      ToProto(*m, resp->add_models());
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
        model->set_model_id(req->model_id());
        absl::StatusOr<query::RiskModel> scorer =
            ScorerOf(req->query().tenant_id(), *model, ctx.deadline);
        if (!scorer.ok()) return ToGrpcStatus(scorer.status());
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
        absl::StatusOr<std::vector<query::ScoredCustomer>> scores =
            query::Scores(reader_, *q, scorer->model,
                          scorer->engagement.has_value() ? &*scorer->engagement : nullptr, ctx);
        if (!scores.ok()) return ToGrpcStatus(scores.status());
        const query::ModelScoreOrder order =
            req->order() == Order::ORDER_PROBABILITY_ASC ? query::ModelScoreOrder::kProbabilityAsc
            : req->order() == Order::ORDER_CUSTOMER_ID   ? query::ModelScoreOrder::kCustomerId
                                                         : query::ModelScoreOrder::kProbabilityDesc;
        const query::PageOf<query::ScoredCustomer> page = query::PageOfModelScores(
            *scores, order, req->has_min_probability() ? req->min_probability().value() : 0, after,
            PageSize(req->page_size()));
        resp->set_date(engine::FormatIsoDate(q->end));
        resp->set_model_id(req->model_id());
        resp->set_kind(model->kind());
        resp->set_total(page.total);
        for (const query::ScoredCustomer* c : page.rows) {
          ToProto(*c, scorer->model, resp->add_scores());
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
