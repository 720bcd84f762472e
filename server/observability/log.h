#pragma once

#include "absl/strings/string_view.h"

namespace saasmetrics::observability {

// One line to stderr: "<RFC 3339 UTC time> saasmetrics: <message>". Only wiring code
// (main, the server) logs; lower layers return statuses.
void LogLine(absl::string_view message);

}  // namespace saasmetrics::observability
