#pragma once

#include "absl/strings/string_view.h"

namespace saasmetrics::store {

// A named SQL statement. Every runtime statement is one of these constants, prepared
// on each pooled connection under its name; the name also labels query metrics.
struct Statement {
  absl::string_view name;
  absl::string_view sql;
};

}  // namespace saasmetrics::store
