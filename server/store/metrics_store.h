// Reads what the metrics engine computes on: subscription events and customers.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/engine/events.h"
#include "server/store/pool.h"

namespace saasmetrics::store {

class MetricsStore {
 public:
  explicit MetricsStore(ConnectionPool& pool) : pool_(pool) {}

  // Every subscription event of the tenant with effective_at < `until`.
  absl::StatusOr<std::vector<engine::SubscriptionEvent>> SubscriptionEvents(
      const std::string& tenant_id, absl::Time until, absl::Time deadline);

  // Every customer of the tenant, attributes included.
  absl::StatusOr<std::vector<engine::Customer>> Customers(const std::string& tenant_id,
                                                          absl::Time deadline);

  static std::span<const Statement> Statements();

 private:
  ConnectionPool& pool_;
};

}  // namespace saasmetrics::store
