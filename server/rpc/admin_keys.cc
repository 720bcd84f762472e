// AdminService's API keys: create (the token is returned once), list, revoke.
#include "absl/strings/str_cat.h"
#include "server/auth/keys.h"
#include "server/rpc/admin_service.h"
#include "server/rpc/convert.h"
#include "server/rpc/status.h"

namespace saasmetrics::rpc {
namespace {

constexpr absl::string_view kService = "saasmetrics.v1.AdminService";
constexpr size_t kMaxNameLength = 200;

void ToProto(const store::StoredKey& k, v1::ApiKey* out) {
  out->set_key_id(k.key_id);
  out->set_tenant_id(k.tenant_id);
  if (k.roles & auth::kRead) out->add_roles(v1::ROLE_READ);
  if (k.roles & auth::kIngest) out->add_roles(v1::ROLE_INGEST);
  if (k.roles & auth::kAdmin) out->add_roles(v1::ROLE_ADMIN);
  out->set_name(k.name);
  rpc::ToProto(k.create_time, out->mutable_create_time());
  if (k.revoke_time.has_value()) rpc::ToProto(*k.revoke_time, out->mutable_revoke_time());
}

}  // namespace

grpc::ServerUnaryReactor* AdminService::CreateApiKey(grpc::CallbackServerContext* ctx,
                                                     const v1::CreateApiKeyRequest* req,
                                                     v1::CreateApiKeyResponse* resp) {
  return RunUnary(ctx, env_, kService, "CreateApiKey", {auth::kAdmin, req->tenant_id()},
                  [this, req, resp](absl::Time deadline) {
                    engine::Violations violations;
                    uint32_t roles = 0;
                    if (req->roles().empty())
                      violations.push_back({"roles", "needs at least one role"});
                    for (int i = 0; i < req->roles_size(); ++i) {
                      switch (req->roles(i)) {
                        case v1::ROLE_READ:
                          roles |= auth::kRead;
                          break;
                        case v1::ROLE_INGEST:
                          roles |= auth::kIngest;
                          break;
                        case v1::ROLE_ADMIN:
                          roles |= auth::kAdmin;
                          break;
                        default:
                          violations.push_back({absl::StrCat("roles[", i, "]"),
                                                "must be ROLE_READ, ROLE_INGEST or ROLE_ADMIN"});
                      }
                    }
                    if (req->name().size() > kMaxNameLength) {
                      violations.push_back(
                          {"name", absl::StrCat("must be at most ", kMaxNameLength, " bytes")});
                    }
                    if (!violations.empty()) return InvalidArgument(violations);
                    if (!req->tenant_id().empty()) {
                      if (grpc::Status s = CheckTenant(req->tenant_id(), deadline); !s.ok())
                        return s;
                    }
                    const auth::Token token = auth::NewToken();
                    const auth::SecretHash hash = auth::HashSecret(token.secret);
                    absl::StatusOr<store::StoredKey> stored =
                        keys_.Create({.key_id = token.key_id,
                                      .tenant_id = req->tenant_id(),
                                      .roles = roles,
                                      .name = req->name(),
                                      .salt = hash.salt,
                                      .hash = hash.hash},
                                     deadline);
                    if (!stored.ok()) return ToGrpcStatus(stored.status());
                    ToProto(*stored, resp->mutable_key());
                    resp->set_token(auth::FormatToken(token));
                    return grpc::Status::OK;
                  });
}

grpc::ServerUnaryReactor* AdminService::ListApiKeys(grpc::CallbackServerContext* ctx,
                                                    const v1::ListApiKeysRequest* req,
                                                    v1::ListApiKeysResponse* resp) {
  return RunUnary(ctx, env_, kService, "ListApiKeys", {auth::kAdmin, req->tenant_id()},
                  [this, req, resp](absl::Time deadline) {
                    absl::StatusOr<std::vector<store::StoredKey>> keys =
                        keys_.List(req->tenant_id(), deadline);
                    if (!keys.ok()) return ToGrpcStatus(keys.status());
                    for (const store::StoredKey& k : *keys) ToProto(k, resp->add_keys());
                    return grpc::Status::OK;
                  });
}

grpc::ServerUnaryReactor* AdminService::RevokeApiKey(grpc::CallbackServerContext* ctx,
                                                     const v1::RevokeApiKeyRequest* req,
                                                     v1::ApiKey* resp) {
  return RunUnary(ctx, env_, kService, "RevokeApiKey", {auth::kAdmin, req->tenant_id()},
                  [this, req, resp](absl::Time deadline) {
                    // A key of another tenant is "not found" here: its existence is not for this
                    // caller.
                    const grpc::Status not_found(
                        grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("API key '", req->key_id().substr(0, 64), "' does not exist"));
                    absl::StatusOr<store::StoredKey> key = keys_.Get(req->key_id(), deadline);
                    if (absl::IsNotFound(key.status())) return not_found;
                    if (!key.ok()) return ToGrpcStatus(key.status());
                    if (key->tenant_id != req->tenant_id()) return not_found;
                    absl::StatusOr<store::StoredKey> revoked =
                        keys_.Revoke(req->key_id(), deadline);
                    if (!revoked.ok()) return ToGrpcStatus(revoked.status());
                    env_.auth->Forget(req->key_id());
                    ToProto(*revoked, resp);
                    return grpc::Status::OK;
                  });
}

}  // namespace saasmetrics::rpc
