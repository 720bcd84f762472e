// MetricsService's customer-success RPCs (ANALYTICS.md "Health groups", "NPS"): the
// tenant's health policy and the engagement model it names decide the groups.
#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "server/engine/dates.h"
#include "server/engine/filters.h"
#include "server/engine/ingest_validation.h"
#include "server/engine/tenant.h"
#include "server/query/health.h"
#include "server/query/nps.h"
#include "server/query/profile.h"
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

absl::StatusOr<MetricsService::HealthModel> MetricsService::ModelOfPolicy(
    const std::string& tenant_id, const engine::HealthPolicy& policy, absl::Time deadline) {
  HealthModel out;
  if (!policy.engagement_model_id.empty()) {
    absl::StatusOr<engine::EngagementModel> model =
        Model(tenant_id, policy.engagement_model_id, deadline);
    if (absl::IsNotFound(model.status())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the health policy of tenant '", tenant_id, "' names engagement model '",
          policy.engagement_model_id,
          "', which does not exist: create it, or set the policy's engagement_model_id"));
    }
    if (!model.ok()) return model.status();
    out.id = policy.engagement_model_id;
    out.model = *std::move(model);
    return out;
  }
  // The tenant's first model, by creation.
  absl::StatusOr<std::vector<store::StoredDefinition>> all = models_.List(tenant_id, deadline);
  if (!all.ok()) return all.status();
  if (all->empty()) return out;
  const store::StoredDefinition& first =
      *std::min_element(all->begin(), all->end(),
                        [](const store::StoredDefinition& a, const store::StoredDefinition& b) {
                          return std::tie(a.create_time, a.id) < std::tie(b.create_time, b.id);
                        });
  absl::StatusOr<v1::EngagementModel> model = FromStored<v1::EngagementModel>(first);
  if (!model.ok()) return model.status();
  absl::StatusOr<engine::EngagementModel> engine_model = FromProto(*model);
  if (!engine_model.ok()) return engine_model.status();
  out.id = first.id;
  out.model = *std::move(engine_model);
  return out;
}

grpc::ServerUnaryReactor* MetricsService::GetHealth(grpc::CallbackServerContext* ctx,
                                                    const v1::GetHealthRequest* req,
                                                    v1::GetHealthResponse* resp) {
  return RunUnary(ctx, env_, kService, "GetHealth", {auth::kRead, req->query().tenant_id()},
                  [this, req, resp](const query::Context& ctx) {
                    absl::StatusOr<HealthSetup> h = PrepareHealth(req->query(), {}, ctx);
                    if (!h.ok()) return ToGrpcStatus(h.status());
                    absl::StatusOr<std::vector<engine::HealthPoint>> points = query::Health(
                        reader_, h->q, h->q.tenant.health_policy, h->model(), ctx, h->risk());
                    if (!points.ok()) return ToGrpcStatus(points.status());
                    ToProto(*points, resp);
                    resp->set_engagement_model_id(h->engagement.id);
                    return grpc::Status::OK;
                  });
}

namespace {

using Order = v1::ListHealthCustomersRequest;

query::HealthOrder HealthOrderFrom(int order) {
  switch (order) {
    case Order::ORDER_SCORE_ASC:
      return query::HealthOrder::kScoreAsc;
    case Order::ORDER_CUSTOMER_ID:
      return query::HealthOrder::kCustomerId;
    default:
      return query::HealthOrder::kMrrDesc;
  }
}

// What a ListHealthCustomers page token is bound to: the tenant and everything that
// selects and orders the customers.
std::string HealthTokenContext(const v1::ListHealthCustomersRequest& req) {
  const absl::string_view nul("\0", 1);
  std::string context = absl::StrCat("ListHealthCustomers", nul, req.query().tenant_id(), nul,
                                     req.query().end_date(), nul, req.group(), nul, req.order());
  for (const std::string& f : req.query().filter()) absl::StrAppend(&context, nul, f);
  return context;
}

// The sort keys of the last row served: "<mrr>:<score>" (score −1 for none).
std::string CursorKeys(const query::HealthRow& row) {
  return absl::StrFormat("%d:%.17g", row.mrr, row.score.value_or(-1));
}

std::optional<query::HealthRow> RowOfCursor(const std::string& keys, const std::string& id) {
  std::pair<std::string, std::string> parts = absl::StrSplit(keys, absl::MaxSplits(':', 1));
  query::HealthRow row;
  double score = 0;
  if (!absl::SimpleAtoi(parts.first, &row.mrr) || !absl::SimpleAtod(parts.second, &score)) {
    return std::nullopt;
  }
  if (score >= 0) row.score = score;
  row.customer_id = id;
  return row;
}

}  // namespace

