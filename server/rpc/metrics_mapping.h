// Metric requests' protos → the query layer's types, and its results → responses.
#pragma once

#include <optional>
#include <vector>

#include "saasmetrics/v1/common.pb.h"
#include "saasmetrics/v1/metrics.pb.h"
#include "server/engine/cohorts.h"
#include "server/engine/field_violation.h"
#include "server/engine/pql.h"
#include "server/engine/series.h"
#include "server/engine/usage.h"
#include "server/query/metrics.h"
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

// Sets the wrapper `mutable_field` of `msg` when `r` has a value.
template <typename Msg, typename Mutable>
void MaybeSet(std::optional<double> r, Msg* msg, Mutable mutable_field) {
  if (r.has_value()) (msg->*mutable_field)()->set_value(*r);
}

// The query as the client wrote it; the query layer validates it.
query::QuerySpec SpecFrom(const v1::MetricsQuery& q);

void ToProto(const engine::MrrSeries& series, v1::GetMrrResponse* out);
// Each entry's MRR per native currency (query::NativeMrr, one list per entry).
void ToProto(const std::vector<std::vector<engine::CurrencyMrr>>& by_currency,
             v1::GetMrrResponse* out);
void ToProto(const std::vector<engine::ChurnPoint>& points,
             google::protobuf::RepeatedPtrField<v1::ChurnEntry>* out);
void ToProto(const std::vector<engine::Period>& periods, const std::vector<int64_t>& active,
             v1::GetActiveCustomersResponse* out);
void ToProto(const std::vector<engine::ActivationPoint>& points, v1::GetActivationResponse* out);
void ToProto(const std::vector<engine::PqlPoint>& points, v1::GetPqlCountResponse* out);
void ToProto(const std::vector<engine::Period>& periods, const std::vector<engine::Cohort>& cohorts,
             v1::GetCohortRetentionResponse* out);
void ToProto(const std::vector<engine::UnitEconomics>& entries, v1::GetUnitEconomicsResponse* out);
void ToProto(const query::MovementRow& row, v1::Movement* out);
void ToProto(const std::vector<engine::MrrByCohortPoint>& points, v1::GetMrrByCohortResponse* out);

}  // namespace saasmetrics::rpc
