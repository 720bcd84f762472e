// REST/JSON through the real grpc-gateway binary in front of a real server process.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <pqxx/pqxx>
#include <regex>

#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_db.h"

namespace saasmetrics::testing {
namespace {

using ::testing::HasSubstr;

int LoggedPort(const Subprocess& p, const std::string& key) {
  return LoggedNumber(p, key, absl::Seconds(30));
}

// (HTTP status, body) of a curl call.
// The test run's admin key is sent unless `token` says otherwise ("" for none).
std::pair<int, std::string> Http(const std::string& method, const std::string& url,
                                 const std::string& body = "",
                                 const std::string& token = kTestAdminToken) {
  std::vector<std::string> args = {"/usr/bin/curl",
                                   "-s",
                                   "-X",
                                   method,
                                   "-w",
                                   "\n%{http_code}",
                                   "-H",
                                   "Content-Type: application/json",
                                   url};
  if (!token.empty()) args.insert(args.end(), {"-H", "Authorization: Bearer " + token});
  if (!body.empty()) args.insert(args.end(), {"--data", body});
  Subprocess curl(args);
  curl.Wait(absl::Seconds(30));
  std::string out = curl.Output();
  size_t nl = out.rfind('\n');
  return {std::atoi(out.substr(nl + 1).c_str()), out.substr(0, nl)};
}

TEST(Gateway, ServesTheAdminApiAsRestJson) {
  TestDatabase db;
  Subprocess server({BinaryPath("saasmetrics"), "--grpc_address=127.0.0.1:0",
                     "--metrics_address=", "--database_url=" + db.conninfo()});
  int grpc_port = LoggedPort(server, "grpc_port");
  ASSERT_GT(grpc_port, 0) << server.Output();
  ASSERT_TRUE(server.WaitForOutput("health SERVING", absl::Seconds(30))) << server.Output();
  Subprocess gateway({BinaryPath("saasmetrics-gateway"), "--listen=127.0.0.1:0",
                      "--backend=127.0.0.1:" + std::to_string(grpc_port),
                      "--max_body_bytes=65536"});
  int http_port = LoggedPort(gateway, "http_port");
  ASSERT_GT(http_port, 0) << gateway.Output();
  const std::string base = "http://127.0.0.1:" + std::to_string(http_port);

  auto [created, created_body] =
      Http("POST", base + "/v1/tenants",
           R"({"tenant_id":"acme","currency":"EUR","timezone":"Europe/Paris",
               "gross_margin":0.7})");
  EXPECT_EQ(created, 200) << created_body;
  EXPECT_THAT(created_body, HasSubstr(R"("tenant_id":"acme")"));

  auto [got, got_body] = Http("GET", base + "/v1/tenants/acme");
  EXPECT_EQ(got, 200) << got_body;
  EXPECT_THAT(got_body, HasSubstr(R"("timezone":"Europe/Paris")"));
  EXPECT_THAT(got_body, HasSubstr(R"("gross_margin":0.7)"));

  auto [listed, list_body] = Http("GET", base + "/v1/tenants?page_size=10");
  EXPECT_EQ(listed, 200) << list_body;
  EXPECT_THAT(list_body, HasSubstr("acme"));

  auto [bad, bad_body] =
      Http("POST", base + "/v1/tenants", R"({"tenant_id":"x","currency":"EURO"})");
  EXPECT_EQ(bad, 400) << bad_body;
  EXPECT_THAT(bad_body, HasSubstr("tenant.currency: 'EURO' is not an ISO 4217 currency code"));

  auto [missing, missing_body] = Http("GET", base + "/v1/tenants/ghost");
  EXPECT_EQ(missing, 404) << missing_body;

  auto [mrr, mrr_body] =
      Http("GET", base +
                      "/v1/tenants/acme/metrics/mrr?query.start_date=2024-01-01"
                      "&query.end_date=2024-03-31&query.interval=INTERVAL_MONTH");
  EXPECT_EQ(mrr, 200) << mrr_body;
  EXPECT_THAT(mrr_body, HasSubstr(R"("date":"2024-03-31")"));
  EXPECT_THAT(mrr_body, HasSubstr(R"("currency":"EUR")"));

