#include "server/rpc/metrics_service.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "server/auth/keys.h"
#include "server/engine/dates.h"
#include "server/query/metrics.h"
#include "server/rpc/definition_mapping.h"
#include "server/rpc/metrics_mapping.h"
#include "server/rpc/status.h"

namespace saasmetrics::rpc {
namespace {

constexpr absl::string_view kService = "saasmetrics.v1.MetricsService";
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

// `types` checked (non-empty strings; at least one when required) and copied.
grpc::Status EventTypes(const google::protobuf::RepeatedPtrField<std::string>& types,
                        absl::string_view field, bool required, std::vector<std::string>* out) {
  if (required && types.empty()) {
    return InvalidArgument({{std::string(field), "needs at least one event type"}});
  }
  for (int i = 0; i < types.size(); ++i) {
    if (types[i].empty()) {
      return InvalidArgument({{absl::StrCat(field, "[", i, "]"), "must not be empty"}});
    }
  }
  out->assign(types.begin(), types.end());
  return grpc::Status::OK;
}

// A day or month count option: 0 means `fallback`; otherwise it must lie in [1, max].
int Count(int value, int fallback, int max, absl::string_view field, engine::Violations& out) {
  const int n = value == 0 ? fallback : value;
  if (n < 1 || n > max) {
    out.push_back({std::string(field), absl::StrCat("must be between 1 and ", max, ", got ", n)});
  }
  return n;
}

// What a ListMovements page token is bound to: the tenant and everything that selects the
// movements.
std::string MovementsTokenContext(const v1::ListMovementsRequest& req) {
  const v1::MetricsQuery& q = req.query();
  const absl::string_view nul("\0", 1);
  std::string context =
      absl::StrCat("ListMovements", nul, q.tenant_id(), nul, q.start_date(), "..", q.end_date());
  for (const std::string& f : q.filter()) absl::StrAppend(&context, nul, f);
  for (int t : req.types()) absl::StrAppend(&context, "|", t);
  return context;
}

}  // namespace

absl::StatusOr<query::Query> MetricsService::Prepare(const v1::MetricsQuery& q, query::Needs needs,
                                                     const query::Context& ctx) {
  return reader_.Prepare(SpecFrom(q), needs, ctx);
}

grpc::ServerUnaryReactor* MetricsService::GetMrr(grpc::CallbackServerContext* ctx,
                                                 const v1::GetMrrRequest* req,
                                                 v1::GetMrrResponse* resp) {
  return RunUnary(ctx, env_, kService, "GetMrr", {auth::kRead, req->query().tenant_id()},
                  [this, req, resp](const query::Context& ctx) {
                    // Unfiltered MRR is summed from the per-day totals.
                    absl::StatusOr<query::Query> q =
                        Prepare(req->query(), {.movements = false}, ctx);
                    if (!q.ok()) return ToGrpcStatus(q.status());
                    resp->set_currency(q->tenant.currency);
                    ToProto(query::Mrr(*q), resp);
                    return grpc::Status::OK;
                  });
}

grpc::ServerUnaryReactor* MetricsService::GetChurn(grpc::CallbackServerContext* ctx,
                                                   const v1::GetChurnRequest* req,
                                                   v1::GetChurnResponse* resp) {
  return RunUnary(
      ctx, env_, kService, "GetChurn", {auth::kRead, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        const std::string& group_by = req->group_by();
        if (!group_by.empty() && group_by != "plan" && !engine::IsCustomerField(group_by)) {
          return InvalidArgument(
              {{"group_by", absl::StrCat("unknown field '", group_by,
                                         "' (acquisition_channel, country, plan or "
                                         "attributes.<key>)")}});
        }
        absl::StatusOr<query::Query> q =
            Prepare(req->query(), {.customers = !group_by.empty() && group_by != "plan"}, ctx);
        if (!q.ok()) return ToGrpcStatus(q.status());
        ToProto(engine::ComputeChurnSeries(*q->movements, q->periods, q->pauses),
                resp->mutable_entries());
        if (group_by.empty()) return grpc::Status::OK;
        auto groups = query::ChurnByGroup(reader_, *q, group_by);
        if (!groups.ok()) return ToGrpcStatus(groups.status());
        for (const auto& [name, points] : *groups) {
          v1::ChurnGroup* g = resp->add_groups();
          g->set_group(name);
          ToProto(points, g->mutable_entries());
        }
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* MetricsService::GetActiveCustomers(
    grpc::CallbackServerContext* ctx, const v1::GetActiveCustomersRequest* req,
    v1::GetActiveCustomersResponse* resp) {
  return RunUnary(
      ctx, env_, kService, "GetActiveCustomers", {auth::kRead, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        std::vector<std::string> types;
        if (grpc::Status s = EventTypes(req->event_types(), "event_types", false, &types); !s.ok())
          return s;
        absl::StatusOr<query::Query> q = Prepare(req->query(), {.history = false}, ctx);
        if (!q.ok()) return ToGrpcStatus(q.status());
        absl::StatusOr<std::vector<int64_t>> active =
            query::ActiveCustomers(reader_, *q, types, ctx);
        if (!active.ok()) return ToGrpcStatus(active.status());
        ToProto(q->periods, *active, resp);
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* MetricsService::GetActivation(grpc::CallbackServerContext* ctx,
                                                        const v1::GetActivationRequest* req,
                                                        v1::GetActivationResponse* resp) {
  return RunUnary(ctx, env_, kService, "GetActivation", {auth::kRead, req->query().tenant_id()},
                  [this, req, resp](const query::Context& ctx) {
                    std::vector<std::string> types;
                    if (grpc::Status s = EventTypes(req->activation_event_types(),
                                                    "activation_event_types", true, &types);
                        !s.ok()) {
                      return s;
                    }
                    engine::Violations violations;
                    const int window_days =
                        Count(req->window_days(), 14, 365, "window_days", violations);
                    if (!violations.empty()) return InvalidArgument(violations);
                    absl::StatusOr<query::Query> q =
                        Prepare(req->query(), {.history = false, .customers = true}, ctx);
                    if (!q.ok()) return ToGrpcStatus(q.status());
                    absl::StatusOr<std::vector<engine::ActivationPoint>> points =
                        query::Activation(reader_, *q, types, window_days, ctx);
                    if (!points.ok()) return ToGrpcStatus(points.status());
                    ToProto(*points, resp);
                    return grpc::Status::OK;
                  });
}

grpc::ServerUnaryReactor* MetricsService::GetPqlCount(grpc::CallbackServerContext* ctx,
                                                      const v1::GetPqlCountRequest* req,
                                                      v1::GetPqlCountResponse* resp) {
  return RunUnary(ctx, env_, kService, "GetPqlCount", {auth::kRead, req->query().tenant_id()},
                  [this, req, resp](const query::Context& ctx) {
                    engine::Violations violations;
                    if (!engine::IsValidResourceId(req->rule_id())) {
                      violations.push_back(
                          {"rule_id", absl::StrCat("'", req->rule_id(), "' is not a rule id")});
                    }
                    const int window = Count(req->conversion_window_days(), 30, 365,
                                             "conversion_window_days", violations);
                    if (!violations.empty()) return InvalidArgument(violations);
                    // Each customer's movements come from the history, one at a time.
                    absl::StatusOr<query::Query> q =
                        Prepare(req->query(), {.movements = false}, ctx);
                    if (!q.ok()) return ToGrpcStatus(q.status());
                    absl::StatusOr<store::StoredDefinition> stored =
                        rules_.Get(req->query().tenant_id(), req->rule_id(), ctx.deadline);
                    if (!stored.ok()) return ToGrpcStatus(stored.status());
                    absl::StatusOr<v1::PqlRule> rule = FromStored<v1::PqlRule>(*stored);
                    if (!rule.ok()) return ToGrpcStatus(rule.status());
                    absl::StatusOr<std::vector<engine::PqlPoint>> points =
                        query::PqlCount(reader_, *q, FromProto(*rule), window, ctx);
                    if (!points.ok()) return ToGrpcStatus(points.status());
                    ToProto(*points, resp);
                    return grpc::Status::OK;
                  });
}

grpc::ServerUnaryReactor* MetricsService::GetCohortRetention(
    grpc::CallbackServerContext* ctx, const v1::GetCohortRetentionRequest* req,
    v1::GetCohortRetentionResponse* resp) {
  return RunUnary(
      ctx, env_, kService, "GetCohortRetention", {auth::kRead, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        const std::string& group_by = req->group_by();
        if (!group_by.empty() && !engine::IsCustomerField(group_by)) {
          return InvalidArgument({{"group_by", absl::StrCat("unknown field '", group_by,
                                                            "' (acquisition_channel, country or "
                                                            "attributes.<key>)")}});
        }
        absl::StatusOr<query::Query> q =
            Prepare(req->query(), {.customers = !group_by.empty()}, ctx);
        if (!q.ok()) return ToGrpcStatus(q.status());
        absl::StatusOr<std::vector<engine::Cohort>> cohorts = query::Cohorts(reader_, *q, group_by);
        if (!cohorts.ok()) return ToGrpcStatus(cohorts.status());
        ToProto(q->periods, *cohorts, resp);
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* MetricsService::GetUnitEconomics(grpc::CallbackServerContext* ctx,
                                                           const v1::GetUnitEconomicsRequest* req,
                                                           v1::GetUnitEconomicsResponse* resp) {
  return RunUnary(ctx, env_, kService, "GetUnitEconomics", {auth::kRead, req->query().tenant_id()},
                  [this, req, resp](const query::Context& ctx) {
                    engine::Violations violations;
                    const int months = Count(req->ltv_churn_window_months(), 6, 36,
                                             "ltv_churn_window_months", violations);
                    if (!violations.empty()) return InvalidArgument(violations);
                    absl::StatusOr<query::Query> q =
                        Prepare(req->query(), {.customers = true}, ctx);
                    if (!q.ok()) return ToGrpcStatus(q.status());
                    absl::StatusOr<std::vector<engine::UnitEconomics>> entries =
                        query::UnitEconomics(reader_, *q, months, ctx);
                    if (!entries.ok()) return ToGrpcStatus(entries.status());
                    resp->set_currency(q->tenant.currency);
                    ToProto(*entries, resp);
                    return grpc::Status::OK;
                  });
}

grpc::ServerUnaryReactor* MetricsService::ListMovements(grpc::CallbackServerContext* ctx,
                                                        const v1::ListMovementsRequest* req,
                                                        v1::ListMovementsResponse* resp) {
  return RunUnary(
      ctx, env_, kService, "ListMovements", {auth::kRead, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        engine::Violations violations;
        if (req->page_size() < 0) violations.push_back({"page_size", "must not be negative"});
        // The token is the (day, customer id) of the last movement served, sealed for this
        // tenant and query (auth::SealToken): it cannot be forged, nor used elsewhere.
        const std::string token_context = MovementsTokenContext(*req);
        std::optional<query::MovementCursor> after;
        if (!req->page_token().empty()) {
          const std::optional<std::string> token =
              auth::OpenToken(page_secret_, token_context, req->page_token());
          std::pair<std::string, std::string> parts =
              absl::StrSplit(token.value_or(""), absl::MaxSplits('|', 1));
          after.emplace();
          after->customer_id = parts.second;
          if (!token.has_value() || !engine::ParseIsoDate(parts.first, &after->day)) {
            violations.push_back(
                {"page_token", "is not a token this service issued for this query"});
          }
        }
        std::vector<engine::MovementType> types;
        for (int i = 0; i < req->types_size(); ++i) {
          if (req->types(i) < v1::MOVEMENT_TYPE_NEW_BUSINESS ||
              req->types(i) > v1::MOVEMENT_TYPE_REACTIVATION) {
            violations.push_back(
                {absl::StrCat("types[", i, "]"), absl::StrCat("unknown value ", req->types(i))});
          }
          types.push_back(static_cast<engine::MovementType>(req->types(i)));
        }
        if (!violations.empty()) return InvalidArgument(violations);
        absl::StatusOr<query::Query> q = Prepare(req->query(), {.interval = false}, ctx);
        if (!q.ok()) return ToGrpcStatus(q.status());
        const int page_size =
            req->page_size() == 0 ? kDefaultPageSize : std::min(req->page_size(), kMaxPageSize);
        const query::MovementPage page = query::ListMovements(*q, types, after, page_size);
        for (const query::MovementRow& row : page.rows) ToProto(row, resp->add_movements());
        if (page.more) {
          const query::MovementRow& last = page.rows.back();
          resp->set_next_page_token(auth::SealToken(
              page_secret_, token_context,
              absl::StrCat(engine::FormatIsoDate(last.movement.day), "|", last.customer_id)));
        }
        return grpc::Status::OK;
      });
}

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

// Whether `a` comes before `b` in the request's order (ties by customer id).
bool Before(int order, double a_score, const std::string& a_id, double b_score,
            const std::string& b_id) {
  if (order == Order::ORDER_CUSTOMER_ID || a_score == b_score) return a_id < b_id;
  return order == Order::ORDER_SCORE_ASC ? a_score < b_score : a_score > b_score;
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
        const int order = req->order() == 0 ? Order::ORDER_SCORE_DESC : req->order();
        // The token is the (score, customer id) of the last customer served, sealed for this
        // tenant and query.
        const std::string token_context = ScoresTokenContext(*req);
        std::optional<std::pair<double, std::string>> after;
        if (!req->page_token().empty()) {
          const std::optional<std::string> token =
              auth::OpenToken(page_secret_, token_context, req->page_token());
          std::pair<std::string, std::string> parts =
              absl::StrSplit(token.value_or(""), absl::MaxSplits('|', 1));
          after.emplace(0, parts.second);
          if (!token.has_value() || !absl::SimpleAtod(parts.first, &after->first)) {
            violations.push_back(
                {"page_token", "is not a token this service issued for this query"});
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
        absl::StatusOr<std::vector<query::EngagementRow>> rows =
            query::EngagementScores(reader_, *q, *model, q->end, ctx);
        if (!rows.ok()) return ToGrpcStatus(rows.status());
        // The customers in range after the cursor; only the page's worth is put in order.
        int64_t total = 0;
        std::vector<const query::EngagementRow*> selected;
        for (const query::EngagementRow& r : *rows) {
          if (req->has_min_score() && r.score < req->min_score().value()) continue;
          if (req->has_max_score() && r.score > req->max_score().value()) continue;
          ++total;
          if (after.has_value() &&
              !Before(order, after->first, after->second, r.score, r.customer_id)) {
            continue;
          }
          selected.push_back(&r);
        }
        auto before = [order](const query::EngagementRow* a, const query::EngagementRow* b) {
          return Before(order, a->score, a->customer_id, b->score, b->customer_id);
        };
        const int page_size =
            req->page_size() == 0 ? kDefaultPageSize : std::min(req->page_size(), kMaxPageSize);
        const auto last = selected.begin() +
                          std::min<ptrdiff_t>(page_size, static_cast<ptrdiff_t>(selected.size()));
        std::partial_sort(selected.begin(), last, selected.end(), before);
        resp->set_date(engine::FormatIsoDate(q->end));
        resp->set_total(total);
        for (auto r = selected.begin(); r != last; ++r) ToProto(**r, resp->add_customers());
        if (last != selected.end()) {
          const query::EngagementRow& l = **(last - 1);
          resp->set_next_page_token(
              auth::SealToken(page_secret_, token_context,
                              absl::StrCat(absl::StrFormat("%.17g", l.score), "|", l.customer_id)));
        }
        return grpc::Status::OK;
      });
}

}  // namespace saasmetrics::rpc
