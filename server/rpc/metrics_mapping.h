// Metric requests' protos → the query layer's types, and its results → responses.
#pragma once

#include <optional>
#include <vector>

#include "saasmetrics/v1/common.pb.h"
#include "saasmetrics/v1/metrics.pb.h"
#include "server/engine/cohorts.h"
#include "server/engine/field_violation.h"
#include "server/engine/pql.h"
#include "server/engine/renewals.h"
#include "server/engine/series.h"
#include "server/engine/usage.h"
#include "server/query/health.h"
#include "server/query/metrics.h"
#include "server/query/nps.h"
#include "server/query/profile.h"
#include "server/query/reader.h"

namespace saasmetrics::rpc {

// What a grouping or profiling request may name besides the customer record's fields
// (acquisition_channel, country, attributes.<key>).
struct GroupNames {
  bool plan = false;    // a customer in every plan it has an event on
  bool health = false;  // the health group at each period end
};
// Appends a violation of `field` when `value` names nothing `allowed` knows.
void CheckGroupName(absl::string_view field, const std::string& value, GroupNames allowed,
                    engine::Violations& out);

// The query as the client wrote it; the query layer validates it.
query::QuerySpec SpecFrom(const v1::MetricsQuery& q);

void ToProto(const engine::MrrSeries& series, v1::GetMrrResponse* out);
void ToProto(const std::vector<engine::ChurnPoint>& points,
             google::protobuf::RepeatedPtrField<v1::ChurnEntry>* out);
void ToProto(const std::vector<engine::Period>& periods, const std::vector<int64_t>& active,
             v1::GetActiveCustomersResponse* out);
void ToProto(const std::vector<engine::ActivationPoint>& points, v1::GetActivationResponse* out);
void ToProto(const std::vector<engine::PqlPoint>& points, v1::GetPqlCountResponse* out);
void ToProto(const std::vector<engine::EngagementPoint>& points, v1::GetEngagementResponse* out);
void ToProto(const query::EngagementRow& row, v1::CustomerEngagementScore* out);
void ToProto(const std::vector<engine::Period>& periods, const std::vector<engine::Cohort>& cohorts,
             v1::GetCohortRetentionResponse* out);
void ToProto(const std::vector<engine::UnitEconomics>& entries, v1::GetUnitEconomicsResponse* out);
void ToProto(const query::MovementRow& row, v1::Movement* out);
v1::HealthGroup ToProto(engine::HealthGroup group);
std::optional<engine::HealthGroup> FromProto(v1::HealthGroup group);  // nullopt: UNSPECIFIED
void ToProto(const std::vector<engine::HealthPoint>& points, v1::GetHealthResponse* out);
void ToProto(const query::HealthRow& row, v1::HealthCustomer* out);
void ToProto(const query::TransitionRow& row, v1::CustomerTransition* out);
void ToProto(const query::NpsAnswer& answer, v1::GetNpsResponse* out);
void ToProto(const query::CustomerProfile& profile, v1::CustomerProfile* out);
// A request's term: unset (or all zero) is `fallback`; a count of 0 is 1. Appends
// violations naming `field`.unit and `field`.count.
engine::Term TermFrom(const v1::Term& term, bool has, engine::Term fallback,
                      absl::string_view field, engine::Violations& out);
void ToProto(engine::Term term, v1::Term* out);
void ToProto(const std::vector<engine::RenewalPoint>& points, v1::GetRenewalsResponse* out);
void ToProto(const std::vector<engine::MrrByCohortPoint>& points, v1::GetMrrByCohortResponse* out);

}  // namespace saasmetrics::rpc
