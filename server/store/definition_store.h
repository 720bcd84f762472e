// A tenant's named definitions — PQL rules, engagement models — each stored as an opaque
// JSON document (the API's message) under an id, one table per kind, with the same five
// operations.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/store/pool.h"

namespace saasmetrics::store {

struct StoredDefinition {
  std::string id;
  std::string definition;
  absl::Time create_time, update_time;
};

// What differs between kinds: the noun for messages and the statements on its table.
struct DefinitionKind {
  const char* noun;  // "PQL rule"
  Statement insert, get, list, update, remove;
};
extern const DefinitionKind kPqlRules;          // table pql_rules
extern const DefinitionKind kEngagementModels;  // table engagement_models
extern const DefinitionKind kTrainedModels;     // table trained_models

class DefinitionStore {
 public:
  DefinitionStore(ConnectionPool& pool, const DefinitionKind& kind) : pool_(pool), kind_(kind) {}

  absl::StatusOr<StoredDefinition> Create(const std::string& tenant_id, const std::string& id,
                                          const std::string& definition, absl::Time deadline);
  absl::StatusOr<StoredDefinition> Get(const std::string& tenant_id, const std::string& id,
                                       absl::Time deadline);
  absl::StatusOr<std::vector<StoredDefinition>> List(const std::string& tenant_id,
                                                     absl::Time deadline);
  absl::StatusOr<StoredDefinition> Update(const std::string& tenant_id, const std::string& id,
                                          const std::string& definition, absl::Time deadline);
  absl::Status Delete(const std::string& tenant_id, const std::string& id, absl::Time deadline);

  // Every kind's statements.
  static std::span<const Statement> Statements();

 private:
  absl::Status NotFound(const std::string& tenant_id, const std::string& id) const;

  ConnectionPool& pool_;
  const DefinitionKind& kind_;
};

}  // namespace saasmetrics::store
