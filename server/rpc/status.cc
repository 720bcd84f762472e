#include "server/rpc/status.h"

#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "server/observability/log.h"

namespace saasmetrics::rpc {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  if (engine::Violations v = engine::ViolationsOf(status); !v.empty()) return InvalidArgument(v);
  // The database's address and driver text are for the server's log, not for callers. An
  // outage is logged once by the database supervisor, not once per failing call.
  if (absl::IsUnavailable(status) || absl::IsInternal(status) || absl::IsUnknown(status)) {
    if (!absl::IsUnavailable(status)) {
      observability::LogLine(absl::StrCat("call failed: ", status.ToString()));
    }
    return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                        absl::IsUnavailable(status)
                            ? "the service's database is unavailable; retry with backoff"
                            : "internal error (details are in the server's log)");
  }
  // absl::StatusCode and grpc::StatusCode share the canonical numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

grpc::Status InvalidArgument(const engine::Violations& violations) {
  // Bounded: a batch of 10,000 bad items must not produce an answer (or a message echoing
  // hostile values) larger than a client accepts as trailing metadata (gRPC's default limit
  // is 8 KiB): at most 100 violations and 4 KiB of their text, then a count of the rest.
  constexpr size_t kMaxViolations = 100;
  constexpr size_t kMaxBytes = 4096;
  constexpr size_t kMaxText = 300;
  auto clip = [](const std::string& s) {
    return s.size() <= kMaxText ? s : absl::StrCat(s.substr(0, kMaxText), "… (truncated)");
  };
  google::rpc::BadRequest bad_request;
  size_t listed = 0, bytes = 0;
  for (; listed < violations.size() && listed < kMaxViolations; ++listed) {
    const std::string field = clip(violations[listed].field);
    const std::string description = clip(violations[listed].description);
    bytes += field.size() + description.size();
    if (bytes > kMaxBytes) break;
    auto* fv = bad_request.add_field_violations();
    fv->set_field(field);
    fv->set_description(description);
  }
  if (listed < violations.size()) {
    auto* fv = bad_request.add_field_violations();
    fv->set_field("(more)");
    fv->set_description(absl::StrCat(violations.size() - listed, " more violations not listed"));
  }
  engine::Violations first;
  if (!violations.empty()) {
    first.push_back({clip(violations[0].field), clip(violations[0].description)});
    first.resize(violations.size(), first[0]);  // for the "(and N more)" count only
  }
  const std::string message(engine::InvalidArgumentError(first).message());
  google::rpc::Status details;
  details.set_code(grpc::StatusCode::INVALID_ARGUMENT);
  details.set_message(message);
  details.add_details()->PackFrom(bad_request);
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message, details.SerializeAsString());
}

}  // namespace saasmetrics::rpc
