// The Prometheus endpoint: scraped after real traffic, linted by promtool, and carrying
// the series SRE relies on.
#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cmath>
#include <fstream>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "saasmetrics/v1/metrics.grpc.pb.h"
#include "server/store/migrator.h"
#include "tests/support/grpc_test_util.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_db.h"

namespace saasmetrics::testing {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The value of the unlabelled sample `name` in a text exposition; NaN when absent.
double Sample(const std::string& body, const std::string& name) {
  const std::string key = absl::StrCat("\n", name, " ");
  size_t at = body.find(key);
  if (at == std::string::npos) return std::nan("");
  at += key.size();
  double v = 0;
  if (!absl::SimpleAtod(body.substr(at, body.find('\n', at) - at), &v)) return std::nan("");
  return v;
}

std::string Scrape(int port) {
  const std::string file = absl::StrCat("/tmp/saasmetrics-scrape-", getpid(), ".txt");
  Subprocess curl(
      {"/usr/bin/curl", "-sf", "-o", file, absl::StrCat("http://127.0.0.1:", port, "/metrics")});
  EXPECT_EQ(curl.Wait(absl::Seconds(30)), 0) << curl.Output();
  std::string body = ReadFile(file);
  unlink(file.c_str());
  return body;
}

// The binary with /metrics on a loopback port, SERVING, and a client to give it traffic.
class MetricsEndpoint : public ::testing::Test {
 protected:
  MetricsEndpoint()
      : server({BinaryPath("saasmetrics"), "--grpc_address=127.0.0.1:0",
                "--metrics_address=127.0.0.1:0", "--database_url=" + db.conninfo()}) {}

  void SetUp() override {
    ASSERT_TRUE(server.WaitForOutput("health SERVING", absl::Seconds(30))) << server.Output();
    metrics_port = LoggedNumber(server, "metrics_port", absl::Seconds(5));
    ASSERT_GT(metrics_port, 0) << server.Output();
    api = std::make_unique<client::Client>(client::ClientOptions{
        .address =
            absl::StrCat("127.0.0.1:", LoggedNumber(server, "grpc_port", absl::Seconds(5)))});
  }

  void TearDown() override {
    server.Signal(SIGTERM);
    EXPECT_EQ(server.Wait(absl::Seconds(30)), 0);
  }

