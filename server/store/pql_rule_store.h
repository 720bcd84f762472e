#pragma once

#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/store/pool.h"

namespace saasmetrics::store {

// A PQL rule as stored: its definition is an opaque JSON document (the API's PqlRule).
struct StoredPqlRule {
  std::string rule_id;
  std::string definition;
  absl::Time create_time, update_time;
};

class PqlRuleStore {
 public:
  explicit PqlRuleStore(ConnectionPool& pool) : pool_(pool) {}

  absl::StatusOr<StoredPqlRule> Create(const std::string& tenant_id, const std::string& rule_id,
                                       const std::string& definition, absl::Time deadline);
  absl::StatusOr<StoredPqlRule> Get(const std::string& tenant_id, const std::string& rule_id,
                                    absl::Time deadline);
  absl::StatusOr<std::vector<StoredPqlRule>> List(const std::string& tenant_id,
                                                  absl::Time deadline);
  absl::StatusOr<StoredPqlRule> Update(const std::string& tenant_id, const std::string& rule_id,
                                       const std::string& definition, absl::Time deadline);
  absl::Status Delete(const std::string& tenant_id, const std::string& rule_id,
                      absl::Time deadline);

  static std::span<const Statement> Statements();

 private:
  ConnectionPool& pool_;
};

}  // namespace saasmetrics::store
