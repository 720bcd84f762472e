#pragma once

#include "saasmetrics/v1/metrics.grpc.pb.h"
#include "server/query/reader.h"
#include "server/rpc/handler.h"
#include "server/store/pql_rule_store.h"

namespace saasmetrics::rpc {

class MetricsService final : public v1::MetricsService::CallbackService {
 public:
  // `page_secret` seals page tokens; replicas behind one load balancer need the same one.
  MetricsService(HandlerEnv env, query::Reader& reader, store::PqlRuleStore& rules,
                 std::string page_secret)
      : env_(env), reader_(reader), rules_(rules), page_secret_(std::move(page_secret)) {}

  grpc::ServerUnaryReactor* GetMrr(grpc::CallbackServerContext* ctx, const v1::GetMrrRequest* req,
                                   v1::GetMrrResponse* resp) override;
  grpc::ServerUnaryReactor* GetChurn(grpc::CallbackServerContext* ctx,
                                     const v1::GetChurnRequest* req,
                                     v1::GetChurnResponse* resp) override;
  grpc::ServerUnaryReactor* GetCohortRetention(grpc::CallbackServerContext* ctx,
                                               const v1::GetCohortRetentionRequest* req,
                                               v1::GetCohortRetentionResponse* resp) override;
  grpc::ServerUnaryReactor* GetUnitEconomics(grpc::CallbackServerContext* ctx,
                                             const v1::GetUnitEconomicsRequest* req,
                                             v1::GetUnitEconomicsResponse* resp) override;
  grpc::ServerUnaryReactor* GetActiveCustomers(grpc::CallbackServerContext* ctx,
                                               const v1::GetActiveCustomersRequest* req,
                                               v1::GetActiveCustomersResponse* resp) override;
  grpc::ServerUnaryReactor* GetActivation(grpc::CallbackServerContext* ctx,
                                          const v1::GetActivationRequest* req,
                                          v1::GetActivationResponse* resp) override;
  grpc::ServerUnaryReactor* GetPqlCount(grpc::CallbackServerContext* ctx,
                                        const v1::GetPqlCountRequest* req,
                                        v1::GetPqlCountResponse* resp) override;
  grpc::ServerUnaryReactor* ListMovements(grpc::CallbackServerContext* ctx,
                                          const v1::ListMovementsRequest* req,
                                          v1::ListMovementsResponse* resp) override;

 private:
  // The query layer's Prepare on the request's MetricsQuery.
  absl::StatusOr<query::Query> Prepare(const v1::MetricsQuery& q, query::Needs needs,
                                       const query::Context& ctx);

  HandlerEnv env_;
  query::Reader& reader_;
  store::PqlRuleStore& rules_;
  const std::string page_secret_;
};

}  // namespace saasmetrics::rpc
