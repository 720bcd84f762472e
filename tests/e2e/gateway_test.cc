// REST/JSON through the real grpc-gateway binary in front of a real server process.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <regex>

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

  // A body over --max_body_bytes is refused before the gateway holds it.
  auto [huge, huge_body] = Http("POST", base + "/v1/tenants",
                                R"({"tenant_id":"big","display_name":")" +
                                    std::string(100000, 'x') + R"(","currency":"EUR"})");
  EXPECT_EQ(huge, 413) << huge_body.substr(0, 200);

  gateway.Signal(SIGTERM);
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(absl::Seconds(20)), 0);
}

}  // namespace
}  // namespace saasmetrics::testing
