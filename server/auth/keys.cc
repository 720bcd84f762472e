#include "server/auth/keys.h"

#include <sodium.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"

namespace saasmetrics::auth {
namespace {

constexpr absl::string_view kPrefix = "sm_";
constexpr size_t kKeyIdLength = 16;
constexpr size_t kSecretBytes = 32;
constexpr size_t kSecretLength = 43;  // base64url of 32 bytes, unpadded
constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  randombytes_buf(out.data(), n);
  return out;
}

}  // namespace

bool InitCrypto() { return sodium_init() >= 0; }

std::string RoleNames(uint32_t roles) {
  std::vector<absl::string_view> names;
  if (roles & kRead) names.push_back("read");
  if (roles & kIngest) names.push_back("ingest");
  if (roles & kAdmin) names.push_back("admin");
  return absl::StrJoin(names, ",");
}

std::optional<Token> ParseToken(absl::string_view text) {
  if (text.size() != kPrefix.size() + kKeyIdLength + 1 + kSecretLength) return std::nullopt;
  if (!absl::StartsWith(text, kPrefix)) return std::nullopt;
  text.remove_prefix(kPrefix.size());
  const absl::string_view id = text.substr(0, kKeyIdLength);
  const absl::string_view secret = text.substr(kKeyIdLength + 1);
  if (text[kKeyIdLength] != '_') return std::nullopt;
  for (char c : id) {
    if (!absl::ascii_isxdigit(c) || absl::ascii_isupper(c)) return std::nullopt;
  }
  for (char c : secret) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_') return std::nullopt;
  }
  return Token{std::string(id), std::string(secret)};
}

Token NewToken() {
  Token t;
  t.key_id = absl::BytesToHexString(RandomBytes(kKeyIdLength / 2));
  t.secret = absl::WebSafeBase64Escape(RandomBytes(kSecretBytes));
  return t;
}

std::string FormatToken(const Token& token) {
  return std::string(kPrefix) + token.key_id + "_" + token.secret;
}

SecretHash HashSecret(absl::string_view secret) { return HashSecret(secret, RandomBytes(kSaltBytes)); }

SecretHash HashSecret(absl::string_view secret, absl::string_view salt) {
  SecretHash out{std::string(salt), std::string(kHashBytes, '\0')};
  crypto_generichash(reinterpret_cast<unsigned char*>(out.hash.data()), kHashBytes,
                     reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                     reinterpret_cast<const unsigned char*>(salt.data()), salt.size());
  return out;
}

bool Matches(absl::string_view secret, const SecretHash& stored) {
  if (stored.hash.size() != kHashBytes) return false;
  const SecretHash computed = HashSecret(secret, stored.salt);
  return sodium_memcmp(computed.hash.data(), stored.hash.data(), kHashBytes) == 0;
}

}  // namespace saasmetrics::auth
