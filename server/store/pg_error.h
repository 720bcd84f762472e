#pragma once

#include "absl/status/status.h"

namespace saasmetrics::store {

// Maps the exception being handled (call only inside a catch block) to a canonical
// status: broken connection → UNAVAILABLE, unique violation → ALREADY_EXISTS,
// serialization failure or deadlock → ABORTED, statement timeout → DEADLINE_EXCEEDED.
absl::Status CurrentExceptionToStatus();

}  // namespace saasmetrics::store