grpc::ServerUnaryReactor* MetricsService::ListHealthCustomers(
    grpc::CallbackServerContext* ctx, const v1::ListHealthCustomersRequest* req,
    v1::ListHealthCustomersResponse* resp) {
  return RunUnary(
      ctx, env_, kService, "ListHealthCustomers", {auth::kRead, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        engine::Violations violations;
        if (!v1::HealthGroup_IsValid(req->group())) {
          violations.push_back({"group", absl::StrCat("unknown value ", req->group())});
        }
        if (req->order() < 0 || req->order() > Order::ORDER_CUSTOMER_ID) {
          violations.push_back({"order", absl::StrCat("unknown value ", req->order())});
        }
        if (req->page_size() < 0) violations.push_back({"page_size", "must not be negative"});
        const std::string token_context = HealthTokenContext(*req);
        std::optional<query::HealthRow> after;
        if (!req->page_token().empty()) {
          auto keys = OpenCursor(page_secret_, token_context, req->page_token());
          if (keys.has_value()) after = RowOfCursor(keys->first, keys->second);
          if (!after.has_value()) violations.push_back({"page_token", kNotOurToken});
        }
        if (!violations.empty()) return InvalidArgument(violations);
        // One day: the groups at the end of end_date.
        v1::MetricsQuery day_query = req->query();
        day_query.set_start_date(day_query.end_date());
        absl::StatusOr<HealthSetup> h = PrepareHealth(day_query, {.interval = false}, ctx);
        if (!h.ok()) return ToGrpcStatus(h.status());
        const query::Query* q = &h->q;
        const HealthModel* model = &h->engagement;
        absl::StatusOr<std::vector<query::HealthRow>> rows = query::HealthOfCustomers(
            reader_, h->q, h->q.tenant.health_policy, h->model(), h->q.end, ctx, h->risk());
        if (!rows.ok()) return ToGrpcStatus(rows.status());
        absl::StatusOr<query::HealthPage> page = query::PageOfHealth(
            reader_, *q, *rows, FromProto(req->group()), HealthOrderFrom(req->order()), after,
            PageSize(req->page_size()), q->end, ctx);
        if (!page.ok()) return ToGrpcStatus(page.status());
        resp->set_date(engine::FormatIsoDate(q->end));
        resp->set_total(page->total);
        resp->set_engagement_model_id(model->id);
        for (const query::HealthRow& r : page->rows) ToProto(r, resp->add_customers());
        if (page->more) {
          const query::HealthRow& last = page->rows.back();
          resp->set_next_page_token(
              SealCursor(page_secret_, token_context, CursorKeys(last), last.customer_id));
        }
        return grpc::Status::OK;
      });
}

namespace {

// What a ListHealthTransitions page token is bound to.
std::string TransitionTokenContext(const v1::ListHealthTransitionsRequest& req) {
  const absl::string_view nul("\0", 1);
  std::string context =
      absl::StrCat("ListHealthTransitions", nul, req.query().tenant_id(), nul,
                   req.query().start_date(), nul, req.query().end_date(), nul, req.to());
  for (const std::string& f : req.query().filter()) absl::StrAppend(&context, nul, f);
  return context;
}

}  // namespace

