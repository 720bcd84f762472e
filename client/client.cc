#include "client/client.h"

#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace saasmetrics::client {
namespace {

std::shared_ptr<grpc::ChannelCredentials> Credentials(const ClientOptions& o) {
  if (!o.tls) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  if (!o.tls_ca_file.empty()) {
    std::ifstream in(o.tls_ca_file);
    std::stringstream pem;
    pem << in.rdbuf();
    ssl.pem_root_certs = pem.str();
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
    : options_(std::move(options)),
      channel_(grpc::CreateChannel(options_.address, Credentials(options_))),
      admin_(v1::AdminService::NewStub(channel_)),
      ingest_(v1::IngestService::NewStub(channel_)),
      metrics_(v1::MetricsService::NewStub(channel_)) {}

template <typename Rpc>
absl::Status Client::Call(bool idempotent, Rpc rpc) {
  absl::Duration backoff = options_.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
    if (!options_.bearer_token.empty()) {
      ctx.AddMetadata("authorization", absl::StrCat("Bearer ", options_.bearer_token));
    }
    grpc::Status status = rpc(&ctx);
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE || !idempotent ||
        attempt >= options_.max_attempts) {
      absl::Status out = FromGrpc(status);
      if (absl::IsUnavailable(out)) {
        out = absl::UnavailableError(
            absl::StrCat("server at ", options_.address, " unavailable: ", out.message()));
      }
      return out;
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
SAAS_CLIENT_CALL_(UpsertCustomers, ingest_, UpsertCustomersRequest, IngestResult)
SAAS_CLIENT_CALL_(GetMrr, metrics_, GetMrrRequest, GetMrrResponse)
SAAS_CLIENT_CALL_(GetChurn, metrics_, GetChurnRequest, GetChurnResponse)
SAAS_CLIENT_CALL_(ListMovements, metrics_, ListMovementsRequest, ListMovementsResponse)
#undef SAAS_CLIENT_CALL_

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

}  // namespace saasmetrics::client
