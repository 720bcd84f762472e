// C++ client for saasmetrics: a deadline on every call, retries with backoff on
// UNAVAILABLE for idempotent calls, optional TLS and bearer token.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "saasmetrics/v1/admin.grpc.pb.h"
#include "saasmetrics/v1/ingest.grpc.pb.h"
#include "saasmetrics/v1/metrics.grpc.pb.h"

namespace saasmetrics::client {

struct ClientOptions {
  std::string address = "localhost:50051";
  absl::Duration timeout = absl::Seconds(10);  // per attempt
  int max_attempts = 4;                        // for idempotent calls on UNAVAILABLE
  absl::Duration initial_backoff = absl::Milliseconds(100);
  bool tls = false;
  std::string tls_ca_file;   // PEM; empty: system roots
  std::string bearer_token;  // sent as "authorization: Bearer <token>" when set
};

// A gRPC status as an absl::Status; INVALID_ARGUMENT lists every field violation
// from google.rpc.BadRequest, one per line after the first.
absl::Status FromGrpc(const grpc::Status& status);

class Client {
 public:
  explicit Client(ClientOptions options);

  absl::StatusOr<v1::Tenant> CreateTenant(const v1::Tenant& tenant);
  absl::StatusOr<v1::Tenant> GetTenant(const std::string& tenant_id);
  absl::StatusOr<v1::ListTenantsResponse> ListTenants(int page_size, const std::string& page_token);
  absl::StatusOr<v1::Tenant> UpdateTenant(const v1::Tenant& tenant);

  // Ingest batches are idempotent by design (identities), so they are retried too.
  absl::StatusOr<v1::IngestResult> IngestSubscriptionEvents(
      const v1::IngestSubscriptionEventsRequest& req);
  absl::StatusOr<v1::IngestResult> UpsertCustomers(const v1::UpsertCustomersRequest& req);

  absl::StatusOr<v1::GetMrrResponse> GetMrr(const v1::GetMrrRequest& req);
  absl::StatusOr<v1::GetChurnResponse> GetChurn(const v1::GetChurnRequest& req);
  absl::StatusOr<v1::ListMovementsResponse> ListMovements(const v1::ListMovementsRequest& req);

  // grpc.health.v1 Check of `service` ("" for the whole server): true when SERVING.
  absl::StatusOr<bool> Healthy(const std::string& service = "");

  const ClientOptions& options() const { return options_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  // Calls `rpc(context)` with a fresh context (deadline, metadata) per attempt; retries
  // on UNAVAILABLE when `idempotent`.
  template <typename Rpc>
  absl::Status Call(bool idempotent, Rpc rpc);

  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<v1::IngestService::Stub> ingest_;
  std::unique_ptr<v1::MetricsService::Stub> metrics_;
};

}  // namespace saasmetrics::client
