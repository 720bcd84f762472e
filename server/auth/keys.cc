#include "server/auth/keys.h"

#include <sodium.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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

SecretHash HashSecret(absl::string_view secret) {
  return HashSecret(secret, RandomBytes(kSaltBytes));
}

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

namespace {

std::string MacKey(absl::string_view secret) {
  std::string key(crypto_auth_KEYBYTES, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(key.data()), key.size(),
                     reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), nullptr,
                     0);
  return key;
}

std::string Authenticated(absl::string_view context, absl::string_view payload) {
  std::string message(context);
  message.push_back('\0');
  message.append(payload.data(), payload.size());
  return message;
}

}  // namespace

std::string SealToken(absl::string_view secret, absl::string_view context,
                      absl::string_view payload) {
  const std::string key = MacKey(secret);
  const std::string message = Authenticated(context, payload);
  std::string mac(crypto_auth_BYTES, '\0');
  crypto_auth(reinterpret_cast<unsigned char*>(mac.data()),
              reinterpret_cast<const unsigned char*>(message.data()), message.size(),
              reinterpret_cast<const unsigned char*>(key.data()));
  return absl::WebSafeBase64Escape(absl::StrCat(payload, mac));
}

std::optional<std::string> OpenToken(absl::string_view secret, absl::string_view context,
                                     absl::string_view token) {
  std::string raw;
  if (token.size() > 4096 || !absl::WebSafeBase64Unescape(token, &raw) ||
      raw.size() < crypto_auth_BYTES) {
    return std::nullopt;
  }
  const std::string payload = raw.substr(0, raw.size() - crypto_auth_BYTES);
  const std::string key = MacKey(secret);
  const std::string message = Authenticated(context, payload);
  if (crypto_auth_verify(reinterpret_cast<const unsigned char*>(raw.data() + payload.size()),
                         reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                         reinterpret_cast<const unsigned char*>(key.data())) != 0) {
    return std::nullopt;
  }
  return payload;
}

std::string RandomSecret() { return RandomBytes(32); }

}  // namespace saasmetrics::auth
