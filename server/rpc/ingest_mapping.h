// saasmetrics.v1 ingest messages → engine types. What can't be represented (a malformed
// date) becomes a field violation; value rules are the engine's (ingest_validation.h).
#pragma once

#include <vector>

#include "absl/time/time.h"
#include "saasmetrics/v1/ingest.pb.h"
#include "server/engine/currency.h"
#include "server/engine/events.h"
#include "server/engine/field_violation.h"

namespace saasmetrics::rpc {

std::vector<engine::SubscriptionEvent> FromProto(
    const google::protobuf::RepeatedPtrField<v1::SubscriptionEvent>& events);
std::vector<engine::UsageEvent> FromProto(
    const google::protobuf::RepeatedPtrField<v1::UsageEvent>& events);
// An unset updated_at becomes `now`.
std::vector<engine::Customer> FromProto(
    const google::protobuf::RepeatedPtrField<v1::Customer>& customers, absl::Time now);
std::vector<engine::SurveyResponse> FromProto(
    const google::protobuf::RepeatedPtrField<v1::SurveyResponse>& responses);
std::vector<engine::AcquisitionSpend> FromProto(
    const google::protobuf::RepeatedPtrField<v1::AcquisitionSpend>& spend,
    engine::Violations& violations);

// A rate is parsed here (ParseRate): text that is not one becomes a violation.
std::vector<engine::ExchangeRate> FromProto(
    const google::protobuf::RepeatedPtrField<v1::ExchangeRate>& rates,
    engine::Violations& violations);

}  // namespace saasmetrics::rpc
