// Reads what the metrics engine computes on: subscription events and customers.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/engine/events.h"
#include "server/engine/usage.h"
#include "server/store/ingest_store.h"
#include "server/store/pool.h"

namespace saasmetrics::store {

struct PartitionVersion {
  absl::CivilMonth month;
  int64_t version = 0;
};

class MetricsStore {
 public:
  explicit MetricsStore(ConnectionPool& pool) : pool_(pool) {}

  // The version of every partition of `kind` whose month overlaps [from, until), in month
  // order.
  absl::StatusOr<std::vector<PartitionVersion>> PartitionVersions(const std::string& tenant_id,
                                                                  PartitionKind kind,
                                                                  absl::Time from, absl::Time until,
                                                                  absl::Time deadline);

  // The tenant's usage events with time in the UTC month, as a partition built straight
  // from the rows (no intermediate events).
  absl::StatusOr<engine::UsagePartition> UsageMonth(const std::string& tenant_id,
                                                    absl::CivilMonth month, absl::Time deadline);

  // The tenant's subscription events with effective_at in the UTC month.
  absl::StatusOr<std::vector<engine::SubscriptionEvent>> SubscriptionMonth(
      const std::string& tenant_id, absl::CivilMonth month, absl::Time deadline);

  // Every customer of the tenant, attributes included.
  absl::StatusOr<std::vector<engine::Customer>> Customers(const std::string& tenant_id,
                                                          absl::Time deadline);

  // Every acquisition spend row of the tenant.
  absl::StatusOr<std::vector<engine::AcquisitionSpend>> Spend(const std::string& tenant_id,
                                                              absl::Time deadline);

  static std::span<const Statement> Statements();

 private:
  ConnectionPool& pool_;
};

}  // namespace saasmetrics::store