  auto [bad_query, bad_query_body] =
      Http("GET", base + "/v1/tenants/acme/metrics/mrr?query.start_date=2024-01-01");
  EXPECT_EQ(bad_query, 400) << bad_query_body;
  EXPECT_THAT(bad_query_body, HasSubstr("query.end_date"));

  // The gateway forwards the Authorization header: without it, or with a key of no
  // tenant's, nothing is read or written.
  auto [anonymous, anonymous_body] = Http("GET", base + "/v1/tenants/acme", "", "");
  EXPECT_EQ(anonymous, 401) << anonymous_body;
  auto [forged, forged_body] =
      Http("POST", base + "/v1/tenants", R"({"tenant_id":"evil","currency":"EUR"})",
           "sm_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  EXPECT_EQ(forged, 401) << forged_body;
  EXPECT_EQ(Http("GET", base + "/v1/tenants/evil").first, 404) << "the forged call wrote nothing";

  // Issue 13, hardening 7: a body that does not decode is the caller's error (400), on
  // the streaming route too (it was 500), and invalid UTF-8 is refused, not stored as
  // U+FFFD.
  auto [broken, broken_body] =
      Http("POST", base + "/v1/ingest:stream", R"({"tenant_id":"acme", x)");
  EXPECT_EQ(broken, 400) << broken_body;
  auto [latin1, latin1_body] =
      Http("POST", base + "/v1/tenants/acme/usage_events",
           "{\"events\":[{\"id\":\"u1\",\"source\":\"app\",\"type\":\"caf\xe9\",\"subject\":\"c1\","
           "\"time\":\"2024-01-01T00:00:00Z\"}]}");
  EXPECT_EQ(latin1, 400) << latin1_body;
  EXPECT_THAT(latin1_body, HasSubstr("not valid UTF-8"));
  // What follows the one JSON value was ignored, invalid UTF-8 included (found by the
  // gateway's fuzzer): now refused, and nothing is created.
  for (const std::string& trailing :
       {std::string(R"({"tenant_id":"trail","currency":"EUR"})") + "\xde",
        std::string(R"({"tenant_id":"trail","currency":"EUR"} {"tenant_id":"x"})")}) {
    auto [code, body] = Http("POST", base + "/v1/tenants", trailing);
    EXPECT_EQ(code, 400) << body;
  }
  EXPECT_EQ(Http("GET", base + "/v1/tenants/trail").first, 404) << "nothing was created";

  // A body over --max_body_bytes is refused before the gateway holds it.
  auto [huge, huge_body] = Http("POST", base + "/v1/tenants",
                                R"({"tenant_id":"big","display_name":")" +
                                    std::string(100000, 'x') + R"(","currency":"EUR"})");
  EXPECT_EQ(huge, 413) << huge_body.substr(0, 200);

  // The watch is a stream of newline-delimited JSON: the days since start_date come at once,
  // each as {"result": …}, and the response stays open for the days to come.
  const absl::CivilDay today = absl::ToCivilDay(absl::Now(), absl::UTCTimeZone());
  const std::string from = absl::FormatCivilTime(today - 3);
  Subprocess watch({"/usr/bin/curl", "-s", "-N", "-H",
                    std::string("Authorization: Bearer ") + kTestAdminToken,
                    base + "/v1/tenants/acme/health_transitions:watch?query.start_date=" + from});
  ASSERT_TRUE(watch.WaitForOutput("\"fingerprint\"", absl::Seconds(15))) << watch.Output();
  EXPECT_THAT(watch.Output(), HasSubstr(R"({"result":{"date":")" + from + R"(")"));
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_TRUE(watch.running()) << "the stream ended: " << watch.Output();
  watch.Signal(SIGTERM);
  watch.Wait(absl::Seconds(5));

  gateway.Signal(SIGTERM);
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(absl::Seconds(20)), 0);
}

