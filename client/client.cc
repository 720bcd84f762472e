#include "client/client.h"

#include <cstdlib>
#include <deque>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace saasmetrics::client {
namespace {

// No token given: $SAASMETRICS_TOKEN, else the first line of $SAASMETRICS_TOKEN_FILE.
ClientOptions WithEnvironmentToken(ClientOptions o) {
  if (!o.bearer_token.empty()) return o;
  if (const char* token = std::getenv("SAASMETRICS_TOKEN"); token != nullptr && *token != 0) {
    o.bearer_token = token;
  } else if (const char* file = std::getenv("SAASMETRICS_TOKEN_FILE"); file != nullptr) {
    std::ifstream in(file);
    std::getline(in, o.bearer_token);
  }
  return o;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::shared_ptr<grpc::ChannelCredentials> Credentials(const ClientOptions& o) {
  if (!o.tls) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  if (!o.tls_ca_file.empty()) ssl.pem_root_certs = ReadFile(o.tls_ca_file);
  if (!o.tls_cert_file.empty()) {  // mTLS: this client's certificate
    ssl.pem_cert_chain = ReadFile(o.tls_cert_file);
    ssl.pem_private_key = ReadFile(o.tls_key_file);
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  std::string message = status.error_message();
  google::rpc::Status details;
  if (!status.error_details().empty() && details.ParseFromString(status.error_details())) {
    for (const auto& any : details.details()) {
      google::rpc::BadRequest bad;
      if (!any.UnpackTo(&bad) || bad.field_violations_size() < 2) continue;
      for (const auto& v : bad.field_violations()) {
        absl::StrAppend(&message, "\n  ", v.field(), ": ", v.description());
      }
    }
  }
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), message);
}

Client::Client(ClientOptions options)
    : options_(WithEnvironmentToken(std::move(options))),
      channel_(grpc::CreateChannel(options_.address, Credentials(options_))),
      admin_(v1::AdminService::NewStub(channel_)),
      ingest_(v1::IngestService::NewStub(channel_)),
      metrics_(v1::MetricsService::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> Client::NewContext(absl::Duration timeout) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (timeout != absl::InfiniteDuration()) {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
  if (!options_.bearer_token.empty()) {
    ctx->AddMetadata("authorization", absl::StrCat("Bearer ", options_.bearer_token));
  }
  return ctx;
}

absl::Status Client::Final(const grpc::Status& status) const {
  absl::Status out = FromGrpc(status);
  if (absl::IsUnavailable(out)) {
    out = absl::UnavailableError(
        absl::StrCat("server at ", options_.address, " unavailable: ", out.message()));
  }
  return out;
}

template <typename Rpc>
absl::Status Client::Call(bool idempotent, Rpc rpc) {
  absl::Duration backoff = options_.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    std::unique_ptr<grpc::ClientContext> ctx = NewContext(options_.timeout);
    grpc::Status status = rpc(ctx.get());
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE || !idempotent ||
        attempt >= options_.max_attempts) {
      return Final(status);
    }
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
    backoff *= 2;
  }
}