grpc::ServerUnaryReactor* MetricsService::ListHealthTransitions(
    grpc::CallbackServerContext* ctx, const v1::ListHealthTransitionsRequest* req,
    v1::ListHealthTransitionsResponse* resp) {
  return RunUnary(
      ctx, env_, kService, "ListHealthTransitions", {auth::kRead, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        engine::Violations violations;
        if (!v1::HealthGroup_IsValid(req->to())) {
          violations.push_back({"to", absl::StrCat("unknown value ", req->to())});
        }
        if (req->page_size() < 0) violations.push_back({"page_size", "must not be negative"});
        const std::string token_context = TransitionTokenContext(*req);
        std::optional<query::TransitionRow> after;
        if (!req->page_token().empty()) {
          auto keys = OpenCursor(page_secret_, token_context, req->page_token());
          absl::CivilDay day;
          if (keys.has_value() && engine::ParseIsoDate(keys->first, &day)) {
            after = query::TransitionRow{.day = day, .customer_id = keys->second};
          } else {
            violations.push_back({"page_token", kNotOurToken});
          }
        }
        absl::CivilDay start, end;
        if (engine::ParseIsoDate(req->query().start_date(), &start) &&
            engine::ParseIsoDate(req->query().end_date(), &end) &&
            end - start >= query::kMaxTransitionDays) {
          violations.push_back(
              {"query.end_date", absl::StrCat("at most ", query::kMaxTransitionDays,
                                              " days from query.start_date (inclusive)")});
        }
        if (!violations.empty()) return InvalidArgument(violations);
        absl::StatusOr<HealthSetup> h = PrepareHealth(req->query(), {.interval = false}, ctx);
        if (!h.ok()) return ToGrpcStatus(h.status());
        const HealthModel* model = &h->engagement;
        absl::StatusOr<std::vector<query::TransitionRow>> rows = query::HealthTransitions(
            reader_, h->q, h->q.tenant.health_policy, h->model(), ctx, h->risk());
        if (!rows.ok()) return ToGrpcStatus(rows.status());
        std::optional<engine::HealthGroup> to;
        if (req->to() != v1::HEALTH_GROUP_UNSPECIFIED) to = FromProto(req->to());
        const query::TransitionPage page =
            query::PageOfTransitions(*rows, to, after, PageSize(req->page_size()));
        resp->set_total(page.total);
        resp->set_engagement_model_id(model->id);
        for (const query::TransitionRow* r : page.rows) ToProto(*r, resp->add_transitions());
        if (page.more) {
          const query::TransitionRow& last = *page.rows.back();
          resp->set_next_page_token(SealCursor(page_secret_, token_context,
                                               engine::FormatIsoDate(last.day), last.customer_id));
        }
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* MetricsService::GetNps(grpc::CallbackServerContext* ctx,
                                                 const v1::GetNpsRequest* req,
                                                 v1::GetNpsResponse* resp) {
  return RunUnary(
      ctx, env_, kService, "GetNps", {auth::kRead, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        const std::string& group_by = req->group_by();
        const bool field = !group_by.empty() && group_by != "plan" && group_by != "health";
        engine::Violations violations;
        if (!group_by.empty()) {
          CheckGroupName("group_by", group_by, {.plan = true, .health = true}, violations);
        }
        if (!violations.empty()) return InvalidArgument(violations);
        absl::StatusOr<query::NpsAnswer> answer;
        if (group_by == "health") {
          absl::StatusOr<HealthSetup> h = PrepareHealth(req->query(), {}, ctx);
          if (!h.ok()) return ToGrpcStatus(h.status());
          answer = query::Nps(reader_, h->q, group_by, h->q.tenant.health_policy, h->model(), ctx,
                              h->risk());
        } else {
          absl::StatusOr<query::Query> q = Prepare(req->query(), {.customers = field}, ctx);
          if (!q.ok()) return ToGrpcStatus(q.status());
          answer = query::Nps(reader_, *q, group_by, q->tenant.health_policy, nullptr, ctx);
        }
        if (!answer.ok()) return ToGrpcStatus(answer.status());
        ToProto(*answer, resp);
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* MetricsService::GetCustomer(grpc::CallbackServerContext* ctx,
                                                      const v1::GetCustomerRequest* req,
                                                      v1::CustomerProfile* resp) {
  return RunUnary(
      ctx, env_, kService, "GetCustomer", {auth::kRead, req->tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        engine::Violations violations;
        if (req->customer_id().empty() ||
            req->customer_id().size() > static_cast<size_t>(engine::IngestLimits{}.max_id_bytes)) {
          violations.push_back({"customer_id", "must be 1 to 256 bytes"});
        }
        engine::ValidateTenantId(req->tenant_id(), "tenant_id", violations);
        absl::CivilDay asked;
        if (!req->date().empty() && !engine::ParseIsoDate(req->date(), &asked)) {
          violations.push_back(
              {"date", absl::StrCat("'", req->date(), "' is not a date YYYY-MM-DD")});
        }
        if (!violations.empty()) return InvalidArgument(violations);
        // The day: as asked, or today in the tenant's zone.
        std::string date = req->date();
        if (date.empty()) {
          absl::StatusOr<engine::Tenant> tenant = reader_.Tenant(req->tenant_id(), ctx);
          if (!tenant.ok()) return ToGrpcStatus(tenant.status());
          absl::TimeZone tz;
          if (!absl::LoadTimeZone(tenant->timezone, &tz)) tz = absl::UTCTimeZone();
          date = engine::FormatIsoDate(absl::ToCivilDay(absl::Now(), tz));
        }
        v1::MetricsQuery day;
        day.set_tenant_id(req->tenant_id());
        day.set_start_date(date);
        day.set_end_date(date);
        absl::StatusOr<HealthSetup> h =
            PrepareHealth(day, {.interval = false, .customers = true}, ctx);
        if (!h.ok()) return ToGrpcStatus(h.status());
        const query::Query* q = &h->q;
        const HealthModel* model = &h->engagement;
        absl::StatusOr<std::optional<TrainedModel>> upsell =
            LatestModel(req->tenant_id(), v1::MODEL_KIND_UPSELL, ctx.deadline);
        if (!upsell.ok()) return ToGrpcStatus(upsell.status());
        query::ProfileModels models;
        if (h->churn.has_value()) {
          models.churn = &h->churn->scorer;
          models.churn_id = h->churn->id;
        }
        if (upsell->has_value()) {
          models.upsell = &(*upsell)->scorer;
          models.upsell_id = (*upsell)->id;
        }
        absl::StatusOr<query::CustomerProfile> profile = query::Profile(
            reader_, h->q, req->customer_id(), h->q.tenant.health_policy, h->model(), ctx, models);
        if (!profile.ok()) return ToGrpcStatus(profile.status());
        ToProto(*profile, resp);
        resp->set_date(engine::FormatIsoDate(q->end));
        resp->set_engagement_model_id(model->id);
        if (profile->first_paid_day.has_value()) {
          resp->set_tenure_days(static_cast<int32_t>(q->end - *profile->first_paid_day));
        }
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* MetricsService::GetIdealCustomerProfile(
    grpc::CallbackServerContext* ctx, const v1::GetIdealCustomerProfileRequest* req,
    v1::GetIdealCustomerProfileResponse* resp) {
  return RunUnary(
      ctx, env_, kService, "GetIdealCustomerProfile", {auth::kRead, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        engine::Violations violations;
        if (req->fields_size() < 1 || req->fields_size() > engine::kMaxIcpFields) {
          violations.push_back(
              {"fields", absl::StrCat("name 1 to ", engine::kMaxIcpFields, " customer fields")});
        }
        for (int i = 0; i < req->fields_size() && i < engine::kMaxIcpFields; ++i) {
          CheckGroupName(absl::StrCat("fields[", i, "]"), req->fields(i), {.plan = true},
                         violations);
        }
        const double top_share = req->has_top_share() ? req->top_share().value() : 0.2;
        if (!(top_share > 0 && top_share <= 1)) {
          violations.push_back({"top_share", "must be above 0 and at most 1"});
        }
        if (req->min_count() < 0) violations.push_back({"min_count", "must not be negative"});
        if (!violations.empty()) return InvalidArgument(violations);
        v1::MetricsQuery day = req->query();
        day.set_start_date(day.end_date());
        absl::StatusOr<query::Query> q = Prepare(day, {.interval = false, .customers = true}, ctx);
        if (!q.ok()) return ToGrpcStatus(q.status());
        const std::vector<std::string> fields(req->fields().begin(), req->fields().end());
        const absl::StatusOr<engine::IcpResult> found = query::IdealCustomers(
            reader_, *q, fields, top_share, req->min_count() == 0 ? 10 : req->min_count(), ctx);
        if (!found.ok()) return ToGrpcStatus(found.status());
        resp->set_date(engine::FormatIsoDate(q->end));
        ToProto(*found, resp);
        return grpc::Status::OK;
      });
}

}  // namespace saasmetrics::rpc
