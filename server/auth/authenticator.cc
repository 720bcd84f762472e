#include "server/auth/authenticator.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace saasmetrics::auth {
namespace {

absl::Status Unauthenticated() {
  return absl::UnauthenticatedError(
      "missing or invalid credentials: send 'authorization: Bearer <API key>'");
}

}  // namespace

Authenticator::Authenticator(AuthOptions options, store::KeyStore& keys)
    : options_(std::move(options)), keys_(keys) {
  if (!options_.bootstrap_token.empty()) {
    bootstrap_ = ParseToken(options_.bootstrap_token);
    if (bootstrap_.has_value()) bootstrap_hash_ = HashSecret(bootstrap_->secret);
  }
}

absl::StatusOr<Principal> Authenticator::Authenticate(absl::string_view authorization,
                                                      absl::Time deadline) {
  constexpr absl::string_view kBearer = "Bearer ";
  if (authorization.size() > 256 || !absl::StartsWithIgnoreCase(authorization, kBearer)) {
    return Unauthenticated();
  }
  const std::optional<Token> token = ParseToken(authorization.substr(kBearer.size()));
  if (!token.has_value()) return Unauthenticated();
  if (bootstrap_.has_value() && token->key_id == bootstrap_->key_id) {
    if (!Matches(token->secret, *bootstrap_hash_)) return Unauthenticated();
    return Principal{token->key_id, "", kAllRoles};
  }
  absl::StatusOr<std::optional<store::StoredKey>> key = Lookup(token->key_id, deadline);
  if (!key.ok()) return key.status();
  if (!key->has_value() || (*key)->revoke_time.has_value() ||
      !Matches(token->secret, {(*key)->salt, (*key)->hash})) {
    return Unauthenticated();
  }
  return Principal{(*key)->key_id, (*key)->tenant_id, (*key)->roles};
}

absl::StatusOr<std::optional<store::StoredKey>> Authenticator::Lookup(const std::string& key_id,
                                                                      absl::Time deadline) {
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(key_id);
    if (it != cache_.end() && it->second.until > now) return it->second.key;
  }
  absl::StatusOr<store::StoredKey> stored = keys_.Get(key_id, deadline);
  std::optional<store::StoredKey> found;
  if (stored.ok()) {
    found = std::move(*stored);
  } else if (!absl::IsNotFound(stored.status())) {
    return stored.status();
  }
  absl::MutexLock lock(&mu_);
  // Unknown ids are cached too, so random tokens cost no more than one lookup per TTL each,
  // and the cache's size is bounded whatever callers send.
  if (cache_.size() >= options_.cache_entries) cache_.clear();
  cache_[key_id] = Entry{found, now + options_.cache_ttl};
  return found;
}

void Authenticator::Forget(const std::string& key_id) {
  absl::MutexLock lock(&mu_);
  cache_.erase(key_id);
}

absl::Status Authorize(const Principal& p, uint32_t role, absl::string_view tenant_id) {
  const bool scope = p.tenant_id.empty() || (!tenant_id.empty() && p.tenant_id == tenant_id);
  if (scope && (p.roles & role) == role) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("API key ", p.key_id, " may not ", RoleNames(role),
                   tenant_id.empty() ? " across tenants" : " here"));
}

}  // namespace saasmetrics::auth
