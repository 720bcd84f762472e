#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/synchronization/notification.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "saasmetrics/v1/admin.grpc.pb.h"
#include "saasmetrics/v1/ingest.grpc.pb.h"
#include "saasmetrics/v1/metrics.grpc.pb.h"
#include "tests/support/grpc_test_util.h"
#include "tests/support/test_server.h"

namespace saasmetrics {
namespace {

using testing::Ctx;
using testing::ViolatedFields;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

class AdminServiceTest : public ::testing::Test {
 protected:
  AdminServiceTest()
      : stub_(v1::AdminService::NewStub(
            grpc::CreateChannel(server_.address(), grpc::InsecureChannelCredentials()))) {}

  grpc::Status Create(const std::string& id, const std::string& currency,
                      const std::string& tz = "", v1::Tenant* out = nullptr) {
    v1::CreateTenantRequest req;
    req.mutable_tenant()->set_tenant_id(id);
    req.mutable_tenant()->set_currency(currency);
    req.mutable_tenant()->set_timezone(tz);
    v1::Tenant resp;
    grpc::Status s = stub_->CreateTenant(Ctx().get(), req, &resp);
    if (out != nullptr) *out = resp;
    return s;
  }

  testing::TestServer server_;
  std::unique_ptr<v1::AdminService::Stub> stub_;
};

TEST_F(AdminServiceTest, CreateAppliesDefaultsAndGetReturnsTheTenant) {
  v1::Tenant created;
  ASSERT_TRUE(Create("acme", "USD", "", &created).ok());
  EXPECT_EQ(created.timezone(), "UTC");
  EXPECT_DOUBLE_EQ(created.gross_margin().value(), 1.0);
  EXPECT_GT(created.create_time().seconds(), 0);

  v1::GetTenantRequest get;
  get.set_tenant_id("acme");
  v1::Tenant got;
  ASSERT_TRUE(stub_->GetTenant(Ctx().get(), get, &got).ok());
  EXPECT_EQ(got.currency(), "USD");
  EXPECT_EQ(got.create_time().seconds(), created.create_time().seconds());
}

TEST_F(AdminServiceTest, InvalidTenantIsRejectedWithEveryFieldViolationAndNothingStored) {
  v1::CreateTenantRequest req;
  req.mutable_tenant()->set_tenant_id("Acme Corp");
  req.mutable_tenant()->set_currency("DOLLARS");
  req.mutable_tenant()->set_timezone("Europe/Atlantis");
  req.mutable_tenant()->mutable_gross_margin()->set_value(0);
  v1::Tenant resp;
  grpc::Status s = stub_->CreateTenant(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("tenant.tenant_id"));
  EXPECT_THAT(s.error_message(), HasSubstr("(and 3 more)"));
  EXPECT_THAT(ViolatedFields(s), ElementsAre("tenant.tenant_id", "tenant.currency",
                                             "tenant.timezone", "tenant.gross_margin"));
  v1::ListTenantsResponse list;
  ASSERT_TRUE(stub_->ListTenants(Ctx().get(), {}, &list).ok());
  EXPECT_EQ(list.tenants_size(), 0);
}

TEST_F(AdminServiceTest, MissingTenantMessageIsInvalidArgument) {
  v1::Tenant resp;
  grpc::Status s = stub_->CreateTenant(Ctx().get(), {}, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "tenant: is required");
}

TEST_F(AdminServiceTest, DuplicateIsAlreadyExistsAndUnknownIsNotFound) {
  ASSERT_TRUE(Create("acme", "USD").ok());
  grpc::Status dup = Create("acme", "EUR");
  EXPECT_EQ(dup.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(dup.error_message(), "tenant 'acme' already exists");

  v1::GetTenantRequest get;
  get.set_tenant_id("ghost");
  v1::Tenant resp;
  grpc::Status missing = stub_->GetTenant(Ctx().get(), get, &resp);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(missing.error_message(), "tenant 'ghost' does not exist");
}

TEST_F(AdminServiceTest, ListPaginatesWithOpaqueTokens) {
  for (const char* id : {"delta", "alpha", "charlie", "bravo", "echo"}) {
    ASSERT_TRUE(Create(id, "EUR").ok());
  }
  std::vector<std::string> ids;
  v1::ListTenantsRequest req;
  req.set_page_size(2);
  int pages = 0;
  do {
    v1::ListTenantsResponse resp;
    ASSERT_TRUE(stub_->ListTenants(Ctx().get(), req, &resp).ok());
    for (const auto& t : resp.tenants()) ids.push_back(t.tenant_id());
    req.set_page_token(resp.next_page_token());
    ++pages;
  } while (!req.page_token().empty());
  EXPECT_THAT(ids, ElementsAre("alpha", "bravo", "charlie", "delta", "echo"));
  EXPECT_EQ(pages, 3);

  // Not a token; the id a token used to be (unsealed base64); a movements token; a real
  // token with one character changed: none is accepted.
  v1::ListTenantsRequest first;
  first.set_page_size(2);
  v1::ListTenantsResponse first_page;
  ASSERT_TRUE(stub_->ListTenants(Ctx().get(), first, &first_page).ok());
  std::string tampered = first_page.next_page_token();
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  for (const std::string& token :
       {std::string("not a token!"), absl::WebSafeBase64Escape("bravo"), tampered}) {
    req.set_page_token(token);
    v1::ListTenantsResponse resp;
    grpc::Status bad = stub_->ListTenants(Ctx().get(), req, &resp);
    EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << token;
    EXPECT_THAT(ViolatedFields(bad), ElementsAre("page_token")) << token;
    EXPECT_EQ(resp.tenants_size(), 0);
  }
}

TEST_F(AdminServiceTest, UpdateChangesSettingsButNotTheCurrency) {
  ASSERT_TRUE(Create("acme", "USD").ok());
  v1::UpdateTenantRequest req;
  req.mutable_tenant()->set_tenant_id("acme");
  req.mutable_tenant()->set_timezone("America/New_York");
  req.mutable_tenant()->mutable_gross_margin()->set_value(0.8);
  v1::Tenant resp;
  ASSERT_TRUE(stub_->UpdateTenant(Ctx().get(), req, &resp).ok());
  EXPECT_EQ(resp.timezone(), "America/New_York");
  EXPECT_DOUBLE_EQ(resp.gross_margin().value(), 0.8);
  EXPECT_EQ(resp.currency(), "USD");

  req.mutable_tenant()->set_currency("EUR");
  grpc::Status s = stub_->UpdateTenant(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(s), ElementsAre("tenant.currency"));

  req.mutable_tenant()->clear_currency();
  req.mutable_tenant()->set_timezone("Nowhere/Special");
  s = stub_->UpdateTenant(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(s), ElementsAre("tenant.timezone"));
}

// The health policy reads back with ANALYTICS.md's defaults, an update replaces it whole
// (unset fields back to their defaults), and a bad one names each field and changes nothing.
TEST_F(AdminServiceTest, HealthPolicyDefaultsUpdateAndValidation) {
  v1::Tenant created;
  ASSERT_TRUE(Create("acme", "USD", "", &created).ok());
  const v1::HealthPolicy& d = created.health_policy();
  EXPECT_EQ(d.engagement_model_id(), "");
  EXPECT_EQ(d.power_at_least().value(), 70);
  EXPECT_EQ(d.at_risk_below().value(), 30);
  EXPECT_EQ(d.inactive_days(), 14);
  EXPECT_EQ(d.lost_window_days(), 90);
  EXPECT_EQ(d.risk_at_least().value(), 0.5);

  v1::UpdateTenantRequest req;
  req.mutable_tenant()->set_tenant_id("acme");
  v1::HealthPolicy* h = req.mutable_tenant()->mutable_health_policy();
  h->set_engagement_model_id("health");
  h->mutable_power_at_least()->set_value(80);
  h->set_inactive_days(7);
  v1::Tenant resp;
  ASSERT_TRUE(stub_->UpdateTenant(Ctx().get(), req, &resp).ok());
  EXPECT_EQ(resp.health_policy().engagement_model_id(), "health");
  EXPECT_EQ(resp.health_policy().power_at_least().value(), 80);
  EXPECT_EQ(resp.health_policy().inactive_days(), 7);
  EXPECT_EQ(resp.health_policy().lost_window_days(), 90);
  EXPECT_EQ(resp.timezone(), "UTC") << "other settings are left alone";

  h->mutable_at_risk_below()->set_value(90);  // above power_at_least: out of order
  h->set_lost_window_days(-1);
  grpc::Status s = stub_->UpdateTenant(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(s), ElementsAre("tenant.health_policy.at_risk_below",
                                             "tenant.health_policy.lost_window_days"));
  v1::GetTenantRequest get;
  get.set_tenant_id("acme");
  ASSERT_TRUE(stub_->GetTenant(Ctx().get(), get, &resp).ok());
  EXPECT_EQ(resp.health_policy().power_at_least().value(), 80) << "nothing changed";
  EXPECT_EQ(resp.health_policy().lost_window_days(), 90);
}

TEST_F(AdminServiceTest, PqlRulesCrud) {
  ASSERT_TRUE(Create("acme", "USD").ok());
  v1::CreatePqlRuleRequest create;
  create.set_tenant_id("acme");
  v1::PqlRule* rule = create.mutable_rule();
  rule->set_rule_id("power-users");
  rule->set_name("Power users");
  rule->set_window_days(14);
  v1::PqlCondition* c = rule->add_conditions();
  c->set_kind(v1::PqlCondition::KIND_EVENT_COUNT);
  c->set_event_type("report.created");
  c->set_threshold(5);
  v1::PqlRule created;
  ASSERT_TRUE(stub_->CreatePqlRule(Ctx().get(), create, &created).ok());
  EXPECT_EQ(created.rule_id(), "power-users");
  EXPECT_GT(created.create_time().seconds(), 0);
  EXPECT_EQ(stub_->CreatePqlRule(Ctx().get(), create, &created).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);

  v1::UpdatePqlRuleRequest update;
  update.set_tenant_id("acme");
  *update.mutable_rule() = create.rule();
  update.mutable_rule()->set_window_days(30);
  v1::PqlRule updated;
  ASSERT_TRUE(stub_->UpdatePqlRule(Ctx().get(), update, &updated).ok());
  v1::GetPqlRuleRequest get;
  get.set_tenant_id("acme");
  get.set_rule_id("power-users");
  v1::PqlRule got;
  ASSERT_TRUE(stub_->GetPqlRule(Ctx().get(), get, &got).ok());
  EXPECT_EQ(got.window_days(), 30);
  EXPECT_EQ(got.conditions(0).event_type(), "report.created");
  v1::ListPqlRulesRequest list;
  list.set_tenant_id("acme");
  v1::ListPqlRulesResponse listed;
  ASSERT_TRUE(stub_->ListPqlRules(Ctx().get(), list, &listed).ok());
  EXPECT_EQ(listed.rules_size(), 1);

  update.mutable_rule()->set_window_days(0);
  update.mutable_rule()->mutable_conditions(0)->clear_event_type();
  grpc::Status bad = stub_->UpdatePqlRule(Ctx().get(), update, &updated);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(bad),
              ElementsAre("rule.window_days", "rule.conditions[0].event_type"));
  create.set_tenant_id("ghost");
  EXPECT_EQ(stub_->CreatePqlRule(Ctx().get(), create, &created).error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::DeletePqlRuleRequest del;
  del.set_tenant_id("acme");
  del.set_rule_id("power-users");
  v1::DeletePqlRuleResponse deleted;
  ASSERT_TRUE(stub_->DeletePqlRule(Ctx().get(), del, &deleted).ok());
  EXPECT_EQ(stub_->DeletePqlRule(Ctx().get(), del, &deleted).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(stub_->GetPqlRule(Ctx().get(), get, &got).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(AdminServiceTest, HealthIsServingForTheServerAndEachService) {
  for (const char* service : {"", "saasmetrics.v1.AdminService", "saasmetrics.v1.IngestService",
                              "saasmetrics.v1.MetricsService"}) {
    auto healthy = server_.client().Healthy(service);
    ASSERT_TRUE(healthy.ok()) << healthy.status();
    EXPECT_TRUE(*healthy) << service;
  }
  EXPECT_EQ(server_.client().Healthy("no.such.Service").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(AdminServiceTest, TheClientLibraryRoundTripsAndReportsViolations) {
  v1::Tenant t;
  t.set_tenant_id("globex");
  t.set_currency("JPY");
  t.set_timezone("Asia/Tokyo");
  auto created = server_.client().CreateTenant(t);
  ASSERT_TRUE(created.ok()) << created.status();
  auto got = server_.client().GetTenant("globex");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->timezone(), "Asia/Tokyo");

  t.set_tenant_id("x y");
  t.set_currency("yen");
  auto bad = server_.client().CreateTenant(t);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("\n  tenant.currency: 'yen' is not an ISO 4217"));
}

// The deadline reaches the server and bounds its work there: a call blocked in the
// database ends with DEADLINE_EXCEEDED, and the server's statement is cancelled with it
// (no backend is left waiting on the lock).
TEST_F(AdminServiceTest, ClientDeadlineIsHonoured) {
  pqxx::connection locker(server_.db().conninfo());
  pqxx::work lock(locker);
  lock.exec("LOCK TABLE tenants IN ACCESS EXCLUSIVE MODE");
  auto waiting = [&] {
    pqxx::connection probe(server_.db().conninfo());
    pqxx::read_transaction t(probe);
    return t.exec1("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")[0]
        .as<int>();
  };
  grpc::ClientContext ctx;
  testing::AddToken(&ctx);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  v1::ListTenantsResponse resp;
  const absl::Time start = absl::Now();
  grpc::Status s = stub_->ListTenants(&ctx, {}, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  int still = 1;
  for (int i = 0; i < 100 && (still = waiting()) > 0; ++i) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(still, 0) << "the server's statement outlived the call's deadline";
  lock.commit();
}

}  // namespace
}  // namespace saasmetrics

namespace saasmetrics {
namespace {

// A call blocked in the database while the server shuts down: with enough grace it
// completes OK; the server stops only after it.
TEST(GracefulShutdown, DrainsInFlightCalls) {
  auto server = std::make_unique<testing::TestServer>();
  pqxx::connection locker(server->db().conninfo());
  pqxx::work lock(locker);
  lock.exec("LOCK TABLE tenants IN ACCESS EXCLUSIVE MODE");

  absl::Status call_status;  // written by `call` before it notifies `finished`
  absl::Notification finished;
  std::thread call([&] {
    v1::Tenant t;
    t.set_tenant_id("late");
    t.set_currency("USD");
    call_status = server->client().CreateTenant(t).status();
    finished.Notify();
  });
  // Wait until the call is blocked on the lock inside PostgreSQL.
  for (int i = 0; i < 200; ++i) {
    pqxx::connection probe(server->db().conninfo());
    pqxx::read_transaction t(probe);
    if (t.exec1("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")[0]
            .as<int>() > 0) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(25));
  }
  std::thread shutdown([&] { server->server().Shutdown(absl::Seconds(20)); });
  EXPECT_FALSE(finished.WaitForNotificationWithTimeout(absl::Milliseconds(300)))
      << "the call ended before the lock went: " << call_status;
  lock.commit();  // releases the lock: the in-flight call can finish
  shutdown.join();
  call.join();
  ASSERT_TRUE(finished.HasBeenNotified());
  EXPECT_TRUE(call_status.ok()) << call_status;
}

}  // namespace
}  // namespace saasmetrics
