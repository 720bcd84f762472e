// PostgreSQL stops under a running server and comes back: calls fail fast with
// UNAVAILABLE (never past their deadline), health and /metrics say so, both recover by
// themselves, and nothing acked before the outage is lost. The test owns its own
// PostgreSQL (not the shared fixture) so that stopping it disturbs no other test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "server/rpc/convert.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_db.h"

namespace saasmetrics::testing {
namespace {

using ::testing::HasSubstr;

// A PostgreSQL of the test's own, driven through tests/support/pg_fixture.sh.
class OwnPostgres {
 public:
  OwnPostgres() : state_(absl::StrCat("/tmp/saasmetrics-outage-", getpid())) {
    Run("start");
    std::ifstream in(state_ + "/conninfo");
    std::getline(in, conninfo_);
  }
  ~OwnPostgres() { Run("stop"); }
  void Halt() { Run("halt"); }
  void Resume() { Run("resume"); }
  const std::string& conninfo() const { return conninfo_; }

 private:
  void Run(const std::string& cmd) {
    Subprocess p({SAASMETRICS_SOURCE_DIR "/tests/support/pg_fixture.sh", cmd, state_});
    ASSERT_EQ(p.Wait(absl::Seconds(60)), 0) << cmd << ": " << p.Output();
  }
  std::string state_;
  std::string conninfo_;
};

v1::IngestSubscriptionEventsRequest Event(int month) {
  v1::IngestSubscriptionEventsRequest req;
  req.set_tenant_id("acme");
  v1::SubscriptionEvent* e = req.add_events();
  e->set_event_id(absl::StrCat("e", month));
  e->set_customer_id(absl::StrCat("c", month));
  e->set_subscription_id(absl::StrCat("s", month));
  rpc::ToProto(absl::FromCivil(absl::CivilDay(2024, month, 10), absl::UTCTimeZone()),
               e->mutable_effective_at());
  e->set_status(v1::SUBSCRIPTION_STATUS_ACTIVE);
  e->set_quantity(1);
  e->set_unit_amount(1000 * month);
  e->set_currency("USD");
  e->set_interval_unit(v1::INTERVAL_UNIT_MONTH);
  e->set_interval_count(1);
  return req;
}

v1::GetMrrRequest MrrQuery() {
  v1::GetMrrRequest req;
  req.mutable_query()->set_tenant_id("acme");
  req.mutable_query()->set_start_date("2024-01-01");
  req.mutable_query()->set_end_date("2024-06-30");
  req.mutable_query()->set_interval(v1::INTERVAL_MONTH);
  return req;
}

std::string ScrapeMetrics(int port) {
  Subprocess curl({"/usr/bin/curl", "-sf", absl::StrCat("http://127.0.0.1:", port, "/metrics")});
  curl.Wait(absl::Seconds(10));
  return curl.Output();
}

// Polls health until it reads `want`; false after `timeout`.
bool WaitForHealth(client::Client& c, bool want, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  while (absl::Now() < give_up) {
    absl::StatusOr<bool> h = c.Healthy();
    if (h.ok() && *h == want) return true;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return false;
}

TEST(DatabaseOutage, FailsFastReportsNotServingAndRecoversWithNothingLost) {
  OwnPostgres pg;
  Subprocess server({BinaryPath("saasmetrics"), "--grpc_address=127.0.0.1:0",
                     "--metrics_address=127.0.0.1:0", "--database_url=" + pg.conninfo(),
                     "--db_probe_interval=100ms"});
  ASSERT_TRUE(server.WaitForOutput("health SERVING", absl::Seconds(30))) << server.Output();
  const std::string address =
      absl::StrCat("127.0.0.1:", LoggedNumber(server, "grpc_port", absl::Seconds(5)));
  const int metrics_port = LoggedNumber(server, "metrics_port", absl::Seconds(5));
  // One attempt per call: the test wants to see what the server answers, not retries.
  client::Client c({.address = address, .timeout = absl::Seconds(3), .max_attempts = 1});
  v1::Tenant t;
  t.set_tenant_id("acme");
  t.set_currency("USD");
  ASSERT_TRUE(c.CreateTenant(t).ok());
  for (int month = 1; month <= 3; ++month)
    ASSERT_TRUE(c.IngestSubscriptionEvents(Event(month)).ok());
  absl::StatusOr<v1::GetMrrResponse> before = c.GetMrr(MrrQuery());
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->entries(2).mrr(), 6000);  // 1000 + 2000 + 3000 at the end of March

  pg.Halt();
  ASSERT_TRUE(WaitForHealth(c, false, absl::Seconds(10))) << server.Output();
  EXPECT_TRUE(server.WaitForOutput("health NOT_SERVING", absl::Seconds(5))) << server.Output();
  // Liveness does not follow the database: restarting pods would not bring it back.
  absl::StatusOr<bool> alive = c.Healthy("liveness");
  ASSERT_TRUE(alive.ok()) << alive.status();
  EXPECT_TRUE(*alive);
  EXPECT_THAT(ScrapeMetrics(metrics_port), HasSubstr("\nsaasmetrics_database_up 0\n"));

  // Every kind of call fails with UNAVAILABLE well within its 3 s deadline.
  const auto fails_fast = [&](const char* what, auto call) {
    const absl::Time start = absl::Now();
    absl::Status s = call();
    const absl::Duration took = absl::Now() - start;
    EXPECT_TRUE(absl::IsUnavailable(s)) << what << ": " << s;
    EXPECT_LT(took, absl::Seconds(2)) << what << " took " << took;
    // The database's address stays in the server's log.
    EXPECT_THAT(std::string(s.message()), ::testing::Not(HasSubstr("database at"))) << what;
  };
  fails_fast("ingest", [&] { return c.IngestSubscriptionEvents(Event(4)).status(); });
  fails_fast("query", [&] { return c.GetMrr(MrrQuery()).status(); });
  fails_fast("tenant", [&] { return c.GetTenant("acme").status(); });

  pg.Resume();
  ASSERT_TRUE(WaitForHealth(c, true, absl::Seconds(20))) << server.Output();
  EXPECT_THAT(ScrapeMetrics(metrics_port), HasSubstr("\nsaasmetrics_database_up 1\n"));
  // Calls work again on the same server, and everything acked before is still there.
  absl::StatusOr<v1::IngestResult> late = c.IngestSubscriptionEvents(Event(4));
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(late->accepted(), 1);
  absl::StatusOr<v1::GetMrrResponse> after = c.GetMrr(MrrQuery());
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->entries(2).mrr(), 6000);
  EXPECT_EQ(after->entries(3).mrr(), 10000);
  EXPECT_EQ(QueryInt(pg.conninfo(), "SELECT count(*) FROM subscription_events"), 4);

  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(absl::Seconds(30)), 0) << server.Output();
}

}  // namespace
}  // namespace saasmetrics::testing
