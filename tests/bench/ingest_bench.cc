// Ingest throughput: N usage events through StreamIngest (validated, idempotent,
// durable) against, in the same run and on the same PostgreSQL, the same rows loaded
// with a plain COPY into an identical partitioned table. Prints events/s of both,
// their ratio, and peak RSS.
//   ingest_bench [--events=2000000] [--streams=2] [--batch=5000] [--window=4] [--rounds=3]
//                [benchmark flags]
#include <benchmark/benchmark.h>
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "client/client.h"
#include "saasmetrics/v1/ingest.grpc.pb.h"
#include "server/rpc/convert.h"
#include "server/store/ingest_store.h"
#include "tests/bench/bench_support.h"

namespace saasmetrics::bench {
namespace {

int64_t g_events = 2'000'000;
int g_streams = 2;
int g_batch = 5000;
int g_window = 4;  // batches in flight per stream
int g_rounds = 3;  // runs of each side; the medians are compared

// Deterministic events over 12 months, 20 types, 5000 customers with skewed activity.
std::vector<v1::IngestBatch> MakeBatches() {
  std::vector<v1::IngestBatch> batches;
  const absl::Time start = absl::FromCivil(absl::CivilDay(2024, 1, 1), absl::UTCTimeZone());
  uint64_t x = 88172645463325252ull;
  for (int64_t i = 0; i < g_events; ++i) {
    if (i % g_batch == 0) {
      batches.emplace_back();
      batches.back().set_tenant_id("bench");
      batches.back().set_batch_id(absl::StrCat(batches.size()));
    }
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    v1::UsageEvent* e = batches.back().mutable_usage_events()->add_events();
    e->set_id(absl::StrCat("e", i));
    e->set_source("bench");
    e->set_type(absl::StrCat("feature_", x % 20));
    int customer = static_cast<int>((x >> 8) % 5000);
    customer = customer * customer / 5000;  // skew toward low ids
    e->set_subject(absl::StrCat("cus_", customer));
    e->set_user_id(absl::StrCat("u_", customer, "_", (x >> 20) % 5));
    rpc::ToProto(start + absl::Seconds(static_cast<int64_t>(i * (365LL * 86400 / g_events))),
                 e->mutable_time());
  }
  return batches;
}

// g_streams concurrent StreamIngest calls, each keeping g_window batches in flight.
void RunStreams(const std::string& address, const std::vector<v1::IngestBatch>& batches) {
  std::vector<std::thread> threads;
  for (int s = 0; s < g_streams; ++s) {
    threads.emplace_back([&, s] {
      client::Client c({.address = address, .timeout = absl::Minutes(5)});
      client::IngestStream stream(c, g_window, [&](const v1::IngestAck& ack) {
        if (ack.error_code() != 0) {
          fprintf(stderr, "stream %d: batch %s failed: %s\n", s, ack.batch_id().c_str(),
                  ack.error_message().c_str());
          std::exit(1);
        }
      });
      for (size_t b = s; b < batches.size(); b += g_streams) {
        if (absl::Status st = stream.Send(batches[b]); !st.ok()) {  // one copy
          fprintf(stderr, "stream %d failed: %s\n", s, st.ToString().c_str());
          std::exit(1);
        }
      }
      if (absl::Status st = stream.Finish(); !st.ok()) {
        fprintf(stderr, "stream %d failed: %s\n", s, st.ToString().c_str());
        std::exit(1);
      }
    });
  }
  for (auto& t : threads) t.join();
}

void CopyBatches(const std::string& conninfo, const std::vector<v1::IngestBatch>& batches) {
  std::vector<std::thread> threads;
  for (int s = 0; s < g_streams; ++s) {
    threads.emplace_back([&, s] {
      pqxx::connection conn(conninfo);
      for (size_t b = s; b < batches.size(); b += g_streams) {
        pqxx::work txn(conn);
        pqxx::stream_to copy(
            txn, "copy_usage_events",
            std::vector<std::string>{"tenant_id", "time", "source", "event_id", "type",
                                     "customer_id", "user_id", "value", "properties"});
        for (const v1::UsageEvent& e : batches[b].usage_events().events()) {
          copy << std::make_tuple(std::string("bench"),
                                  absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00",
                                                   rpc::FromProto(e.time()), absl::UTCTimeZone()),
                                  e.source(), e.id(), e.type(), e.subject(), e.user_id(), 1.0,
                                  store::JsonObject({}));
        }
        copy.complete();
        txn.commit();
      }
    });
  }
  for (auto& t : threads) t.join();
}

}  // namespace
}  // namespace saasmetrics::bench

