// C++ client for saasmetrics: a deadline on every call, retries with backoff on
// UNAVAILABLE for idempotent calls, optional TLS and bearer token.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
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
  std::string tls_ca_file;                  // PEM; empty: system roots
  std::string tls_cert_file, tls_key_file;  // PEM client certificate and key, for mTLS
  // Sent as "authorization: Bearer <token>". Empty: $SAASMETRICS_TOKEN, else the first line
  // of the file $SAASMETRICS_TOKEN_FILE names, else none.
  std::string bearer_token;
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
  absl::StatusOr<v1::IngestResult> IngestUsageEvents(const v1::IngestUsageEventsRequest& req);
  absl::StatusOr<v1::IngestResult> UpsertCustomers(const v1::UpsertCustomersRequest& req);
  absl::StatusOr<v1::IngestResult> RecordAcquisitionSpend(
      const v1::RecordAcquisitionSpendRequest& req);

  absl::StatusOr<v1::PqlRule> CreatePqlRule(const v1::CreatePqlRuleRequest& req);
  absl::StatusOr<v1::ListPqlRulesResponse> ListPqlRules(const v1::ListPqlRulesRequest& req);
  absl::StatusOr<v1::EngagementModel> CreateEngagementModel(
      const v1::CreateEngagementModelRequest& req);
  absl::StatusOr<v1::ListEngagementModelsResponse> ListEngagementModels(
      const v1::ListEngagementModelsRequest& req);

  absl::StatusOr<v1::CreateApiKeyResponse> CreateApiKey(const v1::CreateApiKeyRequest& req);
  absl::StatusOr<v1::ListApiKeysResponse> ListApiKeys(const v1::ListApiKeysRequest& req);
  absl::StatusOr<v1::ApiKey> RevokeApiKey(const v1::RevokeApiKeyRequest& req);

  absl::StatusOr<v1::GetMrrResponse> GetMrr(const v1::GetMrrRequest& req);
  absl::StatusOr<v1::GetChurnResponse> GetChurn(const v1::GetChurnRequest& req);
  absl::StatusOr<v1::GetUnitEconomicsResponse> GetUnitEconomics(
      const v1::GetUnitEconomicsRequest& req);
  absl::StatusOr<v1::GetCohortRetentionResponse> GetCohortRetention(
      const v1::GetCohortRetentionRequest& req);
  absl::StatusOr<v1::GetActiveCustomersResponse> GetActiveCustomers(
      const v1::GetActiveCustomersRequest& req);
  absl::StatusOr<v1::GetPqlCountResponse> GetPqlCount(const v1::GetPqlCountRequest& req);
  absl::StatusOr<v1::GetActivationResponse> GetActivation(const v1::GetActivationRequest& req);
  absl::StatusOr<v1::ListMovementsResponse> ListMovements(const v1::ListMovementsRequest& req);
  absl::StatusOr<v1::GetEngagementResponse> GetEngagement(const v1::GetEngagementRequest& req);
  absl::StatusOr<v1::ListEngagementScoresResponse> ListEngagementScores(
      const v1::ListEngagementScoresRequest& req);
  absl::StatusOr<v1::GetHealthResponse> GetHealth(const v1::GetHealthRequest& req);
  absl::StatusOr<v1::GetNpsResponse> GetNps(const v1::GetNpsRequest& req);
  absl::StatusOr<v1::GetRenewalsResponse> GetRenewals(const v1::GetRenewalsRequest& req);
  absl::StatusOr<v1::GetMrrByCohortResponse> GetMrrByCohort(const v1::GetMrrByCohortRequest& req);
  absl::StatusOr<v1::ListHealthTransitionsResponse> ListHealthTransitions(
      const v1::ListHealthTransitionsRequest& req);
  absl::StatusOr<v1::GetIdealCustomerProfileResponse> GetIdealCustomerProfile(
      const v1::GetIdealCustomerProfileRequest& req);
  absl::StatusOr<v1::GetSurvivalResponse> GetSurvival(const v1::GetSurvivalRequest& req);
  absl::StatusOr<v1::GetRetentionDriversResponse> GetRetentionDrivers(
      const v1::GetRetentionDriversRequest& req);
  absl::StatusOr<v1::Model> TrainModel(const v1::TrainModelRequest& req);
  absl::StatusOr<v1::Model> GetModel(const v1::GetModelRequest& req);
  absl::StatusOr<v1::ScoreCustomersResponse> ScoreCustomers(const v1::ScoreCustomersRequest& req);
  absl::StatusOr<v1::ListModelsResponse> ListModels(const v1::ListModelsRequest& req);
  absl::StatusOr<v1::DeleteModelResponse> DeleteModel(const v1::DeleteModelRequest& req);
  absl::StatusOr<v1::CustomerProfile> GetCustomer(const v1::GetCustomerRequest& req);
  absl::StatusOr<v1::ListHealthCustomersResponse> ListHealthCustomers(
      const v1::ListHealthCustomersRequest& req);

  // grpc.health.v1 Check of `service` ("" for the whole server): true when SERVING.
  absl::StatusOr<bool> Healthy(const std::string& service = "");

  const ClientOptions& options() const { return options_; }
  v1::IngestService::Stub* ingest_stub() const { return ingest_.get(); }
  // A fresh context for one attempt: deadline `timeout` from now and the bearer token.
  std::unique_ptr<grpc::ClientContext> NewContext(absl::Duration timeout) const;
  // A call's final status as absl::Status; UNAVAILABLE names the server's address.
  absl::Status Final(const grpc::Status& status) const;
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  v1::MetricsService::Stub* metrics_stub() const { return metrics_.get(); }

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

