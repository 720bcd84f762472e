// Authentication and authorization over every RPC: no key, a malformed key, a wrong
// secret, a revoked key, another tenant's key, and each role — every cell the expected
// code, and nothing written by a refused call.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <pqxx/pqxx>
#include <set>

#include "absl/strings/str_cat.h"
#include "saasmetrics/v1/admin.grpc.pb.h"
#include "saasmetrics/v1/ingest.grpc.pb.h"
#include "saasmetrics/v1/metrics.grpc.pb.h"
#include "server/rpc/convert.h"
#include "tests/support/grpc_test_util.h"
#include "tests/support/test_server.h"

namespace saasmetrics {
namespace {

using Call = std::function<grpc::Status(grpc::ClientContext*)>;
enum class Needs { kRead, kIngest, kAdmin, kEveryTenantAdmin };

class AuthTest : public ::testing::Test {
 protected:
  AuthTest()
      : channel_(grpc::CreateChannel(server_.address(), grpc::InsecureChannelCredentials())),
        admin_(v1::AdminService::NewStub(channel_)),
        ingest_(v1::IngestService::NewStub(channel_)),
        metrics_(v1::MetricsService::NewStub(channel_)) {
    for (const char* id : {"alpha", "beta"}) {
      v1::Tenant t;
      t.set_tenant_id(id);
      t.set_currency("USD");
      EXPECT_TRUE(server_.client().CreateTenant(t).ok());
    }
    tokens_["alpha read"] = Key("alpha", {v1::ROLE_READ});
    tokens_["alpha ingest"] = Key("alpha", {v1::ROLE_INGEST});
    tokens_["alpha admin"] = Key("alpha", {v1::ROLE_ADMIN});
    tokens_["beta all roles"] = Key("beta", {v1::ROLE_READ, v1::ROLE_INGEST, v1::ROLE_ADMIN});
    tokens_["every tenant, read"] = Key("", {v1::ROLE_READ});
    const std::string revoked = Key("alpha", {v1::ROLE_READ, v1::ROLE_INGEST, v1::ROLE_ADMIN});
    v1::RevokeApiKeyRequest revoke;
    revoke.set_key_id(revoked.substr(3, 16));
    revoke.set_tenant_id("alpha");
    EXPECT_TRUE(server_.client().RevokeApiKey(revoke).ok());
    tokens_["revoked alpha all roles"] = revoked;
    std::string wrong = tokens_["alpha read"];
    wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
    tokens_["alpha read, wrong secret"] = wrong;
    tokens_["malformed"] = "sm_nothex_abc";
    tokens_["every tenant, all roles"] = testing::kTestAdminToken;
    tokens_["none"] = "";
  }

  std::string Key(const std::string& tenant, std::vector<v1::Role> roles) {
    v1::CreateApiKeyRequest req;
    req.set_tenant_id(tenant);
    for (v1::Role r : roles) req.add_roles(r);
    req.set_name("auth test");
    auto created = server_.client().CreateApiKey(req);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? created->token() : "";
  }

