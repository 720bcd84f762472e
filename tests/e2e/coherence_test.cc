// Two server processes on one database: an event ingested through one, including a late
// event into an old month, shows in the other's next query, though the other has that
// month cached.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <regex>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "saasmetrics/v1/ingest.grpc.pb.h"
#include "saasmetrics/v1/metrics.grpc.pb.h"
#include "server/rpc/convert.h"
#include "tests/support/grpc_test_util.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_db.h"

namespace saasmetrics::testing {
namespace {

std::string StartedAddress(Subprocess& p) {
  EXPECT_TRUE(p.WaitForOutput("health SERVING", absl::Seconds(30))) << p.Output();
  std::smatch m;
  std::string out = p.Output();
  std::regex_search(out, m, std::regex("grpc_port=(\\d+)"));
  return absl::StrCat("127.0.0.1:", m[1].str());
}

v1::IngestSubscriptionEventsRequest Event(const std::string& id, absl::CivilDay day,
                                          int64_t amount) {
  v1::IngestSubscriptionEventsRequest req;
  req.set_tenant_id("acme");
  v1::SubscriptionEvent* e = req.add_events();
  e->set_event_id(id);
  e->set_customer_id("c1");
  e->set_subscription_id("s1");
  rpc::ToProto(absl::FromCivil(day, absl::UTCTimeZone()) + absl::Hours(12),
               e->mutable_effective_at());
  e->set_status(v1::SUBSCRIPTION_STATUS_ACTIVE);
  e->set_quantity(1);
  e->set_unit_amount(amount);
  e->set_currency("USD");
  e->set_interval_unit(v1::INTERVAL_UNIT_MONTH);
  e->set_interval_count(1);
  return req;
}

std::vector<int64_t> MonthlyMrr(v1::MetricsService::Stub& stub) {
  v1::GetMrrRequest req;
  req.mutable_query()->set_tenant_id("acme");
  req.mutable_query()->set_start_date("2024-01-01");
  req.mutable_query()->set_end_date("2024-04-30");
  req.mutable_query()->set_interval(v1::INTERVAL_MONTH);
  grpc::ClientContext ctx;
  testing::AddToken(&ctx);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::GetMrrResponse resp;
  grpc::Status s = stub.GetMrr(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  std::vector<int64_t> out;
  for (const auto& e : resp.entries()) out.push_back(e.mrr());
  return out;
}

TEST(Coherence, AnEventIngestedThroughOneReplicaShowsInTheOthersNextQuery) {
  TestDatabase db;
  auto args = [&] {
    return std::vector<std::string>{BinaryPath("saasmetrics"), "--grpc_address=127.0.0.1:0",
                                    "--metrics_address=", "--database_url=" + db.conninfo()};
  };
  Subprocess a(args()), b(args());
  const std::string address_a = StartedAddress(a), address_b = StartedAddress(b);
  {
    client::Client c({.address = address_a});
    v1::Tenant t;
    t.set_tenant_id("acme");
    t.set_currency("USD");
    ASSERT_TRUE(c.CreateTenant(t).ok());
  }
  auto channel_a = grpc::CreateChannel(address_a, grpc::InsecureChannelCredentials());
  auto channel_b = grpc::CreateChannel(address_b, grpc::InsecureChannelCredentials());
  auto ingest_a = v1::IngestService::NewStub(channel_a);
  auto metrics_b = v1::MetricsService::NewStub(channel_b);
  auto ingest = [&](const v1::IngestSubscriptionEventsRequest& req) {
    grpc::ClientContext ctx;
    testing::AddToken(&ctx);
    v1::IngestResult r;
    ASSERT_TRUE(ingest_a->IngestSubscriptionEvents(&ctx, req, &r).ok());
  };

  ingest(Event("e1", absl::CivilDay(2024, 1, 10), 1000));
  ingest(Event("e2", absl::CivilDay(2024, 3, 5), 3000));
  EXPECT_EQ(MonthlyMrr(*metrics_b), (std::vector<int64_t>{1000, 1000, 3000, 3000}));
  EXPECT_EQ(MonthlyMrr(*metrics_b), (std::vector<int64_t>{1000, 1000, 3000, 3000}))
      << "a warm cache answers the same";

  // A late event into February, which replica B has cached.
  ingest(Event("late", absl::CivilDay(2024, 2, 14), 2000));
  EXPECT_EQ(MonthlyMrr(*metrics_b), (std::vector<int64_t>{1000, 2000, 3000, 3000}));
  // And a new month.
  ingest(Event("e3", absl::CivilDay(2024, 4, 2), 500));
  EXPECT_EQ(MonthlyMrr(*metrics_b), (std::vector<int64_t>{1000, 2000, 3000, 500}));

  for (Subprocess* p : {&a, &b}) {
    p->Signal(SIGTERM);
    EXPECT_EQ(p->Wait(absl::Seconds(20)), 0);
  }
}

}  // namespace
}  // namespace saasmetrics::testing
