// How every unary handler runs: off gRPC's callback thread on a bounded executor, with a
// deadline and cancellation, recorded in the RPC metrics, never letting an exception escape.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <exception>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/auth/authenticator.h"
#include "server/observability/server_metrics.h"
#include "server/query/context.h"
#include "server/query/thread_pool.h"

namespace saasmetrics::rpc {

struct HandlerEnv {
  query::ThreadPool* executor;  // bounded: a full queue sheds the call
  absl::string_view pool;       // the executor's name in metrics ("query", "ingest")
  observability::ServerMetrics* metrics;
  absl::Duration default_deadline;  // for calls that set none
  auth::Authenticator* auth;
};

// What a call needs: a role on a tenant (empty: over every tenant).
struct Access {
  uint32_t role = auth::kRead;
  std::string tenant_id;
};

absl::string_view CodeName(grpc::StatusCode code);

// The call's deadline, or now + default when the client set none.
absl::Time CallDeadline(const grpc::CallbackServerContext* ctx, absl::Duration default_deadline);

// RESOURCE_EXHAUSTED for a call its executor's full queue refused.
grpc::Status Overloaded(absl::string_view pool);

// The caller's key checked against `access`, before any handler work: the principal, or
// UNAUTHENTICATED / PERMISSION_DENIED (each logged as an audit line and counted).
absl::StatusOr<auth::Principal> Admit(const grpc::CallbackServerContext* ctx, const HandlerEnv& env,
                                      absl::string_view method, const Access& access,
                                      absl::Time deadline);
// One audit line for an admin action: who, what, which tenant, the outcome.
void AuditAdmin(const auth::Principal& who, absl::string_view method, const Access& access,
                const grpc::Status& outcome);

// Runs `fn(context) -> grpc::Status` (or `fn(deadline)`) on the executor and finishes the
// call with it, once the caller's key holds `access`. The context carries the deadline and
// the call's cancellation, which long computations check; a call whose caller went away is
// recorded as CANCELLED. When the executor's queue is full the call is refused at once
// with RESOURCE_EXHAUSTED.
template <typename Fn>
grpc::ServerUnaryReactor* RunUnary(grpc::CallbackServerContext* ctx, const HandlerEnv& env,
                                   absl::string_view service, absl::string_view method,
                                   Access access, Fn fn) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  env.metrics->RpcStarted(service, method, "unary");
  const absl::Time start = absl::Now();
  const absl::Time deadline = CallDeadline(ctx, env.default_deadline);
  auto finish = [reactor, env, service, method, start](const grpc::Status& status) {
    env.metrics->RpcHandled(service, method, "unary", CodeName(status.error_code()),
                            absl::Now() - start);
    reactor->Finish(status);
  };
  const bool queued = env.executor->TrySubmit([ctx, env, method, access = std::move(access), finish,
                                               deadline, fn = std::move(fn)] {
    query::Context context{.deadline = deadline, .cancelled = [ctx] { return ctx->IsCancelled(); }};
    grpc::Status status;
    absl::StatusOr<auth::Principal> who;
    if (absl::Status s = context.Check(); !s.ok()) {
      status = grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                            absl::StrCat(s.message(), " (while the call waited for a worker)"));
    } else if (who = Admit(ctx, env, method, access, deadline); !who.ok()) {
      status = grpc::Status(static_cast<grpc::StatusCode>(who.status().code()),
                            std::string(who.status().message()));
    } else {
      try {
        if constexpr (std::is_invocable_v<Fn, const query::Context&>) {
          status = fn(context);
        } else {
          status = fn(deadline);
        }
      } catch (const std::exception& e) {
        status =
            grpc::Status(grpc::StatusCode::INTERNAL, absl::StrCat("internal error: ", e.what()));
      }
      // An answer nobody waits for is recorded as what it was.
      if (ctx->IsCancelled() && status.ok()) {
        status = grpc::Status(grpc::StatusCode::CANCELLED, "the caller cancelled the call");
      }
      if (access.role & auth::kAdmin) AuditAdmin(*who, method, access, status);
    }
    finish(status);
  });
  if (!queued) {
    env.metrics->Shed(env.pool);
    finish(Overloaded(env.pool));
  }
  return reactor;
}

}  // namespace saasmetrics::rpc
