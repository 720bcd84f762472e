// Issue 20: cached derived structures must not depend on the order PostgreSQL returns
// partition rows in. A prepared statement runs with custom plans for its first five
// executions on a connection and may then switch to a generic plan that returns rows in
// another order; with one pooled connection, the sixth identical query sees the switch.
// Before the fix the warm server died with SIGSEGV here, or answered wrong counts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "server/rpc/convert.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_db.h"

namespace saasmetrics::testing {
namespace {

// Ten years of monthly usage: with this many of the tenant's rows, the first (custom) plans
// are bitmap heap scans — rows in storage order — and the generic plan an index scan.
constexpr int kMonths = 120;

// Customers active in month k (0-based from 2010-01): months differ in size and in who they
// contain, so any index applied to the wrong month reads ids out of its range.
int CustomersIn(int k) { return 3 + (k * 7) % 40; }
std::string CustomerId(int k, int i) {
  return i % 3 == 0 ? absl::StrCat("shared-", i) : absl::StrCat("m", k, "-c", i);
}

TEST(RowOrder, ActiveCustomersSurviveThePlanSwitchWithOnePooledConnection) {
  TestDatabase db;
  Subprocess server({BinaryPath("saasmetrics"), "--grpc_address=127.0.0.1:0",
                     "--metrics_address=", "--db_pool_size=1", "--database_url=" + db.conninfo()});
  ASSERT_TRUE(server.WaitForOutput("health SERVING", absl::Seconds(30))) << server.Output();
  const int port = LoggedNumber(server, "grpc_port", absl::Seconds(5));
  client::Client c({.address = absl::StrCat("127.0.0.1:", port)});
  v1::Tenant t;
  t.set_tenant_id("acme");
  t.set_currency("USD");
  ASSERT_TRUE(c.CreateTenant(t).ok());

  // Months ingested newest first: stored newest first.
  std::vector<int64_t> expected(kMonths);
  for (int k = kMonths - 1; k >= 0; --k) {
    v1::IngestUsageEventsRequest req;
    req.set_tenant_id("acme");
    const absl::CivilMonth month = absl::CivilMonth(2010, 1) + k;
    for (int i = 0; i < CustomersIn(k); ++i) {
      v1::UsageEvent* e = req.add_events();
      e->set_id(absl::StrCat(k, "-", i));
      e->set_source("app");
      e->set_type("login");
      e->set_subject(CustomerId(k, i));
      rpc::ToProto(absl::FromCivil(absl::CivilDay(month) + i % 28, absl::UTCTimeZone()),
                   e->mutable_time());
    }
    ASSERT_TRUE(c.IngestUsageEvents(req).ok());
    expected[k] = CustomersIn(k);
  }
  // Other tenants' partitions, and statistics that know them and this tenant's, as
  // autovacuum would gather them.
  {
    pqxx::connection conn(db.conninfo());
    pqxx::work w(conn);
    w.exec(
        "INSERT INTO partition_versions (tenant_id, kind, month, version) "
        "SELECT 'other' || (g / 24), 2, date '2020-01-01' + (g % 24) * interval '1 month', 1 "
        "FROM generate_series(0, 4799) g");
    w.commit();
    pqxx::nontransaction(conn).exec("ANALYZE partition_versions");
  }

  v1::GetActiveCustomersRequest req;
  req.mutable_query()->set_tenant_id("acme");
  req.mutable_query()->set_start_date("2010-01-01");
  req.mutable_query()->set_end_date("2019-12-31");
  req.mutable_query()->set_interval(v1::INTERVAL_MONTH);
  for (int call = 1; call <= 10; ++call) {
    absl::StatusOr<v1::GetActiveCustomersResponse> resp = c.GetActiveCustomers(req);
    ASSERT_TRUE(resp.ok()) << "call " << call << ": " << resp.status() << "\n" << server.Output();
    std::vector<int64_t> got;
    for (const auto& e : resp->entries()) got.push_back(e.active_customers());
    EXPECT_EQ(got, expected) << "call " << call;
  }
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(absl::Seconds(20)), 0) << server.Output();
}

}  // namespace
}  // namespace saasmetrics::testing
