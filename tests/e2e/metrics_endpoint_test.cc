// The Prometheus endpoint: scraped after real traffic, linted by promtool, and carrying
// the series SRE relies on.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_db.h"

namespace saasmetrics::testing {
namespace {

using ::testing::HasSubstr;

TEST(MetricsEndpoint, ScrapesCleanlyThroughPromtoolAfterTraffic) {
  TestDatabase db;
  Subprocess server({BinaryPath("saasmetrics"), "--grpc_address=127.0.0.1:0",
                     "--metrics_address=127.0.0.1:0", "--database_url=" + db.conninfo()});
  ASSERT_TRUE(server.WaitForOutput("health SERVING", absl::Seconds(30))) << server.Output();
  const int grpc_port = LoggedNumber(server, "grpc_port", absl::Seconds(5));
  const int metrics_port = LoggedNumber(server, "metrics_port", absl::Seconds(5));
  ASSERT_GT(metrics_port, 0) << server.Output();
  client::Client c({.address = absl::StrCat("127.0.0.1:", grpc_port)});
  v1::Tenant t;
  t.set_tenant_id("acme");
  t.set_currency("USD");
  ASSERT_TRUE(c.CreateTenant(t).ok());
  EXPECT_FALSE(c.GetTenant("ghost").ok());

  const std::string file = absl::StrCat("/tmp/saasmetrics-scrape-", getpid(), ".txt");
  Subprocess curl({"/usr/bin/curl", "-sf", "-o", file,
                   absl::StrCat("http://127.0.0.1:", metrics_port, "/metrics")});
  ASSERT_EQ(curl.Wait(absl::Seconds(30)), 0) << curl.Output();
  std::ifstream in(file);
  const std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(body,
              HasSubstr("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"CreateTenant\""));
  EXPECT_THAT(body, HasSubstr("grpc_code=\"NotFound\",grpc_method=\"GetTenant\""));
  EXPECT_THAT(body, HasSubstr("saasmetrics_database_up 1"));
  EXPECT_THAT(body, HasSubstr("saasmetrics_schema_version 1"));
  EXPECT_THAT(body, HasSubstr("saasmetrics_db_query_seconds_bucket{statement=\"tenant_insert\""));
  EXPECT_THAT(body, HasSubstr("saasmetrics_cache_bytes"));

  // promtool reads the exposition on stdin and fails on malformed or non-conventional metrics.
  Subprocess lint({"/bin/sh", "-c", absl::StrCat("promtool check metrics < ", file)});
  EXPECT_EQ(lint.Wait(absl::Seconds(30)), 0) << lint.Output();
  unlink(file.c_str());
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(absl::Seconds(30)), 0);
}

}  // namespace
}  // namespace saasmetrics::testing
