#include "server/rpc/handler.h"

#include "absl/strings/escaping.h"
#include "server/observability/log.h"

namespace saasmetrics::rpc {

absl::string_view CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "Canceled";
    case grpc::StatusCode::UNKNOWN:
      return "Unknown";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "InvalidArgument";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DeadlineExceeded";
    case grpc::StatusCode::NOT_FOUND:
      return "NotFound";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "AlreadyExists";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PermissionDenied";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "ResourceExhausted";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FailedPrecondition";
    case grpc::StatusCode::ABORTED:
      return "Aborted";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OutOfRange";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "Unimplemented";
    case grpc::StatusCode::INTERNAL:
      return "Internal";
    case grpc::StatusCode::UNAVAILABLE:
      return "Unavailable";
    case grpc::StatusCode::DATA_LOSS:
      return "DataLoss";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "Unauthenticated";
    default:
      return "Unknown";
  }
}

grpc::Status Overloaded(absl::string_view pool) {
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      absl::StrCat("the server's ", pool,
                                   " queue is full; retry with backoff (--max_queued_calls)"));
}

absl::StatusOr<auth::Principal> Admit(const grpc::CallbackServerContext* ctx, const HandlerEnv& env,
                                      absl::string_view method, const Access& access,
                                      absl::Time deadline) {
  const auto& metadata = ctx->client_metadata();
  auto it = metadata.find("authorization");
  const absl::string_view header = it == metadata.end()
                                       ? absl::string_view()
                                       : absl::string_view(it->second.data(), it->second.size());
  absl::StatusOr<auth::Principal> who = env.auth->Authenticate(header, deadline);
  absl::Status denied =
      who.ok() ? auth::Authorize(*who, access.role, access.tenant_id) : who.status();
  if (denied.ok()) return who;
  if (absl::IsUnavailable(denied) || absl::IsDeadlineExceeded(denied)) return denied;
  env.metrics->Denied(absl::IsUnauthenticated(denied) ? "unauthenticated" : "permission_denied");
  observability::LogLine(absl::StrCat(
      "audit: denied method=", method, " key=", who.ok() ? who->key_id : "-", " tenant=",
      absl::CHexEscape(access.tenant_id.substr(0, 64)), " role=", auth::RoleNames(access.role),
      " code=", CodeName(static_cast<grpc::StatusCode>(denied.code()))));
  return denied;
}

void AuditAdmin(const auth::Principal& who, absl::string_view method, const Access& access,
                const grpc::Status& outcome) {
  observability::LogLine(absl::StrCat("audit: admin method=", method, " key=", who.key_id,
                                      " tenant=", absl::CHexEscape(access.tenant_id.substr(0, 64)),
                                      " code=", CodeName(outcome.error_code())));
}

absl::Time CallDeadline(const grpc::CallbackServerContext* ctx, absl::Duration default_deadline) {
  const auto d = ctx->deadline();
  const absl::Time fallback = absl::Now() + default_deadline;
  if (d == std::chrono::system_clock::time_point::max()) return fallback;
  return std::min(absl::FromChrono(d), absl::Now() + absl::Hours(24));
}

}  // namespace saasmetrics::rpc