absl::StatusOr<v1::Tenant> Client::CreateTenant(const v1::Tenant& tenant) {
  v1::CreateTenantRequest req;
  *req.mutable_tenant() = tenant;
  v1::Tenant resp;
  absl::Status s =
      Call(false, [&](grpc::ClientContext* ctx) { return admin_->CreateTenant(ctx, req, &resp); });
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::Tenant> Client::GetTenant(const std::string& tenant_id) {
  v1::GetTenantRequest req;
  req.set_tenant_id(tenant_id);
  v1::Tenant resp;
  absl::Status s =
      Call(true, [&](grpc::ClientContext* ctx) { return admin_->GetTenant(ctx, req, &resp); });
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::ListTenantsResponse> Client::ListTenants(int page_size,
                                                            const std::string& page_token) {
  v1::ListTenantsRequest req;
  req.set_page_size(page_size);
  req.set_page_token(page_token);
  v1::ListTenantsResponse resp;
  absl::Status s =
      Call(true, [&](grpc::ClientContext* ctx) { return admin_->ListTenants(ctx, req, &resp); });
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::Tenant> Client::UpdateTenant(const v1::Tenant& tenant) {
  v1::UpdateTenantRequest req;
  *req.mutable_tenant() = tenant;
  v1::Tenant resp;
  absl::Status s =
      Call(true, [&](grpc::ClientContext* ctx) { return admin_->UpdateTenant(ctx, req, &resp); });
  if (!s.ok()) return s;
  return resp;
}

#define SAAS_CLIENT_CALL_(Method, Stub, Req, Resp)                                           \
  absl::StatusOr<v1::Resp> Client::Method(const v1::Req& req) {                              \
    v1::Resp resp;                                                                           \
    absl::Status s =                                                                         \
        Call(true, [&](grpc::ClientContext* ctx) { return Stub->Method(ctx, req, &resp); }); \
    if (!s.ok()) return s;                                                                   \
    return resp;                                                                             \
  }
SAAS_CLIENT_CALL_(IngestSubscriptionEvents, ingest_, IngestSubscriptionEventsRequest, IngestResult)
SAAS_CLIENT_CALL_(IngestUsageEvents, ingest_, IngestUsageEventsRequest, IngestResult)
SAAS_CLIENT_CALL_(UpsertCustomers, ingest_, UpsertCustomersRequest, IngestResult)
SAAS_CLIENT_CALL_(RecordAcquisitionSpend, ingest_, RecordAcquisitionSpendRequest, IngestResult)
SAAS_CLIENT_CALL_(ListPqlRules, admin_, ListPqlRulesRequest, ListPqlRulesResponse)
SAAS_CLIENT_CALL_(ListApiKeys, admin_, ListApiKeysRequest, ListApiKeysResponse)
SAAS_CLIENT_CALL_(RevokeApiKey, admin_, RevokeApiKeyRequest, ApiKey)
SAAS_CLIENT_CALL_(GetMrr, metrics_, GetMrrRequest, GetMrrResponse)
SAAS_CLIENT_CALL_(GetChurn, metrics_, GetChurnRequest, GetChurnResponse)
SAAS_CLIENT_CALL_(GetUnitEconomics, metrics_, GetUnitEconomicsRequest, GetUnitEconomicsResponse)
SAAS_CLIENT_CALL_(GetCohortRetention, metrics_, GetCohortRetentionRequest,
                  GetCohortRetentionResponse)
SAAS_CLIENT_CALL_(GetActiveCustomers, metrics_, GetActiveCustomersRequest,
                  GetActiveCustomersResponse)
SAAS_CLIENT_CALL_(GetPqlCount, metrics_, GetPqlCountRequest, GetPqlCountResponse)
SAAS_CLIENT_CALL_(GetActivation, metrics_, GetActivationRequest, GetActivationResponse)
SAAS_CLIENT_CALL_(ListMovements, metrics_, ListMovementsRequest, ListMovementsResponse)
SAAS_CLIENT_CALL_(ListEngagementModels, admin_, ListEngagementModelsRequest,
                  ListEngagementModelsResponse)
SAAS_CLIENT_CALL_(GetEngagement, metrics_, GetEngagementRequest, GetEngagementResponse)
SAAS_CLIENT_CALL_(ListEngagementScores, metrics_, ListEngagementScoresRequest,
                  ListEngagementScoresResponse)
SAAS_CLIENT_CALL_(GetHealth, metrics_, GetHealthRequest, GetHealthResponse)
SAAS_CLIENT_CALL_(GetNps, metrics_, GetNpsRequest, GetNpsResponse)
SAAS_CLIENT_CALL_(GetRenewals, metrics_, GetRenewalsRequest, GetRenewalsResponse)
SAAS_CLIENT_CALL_(GetSurvival, metrics_, GetSurvivalRequest, GetSurvivalResponse)
SAAS_CLIENT_CALL_(TrainModel, metrics_, TrainModelRequest, Model)
SAAS_CLIENT_CALL_(GetModel, metrics_, GetModelRequest, Model)
SAAS_CLIENT_CALL_(ListModels, metrics_, ListModelsRequest, ListModelsResponse)
SAAS_CLIENT_CALL_(DeleteModel, metrics_, DeleteModelRequest, DeleteModelResponse)
SAAS_CLIENT_CALL_(ScoreCustomers, metrics_, ScoreCustomersRequest, ScoreCustomersResponse)
SAAS_CLIENT_CALL_(GetRetentionDrivers, metrics_, GetRetentionDriversRequest,
                  GetRetentionDriversResponse)
SAAS_CLIENT_CALL_(GetMrrByCohort, metrics_, GetMrrByCohortRequest, GetMrrByCohortResponse)
SAAS_CLIENT_CALL_(ListHealthTransitions, metrics_, ListHealthTransitionsRequest,
                  ListHealthTransitionsResponse)
SAAS_CLIENT_CALL_(GetIdealCustomerProfile, metrics_, GetIdealCustomerProfileRequest,
                  GetIdealCustomerProfileResponse)
SAAS_CLIENT_CALL_(GetCustomer, metrics_, GetCustomerRequest, CustomerProfile)
SAAS_CLIENT_CALL_(ListHealthCustomers, metrics_, ListHealthCustomersRequest,
                  ListHealthCustomersResponse)
#undef SAAS_CLIENT_CALL_

absl::StatusOr<v1::CreateApiKeyResponse> Client::CreateApiKey(const v1::CreateApiKeyRequest& req) {
  v1::CreateApiKeyResponse resp;  // not retried: a retry would make a second key
  absl::Status s =
      Call(false, [&](grpc::ClientContext* ctx) { return admin_->CreateApiKey(ctx, req, &resp); });
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::PqlRule> Client::CreatePqlRule(const v1::CreatePqlRuleRequest& req) {
  v1::PqlRule resp;
  absl::Status s =
      Call(false, [&](grpc::ClientContext* ctx) { return admin_->CreatePqlRule(ctx, req, &resp); });
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::EngagementModel> Client::CreateEngagementModel(
    const v1::CreateEngagementModelRequest& req) {
  v1::EngagementModel resp;
  absl::Status s = Call(false, [&](grpc::ClientContext* ctx) {
    return admin_->CreateEngagementModel(ctx, req, &resp);
  });
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<bool> Client::Healthy(const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  absl::Status s =
      Call(true, [&](grpc::ClientContext* ctx) { return stub->Check(ctx, req, &resp); });
  if (!s.ok()) return s;
  return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

// ---------------------------------------------------------------------------------------
// IngestStream

struct IngestStream::State {
  State(Client& c, int w, std::function<void(const v1::IngestAck&)> f)
      : client(c), window(std::max(1, w)), on_ack(std::move(f)) {}

  Client& client;
  const int window;
  const std::function<void(const v1::IngestAck&)> on_ack;

  absl::Mutex mu;
  // In send order; shared so a batch is written without copying it while the reader
  // may drop it from here.
  std::deque<std::shared_ptr<const v1::IngestBatch>> unacked ABSL_GUARDED_BY(mu);
  bool reader_done ABSL_GUARDED_BY(mu) = false;
  absl::Time last_progress ABSL_GUARDED_BY(mu);
  int failures_in_a_row ABSL_GUARDED_BY(mu) = 0;

  // Owned by the caller's thread.
  std::unique_ptr<grpc::ClientContext> ctx;
  std::unique_ptr<grpc::ClientReaderWriter<v1::IngestBatch, v1::IngestAck>> rw;
  std::thread reader;
  absl::Status failed;
  bool writes_done = false;

  void Open() {
    ctx = client.NewContext(absl::InfiniteDuration());  // a stream may run for hours
    rw = client.ingest_stub()->StreamIngest(ctx.get());
    writes_done = false;
    {
      absl::MutexLock lock(&mu);
      reader_done = false;
      last_progress = absl::Now();
    }
    reader = std::thread([this, stream = rw.get()] {
      v1::IngestAck ack;
      while (stream->Read(&ack)) {
        {
          absl::MutexLock lock(&mu);
          if (!unacked.empty() && unacked.front()->batch_id() == ack.batch_id()) {
            unacked.pop_front();
          }
          last_progress = absl::Now();
          failures_in_a_row = 0;
        }
        on_ack(ack);
      }
      absl::MutexLock lock(&mu);
      reader_done = true;
    });
  }

  // Joins the reader and collects the stream's status; cancels it first if asked.
  grpc::Status Close(bool cancel) {
    if (rw == nullptr) return grpc::Status::OK;
    if (cancel) ctx->TryCancel();
    reader.join();
    grpc::Status status = rw->Finish();
    rw.reset();
    return status;
  }

  // Waits until `ready` holds or the reader finished; DEADLINE_EXCEEDED (and the stream
  // cancelled) when the server acknowledged nothing for the client's timeout.
  absl::Status Await(const std::function<bool()>& ready) {
    if (WaitForProgress(ready)) return absl::OkStatus();
    Close(true);  // outside the lock: the reader takes it to finish
    absl::MutexLock lock(&mu);
    failed = absl::DeadlineExceededError(
        absl::StrCat("server at ", client.options().address, " acknowledged no batch within ",
                     absl::FormatDuration(client.options().timeout)));
    return failed;
  }

  // True once `ready` holds or the reader finished; false after the client's timeout
  // with no ack. Every ack moves the deadline: a long wait is fine while acks arrive.
  bool WaitForProgress(const std::function<bool()>& ready) {
    absl::MutexLock lock(&mu);
    auto cond = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu) { return reader_done || ready(); };
    while (!cond()) {
      mu.AwaitWithDeadline(absl::Condition(&cond), last_progress + client.options().timeout);
      if (!cond() && absl::Now() >= last_progress + client.options().timeout) return false;
    }
    return true;
  }

  // The reader finished: if the stream broke with UNAVAILABLE, reopen it and resend every
  // unacknowledged batch; otherwise record the failure for good.
  absl::Status Recover() {
    grpc::Status status = Close(false);
    absl::Duration backoff = client.options().initial_backoff;
    for (;;) {
      std::vector<std::shared_ptr<const v1::IngestBatch>> resend;
      {
        absl::MutexLock lock(&mu);
        if (status.ok() && unacked.empty()) return absl::OkStatus();
        if (status.ok()) {
          status = grpc::Status(grpc::StatusCode::INTERNAL,
                                "the server closed the stream with batches unacknowledged");
        }
        if (status.error_code() != grpc::StatusCode::UNAVAILABLE ||
            ++failures_in_a_row >= client.options().max_attempts) {
          failed = client.Final(status);
          return failed;
        }
        resend.assign(unacked.begin(), unacked.end());
      }
      std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
      backoff = std::min(backoff * 2, absl::Seconds(5));
      Open();
      bool written = true;
      for (const auto& b : resend) {
        if (!(written = rw->Write(*b))) break;
      }
      if (written) return absl::OkStatus();
      status = Close(false);
    }
  }
};

IngestStream::IngestStream(Client& client, int window,
                           std::function<void(const v1::IngestAck&)> on_ack)
    : state_(std::make_unique<State>(client, window, std::move(on_ack))) {
  state_->Open();
}

IngestStream::~IngestStream() { state_->Close(true); }

absl::Status IngestStream::Send(v1::IngestBatch batch) {
  State& s = *state_;
  auto shared = std::make_shared<const v1::IngestBatch>(std::move(batch));
  for (;;) {
    if (!s.failed.ok()) return s.failed;
    absl::Status waited = s.Await([&]() ABSL_SHARED_LOCKS_REQUIRED(s.mu) {
      return static_cast<int>(s.unacked.size()) < s.window;
    });
    if (!waited.ok()) return waited;
    bool broken;
    {
      absl::MutexLock lock(&s.mu);
      broken = s.reader_done;
      if (!broken) {
        // The server owes an ack from now: the wait for one starts here, not at the last
        // ack of a stream that has been idle since.
        if (s.unacked.empty()) s.last_progress = absl::Now();
        s.unacked.push_back(shared);
      }
    }
    if (broken) {
      if (absl::Status r = s.Recover(); !r.ok()) return r;
      continue;
    }
    if (s.rw->Write(*shared)) return absl::OkStatus();
    // The stream broke under the write; the batch is queued, so recovery resends it.
    absl::Status waited_end = s.Await([] { return false; });
    if (!waited_end.ok()) return waited_end;
    return s.Recover();
  }
}

absl::Status IngestStream::Finish() {
  State& s = *state_;
  for (;;) {
    if (!s.failed.ok()) return s.failed;
    if (!s.writes_done) {
      {
        absl::MutexLock lock(&s.mu);  // the server owes the stream's end from now
        s.last_progress = absl::Now();
      }
      s.rw->WritesDone();
      s.writes_done = true;
    }
    // After WritesDone the server acks what is left and ends the stream.
    absl::Status waited = s.Await([] { return false; });
    if (!waited.ok()) return waited;
    if (absl::Status r = s.Recover(); !r.ok()) return r;
    absl::MutexLock lock(&s.mu);
    if (s.unacked.empty() && s.rw == nullptr) return absl::OkStatus();
  }
}

HealthWatcher::HealthWatcher(Client& client, v1::WatchHealthTransitionsRequest request)
    : client_(client), request_(std::move(request)) {}

HealthWatcher::~HealthWatcher() { Stop(); }

void HealthWatcher::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
  if (current_ != nullptr) current_->TryCancel();
}

absl::Status HealthWatcher::Run(
    const std::function<bool(const v1::HealthTransitionsDay&)>& on_day) {
  absl::Duration backoff = client_.options().initial_backoff;
  constexpr absl::Duration kMaxBackoff = absl::Seconds(5);
  while (!stopped_) {
    v1::WatchHealthTransitionsRequest req = request_;
    // Only what it holds of the last 92 days counts (older days are no longer watched).
    int skip = std::max(0, static_cast<int>(held_.size()) - 92);
    for (const auto& [date, fingerprint] : held_) {
      if (skip-- > 0) continue;
      req.add_known(absl::StrCat(date, "=", fingerprint));
    }
    std::unique_ptr<grpc::ClientContext> ctx = client_.NewContext(absl::InfiniteDuration());
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) break;
      current_ = ctx.get();
    }
    auto reader = client_.metrics_stub()->WatchHealthTransitions(ctx.get(), req);
    v1::HealthTransitionsDay part, day;
    bool whole = true, stop = false;
    while (!stop && reader->Read(&part)) {
      backoff = client_.options().initial_backoff;  // the server answers: back off afresh
      if (whole) {
        day = std::move(part);
      } else {
        for (auto& t : *part.mutable_transitions()) *day.add_transitions() = std::move(t);
        day.set_more(part.more());
        day.set_fingerprint(part.fingerprint());
      }
      whole = !day.more();
      if (!whole) continue;
      held_[day.date()] = day.fingerprint();
      if (!on_day(day)) stop = true;
    }
    if (stop) {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
      ctx->TryCancel();
    }
    const grpc::Status status = reader->Finish();
    {
      std::lock_guard<std::mutex> lock(mu_);
      current_ = nullptr;
    }
    if (stopped_) break;
    const grpc::StatusCode code = status.error_code();
    if (code != grpc::StatusCode::UNAVAILABLE && code != grpc::StatusCode::CANCELLED &&
        code != grpc::StatusCode::OK) {
      return client_.Final(status);
    }
    // The server went away (or shut down): come back to it, or to another replica.
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
    ++reconnects_;
  }
  return absl::OkStatus();
}

}  // namespace saasmetrics::client
