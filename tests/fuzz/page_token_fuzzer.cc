// Page tokens and API keys as a caller can send them. Properties: nothing crashes; a
// token made up by the input is never accepted (for any context); a token sealed for the
// input's payload opens to exactly that payload, for its own context only, and not after
// any one character is changed; an API key parses only in its documented shape and prints
// back as itself.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/auth/keys.h"
#include "tests/fuzz/fuzz_support.h"

using namespace saasmetrics;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool crypto = auth::InitCrypto();
  FUZZ_CHECK(crypto);
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::string secret = "fuzzing secret: not a real one";

  FUZZ_CHECK(!auth::OpenToken(secret, "tenant-a|query", input).has_value());
  FUZZ_CHECK(!auth::OpenToken(secret, "", input).has_value());

  const std::string token = auth::SealToken(secret, "tenant-a|query", input);
  const std::optional<std::string> opened = auth::OpenToken(secret, "tenant-a|query", token);
  FUZZ_CHECK(opened.has_value() && *opened == input);
  FUZZ_CHECK(!auth::OpenToken(secret, "tenant-b|query", token).has_value());
  FUZZ_CHECK(!auth::OpenToken("another secret", "tenant-a|query", token).has_value());
  if (token.size() > 1) {
    // Any character but the last, whose low bits base64 may leave unused.
    std::string altered = token;
    const size_t at = size > 0 ? data[0] % (altered.size() - 1) : 0;
    altered[at] = altered[at] == 'A' ? 'B' : 'A';
    FUZZ_CHECK(!auth::OpenToken(secret, "tenant-a|query", altered).has_value());
  }

  if (std::optional<auth::Token> key = auth::ParseToken(input); key.has_value()) {
    FUZZ_CHECK(auth::FormatToken(*key) == input);
    FUZZ_CHECK(input.size() == 3 + 16 + 1 + 43);
  }
  return 0;
}
