#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/engine/tenant.h"
#include "server/store/pool.h"

namespace saasmetrics::store {

struct TenantUpdate {
  std::string tenant_id;
  std::optional<std::string> display_name;
  std::optional<std::string> timezone;
  std::optional<double> gross_margin;
  std::optional<engine::HealthPolicy> health_policy;  // replaces the whole policy
};

struct TenantPage {
  std::vector<engine::Tenant> tenants;
  bool more = false;  // another page follows the last tenant
};

class TenantStore {
 public:
  explicit TenantStore(ConnectionPool& pool) : pool_(pool) {}

  // ALREADY_EXISTS when the id is taken.
  absl::StatusOr<engine::Tenant> Create(const engine::Tenant& tenant, absl::Time deadline);
  // NOT_FOUND for an unknown id.
  absl::StatusOr<engine::Tenant> Get(const std::string& tenant_id, absl::Time deadline);
  // Tenants ordered by id, after `after_id` (empty: from the first).
  absl::StatusOr<TenantPage> List(int page_size, const std::string& after_id, absl::Time deadline);
  absl::StatusOr<engine::Tenant> Update(const TenantUpdate& update, absl::Time deadline);

  static std::span<const Statement> Statements();

 private:
  ConnectionPool& pool_;
};

}  // namespace saasmetrics::store
