// Ingestion survives the server being killed: acked batches are durable, and resending
// everything after a restart stores each event exactly once.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <pqxx/pqxx>
#include <regex>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "saasmetrics/v1/ingest.grpc.pb.h"
#include "server/rpc/convert.h"
#include "tests/support/grpc_test_util.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_db.h"

namespace saasmetrics::testing {
namespace {

constexpr int kBatches = 30;
constexpr int kPerBatch = 1000;

struct RunningServer {
  std::unique_ptr<Subprocess> process;
  std::string address;
};

RunningServer StartServer(const TestDatabase& db) {
  RunningServer s;
  s.process = std::make_unique<Subprocess>(std::vector<std::string>{
      BinaryPath("saasmetrics"), "--grpc_address=127.0.0.1:0",
      "--metrics_address=", "--database_url=" + db.conninfo(), "--db_probe_interval=100ms"});
  EXPECT_TRUE(s.process->WaitForOutput("health SERVING", absl::Seconds(30))) << s.process->Output();
  std::smatch m;
  std::string out = s.process->Output();
  if (std::regex_search(out, m, std::regex("grpc_port=(\\d+)"))) {
    s.address = absl::StrCat("127.0.0.1:", m[1].str());
  }
  return s;
}

v1::IngestBatch Batch(int b) {
  v1::IngestBatch batch;
  batch.set_tenant_id("acme");
  batch.set_batch_id(absl::StrCat("batch-", b));
  auto* events = batch.mutable_usage_events();
  for (int i = 0; i < kPerBatch; ++i) {
    int id = b * kPerBatch + i;
    v1::UsageEvent* e = events->add_events();
    e->set_id(absl::StrCat("evt-", id));
    e->set_source("crash-test");
    e->set_type(i % 3 == 0 ? "login" : "report.created");
    e->set_subject(absl::StrCat("cus-", id % 97));
    rpc::ToProto(
        absl::FromCivil(absl::CivilDay(2024, 1 + id % 12, 1 + id % 28), absl::UTCTimeZone()),
        e->mutable_time());
  }
  return batch;
}

TEST(IngestCrash, KilledMidStreamRestartedAndResentStoresEveryEventExactlyOnce) {
  TestDatabase db;
  RunningServer first = StartServer(db);
  ASSERT_FALSE(first.address.empty());
  {
    client::Client c({.address = first.address});
    v1::Tenant t;
    t.set_tenant_id("acme");
    t.set_currency("USD");
    ASSERT_TRUE(c.CreateTenant(t).ok());
  }

  // Stream until the server dies under us: SIGKILL right after sending batch 12,
  // before its ack can arrive.
  std::vector<std::string> acked_ids;
  int64_t acked_accepted = 0;
  {
    auto stub = v1::IngestService::NewStub(
        grpc::CreateChannel(first.address, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    testing::AddToken(&ctx);
    auto stream = stub->StreamIngest(&ctx);
    for (int b = 0; b < kBatches; ++b) {
      if (!stream->Write(Batch(b))) break;
      if (b == 12) first.process->Signal(SIGKILL);
      v1::IngestAck ack;
      if (!stream->Read(&ack)) break;
      ASSERT_EQ(ack.error_code(), 0) << ack.error_message();
      acked_accepted += ack.result().accepted();
      for (int i = 0; i < kPerBatch; ++i)
        acked_ids.push_back(absl::StrCat("evt-", b * kPerBatch + i));
    }
    stream->Finish();
  }
  EXPECT_EQ(first.process->Wait(absl::Seconds(10)), 128 + SIGKILL);
  ASSERT_GE(acked_ids.size(), 12u * kPerBatch) << "the kill came too early to test anything";
  ASSERT_LT(acked_ids.size(), static_cast<size_t>(kBatches) * kPerBatch);

  // Every acked event is durable.
  {
    pqxx::connection conn(db.conninfo());
    pqxx::read_transaction t(conn);
    int64_t missing = 0;
    for (const std::string& id : acked_ids) {
      missing += t.exec_params1("SELECT count(*) = 0 FROM usage_events WHERE event_id = $1", id)[0]
                     .as<bool>();
    }
    EXPECT_EQ(missing, 0) << "acked events lost by the crash";
  }
  EXPECT_GE(QueryInt(db.conninfo(), "SELECT count(*) FROM usage_events"),
            static_cast<int64_t>(acked_ids.size()));
  EXPECT_EQ(acked_accepted, static_cast<int64_t>(acked_ids.size()));

  // Restart and resend everything.
  RunningServer second = StartServer(db);
  int64_t accepted = 0, duplicates = 0;
  {
    auto stub = v1::IngestService::NewStub(
        grpc::CreateChannel(second.address, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    testing::AddToken(&ctx);
    auto stream = stub->StreamIngest(&ctx);
    for (int b = 0; b < kBatches; ++b) {
      ASSERT_TRUE(stream->Write(Batch(b)));
      v1::IngestAck ack;
      ASSERT_TRUE(stream->Read(&ack));
      ASSERT_EQ(ack.error_code(), 0) << ack.error_message();
      accepted += ack.result().accepted();
      duplicates += ack.result().duplicates();
    }
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
  }
  const int64_t total = static_cast<int64_t>(kBatches) * kPerBatch;
  EXPECT_EQ(accepted + duplicates, total);
  EXPECT_GE(duplicates, static_cast<int64_t>(acked_ids.size()));
  EXPECT_EQ(QueryInt(db.conninfo(), "SELECT count(*) FROM usage_events"), total);
  EXPECT_EQ(QueryInt(db.conninfo(), "SELECT count(DISTINCT (source, event_id)) FROM usage_events"),
            total);
  EXPECT_EQ(QueryInt(db.conninfo(), "SELECT count(*) FROM usage_event_keys"), total);
  second.process->Signal(SIGTERM);
  EXPECT_EQ(second.process->Wait(absl::Seconds(20)), 0);
}

}  // namespace
}  // namespace saasmetrics::testing