// Every REST route against every kind of credential, through the real gateway: 401 for no
// key, a malformed one, a wrong secret or a revoked key; 403 for another tenant's key or a
// missing role; past authorization otherwise. A refused call writes nothing.
TEST(Gateway, EveryRouteAgainstEveryCredential) {
  TestDatabase db;
  Subprocess server({BinaryPath("saasmetrics"), "--grpc_address=127.0.0.1:0",
                     "--metrics_address=", "--database_url=" + db.conninfo()});
  const int grpc_port = LoggedPort(server, "grpc_port");
  ASSERT_TRUE(server.WaitForOutput("health SERVING", absl::Seconds(30))) << server.Output();
  Subprocess gateway({BinaryPath("saasmetrics-gateway"), "--listen=127.0.0.1:0",
                      "--backend=127.0.0.1:" + std::to_string(grpc_port)});
  const std::string base = "http://127.0.0.1:" + std::to_string(LoggedPort(gateway, "http_port"));
  for (const char* id : {"alpha", "beta"}) {
    ASSERT_EQ(Http("POST", base + "/v1/tenants",
                   std::string(R"({"tenant_id":")") + id + R"(","currency":"USD"})")
                  .first,
              200);
  }
  const std::string rule =
      R"({"rule_id":"r1","window_days":7,"conditions":[{"kind":"KIND_EVENT_COUNT",)"
      R"("event_type":"login","threshold":1}]})";
  ASSERT_EQ(Http("POST", base + "/v1/tenants/alpha/pql_rules", rule).first, 200);
  const std::string model =
      R"({"model_id":"m1","components":[{"aggregation":"AGGREGATION_COUNT","target":5,)"
      R"("weight":1}]})";
  ASSERT_EQ(Http("POST", base + "/v1/tenants/alpha/engagement_models", model).first, 200);
  auto key = [&](const std::string& tenant, const std::string& roles) {
    auto [code, body] = Http("POST", base + "/v1/api_keys",
                             R"({"tenant_id":")" + tenant + R"(","roles":[)" + roles + "]}");
    std::smatch m;
    EXPECT_EQ(code, 200) << body;
    return std::regex_search(body, m, std::regex(R"re("token":"([^"]+)")re")) ? m[1].str() : "";
  };
  std::map<std::string, std::string> tokens = {
      {"alpha read", key("alpha", R"("ROLE_READ")")},
      {"alpha ingest", key("alpha", R"("ROLE_INGEST")")},
      {"alpha admin", key("alpha", R"("ROLE_ADMIN")")},
      {"beta all roles", key("beta", R"("ROLE_READ","ROLE_INGEST","ROLE_ADMIN")")},
      {"every tenant, read", key("", R"("ROLE_READ")")},
      {"every tenant, all roles", kTestAdminToken},
      {"malformed", "sm_nothex_abc"},
  };
  const std::string revoked = key("alpha", R"("ROLE_READ","ROLE_INGEST","ROLE_ADMIN")");
  ASSERT_EQ(
      Http("DELETE", base + "/v1/api_keys/" + revoked.substr(3, 16) + "?tenant_id=alpha").first,
      200);
  tokens["revoked alpha all roles"] = revoked;
  std::string wrong = tokens["alpha read"];
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  tokens["alpha read, wrong secret"] = wrong;

  enum Needs { kRead, kIngest, kAdmin, kEveryTenantAdmin };
  struct Route {
    std::string method, path, body;
    Needs needs;
  };
  const std::string q =
      "?query.start_date=2024-01-01&query.end_date=2024-01-31"
      "&query.interval=INTERVAL_MONTH";
  const std::string events = R"({"events":[]})";
  int created = 0;
  auto routes = [&] {
    return std::vector<Route>{
        {"POST", "/v1/tenants",
         R"({"tenant_id":"t)" + std::to_string(++created) + R"(","currency":"USD"})",
         kEveryTenantAdmin},
        {"GET", "/v1/tenants/alpha", "", kRead},
        {"GET", "/v1/tenants", "", kEveryTenantAdmin},
        {"PATCH", "/v1/tenants/alpha", R"({"display_name":"Alpha"})", kAdmin},
        {"POST", "/v1/tenants/alpha/pql_rules",
         R"({"rule_id":"r)" + std::to_string(++created) +
             R"(","window_days":7,"conditions":[{"kind":"KIND_EVENT_COUNT","event_type":"x",)"
             R"("threshold":1}]})",
         kAdmin},
        {"GET", "/v1/tenants/alpha/pql_rules/r1", "", kRead},
        {"GET", "/v1/tenants/alpha/pql_rules", "", kRead},
        {"PUT", "/v1/tenants/alpha/pql_rules/r1", rule, kAdmin},
        {"DELETE", "/v1/tenants/alpha/pql_rules/none", "", kAdmin},
        {"POST", "/v1/api_keys", R"({"tenant_id":"alpha","roles":["ROLE_READ"]})", kAdmin},
        {"GET", "/v1/api_keys?tenant_id=alpha", "", kAdmin},
        {"DELETE", "/v1/api_keys/0000000000000000?tenant_id=alpha", "", kAdmin},
        {"POST", "/v1/tenants/alpha/subscription_events", events, kIngest},
        {"POST", "/v1/tenants/alpha/usage_events", events, kIngest},
        {"POST", "/v1/tenants/alpha/customers", R"({"customers":[]})", kIngest},
        {"POST", "/v1/tenants/alpha/acquisition_spend", R"({"spend":[]})", kIngest},
        {"POST", "/v1/tenants/alpha/survey_responses", R"({"responses":[]})", kIngest},
        {"POST", "/v1/tenants/alpha/exchange_rates", R"({"rates":[]})", kIngest},
        {"POST", "/v1/ingest:stream",
         R"({"tenant_id":"alpha","batch_id":"b","usage_events":{"tenant_id":"alpha","events":[]}})",
         kIngest},
        {"GET", "/v1/tenants/alpha/metrics/mrr" + q, "", kRead},
        {"GET", "/v1/tenants/alpha/metrics/churn" + q, "", kRead},
        {"GET", "/v1/tenants/alpha/metrics/unit_economics" + q, "", kRead},
        {"GET", "/v1/tenants/alpha/metrics/cohorts" + q, "", kRead},
        {"GET", "/v1/tenants/alpha/metrics/active_customers" + q, "", kRead},
        {"GET", "/v1/tenants/alpha/metrics/pql" + q + "&rule_id=r1", "", kRead},
        {"GET", "/v1/tenants/alpha/metrics/activation" + q, "", kRead},
        {"GET", "/v1/tenants/alpha/movements" + q, "", kRead},
        {"POST", "/v1/tenants/alpha/engagement_models",
         R"({"model_id":"m)" + std::to_string(++created) +
             R"(","components":[{"aggregation":"AGGREGATION_COUNT","target":5,"weight":1}]})",
         kAdmin},
        {"GET", "/v1/tenants/alpha/engagement_models/m1", "", kRead},
        {"GET", "/v1/tenants/alpha/engagement_models", "", kRead},
        {"PUT", "/v1/tenants/alpha/engagement_models/m1", model, kAdmin},
        {"DELETE", "/v1/tenants/alpha/engagement_models/none", "", kAdmin},
        {"GET", "/v1/tenants/alpha/metrics/engagement" + q + "&model_id=m1", "", kRead},
        {"GET", "/v1/tenants/alpha/engagement_scores" + q + "&model_id=m1", "", kRead},
        {"GET", "/v1/tenants/alpha/metrics/health" + q, "", kRead},
        {"GET", "/v1/tenants/alpha/metrics/nps" + q + "&group_by=health", "", kRead},
        {"GET", "/v1/tenants/alpha/customers/c1?date=2024-01-31", "", kRead},
        {"GET", "/v1/tenants/alpha/metrics/ideal_customer_profile" + q + "&fields=country", "",
         kRead},
        {"GET", "/v1/tenants/alpha/health_customers" + q + "&group=HEALTH_GROUP_AT_RISK", "",
         kRead},
        {"GET", "/v1/tenants/alpha/metrics/mrr_by_cohort" + q, "", kRead},
        {"GET", "/v1/tenants/alpha/health_transitions" + q + "&to=HEALTH_GROUP_AT_RISK", "", kRead},
        // With an end date the watch is refused past authorization, so the stream ends.
        {"GET", "/v1/tenants/alpha/health_transitions:watch" + q, "", kRead},
        {"GET",
         "/v1/tenants/alpha/metrics/renewals" + q +
             "&min_term.unit=INTERVAL_UNIT_MONTH&min_term.count=3",
         "", kRead},
        {"GET", "/v1/tenants/alpha/metrics/survival" + q + "&group_by=country&cox=true", "", kRead},
        {"GET", "/v1/tenants/alpha/metrics/retention_drivers" + q + "&window_days=7", "", kRead},
        {"POST", "/v1/tenants/alpha/models",
         R"({"query":{"start_date":"2024-01-01","end_date":"2024-01-31"},"model_id":"churn",)"
         R"("kind":"MODEL_KIND_CHURN"})",
         kAdmin},
        {"GET", "/v1/tenants/alpha/models/churn", "", kRead},
        {"GET", "/v1/tenants/alpha/models", "", kRead},
        {"DELETE", "/v1/tenants/alpha/models/none", "", kAdmin},
        {"GET", "/v1/tenants/alpha/models/churn/scores" + q, "", kRead},
    };
  };
  auto expect = [](const std::string& who, Needs needs) {
    if (who == "malformed" || who == "revoked alpha all roles" ||
        who == "alpha read, wrong secret") {
      return 401;
    }
    const bool ok = who == "every tenant, all roles" || (who == "alpha read" && needs == kRead) ||
                    (who == "alpha ingest" && needs == kIngest) ||
                    (who == "alpha admin" && needs == kAdmin) ||
                    (who == "every tenant, read" && needs == kRead);
    return ok ? 200 : 403;
  };
  pqxx::connection conn(db.conninfo());
  auto written = [&] {
    pqxx::read_transaction t(conn);
    return t
        .exec1(
            "SELECT concat_ws(' ', (SELECT count(*) FROM tenants), "
            "(SELECT max(update_time) FROM tenants), (SELECT count(*) FROM pql_rules), "
            "(SELECT count(*) FROM engagement_models), "
            "(SELECT max(update_time) FROM engagement_models), "
            "(SELECT count(*) FROM trained_models), "
            "(SELECT max(update_time) FROM pql_rules), (SELECT count(*) FROM api_keys), "
            "(SELECT count(revoked_at) FROM api_keys))")[0]
        .as<std::string>();
  };
  tokens["none"] = "";
  int cells = 0;
  for (const auto& [who, token] : tokens) {
    for (const Route& r : routes()) {
      SCOPED_TRACE(r.method + " " + r.path + " with " + who);
      const int want = who == "none" ? 401 : expect(who, r.needs);
      const std::string before = want == 200 ? "" : written();
      auto [code, body] = Http(r.method, base + r.path, r.body, token);
      ++cells;
      // The streaming routes answer 200 and report a refused call in the body.
      if ((r.path == "/v1/ingest:stream" || r.path.find(":watch") != std::string::npos) &&
          code == 200) {
        if (body.find("\"code\":16") != std::string::npos) code = 401;
        if (body.find("\"code\":7") != std::string::npos) code = 403;
      }
      if (want == 200) {
        EXPECT_NE(code, 401) << body;
        EXPECT_NE(code, 403) << body;
        continue;
      }
      EXPECT_EQ(code, want) << body;
      EXPECT_EQ(written(), before) << "a refused call wrote";
      EXPECT_EQ(body.find("alpha"), std::string::npos) << "the answer names the tenant";
    }
  }
  EXPECT_EQ(cells, 10 * 50);
  gateway.Signal(SIGTERM);
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(absl::Seconds(20)), 0);
}

}  // namespace
}  // namespace saasmetrics::testing
