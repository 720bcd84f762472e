#pragma once

#include <atomic>
#include <optional>
#include <string>

#include "saasmetrics/v1/metrics.grpc.pb.h"
#include "server/engine/engagement.h"
#include "server/engine/health.h"
#include "server/query/models.h"
#include "server/query/reader.h"
#include "server/query/timers.h"
#include "server/rpc/handler.h"
#include "server/store/change_feed.h"
#include "server/store/definition_store.h"

namespace saasmetrics::rpc {

// What WatchHealthTransitions runs on.
struct WatchOptions {
  store::ChangeFeed* feed = nullptr;  // null: a watch wakes only as days end
  query::Timers* timers = nullptr;    // required for watches
  int max_watches = 1000;             // open at once on this replica; more: RESOURCE_EXHAUSTED
  // Least time between two computations of one watch (writes arriving faster coalesce).
  absl::Duration min_interval = absl::Seconds(2);
};

class HealthWatch;

class MetricsService final : public v1::MetricsService::CallbackService {
 public:
  // `page_secret` seals page tokens; replicas behind one load balancer need the same one.
  // `rules` and `models`: the tenants' PQL rules and engagement models.
  // `trained`: the tenants' trained churn and upsell models.
  MetricsService(HandlerEnv env, query::Reader& reader, store::DefinitionStore& rules,
                 store::DefinitionStore& models, store::DefinitionStore& trained,
                 std::string page_secret)
      : env_(env),
        reader_(reader),
        rules_(rules),
        models_(models),
        trained_(trained),
        page_secret_(std::move(page_secret)) {}

  void set_watch_options(WatchOptions options) { watch_ = options; }
  int open_watches() const { return watches_; }

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
  grpc::ServerUnaryReactor* GetEngagement(grpc::CallbackServerContext* ctx,
                                          const v1::GetEngagementRequest* req,
                                          v1::GetEngagementResponse* resp) override;
  grpc::ServerUnaryReactor* ListEngagementScores(grpc::CallbackServerContext* ctx,
                                                 const v1::ListEngagementScoresRequest* req,
                                                 v1::ListEngagementScoresResponse* resp) override;
  grpc::ServerUnaryReactor* GetHealth(grpc::CallbackServerContext* ctx,
                                      const v1::GetHealthRequest* req,
                                      v1::GetHealthResponse* resp) override;
  grpc::ServerUnaryReactor* GetCustomer(grpc::CallbackServerContext* ctx,
                                        const v1::GetCustomerRequest* req,
                                        v1::CustomerProfile* resp) override;
  grpc::ServerUnaryReactor* GetIdealCustomerProfile(
      grpc::CallbackServerContext* ctx, const v1::GetIdealCustomerProfileRequest* req,
      v1::GetIdealCustomerProfileResponse* resp) override;
  grpc::ServerUnaryReactor* GetNps(grpc::CallbackServerContext* ctx, const v1::GetNpsRequest* req,
                                   v1::GetNpsResponse* resp) override;
  grpc::ServerUnaryReactor* ListHealthCustomers(grpc::CallbackServerContext* ctx,
                                                const v1::ListHealthCustomersRequest* req,
                                                v1::ListHealthCustomersResponse* resp) override;
  grpc::ServerUnaryReactor* ListHealthTransitions(grpc::CallbackServerContext* ctx,
                                                  const v1::ListHealthTransitionsRequest* req,
                                                  v1::ListHealthTransitionsResponse* resp) override;
  grpc::ServerUnaryReactor* GetMrrByCohort(grpc::CallbackServerContext* ctx,
                                           const v1::GetMrrByCohortRequest* req,
                                           v1::GetMrrByCohortResponse* resp) override;
  grpc::ServerUnaryReactor* GetRenewals(grpc::CallbackServerContext* ctx,
                                        const v1::GetRenewalsRequest* req,
                                        v1::GetRenewalsResponse* resp) override;
  grpc::ServerUnaryReactor* GetSurvival(grpc::CallbackServerContext* ctx,
                                        const v1::GetSurvivalRequest* req,
                                        v1::GetSurvivalResponse* resp) override;
  grpc::ServerUnaryReactor* GetRetentionDrivers(grpc::CallbackServerContext* ctx,
                                                const v1::GetRetentionDriversRequest* req,
                                                v1::GetRetentionDriversResponse* resp) override;
  grpc::ServerUnaryReactor* TrainModel(grpc::CallbackServerContext* ctx,
                                       const v1::TrainModelRequest* req, v1::Model* resp) override;
  grpc::ServerUnaryReactor* GetModel(grpc::CallbackServerContext* ctx,
                                     const v1::GetModelRequest* req, v1::Model* resp) override;
  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* ctx,
                                       const v1::ListModelsRequest* req,
                                       v1::ListModelsResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteModel(grpc::CallbackServerContext* ctx,
                                        const v1::DeleteModelRequest* req,
                                        v1::DeleteModelResponse* resp) override;
  grpc::ServerUnaryReactor* ScoreCustomers(grpc::CallbackServerContext* ctx,
                                           const v1::ScoreCustomersRequest* req,
                                           v1::ScoreCustomersResponse* resp) override;
  grpc::ServerWriteReactor<v1::HealthTransitionsDay>* WatchHealthTransitions(
      grpc::CallbackServerContext* ctx, const v1::WatchHealthTransitionsRequest* req) override;

