// API keys as stored (server/auth/keys.h says what they are).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/store/pool.h"

namespace saasmetrics::store {

struct StoredKey {
  std::string key_id;
  std::string tenant_id;  // empty: every tenant (an admin key)
  uint32_t roles = 0;
  std::string name;
  std::string salt, hash;  // raw bytes
  absl::Time create_time;
  std::optional<absl::Time> revoke_time;
};

class KeyStore {
 public:
  explicit KeyStore(ConnectionPool& pool) : pool_(pool) {}

  absl::StatusOr<StoredKey> Create(const StoredKey& key, absl::Time deadline);
  // NOT_FOUND when no key has that id.
  absl::StatusOr<StoredKey> Get(const std::string& key_id, absl::Time deadline);
  // Keys of `tenant_id` ("" : every key), revoked ones included, by id.
  absl::StatusOr<std::vector<StoredKey>> List(const std::string& tenant_id, absl::Time deadline);
  // Marks the key revoked (once; revoking again changes nothing). NOT_FOUND if none.
  absl::StatusOr<StoredKey> Revoke(const std::string& key_id, absl::Time deadline);

  static std::span<const Statement> Statements();

 private:
  // The key `statement` (with $1 the key id) returns; NOT_FOUND when it returns none.
  absl::StatusOr<StoredKey> One(const Statement& statement, const std::string& key_id,
                                absl::Time deadline);
  ConnectionPool& pool_;
};

}  // namespace saasmetrics::store
