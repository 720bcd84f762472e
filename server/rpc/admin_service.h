#pragma once

#include "saasmetrics/v1/admin.grpc.pb.h"
#include "server/rpc/handler.h"
#include "server/store/change_feed.h"
#include "server/store/definition_store.h"
#include "server/store/key_store.h"
#include "server/store/tenant_store.h"

namespace saasmetrics::rpc {

class AdminService final : public saasmetrics::v1::AdminService::CallbackService {
 public:
  // `page_secret` seals page tokens (auth::SealToken).
  // `rules` and `models`: the tenants' PQL rules and engagement models.
  AdminService(HandlerEnv env, store::TenantStore& tenants, store::DefinitionStore& rules,
               store::DefinitionStore& models, store::KeyStore& keys, std::string page_secret)
      : env_(env),
        tenants_(tenants),
        rules_(rules),
        models_(models),
        keys_(keys),
        page_secret_(std::move(page_secret)) {}

  grpc::ServerUnaryReactor* CreateTenant(grpc::CallbackServerContext* ctx,
                                         const v1::CreateTenantRequest* req,
                                         v1::Tenant* resp) override;
  grpc::ServerUnaryReactor* GetTenant(grpc::CallbackServerContext* ctx,
                                      const v1::GetTenantRequest* req, v1::Tenant* resp) override;
  grpc::ServerUnaryReactor* ListTenants(grpc::CallbackServerContext* ctx,
                                        const v1::ListTenantsRequest* req,
                                        v1::ListTenantsResponse* resp) override;
  grpc::ServerUnaryReactor* UpdateTenant(grpc::CallbackServerContext* ctx,
                                         const v1::UpdateTenantRequest* req,
                                         v1::Tenant* resp) override;

  grpc::ServerUnaryReactor* CreatePqlRule(grpc::CallbackServerContext* ctx,
                                          const v1::CreatePqlRuleRequest*, v1::PqlRule*) override;
  grpc::ServerUnaryReactor* GetPqlRule(grpc::CallbackServerContext* ctx,
                                       const v1::GetPqlRuleRequest*, v1::PqlRule*) override;
  grpc::ServerUnaryReactor* ListPqlRules(grpc::CallbackServerContext* ctx,
                                         const v1::ListPqlRulesRequest*,
                                         v1::ListPqlRulesResponse*) override;
  grpc::ServerUnaryReactor* UpdatePqlRule(grpc::CallbackServerContext* ctx,
                                          const v1::UpdatePqlRuleRequest*, v1::PqlRule*) override;
  grpc::ServerUnaryReactor* DeletePqlRule(grpc::CallbackServerContext* ctx,
                                          const v1::DeletePqlRuleRequest*,
                                          v1::DeletePqlRuleResponse*) override;

  grpc::ServerUnaryReactor* CreateEngagementModel(grpc::CallbackServerContext* ctx,
                                                  const v1::CreateEngagementModelRequest*,
                                                  v1::EngagementModel*) override;
  grpc::ServerUnaryReactor* GetEngagementModel(grpc::CallbackServerContext* ctx,
                                               const v1::GetEngagementModelRequest*,
                                               v1::EngagementModel*) override;
  grpc::ServerUnaryReactor* ListEngagementModels(grpc::CallbackServerContext* ctx,
                                                 const v1::ListEngagementModelsRequest*,
                                                 v1::ListEngagementModelsResponse*) override;
  grpc::ServerUnaryReactor* UpdateEngagementModel(grpc::CallbackServerContext* ctx,
                                                  const v1::UpdateEngagementModelRequest*,
                                                  v1::EngagementModel*) override;
  grpc::ServerUnaryReactor* DeleteEngagementModel(grpc::CallbackServerContext* ctx,
                                                  const v1::DeleteEngagementModelRequest*,
                                                  v1::DeleteEngagementModelResponse*) override;

  // API keys (admin_keys.cc).
  grpc::ServerUnaryReactor* CreateApiKey(grpc::CallbackServerContext* ctx,
                                         const v1::CreateApiKeyRequest*,
                                         v1::CreateApiKeyResponse*) override;
  grpc::ServerUnaryReactor* ListApiKeys(grpc::CallbackServerContext* ctx,
                                        const v1::ListApiKeysRequest*,
                                        v1::ListApiKeysResponse*) override;
  grpc::ServerUnaryReactor* RevokeApiKey(grpc::CallbackServerContext* ctx,
                                         const v1::RevokeApiKeyRequest*, v1::ApiKey*) override;

  // Told of every change to a tenant's settings or engagement models (health watches
  // recompute); may stay null.
  void set_change_feed(store::ChangeFeed* feed) { feed_ = feed; }

 private:
  HandlerEnv env_;
  // Validates the tenant id and that the tenant exists.
  grpc::Status CheckTenant(const std::string& tenant_id, absl::Time deadline);
  // The operations every kind of definition shares (PQL rules, engagement models).
  template <typename Message>
  grpc::Status Save(store::DefinitionStore& store, const std::string& tenant_id, const Message& m,
                    bool create, absl::Time deadline, Message* out);
  template <typename Message>
  grpc::Status Read(store::DefinitionStore& store, const std::string& tenant_id,
                    const std::string& id, absl::Time deadline, Message* out);
  template <typename Message, typename List>
  grpc::Status ReadAll(store::DefinitionStore& store, const std::string& tenant_id,
                       absl::Time deadline, List* out);
  grpc::Status Remove(store::DefinitionStore& store, const std::string& tenant_id,
                      const std::string& id, absl::Time deadline);

  store::TenantStore& tenants_;
  store::DefinitionStore& rules_;
  store::DefinitionStore& models_;
  store::KeyStore& keys_;
  const std::string page_secret_;
  // `s`, after telling the feed that `tenant_id` changed when `s` is OK.
  grpc::Status Changed(const std::string& tenant_id, grpc::Status s) {
    if (s.ok() && feed_ != nullptr) feed_->Written(tenant_id);
    return s;
  }
  store::ChangeFeed* feed_ = nullptr;
};

}  // namespace saasmetrics::rpc