  // Every RPC against tenant alpha, with what it needs.
  std::vector<std::tuple<std::string, Needs, Call>> Calls() {
    std::vector<std::tuple<std::string, Needs, Call>> out;
    auto add = [&](std::string name, Needs needs, Call call) {
      out.emplace_back(std::move(name), needs, std::move(call));
    };
    add("CreateTenant", Needs::kEveryTenantAdmin, [this](grpc::ClientContext* c) {
      v1::CreateTenantRequest r;
      r.mutable_tenant()->set_tenant_id(absl::StrCat("t", ++created_));
      r.mutable_tenant()->set_currency("USD");
      v1::Tenant out;
      return admin_->CreateTenant(c, r, &out);
    });
    add("ListTenants", Needs::kEveryTenantAdmin, [this](grpc::ClientContext* c) {
      v1::ListTenantsResponse out;
      return admin_->ListTenants(c, {}, &out);
    });
    add("GetTenant", Needs::kRead, [this](grpc::ClientContext* c) {
      v1::GetTenantRequest r;
      r.set_tenant_id("alpha");
      v1::Tenant out;
      return admin_->GetTenant(c, r, &out);
    });
    add("UpdateTenant", Needs::kAdmin, [this](grpc::ClientContext* c) {
      v1::UpdateTenantRequest r;
      r.mutable_tenant()->set_tenant_id("alpha");
      r.mutable_tenant()->set_display_name("Alpha");
      v1::Tenant out;
      return admin_->UpdateTenant(c, r, &out);
    });
    auto rule = [] {
      v1::PqlRule rule;
      rule.set_rule_id("r1");
      rule.set_window_days(7);
      auto* cond = rule.add_conditions();
      cond->set_kind(v1::PqlCondition::KIND_EVENT_COUNT);
      cond->set_event_type("login");
      cond->set_threshold(1);
      return rule;
    };
    add("CreatePqlRule", Needs::kAdmin, [this, rule](grpc::ClientContext* c) {
      v1::CreatePqlRuleRequest r;
      r.set_tenant_id("alpha");
      *r.mutable_rule() = rule();
      r.mutable_rule()->set_rule_id(absl::StrCat("r", ++created_));
      v1::PqlRule out;
      return admin_->CreatePqlRule(c, r, &out);
    });
    add("GetPqlRule", Needs::kRead, [this](grpc::ClientContext* c) {
      v1::GetPqlRuleRequest r;
      r.set_tenant_id("alpha");
      r.set_rule_id("r1");
      v1::PqlRule out;
      return admin_->GetPqlRule(c, r, &out);
    });
    add("ListPqlRules", Needs::kRead, [this](grpc::ClientContext* c) {
      v1::ListPqlRulesRequest r;
      r.set_tenant_id("alpha");
      v1::ListPqlRulesResponse out;
      return admin_->ListPqlRules(c, r, &out);
    });
    add("UpdatePqlRule", Needs::kAdmin, [this, rule](grpc::ClientContext* c) {
      v1::UpdatePqlRuleRequest r;
      r.set_tenant_id("alpha");
      *r.mutable_rule() = rule();
      v1::PqlRule out;
      return admin_->UpdatePqlRule(c, r, &out);
    });
    add("DeletePqlRule", Needs::kAdmin, [this](grpc::ClientContext* c) {
      v1::DeletePqlRuleRequest r;
      r.set_tenant_id("alpha");
      r.set_rule_id("never-made");
      v1::DeletePqlRuleResponse out;
      return admin_->DeletePqlRule(c, r, &out);
    });
    auto model = [] {
      v1::EngagementModel m;
      m.set_model_id("m1");
      v1::EngagementComponent* c = m.add_components();
      c->set_aggregation(v1::EngagementComponent::AGGREGATION_COUNT);
      c->set_target(5);
      c->set_weight(1);
      return m;
    };
    add("CreateEngagementModel", Needs::kAdmin, [this, model](grpc::ClientContext* c) {
      v1::CreateEngagementModelRequest r;
      r.set_tenant_id("alpha");
      *r.mutable_model() = model();
      r.mutable_model()->set_model_id(absl::StrCat("m", ++created_ + 1));
      v1::EngagementModel out;
      return admin_->CreateEngagementModel(c, r, &out);
    });
    add("GetEngagementModel", Needs::kRead, [this](grpc::ClientContext* c) {
      v1::GetEngagementModelRequest r;
      r.set_tenant_id("alpha");
      r.set_model_id("m1");
      v1::EngagementModel out;
      return admin_->GetEngagementModel(c, r, &out);
    });
    add("ListEngagementModels", Needs::kRead, [this](grpc::ClientContext* c) {
      v1::ListEngagementModelsRequest r;
      r.set_tenant_id("alpha");
      v1::ListEngagementModelsResponse out;
      return admin_->ListEngagementModels(c, r, &out);
    });
    add("UpdateEngagementModel", Needs::kAdmin, [this, model](grpc::ClientContext* c) {
      v1::UpdateEngagementModelRequest r;
      r.set_tenant_id("alpha");
      *r.mutable_model() = model();
      v1::EngagementModel out;
      return admin_->UpdateEngagementModel(c, r, &out);
    });
    add("DeleteEngagementModel", Needs::kAdmin, [this](grpc::ClientContext* c) {
      v1::DeleteEngagementModelRequest r;
      r.set_tenant_id("alpha");
      r.set_model_id("never-made");
      v1::DeleteEngagementModelResponse out;
      return admin_->DeleteEngagementModel(c, r, &out);
    });
    add("CreateApiKey", Needs::kAdmin, [this](grpc::ClientContext* c) {
      v1::CreateApiKeyRequest r;
      r.set_tenant_id("alpha");
      r.add_roles(v1::ROLE_READ);
      v1::CreateApiKeyResponse out;
      return admin_->CreateApiKey(c, r, &out);
    });
    add("ListApiKeys", Needs::kAdmin, [this](grpc::ClientContext* c) {
      v1::ListApiKeysRequest r;
      r.set_tenant_id("alpha");
      v1::ListApiKeysResponse out;
      return admin_->ListApiKeys(c, r, &out);
    });
    add("RevokeApiKey", Needs::kAdmin, [this](grpc::ClientContext* c) {
      v1::RevokeApiKeyRequest r;
      r.set_tenant_id("alpha");
      r.set_key_id("0000000000000000");
      v1::ApiKey out;
      return admin_->RevokeApiKey(c, r, &out);
    });
    add("IngestSubscriptionEvents", Needs::kIngest, [this](grpc::ClientContext* c) {
      v1::IngestSubscriptionEventsRequest r;
      r.set_tenant_id("alpha");
      v1::SubscriptionEvent* e = r.add_events();
      e->set_event_id(absl::StrCat("e", ++created_));
      e->set_customer_id("c1");
      e->set_subscription_id("s1");
      rpc::ToProto(absl::FromUnixSeconds(1704067200), e->mutable_effective_at());
      e->set_status(v1::SUBSCRIPTION_STATUS_ACTIVE);
      e->set_quantity(1);
      e->set_unit_amount(1000);
      e->set_currency("USD");
      e->set_interval_unit(v1::INTERVAL_UNIT_MONTH);
      e->set_interval_count(1);
      v1::IngestResult out;
      return ingest_->IngestSubscriptionEvents(c, r, &out);
    });
    add("IngestUsageEvents", Needs::kIngest, [this](grpc::ClientContext* c) {
      v1::IngestUsageEventsRequest r;
      r.set_tenant_id("alpha");
      v1::UsageEvent* e = r.add_events();
      e->set_id(absl::StrCat("u", ++created_));
      e->set_source("app");
      e->set_type("login");
      e->set_subject("c1");
      rpc::ToProto(absl::FromUnixSeconds(1704067200), e->mutable_time());
      v1::IngestResult out;
      return ingest_->IngestUsageEvents(c, r, &out);
    });
    add("UpsertCustomers", Needs::kIngest, [this](grpc::ClientContext* c) {
      v1::UpsertCustomersRequest r;
      r.set_tenant_id("alpha");
      v1::Customer* cu = r.add_customers();
      cu->set_customer_id("c1");
      rpc::ToProto(absl::FromUnixSeconds(1704067200), cu->mutable_created_at());
      v1::IngestResult out;
      return ingest_->UpsertCustomers(c, r, &out);
    });
    add("RecordAcquisitionSpend", Needs::kIngest, [this](grpc::ClientContext* c) {
      v1::RecordAcquisitionSpendRequest r;
      r.set_tenant_id("alpha");
      v1::AcquisitionSpend* s = r.add_spend();
      s->set_spend_id(absl::StrCat("s", ++created_));
      s->set_channel("ads");
      s->set_start_date("2024-01-01");
      s->set_end_date("2024-01-31");
      s->set_amount(100);
      s->set_currency("USD");
      v1::IngestResult out;
      return ingest_->RecordAcquisitionSpend(c, r, &out);
    });
    add("RecordSurveyResponses", Needs::kIngest, [this](grpc::ClientContext* c) {
      v1::RecordSurveyResponsesRequest r;
      r.set_tenant_id("alpha");
      v1::SurveyResponse* s = r.add_responses();
      s->set_id(absl::StrCat("n", ++created_));
      s->set_customer_id("c1");
      s->set_score(9);
      rpc::ToProto(absl::FromUnixSeconds(1704067200), s->mutable_time());
      v1::IngestResult out;
      return ingest_->RecordSurveyResponses(c, r, &out);
    });
    add("RecordExchangeRates", Needs::kIngest, [this](grpc::ClientContext* c) {
      v1::RecordExchangeRatesRequest r;
      r.set_tenant_id("alpha");
      v1::ExchangeRate* e = r.add_rates();
      e->set_date(absl::FormatCivilTime(absl::CivilDay(2024, 1, 1) + ++created_));
      e->set_currency("EUR");
      e->set_rate("1.08");
      v1::IngestResult out;
      return ingest_->RecordExchangeRates(c, r, &out);
    });
    add("StreamIngest", Needs::kIngest, [this](grpc::ClientContext* c) {
      auto stream = ingest_->StreamIngest(c);
      v1::IngestBatch batch;
      batch.set_tenant_id("alpha");
      batch.set_batch_id("1");
      v1::UsageEvent* e = batch.mutable_usage_events()->add_events();
      e->set_id(absl::StrCat("st", ++created_));
      e->set_source("app");
      e->set_type("login");
      e->set_subject("c1");
      rpc::ToProto(absl::FromUnixSeconds(1704067200), e->mutable_time());
      stream->Write(batch);
      stream->WritesDone();
      v1::IngestAck ack;
      while (stream->Read(&ack)) {
      }
      return stream->Finish();
    });
    auto query = [](v1::MetricsQuery* q) {
      q->set_tenant_id("alpha");
      q->set_start_date("2024-01-01");
      q->set_end_date("2024-01-31");
      q->set_interval(v1::INTERVAL_MONTH);
    };
#define SAAS_METRIC_CALL(Method, Extra)                              \
  add(#Method, Needs::kRead, [this, query](grpc::ClientContext* c) { \
    v1::Method##Request r;                                           \
    query(r.mutable_query());                                        \
    Extra;                                                           \
    v1::Method##Response out;                                        \
    return metrics_->Method(c, r, &out);                             \
  })
    SAAS_METRIC_CALL(GetMrr, {});
    SAAS_METRIC_CALL(GetChurn, {});
    SAAS_METRIC_CALL(GetUnitEconomics, {});
    SAAS_METRIC_CALL(GetCohortRetention, {});
    SAAS_METRIC_CALL(GetActiveCustomers, {});
    SAAS_METRIC_CALL(GetPqlCount, r.set_rule_id("r1"));
    SAAS_METRIC_CALL(GetActivation, r.add_activation_event_types("login"));
    SAAS_METRIC_CALL(ListMovements, {});
    SAAS_METRIC_CALL(GetEngagement, r.set_model_id("m1"));
    SAAS_METRIC_CALL(ListEngagementScores, r.set_model_id("m1"));
    SAAS_METRIC_CALL(GetHealth, {});
    SAAS_METRIC_CALL(GetNps, {});
    SAAS_METRIC_CALL(GetIdealCustomerProfile, r.add_fields("country"));
    SAAS_METRIC_CALL(GetMrrByCohort, {});
    SAAS_METRIC_CALL(ListHealthTransitions, {});
    SAAS_METRIC_CALL(GetRenewals, r.mutable_min_term()->set_unit(v1::INTERVAL_UNIT_MONTH));
    SAAS_METRIC_CALL(GetSurvival, r.set_group_by("country"));
    SAAS_METRIC_CALL(GetRetentionDrivers, {});
    add("TrainModel", Needs::kAdmin, [this, query](grpc::ClientContext* c) {
      v1::TrainModelRequest r;
      query(r.mutable_query());
      r.set_model_id("churn");
      r.set_kind(v1::MODEL_KIND_CHURN);
      v1::Model out;
      return metrics_->TrainModel(c, r, &out);
    });
    add("GetModel", Needs::kRead, [this](grpc::ClientContext* c) {
      v1::GetModelRequest r;
      r.set_tenant_id("alpha");
      r.set_model_id("churn");
      v1::Model out;
      return metrics_->GetModel(c, r, &out);
    });
    add("ListModels", Needs::kRead, [this](grpc::ClientContext* c) {
      v1::ListModelsRequest r;
      r.set_tenant_id("alpha");
      v1::ListModelsResponse out;
      return metrics_->ListModels(c, r, &out);
    });
    add("DeleteModel", Needs::kAdmin, [this](grpc::ClientContext* c) {
      v1::DeleteModelRequest r;
      r.set_tenant_id("alpha");
      r.set_model_id("none");
      v1::DeleteModelResponse out;
      return metrics_->DeleteModel(c, r, &out);
    });
    add("ScoreCustomers", Needs::kRead, [this, query](grpc::ClientContext* c) {
      v1::ScoreCustomersRequest r;
      query(r.mutable_query());
      r.set_model_id("churn");
      v1::ScoreCustomersResponse out;
      return metrics_->ScoreCustomers(c, r, &out);
    });
    add("GetCustomer", Needs::kRead, [this](grpc::ClientContext* c) {
      v1::GetCustomerRequest r;
      r.set_tenant_id("alpha");
      r.set_customer_id("c1");
      r.set_date("2024-01-31");
      v1::CustomerProfile out;
      return metrics_->GetCustomer(c, r, &out);
    });
    SAAS_METRIC_CALL(ListHealthCustomers, {});
#undef SAAS_METRIC_CALL
    // A watch with an end: past authorization it is INVALID_ARGUMENT, so the stream ends.
    add("WatchHealthTransitions", Needs::kRead, [this, query](grpc::ClientContext* c) {
      v1::WatchHealthTransitionsRequest r;
      query(r.mutable_query());
      auto reader = metrics_->WatchHealthTransitions(c, r);
      v1::HealthTransitionsDay day;
      while (reader->Read(&day)) {
      }
      return reader->Finish();
    });
    return out;
  }

