#include "server/rpc/metrics_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/auth/keys.h"
#include "server/engine/dates.h"
#include "server/query/metrics.h"
#include "server/rpc/definition_mapping.h"
#include "server/rpc/metrics_mapping.h"
#include "server/rpc/paging.h"
#include "server/rpc/status.h"
#include "server/rpc/success_mapping.h"

namespace saasmetrics::rpc {
namespace {

constexpr absl::string_view kService = "saasmetrics.v1.MetricsService";

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
                    if (req->by_currency()) ToProto(query::NativeMrr(*q), resp);
                    return grpc::Status::OK;
                  });
}

grpc::ServerUnaryReactor* MetricsService::GetChurn(grpc::CallbackServerContext* ctx,
                                                   const v1::GetChurnRequest* req,
                                                   v1::GetChurnResponse* resp) {
  return RunUnary(ctx, env_, kService, "GetChurn", {auth::kRead, req->query().tenant_id()},
                  [this, req, resp](const query::Context& ctx) {
                    const std::string& group_by = req->group_by();
                    engine::Violations violations;
                    if (!group_by.empty())
                      CheckGroupName("group_by", group_by, {.plan = true}, violations);
                    if (!violations.empty()) return InvalidArgument(violations);
                    absl::StatusOr<query::Query> q = Prepare(
                        req->query(), {.customers = !group_by.empty() && group_by != "plan"}, ctx);
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

grpc::ServerUnaryReactor* MetricsService::GetMrrByCohort(grpc::CallbackServerContext* ctx,
                                                         const v1::GetMrrByCohortRequest* req,
                                                         v1::GetMrrByCohortResponse* resp) {
  return RunUnary(ctx, env_, kService, "GetMrrByCohort", {auth::kRead, req->query().tenant_id()},
                  [this, req, resp](const query::Context& ctx) {
                    absl::StatusOr<query::Query> q =
                        Prepare(req->query(), {.movements = false}, ctx);
                    if (!q.ok()) return ToGrpcStatus(q.status());
                    auto points = query::MrrByCohort(reader_, *q);
                    if (!points.ok()) return ToGrpcStatus(points.status());
                    resp->set_currency(q->tenant.currency);
                    ToProto(*points, resp);
                    return grpc::Status::OK;
                  });
}

grpc::ServerUnaryReactor* MetricsService::GetRenewals(grpc::CallbackServerContext* ctx,
                                                      const v1::GetRenewalsRequest* req,
                                                      v1::GetRenewalsResponse* resp) {
  return RunUnary(ctx, env_, kService, "GetRenewals", {auth::kRead, req->query().tenant_id()},
                  [this, req, resp](const query::Context& ctx) {
                    engine::Violations violations;
                    const engine::Term min_term =
                        TermFrom(req->min_term(), req->has_min_term(), {}, "min_term", violations);
                    if (!violations.empty()) return InvalidArgument(violations);
                    absl::StatusOr<query::Query> q =
                        Prepare(req->query(), {.movements = false}, ctx);
                    if (!q.ok()) return ToGrpcStatus(q.status());
                    absl::StatusOr<std::vector<engine::RenewalPoint>> points =
                        query::Renewals(reader_, *q, min_term, ctx);
                    if (!points.ok()) return ToGrpcStatus(points.status());
                    resp->set_currency(q->tenant.currency);
                    ToProto(min_term, resp->mutable_min_term());
                    ToProto(*points, resp);
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
        engine::Violations violations;
        if (!group_by.empty()) CheckGroupName("group_by", group_by, {}, violations);
        if (!violations.empty()) return InvalidArgument(violations);
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
  return RunUnary(ctx, env_, kService, "ListMovements", {auth::kRead, req->query().tenant_id()},
                  [this, req, resp](const query::Context& ctx) {
                    engine::Violations violations;
                    if (req->page_size() < 0)
                      violations.push_back({"page_size", "must not be negative"});
                    // The cursor: the (day, customer id) of the last movement served.
                    const std::string token_context = MovementsTokenContext(*req);
                    std::optional<query::MovementCursor> after;
                    if (!req->page_token().empty()) {
                      auto keys = OpenCursor(page_secret_, token_context, req->page_token());
                      after.emplace();
                      if (!keys.has_value() || !engine::ParseIsoDate(keys->first, &after->day)) {
                        violations.push_back({"page_token", kNotOurToken});
                      } else {
                        after->customer_id = keys->second;
                      }
                    }
                    std::vector<engine::MovementType> types;
                    for (int i = 0; i < req->types_size(); ++i) {
                      if (req->types(i) < v1::MOVEMENT_TYPE_NEW_BUSINESS ||
                          req->types(i) > v1::MOVEMENT_TYPE_REACTIVATION) {
                        violations.push_back({absl::StrCat("types[", i, "]"),
                                              absl::StrCat("unknown value ", req->types(i))});
                      }
                      types.push_back(static_cast<engine::MovementType>(req->types(i)));
                    }
                    if (!violations.empty()) return InvalidArgument(violations);
                    absl::StatusOr<query::Query> q =
                        Prepare(req->query(), {.interval = false}, ctx);
                    if (!q.ok()) return ToGrpcStatus(q.status());
                    const query::MovementPage page =
                        query::ListMovements(*q, types, after, PageSize(req->page_size()));
                    for (const query::MovementRow& row : page.rows)
                      ToProto(row, resp->add_movements());
                    if (page.more) {
                      const query::MovementRow& last = page.rows.back();
                      resp->set_next_page_token(SealCursor(page_secret_, token_context,
                                                           engine::FormatIsoDate(last.movement.day),
                                                           last.customer_id));
                    }
                    return grpc::Status::OK;
                  });
}

}  // namespace saasmetrics::rpc
