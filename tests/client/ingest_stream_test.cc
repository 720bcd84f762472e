// client::IngestStream against a real server: batches in flight, acks in order, a
// rejected batch reported while the stream goes on, and a server killed mid-stream and
// restarted: the stream reconnects, resends what was unacknowledged, and every event is
// stored exactly once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/client.h"
#include "server/rpc/convert.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_db.h"
#include "tests/support/test_server.h"

namespace saasmetrics::testing {
namespace {

constexpr int kPerBatch = 500;

v1::IngestBatch UsageBatch(int b) {
  v1::IngestBatch batch;
  batch.set_tenant_id("acme");
  batch.set_batch_id(absl::StrCat("batch-", b));
  auto* events = batch.mutable_usage_events();
  events->set_tenant_id("acme");
  for (int i = 0; i < kPerBatch; ++i) {
    const int id = b * kPerBatch + i;
    v1::UsageEvent* e = events->add_events();
    e->set_id(absl::StrCat("evt-", id));
    e->set_source("stream-test");
    e->set_type("report.created");
    e->set_subject(absl::StrCat("cus-", id % 31));
    rpc::ToProto(absl::FromCivil(absl::CivilDay(2024, 1 + id % 12, 1), absl::UTCTimeZone()),
                 e->mutable_time());
  }
  return batch;
}

void CreateTenant(client::Client& c) {
  v1::Tenant t;
  t.set_tenant_id("acme");
  t.set_currency("USD");
  ASSERT_TRUE(c.CreateTenant(t).ok());
}

struct Acks {
  absl::Mutex mu;
  std::vector<v1::IngestAck> acks;
  void Add(const v1::IngestAck& a) {
    absl::MutexLock lock(&mu);
    acks.push_back(a);
  }
};

TEST(IngestStream, KeepsBatchesInFlightAndReportsEveryAckInOrder) {
  TestServer server;
  CreateTenant(server.client());
  Acks acks;
  {
    client::IngestStream stream(server.client(), 4, [&](const v1::IngestAck& a) { acks.Add(a); });
    for (int b = 0; b < 20; ++b) ASSERT_TRUE(stream.Send(UsageBatch(b)).ok());
    // A batch with an invalid item is rejected whole; the stream goes on.
    v1::IngestBatch bad = UsageBatch(20);
    bad.mutable_usage_events()->mutable_events(7)->set_subject("");
    ASSERT_TRUE(stream.Send(bad).ok());
    ASSERT_TRUE(stream.Send(UsageBatch(0)).ok());  // a resend: all duplicates
    ASSERT_TRUE(stream.Send(UsageBatch(21)).ok());
    ASSERT_TRUE(stream.Finish().ok());
  }
  ASSERT_EQ(acks.acks.size(), 23u);
  for (int b = 0; b < 20; ++b) {
    EXPECT_EQ(acks.acks[b].batch_id(), absl::StrCat("batch-", b));
    EXPECT_EQ(acks.acks[b].result().accepted(), kPerBatch);
  }
  EXPECT_EQ(acks.acks[20].error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_EQ(acks.acks[20].violations_size(), 1);
  EXPECT_EQ(acks.acks[20].violations(0).field(), "events[7].subject");
  EXPECT_EQ(acks.acks[21].result().duplicates(), kPerBatch);
  EXPECT_EQ(acks.acks[22].result().accepted(), kPerBatch);
  EXPECT_EQ(QueryInt(server.db().conninfo(), "SELECT count(*) FROM usage_events"), 21 * kPerBatch);
}

// All of a batch's events in month `b` + 1 of 2024.
v1::IngestBatch MonthBatch(int b) {
  v1::IngestBatch batch = UsageBatch(b);
  for (v1::UsageEvent& e : *batch.mutable_usage_events()->mutable_events()) {
    rpc::ToProto(absl::FromCivil(absl::CivilDay(2024, 1 + b, 1), absl::UTCTimeZone()),
                 e.mutable_time());
  }
  return batch;
}

std::string Month(int b) { return absl::StrFormat("2024-%02d-01", 1 + b); }

TEST(IngestStream, AServerThatStopsAnsweringFailsAfterTheTimeout) {
  TestDatabase db;
  const int port = FreePort();
  Subprocess server({BinaryPath("saasmetrics"), absl::StrCat("--grpc_address=127.0.0.1:", port),
                     "--metrics_address=", "--database_url=" + db.conninfo()});
  ASSERT_TRUE(server.WaitForOutput("health SERVING", absl::Seconds(30))) << server.Output();
  client::Client c({.address = absl::StrCat("127.0.0.1:", port), .timeout = absl::Seconds(1)});
  CreateTenant(c);
  server.Signal(SIGSTOP);  // alive, connected, silent
  client::IngestStream stream(c, 2, [](const v1::IngestAck&) {});
  const absl::Time start = absl::Now();
  absl::Status s;
  for (int b = 0; b < 3 && s.ok(); ++b) s = stream.Send(UsageBatch(b));
  if (s.ok()) s = stream.Finish();
  const absl::Duration took = absl::Now() - start;
  server.Signal(SIGCONT);
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_THAT(std::string(s.message()),
              ::testing::HasSubstr(
                  absl::StrCat("server at 127.0.0.1:", port, " acknowledged no batch within 1s")));
  EXPECT_GE(took, absl::Seconds(1));
  EXPECT_LT(took, absl::Seconds(10));
  EXPECT_EQ(stream.Finish().code(), s.code());  // the failure sticks
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(absl::Seconds(20)), 0);
}

// The timeout counts from when the server owes something: a stream left idle longer than
// it after its acks still takes a batch and finishes.
TEST(IngestStream, AStreamIdleLongerThanTheTimeoutStillSendsAndFinishes) {
  TestServer server;
  CreateTenant(server.client());
  client::Client c({.address = server.address(), .timeout = absl::Milliseconds(300)});
  Acks acks;
  client::IngestStream stream(c, 2, [&](const v1::IngestAck& a) { acks.Add(a); });
  ASSERT_TRUE(stream.Send(MonthBatch(0)).ok());
  absl::SleepFor(absl::Milliseconds(700));  // acked long ago, nothing owed
  ASSERT_TRUE(stream.Send(MonthBatch(1)).ok());
  absl::SleepFor(absl::Milliseconds(700));
  const absl::Status s = stream.Finish();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(acks.acks.size(), 2u);
  EXPECT_EQ(QueryInt(server.db().conninfo(), "SELECT count(*) FROM usage_events"), 2 * kPerBatch);
}

TEST(IngestStream, AcksArrivingWithinTheTimeoutKeepALongerWaitAlive) {
  TestServer server;
  CreateTenant(server.client());
  const std::string& conninfo = server.db().conninfo();
  constexpr int kBatches = 5;
  // Batch b lands in month b alone, and a transaction of the test's holds that month's
  // partition-version row, so the batch commits only when the lock goes: acks arrive
  // 400 ms apart, 2 s in all, against a 1 s timeout.
  {
    pqxx::connection conn(conninfo);
    pqxx::work txn(conn);
    for (int b = 0; b < kBatches; ++b) {
      txn.exec_params(
          "INSERT INTO partition_versions (tenant_id, kind, month, version) "
          "VALUES ('acme', 2, $1::date, 1)",
          Month(b));
    }
    txn.commit();
  }
  std::vector<std::unique_ptr<pqxx::connection>> conns;
  std::vector<std::unique_ptr<pqxx::work>> locks;
  for (int b = 0; b < kBatches; ++b) {
    conns.push_back(std::make_unique<pqxx::connection>(conninfo));
    locks.push_back(std::make_unique<pqxx::work>(*conns.back()));
    locks.back()->exec_params(
        "SELECT 1 FROM partition_versions WHERE tenant_id = 'acme' AND kind = 2 "
        "AND month = $1::date FOR UPDATE",
        Month(b));
  }
  std::thread releaser([&] {
    for (auto& lock : locks) {
      absl::SleepFor(absl::Milliseconds(400));
      lock->commit();
    }
  });
  client::Client c({.address = server.address(), .timeout = absl::Seconds(1)});
  Acks acks;
  const absl::Time start = absl::Now();
  absl::Status s;
  {
    client::IngestStream stream(c, 8, [&](const v1::IngestAck& a) { acks.Add(a); });
    for (int b = 0; b < kBatches && s.ok(); ++b) s = stream.Send(MonthBatch(b));
    if (s.ok()) s = stream.Finish();
  }
  releaser.join();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(1900));  // outlasted the timeout
  EXPECT_EQ(acks.acks.size(), static_cast<size_t>(kBatches));
  EXPECT_EQ(QueryInt(conninfo, "SELECT count(*) FROM usage_events"), kBatches * kPerBatch);
}

TEST(IngestStream, AServerGoneForGoodFailsWithItsAddress) {
  const int port = FreePort();
  client::Client c({.address = absl::StrCat("127.0.0.1:", port),
                    .timeout = absl::Seconds(2),
                    .max_attempts = 2,
                    .initial_backoff = absl::Milliseconds(10)});
  client::IngestStream stream(c, 2, [](const v1::IngestAck&) {});
  absl::Status s = stream.Send(UsageBatch(0));
  if (s.ok()) s = stream.Finish();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr(absl::StrCat("127.0.0.1:", port)));
}