  // What any call could have written: rows, and the last update of what is updated.
  std::string Written() {
    if (db_ == nullptr) db_ = std::make_unique<pqxx::connection>(server_.db().conninfo());
    pqxx::read_transaction t(*db_);
    return t
        .exec1(
            "SELECT concat_ws(' ', (SELECT count(*) FROM tenants), "
            "(SELECT max(update_time) FROM tenants), (SELECT count(*) FROM pql_rules), "
            "(SELECT count(*) FROM engagement_models), "
            "(SELECT max(update_time) FROM engagement_models), "
            "(SELECT count(*) FROM trained_models), "
            "(SELECT max(update_time) FROM pql_rules), (SELECT count(*) FROM api_keys), "
            "(SELECT count(revoked_at) FROM api_keys), "
            "(SELECT count(*) FROM subscription_events), (SELECT count(*) FROM usage_events), "
            "(SELECT count(*) FROM customers), (SELECT count(*) FROM acquisition_spend), "
            "(SELECT count(*) FROM survey_responses), (SELECT count(*) FROM exchange_rates), "
            "(SELECT sum(rate) FROM exchange_rates))")[0]
        .as<std::string>();
  }

  testing::TestServer server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<v1::IngestService::Stub> ingest_;
  std::unique_ptr<v1::MetricsService::Stub> metrics_;
  std::map<std::string, std::string> tokens_;
  int created_ = 0;
  std::unique_ptr<pqxx::connection> db_;
};

TEST_F(AuthTest, EveryRpcAgainstEveryCredential) {
  // A rule for the reads that need one.
  v1::CreatePqlRuleRequest r1;
  r1.set_tenant_id("alpha");
  r1.mutable_rule()->set_rule_id("r1");
  r1.mutable_rule()->set_window_days(7);
  auto* cond = r1.mutable_rule()->add_conditions();
  cond->set_kind(v1::PqlCondition::KIND_EVENT_COUNT);
  cond->set_event_type("login");
  cond->set_threshold(1);
  ASSERT_TRUE(server_.client().CreatePqlRule(r1).ok());
  // And a model.
  {
    grpc::ClientContext ctx;
    testing::AddToken(&ctx);
    v1::CreateEngagementModelRequest m1;
    m1.set_tenant_id("alpha");
    m1.mutable_model()->set_model_id("m1");
    auto* c = m1.mutable_model()->add_components();
    c->set_aggregation(v1::EngagementComponent::AGGREGATION_COUNT);
    c->set_target(5);
    c->set_weight(1);
    v1::EngagementModel out;
    ASSERT_TRUE(admin_->CreateEngagementModel(&ctx, m1, &out).ok());
  }
  // Every method of every service is in the matrix: a new RPC cannot be born without it.
  std::set<std::string> listed, all;
  for (const auto& [method, needs, call] : Calls()) listed.insert(method);
  for (const char* service : {"saasmetrics.v1.AdminService", "saasmetrics.v1.IngestService",
                              "saasmetrics.v1.MetricsService"}) {
    const google::protobuf::ServiceDescriptor* s =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
    ASSERT_NE(s, nullptr) << service;
    for (int i = 0; i < s->method_count(); ++i) all.insert(s->method(i)->name());
  }
  EXPECT_EQ(listed, all);

  // Who may do what: the expected code's kind per credential and need.
  auto expect = [](const std::string& who, Needs needs) -> grpc::StatusCode {
    if (who == "none" || who == "malformed" || who == "revoked alpha all roles" ||
        who == "alpha read, wrong secret") {
      return grpc::StatusCode::UNAUTHENTICATED;
    }
    const bool ok = who == "every tenant, all roles" ||
                    (who == "alpha read" && needs == Needs::kRead) ||
                    (who == "alpha ingest" && needs == Needs::kIngest) ||
                    (who == "alpha admin" && needs == Needs::kAdmin) ||
                    (who == "every tenant, read" && needs == Needs::kRead);
    return ok ? grpc::StatusCode::OK : grpc::StatusCode::PERMISSION_DENIED;
  };
  int cells = 0;
  for (const auto& [who, token] : tokens_) {
    for (const auto& [method, needs, call] : Calls()) {
      SCOPED_TRACE(absl::StrCat(method, " with ", who));
      const grpc::StatusCode want = expect(who, needs);
      const std::string before = want == grpc::StatusCode::OK ? "" : Written();
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
      const grpc::Status s = call(&ctx);
      ++cells;
      if (want == grpc::StatusCode::OK) {
        // Allowed: past authorization (the request itself may still be refused).
        EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
        EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
        continue;
      }
      EXPECT_EQ(s.error_code(), want) << s.error_message();
      EXPECT_EQ(Written(), before) << "a refused call wrote";
      // Nothing in the answer says whether tenant alpha exists.
      EXPECT_THAT(s.error_message(), ::testing::Not(::testing::HasSubstr("alpha")));
    }
  }
  EXPECT_EQ(cells, 10 * 50);
}

TEST_F(AuthTest, AKeyOfOneTenantIsUselessAgainstAnotherAndUnknownTenantsLookTheSame) {
  const std::string beta = tokens_["beta all roles"];
  for (const std::string tenant : {"alpha", "no-such-tenant"}) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + beta);
    v1::GetMrrRequest r;
    r.mutable_query()->set_tenant_id(tenant);
    r.mutable_query()->set_start_date("2024-01-01");
    r.mutable_query()->set_end_date("2024-01-31");
    r.mutable_query()->set_interval(v1::INTERVAL_MONTH);
    v1::GetMrrResponse out;
    const grpc::Status s = metrics_->GetMrr(&ctx, r, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << tenant;
    EXPECT_EQ(s.error_message(),
              absl::StrCat("API key ", beta.substr(3, 16), " may not read here"));
  }
}