  TestDatabase db;
  Subprocess server;
  int metrics_port = 0;
  std::unique_ptr<client::Client> api;
};

TEST_F(MetricsEndpoint, ScrapesCleanlyThroughPromtoolAfterTraffic) {
  client::Client& c = *api;
  v1::Tenant t;
  t.set_tenant_id("acme");
  t.set_currency("USD");
  ASSERT_TRUE(c.CreateTenant(t).ok());
  EXPECT_FALSE(c.GetTenant("ghost").ok());

  const std::string body = Scrape(metrics_port);
  EXPECT_THAT(body,
              HasSubstr("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"CreateTenant\""));
  EXPECT_THAT(body, HasSubstr("grpc_code=\"NotFound\",grpc_method=\"GetTenant\""));
  EXPECT_THAT(body, HasSubstr("saasmetrics_database_up 1"));
  EXPECT_THAT(body, HasSubstr(absl::StrCat("saasmetrics_schema_version ",
                                           store::EmbeddedMigrations().back().version)));
  EXPECT_THAT(body, HasSubstr("saasmetrics_db_query_seconds_bucket{statement=\"tenant_insert\""));
  EXPECT_THAT(body, HasSubstr("saasmetrics_cache_bytes"));
  // The pool (default size 8) has served the calls above and holds the connections open.
  EXPECT_EQ(Sample(body, "saasmetrics_db_pool_max_connections"), 8) << body;
  EXPECT_GE(Sample(body, "saasmetrics_db_pool_open_connections"), 1) << body;
  EXPECT_EQ(Sample(body, "saasmetrics_db_pool_in_use_connections"), 0) << body;
  EXPECT_EQ(Sample(body, "saasmetrics_db_pool_idle_connections"),
            Sample(body, "saasmetrics_db_pool_open_connections"));
  EXPECT_GE(Sample(body, "saasmetrics_db_pool_wait_seconds_total"), 0) << body;
  // The process: tens of MiB resident, a few sockets open, started within the last minute.
  EXPECT_GT(Sample(body, "process_resident_memory_bytes"), 4 << 20) << body;
  EXPECT_GT(Sample(body, "process_virtual_memory_bytes"),
            Sample(body, "process_resident_memory_bytes"));
  EXPECT_GE(Sample(body, "process_open_fds"), 5) << body;
  EXPECT_GT(Sample(body, "process_max_fds"), Sample(body, "process_open_fds"));
  EXPECT_GE(Sample(body, "process_threads"), 2) << body;
  EXPECT_GE(Sample(body, "process_cpu_seconds_total"), 0) << body;
  EXPECT_NEAR(Sample(body, "process_start_time_seconds"), absl::ToUnixSeconds(absl::Now()), 60)
      << body;

  // promtool reads the exposition on stdin and fails on malformed or non-conventional metrics.
  const std::string file = absl::StrCat("/tmp/saasmetrics-lint-", getpid(), ".txt");
  std::ofstream(file) << body;
  Subprocess lint({"/bin/sh", "-c", absl::StrCat("promtool check metrics < ", file)});
  EXPECT_EQ(lint.Wait(absl::Seconds(30)), 0) << lint.Output();
  unlink(file.c_str());
}

// Overload: one worker and one queue place. With the worker blocked in PostgreSQL and a
// call queued, a further call is refused at once with RESOURCE_EXHAUSTED and counted; a
// call the client abandons is recorded as Canceled once its work ends.
TEST(Overload, AFullQueueShedsCallsAndAnAbandonedCallIsRecordedAsCancelled) {
  TestDatabase db;
  Subprocess server({BinaryPath("saasmetrics"), "--grpc_address=127.0.0.1:0",
                     "--metrics_address=127.0.0.1:0", "--worker_threads=1", "--max_queued_calls=1",
                     "--database_url=" + db.conninfo()});
  ASSERT_TRUE(server.WaitForOutput("health SERVING", absl::Seconds(30))) << server.Output();
  const int metrics_port = LoggedNumber(server, "metrics_port", absl::Seconds(5));
  const std::string address =
      absl::StrCat("127.0.0.1:", LoggedNumber(server, "grpc_port", absl::Seconds(5)));
  client::Client c({.address = address});
  v1::Tenant t;
  t.set_tenant_id("acme");
  t.set_currency("USD");
  ASSERT_TRUE(c.CreateTenant(t).ok());

  pqxx::connection locker(db.conninfo());
  pqxx::work lock(locker);
  lock.exec("LOCK TABLE tenants IN ACCESS EXCLUSIVE MODE");
  auto blocked = [&] {
    pqxx::connection probe(db.conninfo());
    pqxx::read_transaction r(probe);
    return r.exec1("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")[0]
        .as<int>();
  };
  // The abandoned call takes the one worker and blocks on the lock.
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto stub = v1::MetricsService::NewStub(channel);
  grpc::ClientContext abandoned;
  testing::AddToken(&abandoned);
  v1::GetMrrRequest mrr;
  mrr.mutable_query()->set_tenant_id("acme");
  mrr.mutable_query()->set_start_date("2024-01-01");
  mrr.mutable_query()->set_end_date("2024-01-31");
  mrr.mutable_query()->set_interval(v1::INTERVAL_MONTH);
  v1::GetMrrResponse mrr_resp;
  grpc::Status abandoned_status;
  std::thread first([&] { abandoned_status = stub->GetMrr(&abandoned, mrr, &mrr_resp); });
  for (int i = 0; i < 200 && blocked() == 0; ++i) absl::SleepFor(absl::Milliseconds(20));
  ASSERT_EQ(blocked(), 1);
  // Two more: one fills the queue, the other is shed.
  absl::Status second, third;
  std::thread a([&] { second = c.GetTenant("acme").status(); });
  std::thread b([&] { third = c.GetTenant("acme").status(); });
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (absl::Now() < give_up && second.ok() == third.ok()) absl::SleepFor(absl::Milliseconds(10));
  const absl::Status& shed = second.ok() ? third : second;
  EXPECT_EQ(shed.code(), absl::StatusCode::kResourceExhausted) << shed;
  EXPECT_THAT(shed.message(), HasSubstr("query queue is full"));

  abandoned.TryCancel();
  first.join();
  EXPECT_EQ(abandoned_status.error_code(), grpc::StatusCode::CANCELLED);
  lock.commit();
  a.join();
  b.join();
  EXPECT_TRUE(second.ok() || third.ok()) << "the queued call ran once the worker was free";

  std::string body;
  for (int i = 0; i < 100; ++i) {
    body = Scrape(metrics_port);
    if (body.find("grpc_code=\"Canceled\",grpc_method=\"GetMrr\"") != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(Sample(body, "saasmetrics_calls_shed_total{pool=\"query\"}"), 1) << body;
  EXPECT_THAT(body, HasSubstr("grpc_code=\"ResourceExhausted\",grpc_method=\"GetTenant\""));
  EXPECT_THAT(body, HasSubstr("grpc_code=\"Canceled\",grpc_method=\"GetMrr\""));
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(absl::Seconds(30)), 0);
}

// Bytes that are not the request's message type, sent as raw gRPC messages.
grpc::ByteBuffer Garbage() {
  // A length-delimited field 1 that claims 127 bytes and has 3: not protobuf wire format.
  const std::string bytes =
      "\x0a\x7f"
      "abc";
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

grpc::Status RawUnary(grpc::GenericStub& stub, const std::string& method,
                      const grpc::ByteBuffer& request) {
  grpc::ClientContext ctx;
  AddToken(&ctx);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::CompletionQueue cq;
  grpc::ByteBuffer response;
  grpc::Status status;
  auto call = stub.PrepareUnaryCall(&ctx, method, request, &cq);
  call->StartCall();
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  EXPECT_TRUE(cq.Next(&tag, &ok));
  return status;
}

// StreamIngest fed one batch that does not parse: the stream ends with its status.
grpc::Status RawStream(grpc::GenericStub& stub, const grpc::ByteBuffer& batch) {
  grpc::ClientContext ctx;
  AddToken(&ctx);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(&ctx, "/saasmetrics.v1.IngestService/StreamIngest", &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  EXPECT_TRUE(cq.Next(&tag, &ok) && ok);
  call->Write(batch, reinterpret_cast<void*>(2));
  EXPECT_TRUE(cq.Next(&tag, &ok));
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(3));
  EXPECT_TRUE(cq.Next(&tag, &ok));
  return status;
}

// A request that does not parse is INVALID_ARGUMENT saying so (gRPC's own answer would be
// a bare UNIMPLEMENTED that no handler sees), counted like any other call, and the stream
// ends with it rather than treating the bad batch as the end of the stream.
TEST_F(MetricsEndpoint, UnparseableMessagesAreInvalidArgumentAndCounted) {
  auto channel = grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", LoggedNumber(server, "grpc_port", absl::Seconds(5))),
      grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  for (const char* method :
       {"/saasmetrics.v1.AdminService/GetTenant", "/saasmetrics.v1.MetricsService/GetMrr",
        "/saasmetrics.v1.IngestService/IngestUsageEvents"}) {
    const grpc::Status s = RawUnary(stub, method, Garbage());
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method;
    EXPECT_THAT(s.error_message(), HasSubstr("is not a valid message of its type")) << method;
  }
  const grpc::Status stream = RawStream(stub, Garbage());
  EXPECT_EQ(stream.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << stream.error_message();
  EXPECT_THAT(stream.error_message(), HasSubstr("StreamIngest is not a valid message"));
  // A well-formed call on the same channel still works.
  v1::Tenant t;
  t.set_tenant_id("acme");
  t.set_currency("USD");
  EXPECT_TRUE(api->CreateTenant(t).ok());

  const std::string body = Scrape(metrics_port);
  for (const char* method : {"GetTenant", "GetMrr", "IngestUsageEvents", "StreamIngest"}) {
    EXPECT_THAT(body, HasSubstr(absl::StrCat(
                          "grpc_server_handled_total{grpc_code=\"InvalidArgument\",grpc_method=\"",
                          method, "\"")))
        << body;
  }
  EXPECT_THAT(server.Output(),
              HasSubstr("malformed request method=/saasmetrics.v1.MetricsService/GetMrr"));
}

// A real Prometheus server scrapes the service and answers a query about it.
TEST_F(MetricsEndpoint, RealPrometheusScrapesTheService) {
  client::Client& c = *api;
  for (const char* id : {"t1", "t2", "t3"}) {
    v1::Tenant t;
    t.set_tenant_id(id);
    t.set_currency("EUR");
    ASSERT_TRUE(c.CreateTenant(t).ok());
  }

  char dir_template[] = "/tmp/saasmetrics-prometheus-XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  std::ofstream(dir + "/prometheus.yml")
      << "global:\n  scrape_interval: 1s\n"
      << "scrape_configs:\n  - job_name: saasmetrics\n    static_configs:\n"
      << "      - targets: ['127.0.0.1:" << metrics_port << "']\n";
  const int port = FreePort();
  Subprocess prometheus({"/usr/bin/prometheus", "--config.file=" + dir + "/prometheus.yml",
                         "--storage.tsdb.path=" + dir + "/data",
                         absl::StrCat("--web.listen-address=127.0.0.1:", port)});
  ASSERT_TRUE(
      prometheus.WaitForOutput("Server is ready to receive web requests", absl::Seconds(60)))
      << prometheus.Output();

  // Poll the HTTP API until a scrape has landed: the CreateTenant count, by label.
  const std::string query = absl::StrCat(
      "http://127.0.0.1:", port, "/api/v1/query?query=",
      "sum(grpc_server_handled_total%7Bjob%3D%22saasmetrics%22%2Cgrpc_method%3D%22CreateTenant"
      "%22%2Cgrpc_code%3D%22OK%22%7D)");
  const std::string answer_file = dir + "/answer.json";
  std::string answer;
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (absl::Now() < give_up) {
    Subprocess curl({"/usr/bin/curl", "-sf", "-o", answer_file, query});
    if (curl.Wait(absl::Seconds(10)) == 0) {
      answer = ReadFile(answer_file);
      if (answer.find("\"result\":[{") != std::string::npos) break;
    }
    absl::SleepFor(absl::Milliseconds(500));
  }
  EXPECT_THAT(answer, HasSubstr("\"status\":\"success\""));
  EXPECT_THAT(answer, HasSubstr(",\"3\"]")) << answer;  // the sample value: three tenants

  prometheus.Signal(SIGTERM);
  prometheus.Wait(absl::Seconds(30));
  Subprocess({"/bin/rm", "-rf", dir}).Wait(absl::Seconds(30));
}

}  // namespace
}  // namespace saasmetrics::testing