 private:
  // The query layer's Prepare on the request's MetricsQuery.
  absl::StatusOr<query::Query> Prepare(const v1::MetricsQuery& q, query::Needs needs,
                                       const query::Context& ctx);

  HandlerEnv env_;
  query::Reader& reader_;
  // The tenant's stored engagement model `model_id` (validated id) for the engine.
  absl::StatusOr<engine::EngagementModel> Model(const std::string& tenant_id,
                                                const std::string& model_id, absl::Time deadline);
  // The model a health policy scores with: the one it names (FAILED_PRECONDITION when it
  // is gone), or the tenant's first; none when the tenant has no model.
  struct HealthModel {
    std::string id;
    std::optional<engine::EngagementModel> model;
  };
  absl::StatusOr<HealthModel> ModelOfPolicy(const std::string& tenant_id,
                                            const engine::HealthPolicy& policy,
                                            absl::Time deadline);
  // The tenant's latest trained model of `kind` (by update time), ready to score: none when
  // none is trained; FAILED_PRECONDITION, saying to retrain it, when it cannot score (other
  // features than this version computes, or its engagement model is gone).
  struct TrainedModel {
    std::string id;
    query::RiskModel scorer;
  };
  absl::StatusOr<std::optional<TrainedModel>> LatestModel(const std::string& tenant_id,
                                                          v1::ModelKind kind, absl::Time deadline);
  // A stored model ready to score: its features checked, its engagement model loaded.
  absl::StatusOr<query::RiskModel> ScorerOf(const std::string& tenant_id, const v1::Model& model,
                                            absl::Time deadline);
  // Stores a trained model under its id (replacing one), within the tenant's bound.
  absl::Status StoreModel(const v1::Model& model, absl::Time deadline);
  // What health groups are computed from: the prepared query (with the customer records
  // when the churn model encodes fields), the policy's engagement model, and the tenant's
  // latest churn model with the policy's risk_at_least (ANALYTICS.md "Health groups").
  struct HealthSetup {
    query::Query q;
    HealthModel engagement;
    std::optional<TrainedModel> churn;
    const engine::EngagementModel* model() const {
      return engagement.model.has_value() ? &*engagement.model : nullptr;
    }
    const query::RiskModel* risk() const { return churn.has_value() ? &churn->scorer : nullptr; }
  };
  absl::StatusOr<HealthSetup> PrepareHealth(const v1::MetricsQuery& spec, query::Needs needs,
                                            const query::Context& ctx);

  store::DefinitionStore& rules_;
  store::DefinitionStore& models_;
  store::DefinitionStore& trained_;
  const std::string page_secret_;
  WatchOptions watch_;
  std::atomic<int> watches_{0};
  friend class HealthWatch;
};

}  // namespace saasmetrics::rpc