TEST(IngestStream, ReconnectsAfterTheServerIsKilledAndStoresEveryEventOnce) {
  TestDatabase db;
  const int port = FreePort();
  auto start = [&] {
    auto p = std::make_unique<Subprocess>(std::vector<std::string>{
        BinaryPath("saasmetrics"), absl::StrCat("--grpc_address=127.0.0.1:", port),
        "--metrics_address=", "--database_url=" + db.conninfo(), "--db_probe_interval=100ms"});
    EXPECT_TRUE(p->WaitForOutput("health SERVING", absl::Seconds(30))) << p->Output();
    return p;
  };
  auto first = start();
  client::Client c({.address = absl::StrCat("127.0.0.1:", port),
                    .max_attempts = 30,
                    .initial_backoff = absl::Milliseconds(50)});
  CreateTenant(c);
  Acks acks;
  client::IngestStream stream(c, 4, [&](const v1::IngestAck& a) { acks.Add(a); });
  constexpr int kBatches = 30;
  std::unique_ptr<Subprocess> second;
  for (int b = 0; b < kBatches; ++b) {
    ASSERT_TRUE(stream.Send(UsageBatch(b)).ok()) << "batch " << b;
    if (b == 12) {
      first->Signal(SIGKILL);
      first->Wait(absl::Seconds(10));
      second = start();
    }
  }
  ASSERT_TRUE(stream.Finish().ok());
  EXPECT_EQ(QueryInt(db.conninfo(), "SELECT count(*) FROM usage_events"), kBatches * kPerBatch);
  EXPECT_EQ(QueryInt(db.conninfo(), "SELECT count(DISTINCT event_id) FROM usage_events"),
            kBatches * kPerBatch);
  // Every batch was acknowledged (some twice: once lost with the server, once resent).
  std::set<std::string> acked;
  int64_t accepted = 0;
  for (const auto& a : acks.acks) {
    EXPECT_EQ(a.error_code(), 0) << a.error_message();
    acked.insert(a.batch_id());
    accepted += a.result().accepted();
  }
  EXPECT_EQ(acked.size(), static_cast<size_t>(kBatches));
  EXPECT_LE(accepted, kBatches * kPerBatch);
  second->Signal(SIGTERM);
  EXPECT_EQ(second->Wait(absl::Seconds(20)), 0);
}

}  // namespace
}  // namespace saasmetrics::testing