int main(int argc, char** argv) {
  using namespace saasmetrics;
  using namespace saasmetrics::bench;
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (absl::ConsumePrefix(&a, "--events="))
      (void)absl::SimpleAtoi(a, &g_events);
    else if (absl::ConsumePrefix(&a, "--streams="))
      (void)absl::SimpleAtoi(a, &g_streams);
    else if (absl::ConsumePrefix(&a, "--batch="))
      (void)absl::SimpleAtoi(a, &g_batch);
    else if (absl::ConsumePrefix(&a, "--window="))
      (void)absl::SimpleAtoi(a, &g_window);
    else if (absl::ConsumePrefix(&a, "--rounds="))
      (void)absl::SimpleAtoi(a, &g_rounds);
    else
      rest.push_back(argv[i]);
  }
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());

  testing::TestDatabase db;
  BenchServer server = StartServer(db.conninfo());
  {
    client::Client c({.address = server.address});
    v1::Tenant t;
    t.set_tenant_id("bench");
    t.set_currency("USD");
    if (!c.CreateTenant(t).ok()) return 1;
  }
  {  // The baseline table: the same columns, index and monthly partitions; no identity.
    pqxx::connection conn(db.conninfo());
    pqxx::work txn(conn);
    txn.exec(
        "CREATE TABLE copy_usage_events (LIKE usage_events INCLUDING DEFAULTS "
        "INCLUDING INDEXES) PARTITION BY RANGE (time)");
    for (int m = 1; m <= 13; ++m) {
      txn.exec_params(
          "SELECT saasmetrics_ensure_month_partition('copy_usage_events', $1)",
          absl::StrFormat("%04d-%02d-15 00:00+00", 2024 + (m - 1) / 12, (m - 1) % 12 + 1));
    }
    txn.commit();
  }
  fprintf(stderr, "generating %lld events...\n", static_cast<long long>(g_events));
  const std::vector<v1::IngestBatch> batches = MakeBatches();

  // One run of either side: its time, the CPU seconds spent meanwhile by this process,
  // the server and PostgreSQL, the WAL written and the checkpoints started.
  struct Run {
    double seconds = 0, client = 0, server = 0, postgres = 0, wal_mib = 0;
    int64_t checkpoints = 0;
    double rate() const { return g_events / seconds; }
  };
  std::vector<Run> copy_runs(g_rounds), service_runs(g_rounds);
  pqxx::connection admin(db.conninfo());
  auto scalar = [&](const std::string& sql) {
    return pqxx::nontransaction(admin).exec1(sql)[0].as<double>();
  };
  const std::string server_pid = std::to_string(server.pid);
  bool lost = false;
  auto timed = [&](Run* out, std::string tables, auto fn) {
    return [=, &admin, &scalar, &server_pid, &lost](benchmark::State& state) {
      for (auto _ : state) {
        // Every run starts alike: empty tables, and no dirty buffers or WAL left by an
        // earlier run for the checkpointer to write on this one's time.
        state.PauseTiming();
        pqxx::nontransaction(admin).exec("TRUNCATE " + tables);
        pqxx::nontransaction(admin).exec("CHECKPOINT");
        const double wal = scalar("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn");
        const std::string checkpoints_sql =
            "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter";
        const double checkpoints = scalar(checkpoints_sql);
        const Run before{0, CpuSeconds(), CpuSeconds(server_pid), PostgresCpuSeconds()};
        state.ResumeTiming();
        const absl::Time start = absl::Now();
        fn();
        out->seconds = absl::ToDoubleSeconds(absl::Now() - start);
        out->client = CpuSeconds() - before.client;
        out->server = CpuSeconds(server_pid) - before.server;
        out->postgres = PostgresCpuSeconds() - before.postgres;
        out->wal_mib =
            (scalar("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn") - wal) / (1 << 20);
        out->checkpoints = static_cast<int64_t>(scalar(checkpoints_sql) - checkpoints);
        const std::string table = tables.substr(0, tables.find(','));
        lost |= scalar("SELECT count(*) FROM " + table) != g_events;
        state.SetIterationTime(out->seconds);
      }
      state.counters["events_per_s"] =
          benchmark::Counter(static_cast<double>(g_events), benchmark::Counter::kIsRate);
    };
  };
  // Rounds alternate which side goes first, so neither always runs on a warmer machine.
  for (int r = 0; r < g_rounds; ++r) {
    auto copy = [&] {
      benchmark::RegisterBenchmark(
          absl::StrCat("BM_PlainCopy/baseline/round:", r + 1).c_str(),
          timed(&copy_runs[r], "copy_usage_events", [&] { CopyBatches(db.conninfo(), batches); }))
          ->Iterations(1)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    };
    auto service = [&] {
      benchmark::RegisterBenchmark(absl::StrCat("BM_StreamIngest/service/round:", r + 1).c_str(),
                                   timed(&service_runs[r], "usage_events, usage_event_keys",
                                         [&] { RunStreams(server.address, batches); }))
          ->Iterations(1)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    };
    if (r % 2 == 0) {
      copy(), service();
    } else {
      service(), copy();
    }
  }
  benchmark::RunSpecifiedBenchmarks();

  auto median = [](std::vector<Run> runs) {
    std::sort(runs.begin(), runs.end(),
              [](const Run& a, const Run& b) { return a.seconds < b.seconds; });
    return runs[runs.size() / 2];
  };
  const Run copy_median = median(copy_runs), service_median = median(service_runs);
  printf(
      "\ningest benchmark: %lld usage events, %d streams x %d-event batches (%d in flight), "
      "%d rounds, %d cores\n",
      static_cast<long long>(g_events), g_streams, g_batch, g_window, g_rounds,
      static_cast<int>(std::thread::hardware_concurrency()));
  printf(
      "  round  baseline ev/s  service ev/s  ratio | CPU s baseline client/PG, service "
      "client/server/PG | WAL MiB baseline/service (checkpoints)\n");
  for (int r = 0; r < g_rounds; ++r) {
    const Run &c = copy_runs[r], &s = service_runs[r];
    printf(
        "  %5d %14.0f %13.0f %6.2f | %4.1f/%4.1f  %4.1f/%4.1f/%4.1f | %4.0f (%lld) / %4.0f "
        "(%lld)\n",
        r + 1, c.rate(), s.rate(), s.rate() / c.rate(), c.client, c.postgres, s.client, s.server,
        s.postgres, c.wal_mib, static_cast<long long>(c.checkpoints), s.wal_mib,
        static_cast<long long>(s.checkpoints));
  }
  printf("  baseline  plain COPY into an identical table : %10.0f events/s (median)\n",
         copy_median.rate());
  printf("  service   StreamIngest (validated, idempotent): %10.0f events/s (median)\n",
         service_median.rate());
  printf("  ratio     service / plain COPY                : %10.2f  (target >= 0.50)\n",
         service_median.rate() / copy_median.rate());
  printf("  stored    %s\n", lost ? "EVENTS MISSING in some run" : "every event, every run");
  printf("  peak RSS  server %.0f MiB, benchmark process %.0f MiB\n",
         PeakRssMiB(std::to_string(server.pid)), PeakRssMiB());
  benchmark::Shutdown();
  return lost ? 1 : 0;
}
