// MetricsService's engagement RPCs (ANALYTICS.md "Engagement score"); the rest are in
// metrics_service.cc.
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/engine/dates.h"
#include "server/query/metrics.h"
#include "server/rpc/definition_mapping.h"
#include "server/rpc/metrics_mapping.h"
#include "server/rpc/metrics_service.h"
#include "server/rpc/paging.h"
#include "server/rpc/status.h"
#include "server/rpc/success_mapping.h"

namespace saasmetrics::rpc {
namespace {

constexpr absl::string_view kService = "saasmetrics.v1.MetricsService";

}  // namespace

absl::StatusOr<engine::EngagementModel> MetricsService::Model(const std::string& tenant_id,
                                                              const std::string& model_id,
                                                              absl::Time deadline) {
  absl::StatusOr<store::StoredDefinition> stored = models_.Get(tenant_id, model_id, deadline);
  if (!stored.ok()) return stored.status();
  absl::StatusOr<v1::EngagementModel> model = FromStored<v1::EngagementModel>(*stored);
  if (!model.ok()) return model.status();
  return FromProto(*model);
}

grpc::ServerUnaryReactor* MetricsService::GetEngagement(grpc::CallbackServerContext* ctx,
                                                        const v1::GetEngagementRequest* req,
                                                        v1::GetEngagementResponse* resp) {
  return RunUnary(ctx, env_, kService, "GetEngagement", {auth::kRead, req->query().tenant_id()},
                  [this, req, resp](const query::Context& ctx) {
                    if (!engine::IsValidResourceId(req->model_id())) {
                      return InvalidArgument({{"model_id", absl::StrCat("'", req->model_id(),
                                                                        "' is not a model id")}});
                    }
                    absl::StatusOr<query::Query> q = Prepare(req->query(), {}, ctx);
                    if (!q.ok()) return ToGrpcStatus(q.status());
                    absl::StatusOr<engine::EngagementModel> model =
                        Model(req->query().tenant_id(), req->model_id(), ctx.deadline);
                    if (!model.ok()) return ToGrpcStatus(model.status());
                    absl::StatusOr<std::vector<engine::EngagementPoint>> points =
                        query::Engagement(reader_, *q, *model, ctx);
                    if (!points.ok()) return ToGrpcStatus(points.status());
                    ToProto(*points, resp);
                    return grpc::Status::OK;
                  });
}

namespace {

using Order = v1::ListEngagementScoresRequest;

query::ScoreOrder ScoreOrderFrom(int order) {
  switch (order) {
    case Order::ORDER_SCORE_ASC:
      return query::ScoreOrder::kScoreAsc;
    case Order::ORDER_CUSTOMER_ID:
      return query::ScoreOrder::kCustomerId;
    default:
      return query::ScoreOrder::kScoreDesc;
  }
}

std::optional<double> OptionalValue(bool has, const google::protobuf::DoubleValue& v) {
  return has ? std::optional<double>(v.value()) : std::nullopt;
}

// What a ListEngagementScores page token is bound to: the tenant and everything that
// selects and orders the customers.
std::string ScoresTokenContext(const v1::ListEngagementScoresRequest& req) {
  const absl::string_view nul("\0", 1);
  std::string context = absl::StrCat("ListEngagementScores", nul, req.query().tenant_id(), nul,
                                     req.query().end_date(), nul, req.model_id(), nul, req.order());
  for (const std::string& f : req.query().filter()) absl::StrAppend(&context, nul, f);
  if (req.has_min_score()) absl::StrAppend(&context, nul, "min", req.min_score().value());
  if (req.has_max_score()) absl::StrAppend(&context, nul, "max", req.max_score().value());
  return context;
}

}  // namespace

grpc::ServerUnaryReactor* MetricsService::ListEngagementScores(
    grpc::CallbackServerContext* ctx, const v1::ListEngagementScoresRequest* req,
    v1::ListEngagementScoresResponse* resp) {
  return RunUnary(
      ctx, env_, kService, "ListEngagementScores", {auth::kRead, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        engine::Violations violations;
        if (!engine::IsValidResourceId(req->model_id())) {
          violations.push_back(
              {"model_id", absl::StrCat("'", req->model_id(), "' is not a model id")});
        }
        if (req->order() < 0 || req->order() > Order::ORDER_CUSTOMER_ID) {
          violations.push_back({"order", absl::StrCat("unknown value ", req->order())});
        }
        if (req->page_size() < 0) violations.push_back({"page_size", "must not be negative"});
        // The cursor: the (score, customer id) of the last customer served.
        const std::string token_context = ScoresTokenContext(*req);
        std::optional<query::ScoreCursor> after;
        if (!req->page_token().empty()) {
          auto keys = OpenCursor(page_secret_, token_context, req->page_token());
          after.emplace();
          if (!keys.has_value() || !absl::SimpleAtod(keys->first, &after->score)) {
            violations.push_back({"page_token", kNotOurToken});
          } else {
            after->customer_id = keys->second;
          }
        }
        if (!violations.empty()) return InvalidArgument(violations);
        // One day: the customers paying at the end of end_date.
        v1::MetricsQuery day_query = req->query();
        day_query.set_start_date(day_query.end_date());
        absl::StatusOr<query::Query> q = Prepare(day_query, {.interval = false}, ctx);
        if (!q.ok()) return ToGrpcStatus(q.status());
        absl::StatusOr<engine::EngagementModel> model =
            Model(req->query().tenant_id(), req->model_id(), ctx.deadline);
        if (!model.ok()) return ToGrpcStatus(model.status());
        absl::StatusOr<query::EngagementTable> table =
            query::EngagementScores(reader_, *q, *model, q->end, ctx);
        if (!table.ok()) return ToGrpcStatus(table.status());
        const query::EngagementPage page =
            query::PageOfScores(table->rows, ScoreOrderFrom(req->order()),
                                OptionalValue(req->has_min_score(), req->min_score()),
                                OptionalValue(req->has_max_score(), req->max_score()), after,
                                PageSize(req->page_size()));
        resp->set_date(engine::FormatIsoDate(q->end));
        resp->set_total(page.total);
        for (const query::EngagementRow* r : page.rows) ToProto(*r, resp->add_customers());
        if (page.more) {
          const query::EngagementRow& last = *page.rows.back();
          resp->set_next_page_token(SealCursor(
              page_secret_, token_context, absl::StrFormat("%.17g", last.score), last.customer_id));
        }
        return grpc::Status::OK;
      });
}

}  // namespace saasmetrics::rpc
