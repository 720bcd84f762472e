#pragma once

#include <string>
#include <vector>

namespace saasmetrics::engine {

// One broken validation rule: the field's path as the client wrote it
// ("tenant.currency", "events[3].quantity") and the rule it broke.
struct FieldViolation {
  std::string field;
  std::string description;

  bool operator==(const FieldViolation&) const = default;
};

using Violations = std::vector<FieldViolation>;

}  // namespace saasmetrics::engine