TEST_F(AuthTest, ARevokedKeyStopsAtOnceAndListingNeverShowsSecrets) {
  client::Client admin({.address = server_.address(), .bearer_token = tokens_["alpha admin"]});
  v1::CreateApiKeyRequest create;
  create.set_tenant_id("alpha");
  create.add_roles(v1::ROLE_READ);
  auto created = admin.CreateApiKey(create);
  ASSERT_TRUE(created.ok()) << created.status();
  client::Client reader({.address = server_.address(), .bearer_token = created->token()});
  EXPECT_TRUE(reader.GetTenant("alpha").ok());

  auto listed = admin.ListApiKeys([] {
    v1::ListApiKeysRequest r;
    r.set_tenant_id("alpha");
    return r;
  }());
  ASSERT_TRUE(listed.ok());
  const std::string secret = created->token().substr(20);
  EXPECT_EQ(listed->DebugString().find(secret), std::string::npos);
  for (const auto& k : listed->keys()) EXPECT_EQ(k.tenant_id(), "alpha");

  v1::RevokeApiKeyRequest revoke;
  revoke.set_key_id(created->key().key_id());
  revoke.set_tenant_id("beta");  // not its tenant: not found, not revoked
  EXPECT_EQ(admin.RevokeApiKey(revoke).status().code(), absl::StatusCode::kPermissionDenied);
  revoke.set_tenant_id("alpha");
  ASSERT_TRUE(admin.RevokeApiKey(revoke).ok());
  EXPECT_EQ(reader.GetTenant("alpha").status().code(), absl::StatusCode::kUnauthenticated)
      << "revoked through this replica: refused at once, cache or not";

  // The key's secret is stored only as a salted hash.
  pqxx::connection conn(server_.db().conninfo());
  pqxx::read_transaction t(conn);
  EXPECT_EQ(t.exec_params1("SELECT count(*) FROM api_keys WHERE position(convert_to($1, 'UTF8') "
                           "IN hash) > 0 OR position(convert_to($1, 'UTF8') IN salt) > 0",
                           secret)[0]
                .as<int>(),
            0);
}

}  // namespace
}  // namespace saasmetrics
