// Predictive-model and survival results (ANALYTICS.md "Predictive models") → responses.
#pragma once

#include "absl/status/statusor.h"
#include "saasmetrics/v1/metrics.pb.h"
#include "server/engine/model.h"
#include "server/query/models.h"
#include "server/store/definition_store.h"

namespace saasmetrics::rpc {

// Hazard ratios and their 95 % intervals from each term's coefficient and error.
void ToProto(const query::SurvivalAnswer& answer, v1::GetSurvivalResponse* out);
void ToProto(const engine::DriversResult& result, v1::GetRetentionDriversResponse* out);

// A trained model → the API's Model (fields the engine does not know are set by the
// caller), and back for scoring.
void ToProto(const engine::Model& model, v1::Model* out);
engine::Model FromProto(const v1::Model& model);
// The stored document (JSON; doubles round-trip exactly) and back: DATA_LOSS when it does
// not parse.
std::string StoredJson(const v1::Model& model);
absl::StatusOr<v1::Model> FromStored(const store::StoredDefinition& stored);

}  // namespace saasmetrics::rpc
