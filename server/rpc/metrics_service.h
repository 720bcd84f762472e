#pragma once

#include "saasmetrics/v1/metrics.grpc.pb.h"
#include "server/cache/partition_cache.h"
#include "server/engine/filters.h"
#include "server/engine/ledger.h"
#include "server/engine/periods.h"
#include "server/engine/pql.h"
#include "server/engine/tenant.h"
#include "server/engine/timeline.h"
#include "server/engine/usage.h"
#include "server/rpc/handler.h"
#include "server/store/metrics_store.h"
#include "server/store/pql_rule_store.h"
#include "server/store/tenant_store.h"

namespace saasmetrics::rpc {

struct MetricsLimits {
  int max_query_days = 3700;  // about ten years
};

class MetricsService final : public v1::MetricsService::CallbackService {
 public:
  MetricsService(HandlerEnv env, MetricsLimits limits, store::TenantStore& tenants,
                 store::MetricsStore& store, store::PqlRuleStore& rules,
                 cache::PartitionCache& cache)
      : env_(env),
        limits_(limits),
        tenants_(tenants),
        store_(store),
        rules_(rules),
        cache_(cache) {}

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

  // A validated query, with what every metric computes from.
  struct Query {
    engine::Tenant tenant;
    absl::TimeZone tz;
    absl::CivilDay start, end;
    engine::Interval interval = engine::Interval::kMonth;
    std::vector<engine::CustomerFilter> filters;
    std::vector<engine::Period> periods;
    std::shared_ptr<const cache::Snapshot> history;  // keeps `ledger` alive
    const engine::Ledger* ledger = nullptr;          // the tenant's whole history
    // The history's movements of the selected customers. Consumers ignore days after
    // their last period, so without filters this is the cached history's own vector.
    const std::vector<engine::Movement>* movements = nullptr;
    std::vector<engine::Movement> filtered;   // what `movements` points to under filters
    std::vector<engine::Customer> customers;  // loaded when filters or `need_customers` ask
  };

 private:
  // Validates `q` (interval required unless `need_interval` is false), loads the
  // tenant's history up to the end of the range, and computes its movements.
  // `need_history` false skips the subscription history (usage metrics need it only for
  // a plan filter); the query then sees an empty ledger and no movements.
  grpc::Status Prepare(const v1::MetricsQuery& q, bool need_interval, absl::Time deadline,
                       Query* out, bool need_customers = false, bool need_history = true);

  // The usage partitions overlapping [from, until), each current per its version.
  // `version_sum` (optional) receives the sum of their versions.
  grpc::Status LoadUsage(const std::string& tenant_id, absl::Time from, absl::Time until,
                         absl::Time deadline, engine::UsagePartitions* out,
                         int64_t* version_sum = nullptr);
  // Every month of `versions` as a cached partition, built by `build` when missing or
  // stale.
  template <typename Partition>
  absl::StatusOr<std::vector<std::shared_ptr<const Partition>>> CachedMonths(
      const std::string& tenant_id, store::PartitionKind kind,
      const std::vector<store::PartitionVersion>& versions,
      absl::FunctionRef<absl::StatusOr<Partition>(absl::CivilMonth)> build);
  // The customers a query's filters select, as external ids (nullopt: no filters).
  static engine::CustomerSet Selected(const Query& q);

  HandlerEnv env_;
  MetricsLimits limits_;
  store::TenantStore& tenants_;
  store::MetricsStore& store_;
  store::PqlRuleStore& rules_;
  cache::PartitionCache& cache_;
};

}  // namespace saasmetrics::rpc
