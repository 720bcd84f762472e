// API keys: what a token looks like, how its secret is hashed, and the roles it grants.
// A token is "sm_<key id>_<secret>": the key id (16 hex digits) is public and names the
// stored key; the secret (32 random bytes, base64url) is shown once at creation and
// stored only as a salted BLAKE2b hash (libsodium's crypto_generichash keyed by a
// per-key salt), compared in constant time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace saasmetrics::auth {

// Roles as bits; a key holds any set of them.
enum Role : uint32_t {
  kRead = 1,    // metrics, tenant settings, PQL rules
  kIngest = 2,  // writes of events, customers, spend
  kAdmin = 4,   // tenant settings, rules, keys
};
inline constexpr uint32_t kAllRoles = kRead | kIngest | kAdmin;

// "read", "ingest", "admin" joined by commas, in that order.
std::string RoleNames(uint32_t roles);

struct Token {
  std::string key_id;
  std::string secret;
};

// The parts of `text` ("sm_<16 hex>_<43 base64url>"); nullopt for anything else, without
// saying what (a caller learns nothing from the answer).
std::optional<Token> ParseToken(absl::string_view text);

// A new random token.
Token NewToken();
std::string FormatToken(const Token& token);

struct SecretHash {
  std::string salt;  // 16 random bytes
  std::string hash;  // 32 bytes
};
SecretHash HashSecret(absl::string_view secret);
SecretHash HashSecret(absl::string_view secret, absl::string_view salt);
// Constant time in the secret's bytes.
bool Matches(absl::string_view secret, const SecretHash& stored);

// Page tokens and other opaque cursors: `payload` sealed with a MAC (HMAC-SHA-512/256) over
// `context` and the payload, under a key derived from `secret`. A token is accepted only
// for the context it was issued for (the tenant and the query), and cannot be forged or
// altered without the secret. The payload is not hidden, only authenticated.
std::string SealToken(absl::string_view secret, absl::string_view context,
                      absl::string_view payload);
// The payload of a token SealToken issued for `context` under `secret`; nullopt otherwise.
std::optional<std::string> OpenToken(absl::string_view secret, absl::string_view context,
                                     absl::string_view token);
// A random secret for a process that was given none.
std::string RandomSecret();

// Initializes libsodium; false when it cannot (no entropy source).
bool InitCrypto();

}  // namespace saasmetrics::auth
