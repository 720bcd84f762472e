// Customer-success results (engagement, health, NPS, the customer profile, renewals, the
// ideal-customer profile) → responses; the revenue metrics' mapping is metrics_mapping.h.
#pragma once

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "saasmetrics/v1/metrics.pb.h"
#include "server/engine/engagement.h"
#include "server/engine/field_violation.h"
#include "server/engine/health.h"
#include "server/engine/icp.h"
#include "server/engine/renewals.h"
#include "server/query/health.h"
#include "server/query/metrics.h"
#include "server/query/nps.h"
#include "server/query/profile.h"

namespace saasmetrics::rpc {

void ToProto(const std::vector<engine::EngagementPoint>& points, v1::GetEngagementResponse* out);
void ToProto(const query::EngagementRow& row, v1::CustomerEngagementScore* out);
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
void ToProto(const engine::IcpResult& icp, v1::GetIdealCustomerProfileResponse* out);

}  // namespace saasmetrics::rpc
