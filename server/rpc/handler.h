// How every unary handler runs: off gRPC's callback thread, with a deadline, recorded
// in the RPC metrics, and never letting an exception escape.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <exception>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/observability/server_metrics.h"
#include "server/rpc/executor.h"

namespace saasmetrics::rpc {

struct HandlerEnv {
  Executor* executor;
  observability::ServerMetrics* metrics;
  absl::Duration default_deadline;  // for calls that set none
};

absl::string_view CodeName(grpc::StatusCode code);

// The call's deadline, or now + default when the client set none.
absl::Time CallDeadline(const grpc::CallbackServerContext* ctx, absl::Duration default_deadline);

// Runs `fn(deadline) -> grpc::Status` on the executor and finishes the call with it.
template <typename Fn>
grpc::ServerUnaryReactor* RunUnary(grpc::CallbackServerContext* ctx, const HandlerEnv& env,
                                   absl::string_view service, absl::string_view method, Fn fn) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  env.metrics->RpcStarted(service, method, "unary");
  const absl::Time start = absl::Now();
  const absl::Time deadline = CallDeadline(ctx, env.default_deadline);
  env.executor->Submit([reactor, env, service, method, start, deadline, fn = std::move(fn)] {
    grpc::Status status;
    if (absl::Now() >= deadline) {
      status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                            "deadline passed while the call waited for a worker");
    } else {
      try {
        status = fn(deadline);
      } catch (const std::exception& e) {
        status =
            grpc::Status(grpc::StatusCode::INTERNAL, absl::StrCat("internal error: ", e.what()));
      }
    }
    env.metrics->RpcHandled(service, method, "unary", CodeName(status.error_code()),
                            absl::Now() - start);
    reactor->Finish(status);
  });
  return reactor;
}

}  // namespace saasmetrics::rpc
