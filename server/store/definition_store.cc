#include "server/store/definition_store.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "server/store/tx.h"

namespace saasmetrics::store {
namespace {

#define COLUMNS(id)                                          \
  id ", definition::text, "                                  \
     "(extract(epoch FROM create_time) * 1000000)::bigint, " \
     "(extract(epoch FROM update_time) * 1000000)::bigint"
#define KIND_STATEMENTS(name, table, id)                                                           \
  {name "_insert", "INSERT INTO " table " (tenant_id, " id                                         \
                   ", definition) VALUES ($1, $2, $3::jsonb) "                                     \
                   "RETURNING " COLUMNS(id)},                                                      \
      {name "_get", "SELECT " COLUMNS(id) " FROM " table " WHERE tenant_id = $1 AND " id " = $2"}, \
      {name "_list", "SELECT " COLUMNS(id) " FROM " table " WHERE tenant_id = $1 ORDER BY " id},   \
      {name "_update", "UPDATE " table                                                             \
                       " SET definition = $3::jsonb, update_time = now() "                         \
                       "WHERE tenant_id = $1 AND " id " = $2 RETURNING " COLUMNS(id)},             \
  {                                                                                                \
    name "_delete", "DELETE FROM " table " WHERE tenant_id = $1 AND " id " = $2"                   \
  }

StoredDefinition FromRow(const pqxx::row& row) {
  return {row[0].as<std::string>(), row[1].as<std::string>(),
          absl::FromUnixMicros(row[2].as<int64_t>()), absl::FromUnixMicros(row[3].as<int64_t>())};
}

}  // namespace

const DefinitionKind kPqlRules{"PQL rule", KIND_STATEMENTS("pql_rule", "pql_rules", "rule_id")};
const DefinitionKind kEngagementModels{
    "engagement model", KIND_STATEMENTS("engagement_model", "engagement_models", "model_id")};
const DefinitionKind kTrainedModels{"trained model",
                                    KIND_STATEMENTS("trained_model", "trained_models", "model_id")};
#undef KIND_STATEMENTS
#undef COLUMNS

std::span<const Statement> DefinitionStore::Statements() {
  static const std::vector<Statement> all = [] {
    std::vector<Statement> out;
    for (const DefinitionKind* k : {&kPqlRules, &kEngagementModels, &kTrainedModels}) {
      out.insert(out.end(), {k->insert, k->get, k->list, k->update, k->remove});
    }
    return out;
  }();
  return all;
}

absl::Status DefinitionStore::NotFound(const std::string& tenant_id, const std::string& id) const {
  return absl::NotFoundError(
      absl::StrCat(kind_.noun, " '", id, "' of tenant '", tenant_id, "' does not exist"));
}

absl::StatusOr<StoredDefinition> DefinitionStore::Create(const std::string& tenant_id,
                                                         const std::string& id,
                                                         const std::string& definition,
                                                         absl::Time deadline) {
  StoredDefinition out;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    out = FromRow(tx.Exec(kind_.insert, tenant_id, id, definition).at(0));
    return absl::OkStatus();
  });
  if (absl::IsAlreadyExists(s)) {
    return absl::AlreadyExistsError(absl::StrCat(kind_.noun, " '", id, "' already exists"));
  }
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<StoredDefinition> DefinitionStore::Get(const std::string& tenant_id,
                                                      const std::string& id, absl::Time deadline) {
  std::optional<StoredDefinition> out;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    pqxx::result r = tx.Exec(kind_.get, tenant_id, id);
    if (!r.empty()) out = FromRow(r[0]);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!out) return NotFound(tenant_id, id);
  return *out;
}

absl::StatusOr<std::vector<StoredDefinition>> DefinitionStore::List(const std::string& tenant_id,
                                                                    absl::Time deadline) {
  std::vector<StoredDefinition> out;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    for (const pqxx::row& row : tx.Exec(kind_.list, tenant_id)) out.push_back(FromRow(row));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<StoredDefinition> DefinitionStore::Update(const std::string& tenant_id,
                                                         const std::string& id,
                                                         const std::string& definition,
                                                         absl::Time deadline) {
  std::optional<StoredDefinition> out;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    pqxx::result r = tx.Exec(kind_.update, tenant_id, id, definition);
    if (!r.empty()) out = FromRow(r[0]);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!out) return NotFound(tenant_id, id);
  return *out;
}

absl::Status DefinitionStore::Delete(const std::string& tenant_id, const std::string& id,
                                     absl::Time deadline) {
  int64_t deleted = 0;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    deleted = tx.Exec(kind_.remove, tenant_id, id).affected_rows();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (deleted == 0) return NotFound(tenant_id, id);
  return absl::OkStatus();
}

}  // namespace saasmetrics::store
