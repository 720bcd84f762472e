#pragma once

#include "saasmetrics/v1/metrics.grpc.pb.h"
#include "server/rpc/handler.h"

namespace saasmetrics::rpc {

// Metric queries. Until the engine lands (issue 4) each answers UNIMPLEMENTED.
class MetricsService final : public v1::MetricsService::CallbackService {
 public:
  explicit MetricsService(HandlerEnv env) : env_(env) {}

#define SAAS_UNIMPLEMENTED_(Method, Req, Resp)                                                  \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext* ctx, const v1::Req*, v1::Resp*) \
      override {                                                                                \
    return Unimplemented(ctx, env_, "saasmetrics.v1.MetricsService", #Method);                  \
  }
  SAAS_UNIMPLEMENTED_(GetMrr, GetMrrRequest, GetMrrResponse)
  SAAS_UNIMPLEMENTED_(GetChurn, GetChurnRequest, GetChurnResponse)
  SAAS_UNIMPLEMENTED_(GetUnitEconomics, GetUnitEconomicsRequest, GetUnitEconomicsResponse)
  SAAS_UNIMPLEMENTED_(GetCohortRetention, GetCohortRetentionRequest, GetCohortRetentionResponse)
  SAAS_UNIMPLEMENTED_(GetActiveCustomers, GetActiveCustomersRequest, GetActiveCustomersResponse)
  SAAS_UNIMPLEMENTED_(GetPqlCount, GetPqlCountRequest, GetPqlCountResponse)
  SAAS_UNIMPLEMENTED_(GetActivation, GetActivationRequest, GetActivationResponse)
  SAAS_UNIMPLEMENTED_(ListMovements, ListMovementsRequest, ListMovementsResponse)
#undef SAAS_UNIMPLEMENTED_

 private:
  HandlerEnv env_;
};

}  // namespace saasmetrics::rpc
