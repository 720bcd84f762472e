// The PQL count in process, without a server or a database: the benchmark's data (the
// seeded generator at full scale) in usage partitions and a dense-id index, the MRR
// movements from the same subscription events, and the count timed against a named
// baseline in the same run: one pass over the columns the count must read (the floor).
//   build/bin/pql_bench [--customers=200000] [--usage=5000000] [benchmark flags]
#include <benchmark/benchmark.h>

#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "client/generator.h"
#include "server/engine/ledger.h"
#include "server/engine/pql.h"
#include "server/engine/timeline.h"
#include "server/engine/usage.h"
#include "server/rpc/ingest_mapping.h"
#include "tests/bench/bench_support.h"

namespace saasmetrics::bench {
namespace {

struct Data {
  engine::UsagePartitions usage;  // the last two months
  engine::UsageIndex index;
  std::vector<int32_t> ledger_ids;
  std::vector<engine::Movement> movements;        // by customer, then day
  std::vector<std::pair<size_t, size_t>> ranges;  // per ledger customer
  std::vector<engine::Period> periods;            // the last month
  engine::PqlRule rule;
};

Data* data = nullptr;

void Load(int customers, int64_t usage_events) {
  client::GeneratorOptions gen{.seed = 42,
                               .customers = customers,
                               .months = 36,
                               .first_month = absl::CivilMonth(2021, 1),
                               .usage_events = usage_events};
  const client::GeneratedData generated = client::Generate(gen);
  auto* d = new Data;
  const absl::CivilMonth last = gen.first_month + (gen.months - 1);
  std::vector<engine::UsageEvent> before, in_last;
  client::GenerateUsage(gen, generated, 10000, [&](std::vector<v1::UsageEvent>&& batch) {
    google::protobuf::RepeatedPtrField<v1::UsageEvent> field(batch.begin(), batch.end());
    for (engine::UsageEvent& e : rpc::FromProto(field)) {
      const absl::CivilMonth m = absl::ToCivilMonth(e.time, absl::UTCTimeZone());
      if (m == last) in_last.push_back(std::move(e));
      if (m == last - 1) before.push_back(std::move(e));
    }
  });
  auto by_time = [](const auto& a, const auto& b) { return a.time < b.time; };
  std::sort(before.begin(), before.end(), by_time);
  std::sort(in_last.begin(), in_last.end(), by_time);
  d->usage = {
      std::make_shared<const engine::UsagePartition>(engine::BuildUsagePartition(last - 1, before)),
      std::make_shared<const engine::UsagePartition>(engine::BuildUsagePartition(last, in_last))};
  d->index = engine::BuildUsageIndex(d->usage);
  google::protobuf::RepeatedPtrField<v1::SubscriptionEvent> subs(
      generated.subscription_events.begin(), generated.subscription_events.end());
  const engine::Ledger ledger = engine::BuildLedger(rpc::FromProto(subs));
  d->movements = engine::MrrTimeline::Build(ledger.events, ledger.customer_ids.size())
                     .Movements(absl::UTCTimeZone(), absl::CivilDay(last + 1) - 1);
  d->ranges.assign(ledger.customer_ids.size(), {0, 0});
  for (size_t i = 0; i < d->movements.size();) {
    size_t j = i;
    while (j < d->movements.size() && d->movements[j].customer == d->movements[i].customer) ++j;
    d->ranges[d->movements[i].customer] = {i, j};
    i = j;
  }
  d->ledger_ids = engine::LinkToLedger(d->index, ledger);
  d->periods = {{absl::CivilDay(last), absl::CivilDay(last + 1) - 1}};
  d->rule.window_days = 30;
  d->rule.conditions = {{engine::PqlCondition::Kind::kEventCount, "report.created", 5, 0}};
  std::printf("%zu + %zu usage events in the two months, %zu customers indexed, %zu movements\n",
              before.size(), in_last.size(), d->index.customer_ids().size(), d->movements.size());
  data = d;
}

// The floor: one pass over the time, customer and type columns of both months.
void BM_ScanFloor(benchmark::State& state) {
  for (auto _ : state) {
    uint64_t sum = 0;
    for (const auto& p : data->usage) {
      for (size_t i = 0; i < p->events(); ++i) {
        sum += p->second[i] + static_cast<uint32_t>(p->customer[i]) +
               static_cast<uint32_t>(p->type[i]);
      }
    }
    benchmark::DoNotOptimize(sum);
  }
}
BENCHMARK(BM_ScanFloor)->Unit(benchmark::kMillisecond);

// With `state.range(0)`, caches are flushed before each count (64 MiB read between
// iterations, untimed), as in a server where other work runs between queries.
void BM_CountPqls(benchmark::State& state) {
  int64_t pqls = 0;
  std::vector<int64_t> flush(state.range(0) != 0 ? (64 << 20) / sizeof(int64_t) : 0, 1);
  for (auto _ : state) {
    if (!flush.empty()) {
      state.PauseTiming();
      int64_t sum = 0;
      for (int64_t& v : flush) sum += v++;
      benchmark::DoNotOptimize(sum);
      state.ResumeTiming();
    }
    absl::StatusOr<std::vector<engine::PqlPoint>> got = engine::CountPqls(
        data->rule, data->usage, data->index,
        [](int32_t dense) {
          const int32_t c = data->ledger_ids[dense];
          if (c < 0) return std::span<const engine::Movement>();
          const auto [b, e] = data->ranges[c];
          return std::span<const engine::Movement>(data->movements.data() + b, e - b);
        },
        data->periods, absl::UTCTimeZone(), 30, std::nullopt);
    if (!got.ok()) state.SkipWithError(std::string(got.status().message()).c_str());
    pqls = got.ok() ? (*got)[0].pqls : -1;
  }
  state.counters["pqls"] = static_cast<double>(pqls);
}
BENCHMARK(BM_CountPqls)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace saasmetrics::bench

int main(int argc, char** argv) {
  int customers = 200000;
  int64_t usage = 5000000;
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (absl::ConsumePrefix(&a, "--customers=")) {
      (void)absl::SimpleAtoi(a, &customers);
    } else if (absl::ConsumePrefix(&a, "--usage=")) {
      (void)absl::SimpleAtoi(a, &usage);
    } else {
      rest.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  saasmetrics::bench::Load(customers, usage);
  benchmark::RunSpecifiedBenchmarks();
  std::printf("peak RSS: %.0f MiB\n", saasmetrics::bench::PeakRssMiB());
  return 0;
}
