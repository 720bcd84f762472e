#include "server/store/pql_rule_store.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "server/store/tx.h"

namespace saasmetrics::store {
namespace {

#define RULE_COLUMNS                                      \
  "rule_id, definition::text, "                           \
  "(extract(epoch FROM create_time) * 1000000)::bigint, " \
  "(extract(epoch FROM update_time) * 1000000)::bigint"

constexpr Statement kInsert{"pql_rule_insert",
                            "INSERT INTO pql_rules (tenant_id, rule_id, definition) "
                            "VALUES ($1, $2, $3::jsonb) RETURNING " RULE_COLUMNS};
constexpr Statement kGet{
    "pql_rule_get", "SELECT " RULE_COLUMNS " FROM pql_rules WHERE tenant_id = $1 AND rule_id = $2"};
constexpr Statement kList{"pql_rule_list", "SELECT " RULE_COLUMNS
                                           " FROM pql_rules WHERE tenant_id = $1 ORDER BY rule_id"};
constexpr Statement kUpdate{"pql_rule_update",
                            "UPDATE pql_rules SET definition = $3::jsonb, update_time = now() "
                            "WHERE tenant_id = $1 AND rule_id = $2 RETURNING " RULE_COLUMNS};
constexpr Statement kDelete{"pql_rule_delete",
                            "DELETE FROM pql_rules WHERE tenant_id = $1 AND rule_id = $2"};
#undef RULE_COLUMNS

constexpr Statement kStatements[] = {kInsert, kGet, kList, kUpdate, kDelete};

StoredPqlRule FromRow(const pqxx::row& row) {
  return {row[0].as<std::string>(), row[1].as<std::string>(),
          absl::FromUnixMicros(row[2].as<int64_t>()), absl::FromUnixMicros(row[3].as<int64_t>())};
}

absl::Status NotFound(const std::string& tenant_id, const std::string& rule_id) {
  return absl::NotFoundError(
      absl::StrCat("PQL rule '", rule_id, "' of tenant '", tenant_id, "' does not exist"));
}

}  // namespace

std::span<const Statement> PqlRuleStore::Statements() { return kStatements; }

absl::StatusOr<StoredPqlRule> PqlRuleStore::Create(const std::string& tenant_id,
                                                   const std::string& rule_id,
                                                   const std::string& definition,
                                                   absl::Time deadline) {
  StoredPqlRule out;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    out = FromRow(tx.Exec(kInsert, tenant_id, rule_id, definition).at(0));
    return absl::OkStatus();
  });
  if (absl::IsAlreadyExists(s)) {
    return absl::AlreadyExistsError(absl::StrCat("PQL rule '", rule_id, "' already exists"));
  }
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<StoredPqlRule> PqlRuleStore::Get(const std::string& tenant_id,
                                                const std::string& rule_id, absl::Time deadline) {
  std::optional<StoredPqlRule> out;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    pqxx::result r = tx.Exec(kGet, tenant_id, rule_id);
    if (!r.empty()) out = FromRow(r[0]);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!out) return NotFound(tenant_id, rule_id);
  return *out;
}

absl::StatusOr<std::vector<StoredPqlRule>> PqlRuleStore::List(const std::string& tenant_id,
                                                              absl::Time deadline) {
  std::vector<StoredPqlRule> out;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    for (const pqxx::row& row : tx.Exec(kList, tenant_id)) out.push_back(FromRow(row));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<StoredPqlRule> PqlRuleStore::Update(const std::string& tenant_id,
                                                   const std::string& rule_id,
                                                   const std::string& definition,
                                                   absl::Time deadline) {
  std::optional<StoredPqlRule> out;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    pqxx::result r = tx.Exec(kUpdate, tenant_id, rule_id, definition);
    if (!r.empty()) out = FromRow(r[0]);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!out) return NotFound(tenant_id, rule_id);
  return *out;
}

absl::Status PqlRuleStore::Delete(const std::string& tenant_id, const std::string& rule_id,
                                  absl::Time deadline) {
  int64_t deleted = 0;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    deleted = tx.Exec(kDelete, tenant_id, rule_id).affected_rows();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (deleted == 0) return NotFound(tenant_id, rule_id);
  return absl::OkStatus();
}

}  // namespace saasmetrics::store
