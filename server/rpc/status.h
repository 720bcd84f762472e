// The one place canonical statuses become gRPC statuses.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "server/engine/field_violation.h"

namespace saasmetrics::rpc {

grpc::Status ToGrpcStatus(const absl::Status& status);

// INVALID_ARGUMENT whose message names the first violation (and how many more) and whose
// details carry a google.rpc.BadRequest with all of them. `violations` is not empty.
grpc::Status InvalidArgument(const engine::Violations& violations);

}  // namespace saasmetrics::rpc