// StreamIngest with batches in flight: Send() writes a batch without waiting for its
// ack while fewer than `window` are unacknowledged, so the server never waits for the
// client between batches. Acks arrive in order on `on_ack` (from a reader thread). If
// the stream breaks with UNAVAILABLE, it is reopened (up to the client's max_attempts in
// a row, with backoff) and every unacknowledged batch is sent again: ingest is
// idempotent, so a resent batch is only counted as duplicates. A batch the server
// rejects (an ack with an error) is reported through on_ack; the stream goes on.
class IngestStream {
 public:
  IngestStream(Client& client, int window, std::function<void(const v1::IngestAck&)> on_ack);
  ~IngestStream();  // cancels a stream not Finish()ed

  // Sends `batch` (its batch_id must be unique within the stream). Blocks while the
  // window is full; a non-OK status means the stream failed for good.
  absl::Status Send(v1::IngestBatch batch);
  // Waits for every ack, closes the stream; the final status.
  absl::Status Finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// WatchHealthTransitions that outlives its server: when the stream breaks (UNAVAILABLE, or
// CANCELLED by a server shutting down) it reconnects with backoff, for as long as it takes,
// naming every whole day it holds with its fingerprint, so that it gets only what changed
// meanwhile — from the same replica or another.
class HealthWatcher {
 public:
  HealthWatcher(Client& client, v1::WatchHealthTransitionsRequest request);
  ~HealthWatcher();

  // Calls `on_day` with each whole day (a day sent in parts comes joined), new or revised;
  // `on_day` returns false to stop. Returns OK once stopped (by on_day or Stop()), or the
  // error that ended the watch (a bad request, a key without access).
  absl::Status Run(const std::function<bool(const v1::HealthTransitionsDay&)>& on_day);
  // From any thread: ends Run.
  void Stop();
  int reconnects() const { return reconnects_; }

 private:
  Client& client_;
  v1::WatchHealthTransitionsRequest request_;
  std::map<std::string, std::string> held_;  // date → fingerprint, of whole days received
  std::atomic<bool> stopped_{false};
  std::mutex mu_;
  grpc::ClientContext* current_ = nullptr;  // guarded by mu_
  int reconnects_ = 0;
};

}  // namespace saasmetrics::client
