// Predictive-model and survival results (ANALYTICS.md "Predictive models") → responses.
#pragma once

#include "saasmetrics/v1/metrics.pb.h"
#include "server/query/models.h"

namespace saasmetrics::rpc {

// Hazard ratios and their 95 % intervals from each term's coefficient and error.
void ToProto(const query::SurvivalAnswer& answer, v1::GetSurvivalResponse* out);
void ToProto(const engine::DriversResult& result, v1::GetRetentionDriversResponse* out);

}  // namespace saasmetrics::rpc
