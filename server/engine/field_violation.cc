#include "server/engine/field_violation.h"

#include <optional>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace saasmetrics::engine {
namespace {

constexpr char kPayloadUrl[] = "type.saasmetrics/field_violations";
constexpr absl::string_view kSeparator("\0", 1);

}  // namespace

absl::Status InvalidArgumentError(const Violations& violations) {
  std::string message = violations.empty()
                            ? std::string("invalid request")
                            : absl::StrCat(violations[0].field, ": ", violations[0].description);
  if (violations.size() > 1) absl::StrAppend(&message, " (and ", violations.size() - 1, " more)");
  absl::Status status = absl::InvalidArgumentError(message);
  // field NUL description NUL …: request text reaches a description only quoted, and a
  // NUL in it would at worst split one violation in two.
  std::string encoded;
  for (const FieldViolation& v : violations) {
    absl::StrAppend(&encoded, v.field, kSeparator, v.description, kSeparator);
  }
  status.SetPayload(kPayloadUrl, absl::Cord(encoded));
  return status;
}

Violations ViolationsOf(const absl::Status& status) {
  Violations out;
  if (status.code() != absl::StatusCode::kInvalidArgument) return out;
  const auto payload = status.GetPayload(kPayloadUrl);
  if (!payload.has_value()) return out;
  const std::string encoded(*payload);
  std::vector<std::string> parts = absl::StrSplit(encoded, kSeparator);
  for (size_t i = 0; i + 1 < parts.size(); i += 2) out.push_back({parts[i], parts[i + 1]});
  return out;
}

}  // namespace saasmetrics::engine
