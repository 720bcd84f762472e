// Predictive-model and survival results (ANALYTICS.md "Predictive models") → responses.
#pragma once

#include "absl/status/statusor.h"
#include "saasmetrics/v1/metrics.pb.h"
#include "server/engine/field_violation.h"
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

// An optional request time: `fallback` when unset; a violation outside 1970 … 9999.
absl::Time TimeOr(bool has, const google::protobuf::Timestamp& t, absl::Time fallback,
                  const char* field, engine::Violations& violations);
// Violations of a list of customer fields named `name`: at most `most`, each known, none
// repeated.
void CheckFieldNames(absl::string_view name,
                     const google::protobuf::RepeatedPtrField<std::string>& fields, int most,
                     engine::Violations& violations);
// Request settings, defaults applied; violations for what is out of bounds.
engine::DriverSettings DriverSettingsFrom(const v1::GetRetentionDriversRequest& req, absl::Time now,
                                          engine::Violations& violations);
engine::TrainSettings TrainSettingsFrom(const v1::TrainModelRequest& req, absl::Time now,
                                        engine::Violations& violations);
// What a stored model says beyond the engine's fit: its ids, range, filters, engagement
// model, data version, times and currency.
void DescribeTraining(const query::Query& q, const v1::TrainModelRequest& req,
                      const std::string& engagement_model_id, absl::Time trained_at,
                      absl::Time as_of, v1::Model* out);
// The stored model's features are what this version computes (else it cannot score).
absl::Status CheckFeatures(const v1::Model& m);
// What a ScoreCustomers page token is bound to; `trained`: the model's version.
std::string ScoreTokenContext(const v1::ScoreCustomersRequest& req, absl::string_view trained);
void ToProto(const query::ScoredCustomer& c, const engine::Model& model, v1::CustomerScore* out);
void ToProto(const v1::Model& model, v1::ModelSummary* out);

}  // namespace saasmetrics::rpc
