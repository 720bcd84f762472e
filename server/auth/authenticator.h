// Who is calling: the bearer token of a call checked against the stored keys (or the
// bootstrap admin key the operator configured), and what that caller may do. Verified
// keys are cached briefly, so a call costs one hash, not a database round trip; a
// revocation reaches this replica at once and every other one within the cache's TTL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/auth/keys.h"
#include "server/store/key_store.h"

namespace saasmetrics::auth {

struct Principal {
  std::string key_id;
  std::string tenant_id;  // empty: every tenant
  uint32_t roles = 0;
};

struct AuthOptions {
  std::string bootstrap_token;  // an admin key over every tenant; empty: none
  absl::Duration cache_ttl = absl::Seconds(10);
  size_t cache_entries = 10000;  // beyond it the cache starts over
};

class Authenticator {
 public:
  Authenticator(AuthOptions options, store::KeyStore& keys);

  // `authorization`: the call's "authorization" metadata ("Bearer <token>"). A missing,
  // malformed, unknown, wrong or revoked key is UNAUTHENTICATED with one message for all;
  // a database that cannot be asked is UNAVAILABLE.
  absl::StatusOr<Principal> Authenticate(absl::string_view authorization, absl::Time deadline);

  // Drops what is cached of `key_id` (after a revocation through this replica).
  void Forget(const std::string& key_id);

 private:
  struct Entry {
    std::optional<store::StoredKey> key;  // nullopt: no such key
    absl::Time until;
  };
  absl::StatusOr<std::optional<store::StoredKey>> Lookup(const std::string& key_id,
                                                         absl::Time deadline);

  const AuthOptions options_;
  std::optional<Token> bootstrap_;
  std::optional<SecretHash> bootstrap_hash_;
  store::KeyStore& keys_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> cache_ ABSL_GUARDED_BY(mu_);
};

// OK when `p` holds `role` on `tenant_id`; `tenant_id` empty names an operation over
// every tenant (creating or listing tenants, keys of every tenant), which only a key of
// every tenant may do. PERMISSION_DENIED otherwise, saying nothing of whether the tenant
// exists.
absl::Status Authorize(const Principal& p, uint32_t role, absl::string_view tenant_id);

}  // namespace saasmetrics::auth
