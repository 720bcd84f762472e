#include "server/store/key_store.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/store/tx.h"

namespace saasmetrics::store {
namespace {

#define KEY_COLUMNS                                                                          \
  "key_id, coalesce(tenant_id, ''), roles, name, encode(salt, 'hex'), encode(hash, 'hex'), " \
  "(extract(epoch FROM created_at) * 1000000)::bigint, "                                     \
  "(extract(epoch FROM revoked_at) * 1000000)::bigint"

constexpr Statement kInsert{"key_insert",
                            "INSERT INTO api_keys (key_id, tenant_id, roles, name, salt, hash) "
                            "VALUES ($1, nullif($2, ''), $3, $4, decode($5, 'hex'), decode($6, "
                            "'hex')) RETURNING " KEY_COLUMNS};
constexpr Statement kGet{"key_get", "SELECT " KEY_COLUMNS " FROM api_keys WHERE key_id = $1"};
constexpr Statement kList{"key_list", "SELECT " KEY_COLUMNS
                                      " FROM api_keys WHERE $1 = '' OR tenant_id = $1 "
                                      "ORDER BY key_id LIMIT 10000"};
constexpr Statement kRevoke{
    "key_revoke",
    "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE key_id = $1 "
    "RETURNING " KEY_COLUMNS};
#undef KEY_COLUMNS

constexpr Statement kStatements[] = {kInsert, kGet, kList, kRevoke};

StoredKey FromRow(const pqxx::row& row) {
  StoredKey k;
  k.key_id = row[0].as<std::string>();
  k.tenant_id = row[1].as<std::string>();
  k.roles = row[2].as<uint32_t>();
  k.name = row[3].as<std::string>();
  k.salt = absl::HexStringToBytes(row[4].as<std::string>());
  k.hash = absl::HexStringToBytes(row[5].as<std::string>());
  k.create_time = absl::FromUnixMicros(row[6].as<int64_t>());
  if (!row[7].is_null()) k.revoke_time = absl::FromUnixMicros(row[7].as<int64_t>());
  return k;
}

absl::Status NotFound(const std::string& key_id) {
  return absl::NotFoundError(absl::StrCat("API key '", key_id, "' does not exist"));
}

}  // namespace

std::span<const Statement> KeyStore::Statements() { return kStatements; }

absl::StatusOr<StoredKey> KeyStore::Create(const StoredKey& key, absl::Time deadline) {
  StoredKey out;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    out = FromRow(tx.Exec(kInsert, key.key_id, key.tenant_id, static_cast<int>(key.roles), key.name,
                          absl::BytesToHexString(key.salt), absl::BytesToHexString(key.hash))
                      .at(0));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<StoredKey> KeyStore::Get(const std::string& key_id, absl::Time deadline) {
  return One(kGet, key_id, deadline);
}

absl::StatusOr<std::vector<StoredKey>> KeyStore::List(const std::string& tenant_id,
                                                      absl::Time deadline) {
  std::vector<StoredKey> out;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    for (const pqxx::row& row : tx.Exec(kList, tenant_id)) out.push_back(FromRow(row));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<StoredKey> KeyStore::Revoke(const std::string& key_id, absl::Time deadline) {
  return One(kRevoke, key_id, deadline);
}

absl::StatusOr<StoredKey> KeyStore::One(const Statement& statement, const std::string& key_id,
                                        absl::Time deadline) {
  std::optional<StoredKey> out;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    pqxx::result r = tx.Exec(statement, key_id);
    if (!r.empty()) out = FromRow(r[0]);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!out.has_value()) return NotFound(key_id);
  return *out;
}

}  // namespace saasmetrics::store
