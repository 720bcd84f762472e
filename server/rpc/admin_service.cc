#include "server/rpc/admin_service.h"

#include "absl/strings/str_cat.h"
#include "server/auth/keys.h"
#include "server/rpc/convert.h"
#include "server/rpc/definition_mapping.h"
#include "server/rpc/paging.h"
#include "server/rpc/status.h"

namespace saasmetrics::rpc {
namespace {

constexpr absl::string_view kService = "saasmetrics.v1.AdminService";
// What ListTenants tokens are sealed for (a movements token names its tenant and query).
constexpr absl::string_view kTenantsTokenContext = "ListTenants";

void ToProto(const engine::Tenant& t, v1::Tenant* out) {
  out->set_tenant_id(t.tenant_id);
  out->set_display_name(t.display_name);
  out->set_currency(t.currency);
  out->set_timezone(t.timezone);
  out->mutable_gross_margin()->set_value(t.gross_margin);
  rpc::ToProto(t.create_time, out->mutable_create_time());
  rpc::ToProto(t.update_time, out->mutable_update_time());
  v1::HealthPolicy* h = out->mutable_health_policy();
  h->set_engagement_model_id(t.health_policy.engagement_model_id);
  h->mutable_power_at_least()->set_value(t.health_policy.power_at_least);
  h->mutable_at_risk_below()->set_value(t.health_policy.at_risk_below);
  h->set_inactive_days(t.health_policy.inactive_days);
  h->set_lost_window_days(t.health_policy.lost_window_days);
  h->mutable_risk_at_least()->set_value(t.health_policy.risk_at_least);
}

// Unset fields take the defaults.
engine::HealthPolicy FromProto(const v1::HealthPolicy& p) {
  engine::HealthPolicy h;
  h.engagement_model_id = p.engagement_model_id();
  if (p.has_power_at_least()) h.power_at_least = p.power_at_least().value();
  if (p.has_at_risk_below()) h.at_risk_below = p.at_risk_below().value();
  if (p.inactive_days() != 0) h.inactive_days = p.inactive_days();
  if (p.lost_window_days() != 0) h.lost_window_days = p.lost_window_days();
  if (p.has_risk_at_least()) h.risk_at_least = p.risk_at_least().value();
  return h;
}

engine::Tenant FromProto(const v1::Tenant& p) {
  engine::Tenant t;
  t.tenant_id = p.tenant_id();
  t.display_name = p.display_name();
  t.currency = p.currency();
  if (!p.timezone().empty()) t.timezone = p.timezone();
  if (p.has_gross_margin()) t.gross_margin = p.gross_margin().value();
  if (p.has_health_policy()) t.health_policy = FromProto(p.health_policy());
  return t;
}

}  // namespace

grpc::ServerUnaryReactor* AdminService::CreateTenant(grpc::CallbackServerContext* ctx,
                                                     const v1::CreateTenantRequest* req,
                                                     v1::Tenant* resp) {
  return RunUnary(ctx, env_, kService, "CreateTenant", {auth::kAdmin, ""},
                  [this, req, resp](absl::Time deadline) {
                    if (!req->has_tenant()) return InvalidArgument({{"tenant", "is required"}});
                    engine::Tenant tenant = FromProto(req->tenant());
                    engine::Violations violations;
                    engine::ValidateTenantSettings(tenant, "tenant", violations);
                    if (!violations.empty()) return InvalidArgument(violations);
                    absl::StatusOr<engine::Tenant> created = tenants_.Create(tenant, deadline);
                    if (!created.ok()) return ToGrpcStatus(created.status());
                    ToProto(*created, resp);
                    return grpc::Status::OK;
                  });
}

grpc::ServerUnaryReactor* AdminService::GetTenant(grpc::CallbackServerContext* ctx,
                                                  const v1::GetTenantRequest* req,
                                                  v1::Tenant* resp) {
  return RunUnary(ctx, env_, kService, "GetTenant", {auth::kRead, req->tenant_id()},
                  [this, req, resp](absl::Time deadline) {
                    engine::Violations violations;
                    engine::ValidateTenantId(req->tenant_id(), "tenant_id", violations);
                    if (!violations.empty()) return InvalidArgument(violations);
                    absl::StatusOr<engine::Tenant> tenant =
                        tenants_.Get(req->tenant_id(), deadline);
                    if (!tenant.ok()) return ToGrpcStatus(tenant.status());
                    ToProto(*tenant, resp);
                    return grpc::Status::OK;
                  });
}

grpc::ServerUnaryReactor* AdminService::ListTenants(grpc::CallbackServerContext* ctx,
                                                    const v1::ListTenantsRequest* req,
                                                    v1::ListTenantsResponse* resp) {
  return RunUnary(
      ctx, env_, kService, "ListTenants", {auth::kAdmin, ""},
      [this, req, resp](absl::Time deadline) {
        engine::Violations violations;
        if (req->page_size() < 0) {
          violations.push_back(
              {"page_size", absl::StrCat("must not be negative, got ", req->page_size())});
        }
        // The token is the last tenant id served, sealed (auth::SealToken) so that it
        // cannot be forged or taken from another list.
        std::string after;
        if (!req->page_token().empty()) {
          std::optional<std::string> token =
              auth::OpenToken(page_secret_, kTenantsTokenContext, req->page_token());
          if (!token.has_value() || !engine::IsValidResourceId(*token)) {
            violations.push_back({"page_token", "is not a token this service issued"});
          } else {
            after = std::move(*token);
          }
        }
        if (!violations.empty()) return InvalidArgument(violations);
        int page_size = PageSize(req->page_size());
        absl::StatusOr<store::TenantPage> page = tenants_.List(page_size, after, deadline);
        if (!page.ok()) return ToGrpcStatus(page.status());
        for (const engine::Tenant& t : page->tenants) ToProto(t, resp->add_tenants());
        if (page->more) {
          resp->set_next_page_token(
              auth::SealToken(page_secret_, kTenantsTokenContext, page->tenants.back().tenant_id));
        }
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* AdminService::UpdateTenant(grpc::CallbackServerContext* ctx,
                                                     const v1::UpdateTenantRequest* req,
                                                     v1::Tenant* resp) {
  return RunUnary(
      ctx, env_, kService, "UpdateTenant", {auth::kAdmin, req->tenant().tenant_id()},
      [this, req, resp](absl::Time deadline) {
        const v1::Tenant& p = req->tenant();
        engine::Violations violations;
        engine::ValidateTenantId(p.tenant_id(), "tenant.tenant_id", violations);
        store::TenantUpdate update{.tenant_id = p.tenant_id()};
        if (!p.display_name().empty()) update.display_name = p.display_name();
        if (!p.timezone().empty()) update.timezone = p.timezone();
        if (p.has_gross_margin()) update.gross_margin = p.gross_margin().value();
        if (p.has_health_policy()) update.health_policy = FromProto(p.health_policy());
        // Check the changed settings with the same rules as at creation.
        engine::Tenant probe{
            .tenant_id = p.tenant_id(),
            .display_name = update.display_name.value_or(""),
            .currency = "USD",
            .timezone = update.timezone.value_or("UTC"),
            .gross_margin = update.gross_margin.value_or(1.0),
            .health_policy = update.health_policy.value_or(engine::HealthPolicy{})};
        engine::ValidateTenantSettings(probe, "tenant", violations);
        if (!violations.empty()) return InvalidArgument(violations);
        absl::StatusOr<engine::Tenant> current = tenants_.Get(p.tenant_id(), deadline);
        if (!current.ok()) return ToGrpcStatus(current.status());
        if (!p.currency().empty() && p.currency() != current->currency) {
          return InvalidArgument(
              {{"tenant.currency", absl::StrCat("is fixed at creation ('", current->currency,
                                                "'); every stored amount is in it")}});
        }
        absl::StatusOr<engine::Tenant> updated = tenants_.Update(update, deadline);
        if (!updated.ok()) return ToGrpcStatus(updated.status());
        (void)Changed(p.tenant_id(), grpc::Status::OK);
        ToProto(*updated, resp);
        return grpc::Status::OK;
      });
}

grpc::Status AdminService::CheckTenant(const std::string& tenant_id, absl::Time deadline) {
  engine::Violations violations;
  engine::ValidateTenantId(tenant_id, "tenant_id", violations);
  if (!violations.empty()) return InvalidArgument(violations);
  return ToGrpcStatus(tenants_.Get(tenant_id, deadline).status());
}

namespace {

// An id of a definition (rule_id, model_id) and the message's name.
void CheckDefinitionId(const std::string& id, const std::string& field, const std::string& name,
                       engine::Violations& violations) {
  if (!engine::IsValidResourceId(id)) {
    violations.push_back(
        {field, absl::StrCat("'", id,
                             "' must be 1-63 characters of [a-z0-9_-] starting with a letter or "
                             "digit")});
  }
  if (name.size() > 200) {
    violations.push_back({field.substr(0, field.find('.')) + ".name", "must be at most 200 bytes"});
  }
}

grpc::Status Check(const v1::PqlRule& rule) {
  engine::Violations violations;
  CheckDefinitionId(rule.rule_id(), "rule.rule_id", rule.name(), violations);
  engine::ValidatePqlRule(rpc::FromProto(rule), "rule", violations);
  if (!violations.empty()) return InvalidArgument(violations);
  return grpc::Status::OK;
}

grpc::Status Check(const v1::EngagementModel& model) {
  engine::Violations violations;
  CheckDefinitionId(model.model_id(), "model.model_id", model.name(), violations);
  if (model.window_days() < 0) {
    violations.push_back({"model.window_days", "must be 1 to 365 (0: 30)"});
  }
  for (int i = 0; i < model.components_size(); ++i) {
    if (model.components(i).name().size() > 100) {
      violations.push_back(
          {absl::StrCat("model.components[", i, "].name"), "must be at most 100 bytes"});
    }
  }
  engine::ValidateEngagementModel(rpc::FromProto(model), "model", violations);
  if (!violations.empty()) return InvalidArgument(violations);
  return grpc::Status::OK;
}

const std::string& IdOf(const v1::PqlRule& rule) { return rule.rule_id(); }
const std::string& IdOf(const v1::EngagementModel& model) { return model.model_id(); }

// The stored row as the API's message, into `out`.
template <typename Message>
grpc::Status Answer(const absl::StatusOr<store::StoredDefinition>& stored, Message* out) {
  if (!stored.ok()) return ToGrpcStatus(stored.status());
  absl::StatusOr<Message> m = FromStored<Message>(*stored);
  if (!m.ok()) return ToGrpcStatus(m.status());
  *out = *std::move(m);
  return grpc::Status::OK;
}

}  // namespace

// The five operations every kind of definition shares (PQL rules, engagement models):
// validate, check the tenant, store, answer with the stored message.
template <typename Message>
grpc::Status AdminService::Save(store::DefinitionStore& store, const std::string& tenant_id,
                                const Message& m, bool create, absl::Time deadline, Message* out) {
  if (grpc::Status s = Check(m); !s.ok()) return s;
  if (grpc::Status s = CheckTenant(tenant_id, deadline); !s.ok()) return s;
  return Answer(create ? store.Create(tenant_id, IdOf(m), DefinitionJson(m), deadline)
                       : store.Update(tenant_id, IdOf(m), DefinitionJson(m), deadline),
                out);
}

template <typename Message>
grpc::Status AdminService::Read(store::DefinitionStore& store, const std::string& tenant_id,
                                const std::string& id, absl::Time deadline, Message* out) {
  if (grpc::Status s = CheckTenant(tenant_id, deadline); !s.ok()) return s;
  return Answer(store.Get(tenant_id, id, deadline), out);
}

template <typename Message, typename List>
grpc::Status AdminService::ReadAll(store::DefinitionStore& store, const std::string& tenant_id,
                                   absl::Time deadline, List* out) {
  if (grpc::Status s = CheckTenant(tenant_id, deadline); !s.ok()) return s;
  absl::StatusOr<std::vector<store::StoredDefinition>> stored = store.List(tenant_id, deadline);
  if (!stored.ok()) return ToGrpcStatus(stored.status());
  for (const store::StoredDefinition& d : *stored) {
    if (grpc::Status s = Answer<Message>(d, out->Add()); !s.ok()) return s;
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::Remove(store::DefinitionStore& store, const std::string& tenant_id,
                                  const std::string& id, absl::Time deadline) {
  if (grpc::Status s = CheckTenant(tenant_id, deadline); !s.ok()) return s;
  return ToGrpcStatus(store.Delete(tenant_id, id, deadline));
}

grpc::ServerUnaryReactor* AdminService::CreatePqlRule(grpc::CallbackServerContext* ctx,
                                                      const v1::CreatePqlRuleRequest* req,
                                                      v1::PqlRule* resp) {
  return RunUnary(ctx, env_, kService, "CreatePqlRule", {auth::kAdmin, req->tenant_id()},
                  [this, req, resp](absl::Time deadline) {
                    return Save(rules_, req->tenant_id(), req->rule(), true, deadline, resp);
                  });
}

grpc::ServerUnaryReactor* AdminService::GetPqlRule(grpc::CallbackServerContext* ctx,
                                                   const v1::GetPqlRuleRequest* req,
                                                   v1::PqlRule* resp) {
  return RunUnary(ctx, env_, kService, "GetPqlRule", {auth::kRead, req->tenant_id()},
                  [this, req, resp](absl::Time deadline) {
                    return Read(rules_, req->tenant_id(), req->rule_id(), deadline, resp);
                  });
}

grpc::ServerUnaryReactor* AdminService::ListPqlRules(grpc::CallbackServerContext* ctx,
                                                     const v1::ListPqlRulesRequest* req,
                                                     v1::ListPqlRulesResponse* resp) {
  return RunUnary(ctx, env_, kService, "ListPqlRules", {auth::kRead, req->tenant_id()},
                  [this, req, resp](absl::Time deadline) {
                    return ReadAll<v1::PqlRule>(rules_, req->tenant_id(), deadline,
                                                resp->mutable_rules());
                  });
}

grpc::ServerUnaryReactor* AdminService::UpdatePqlRule(grpc::CallbackServerContext* ctx,
                                                      const v1::UpdatePqlRuleRequest* req,
                                                      v1::PqlRule* resp) {
  return RunUnary(ctx, env_, kService, "UpdatePqlRule", {auth::kAdmin, req->tenant_id()},
                  [this, req, resp](absl::Time deadline) {
                    return Save(rules_, req->tenant_id(), req->rule(), false, deadline, resp);
                  });
}

grpc::ServerUnaryReactor* AdminService::DeletePqlRule(grpc::CallbackServerContext* ctx,
                                                      const v1::DeletePqlRuleRequest* req,
                                                      v1::DeletePqlRuleResponse*) {
  return RunUnary(ctx, env_, kService, "DeletePqlRule", {auth::kAdmin, req->tenant_id()},
                  [this, req](absl::Time deadline) {
                    return Remove(rules_, req->tenant_id(), req->rule_id(), deadline);
                  });
}

grpc::ServerUnaryReactor* AdminService::CreateEngagementModel(
    grpc::CallbackServerContext* ctx, const v1::CreateEngagementModelRequest* req,
    v1::EngagementModel* resp) {
  return RunUnary(ctx, env_, kService, "CreateEngagementModel", {auth::kAdmin, req->tenant_id()},
                  [this, req, resp](absl::Time deadline) {
                    return Changed(req->tenant_id(), Save(models_, req->tenant_id(), req->model(),
                                                          true, deadline, resp));
                  });
}

grpc::ServerUnaryReactor* AdminService::GetEngagementModel(grpc::CallbackServerContext* ctx,
                                                           const v1::GetEngagementModelRequest* req,
                                                           v1::EngagementModel* resp) {
  return RunUnary(ctx, env_, kService, "GetEngagementModel", {auth::kRead, req->tenant_id()},
                  [this, req, resp](absl::Time deadline) {
                    return Read(models_, req->tenant_id(), req->model_id(), deadline, resp);
                  });
}

grpc::ServerUnaryReactor* AdminService::ListEngagementModels(
    grpc::CallbackServerContext* ctx, const v1::ListEngagementModelsRequest* req,
    v1::ListEngagementModelsResponse* resp) {
  return RunUnary(ctx, env_, kService, "ListEngagementModels", {auth::kRead, req->tenant_id()},
                  [this, req, resp](absl::Time deadline) {
                    return ReadAll<v1::EngagementModel>(models_, req->tenant_id(), deadline,
                                                        resp->mutable_models());
                  });
}

grpc::ServerUnaryReactor* AdminService::UpdateEngagementModel(
    grpc::CallbackServerContext* ctx, const v1::UpdateEngagementModelRequest* req,
    v1::EngagementModel* resp) {
  return RunUnary(ctx, env_, kService, "UpdateEngagementModel", {auth::kAdmin, req->tenant_id()},
                  [this, req, resp](absl::Time deadline) {
                    return Changed(req->tenant_id(), Save(models_, req->tenant_id(), req->model(),
                                                          false, deadline, resp));
                  });
}

grpc::ServerUnaryReactor* AdminService::DeleteEngagementModel(
    grpc::CallbackServerContext* ctx, const v1::DeleteEngagementModelRequest* req,
    v1::DeleteEngagementModelResponse*) {
  return RunUnary(ctx, env_, kService, "DeleteEngagementModel", {auth::kAdmin, req->tenant_id()},
                  [this, req](absl::Time deadline) {
                    return Changed(req->tenant_id(),
                                   Remove(models_, req->tenant_id(), req->model_id(), deadline));
                  });
}

}  // namespace saasmetrics::rpc
