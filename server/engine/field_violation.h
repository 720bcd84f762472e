#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace saasmetrics::engine {

// One broken validation rule: the field's path as the client wrote it
// ("tenant.currency", "events[3].quantity") and the rule it broke.
struct FieldViolation {
  std::string field;
  std::string description;

  bool operator==(const FieldViolation&) const = default;
};

using Violations = std::vector<FieldViolation>;

// INVALID_ARGUMENT naming the first violation, carrying all of them as a payload, so layers
// below the RPC layer can return them through absl::Status and the RPC layer can turn them
// into google.rpc.BadRequest details. `violations` is not empty.
absl::Status InvalidArgumentError(const Violations& violations);

// The violations an InvalidArgumentError carries; empty for any other status.
Violations ViolationsOf(const absl::Status& status);

}  // namespace saasmetrics::engine
