// MetricsService's predictive-model RPCs (ANALYTICS.md "Predictive models"): survival
// and retention drivers.
#include "absl/strings/str_cat.h"
#include "server/engine/dates.h"
#include "server/query/models.h"
#include "server/rpc/convert.h"
#include "server/rpc/metrics_mapping.h"
#include "server/rpc/metrics_service.h"
#include "server/rpc/models_mapping.h"
#include "server/rpc/status.h"

namespace saasmetrics::rpc {
namespace {

constexpr absl::string_view kService = "saasmetrics.v1.MetricsService";

}  // namespace

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
        settings.as_of = absl::Now();
        if (req->has_as_of()) {
          // 1970-01-01 to 9999-12-31: the days the tenant's calendar can name.
          if (req->as_of().seconds() < 0 || req->as_of().seconds() > 253402300799 ||
              req->as_of().nanos() < 0 || req->as_of().nanos() > 999999999) {
            violations.push_back({"as_of", "must be a valid time from 1970 to 9999"});
          } else {
            settings.as_of = FromProto(req->as_of());
          }
        }
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

}  // namespace saasmetrics::rpc
