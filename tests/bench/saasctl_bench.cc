// The command users run: `saasctl ingest` of a CSV file into the service, against
// `psql \copy` of the same file into a plain table, in the same run on the same
// PostgreSQL. Usage events and subscription events; each round starts from empty tables
// and alternates which side goes first; medians of the rounds. Also: a re-ingest of the
// same file (every row a duplicate), saasctl's own CPU seconds per million events, and
// peak RSS.
//   saasctl_bench [--usage=2000000] [--subscriptions=500000] [--rounds=3] [--batch=5000]
//                 [--window=8]
#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/generator.h"
#include "client/records.h"
#include "tests/bench/bench_support.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_db.h"

namespace saasmetrics::bench {
namespace {

using client::CsvCell;

std::string Rfc3339(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

// The generator's data as the CSV files a user would ingest.
void WriteFiles(int64_t usage, int64_t subscriptions, const std::string& usage_path,
                const std::string& subs_path) {
  client::GeneratorOptions o{
      .seed = 7,
      .customers = static_cast<int>(std::max<int64_t>(1000, subscriptions / 3)),
      .months = 24,
      .first_month = absl::CivilMonth(2023, 1),
      .usage_events = usage};
  const client::GeneratedData data = client::Generate(o);
  std::ofstream u(usage_path);
  u << "id,source,type,subject,time,user_id,value,properties.plan\n";
  client::GenerateUsage(o, data, 10000, [&](std::vector<v1::UsageEvent>&& events) {
    for (const v1::UsageEvent& e : events) {
      u << CsvCell(e.id()) << ',' << CsvCell(e.source()) << ',' << CsvCell(e.type()) << ','
        << CsvCell(e.subject()) << ',' << Rfc3339(e.time()) << ',' << CsvCell(e.user_id()) << ','
        << (e.has_value() ? absl::StrCat(e.value().value()) : "") << ','
        << CsvCell(e.properties().count("plan") ? e.properties().at("plan") : "") << '\n';
    }
  });
  std::ofstream s(subs_path);
  s << "event_id,subscription_id,customer_id,effective_at,status,plan_id,quantity,unit_amount,"
       "currency,interval_unit,interval_count\n";
  int64_t written = 0;
  for (int copy = 0; written < subscriptions; ++copy) {
    for (const v1::SubscriptionEvent& e : data.subscription_events) {
      if (written++ >= subscriptions) break;
      const std::string suffix = copy == 0 ? "" : absl::StrCat("-", copy);
      s << CsvCell(e.event_id() + suffix) << ',' << CsvCell(e.subscription_id() + suffix) << ','
        << CsvCell(e.customer_id() + suffix) << ',' << Rfc3339(e.effective_at()) << ','
        << v1::SubscriptionStatus_Name(e.status()) << ',' << CsvCell(e.plan_id()) << ','
        << e.quantity() << ',' << e.unit_amount() << ',' << e.currency() << ','
        << v1::IntervalUnit_Name(e.interval_unit()) << ',' << e.interval_count() << '\n';
    }
  }
}

struct Run {
  double seconds = 0;
  double cpu = 0;  // the command's own user + system seconds
  double rate(int64_t n) const { return static_cast<double>(n) / seconds; }
};

// Runs `argv` to its end; its wall time and CPU (from the rusage of reaped children).
Run Command(const std::vector<std::string>& argv) {
  rusage before{}, after{};
  getrusage(RUSAGE_CHILDREN, &before);
  const absl::Time start = absl::Now();
  testing::Subprocess p(argv);
  const int code = p.Wait(absl::Minutes(30));
  Run r;
  r.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  getrusage(RUSAGE_CHILDREN, &after);
  auto secs = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  r.cpu =
      secs(after.ru_utime) - secs(before.ru_utime) + secs(after.ru_stime) - secs(before.ru_stime);
  if (code != 0) {
    fprintf(stderr, "%s failed (%d):\n%s\n", argv[0].c_str(), code, p.Output().c_str());
    std::exit(1);
  }
  return r;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace
}  // namespace saasmetrics::bench

int main(int argc, char** argv) {
  using namespace saasmetrics;
  using namespace saasmetrics::bench;
  int64_t usage = 2000000, subscriptions = 500000;
  int rounds = 3, batch = 5000, window = 8;
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (absl::ConsumePrefix(&a, "--usage="))
      (void)absl::SimpleAtoi(a, &usage);
    else if (absl::ConsumePrefix(&a, "--subscriptions="))
      (void)absl::SimpleAtoi(a, &subscriptions);
    else if (absl::ConsumePrefix(&a, "--rounds="))
      (void)absl::SimpleAtoi(a, &rounds);
    else if (absl::ConsumePrefix(&a, "--batch="))
      (void)absl::SimpleAtoi(a, &batch);
    else if (absl::ConsumePrefix(&a, "--window="))
      (void)absl::SimpleAtoi(a, &window);
  }
  testing::TestDatabase db;
  BenchServer server = StartServer(db.conninfo());
  const std::string dir =
      std::filesystem::temp_directory_path() / absl::StrCat("saasctl-bench-", getpid());
  std::filesystem::create_directories(dir);
  const std::string usage_csv = dir + "/usage.csv", subs_csv = dir + "/subscriptions.csv";
  fprintf(stderr, "writing %lld usage and %lld subscription events as CSV...\n",
          static_cast<long long>(usage), static_cast<long long>(subscriptions));
  WriteFiles(usage, subscriptions, usage_csv, subs_csv);
  const std::string saasctl = testing::BinaryPath("saasctl");
  auto ingest = [&](const char* kind, const std::string& file) {
    return Command({saasctl, "--address=" + server.address, "-q", "ingest", kind, file,
                    "--tenant=bench", absl::StrCat("--batch=", batch),
                    absl::StrCat("--window=", window)});
  };
  {
    client::Client c({.address = server.address});
    v1::Tenant t;
    t.set_tenant_id("bench");
    t.set_currency("USD");
    if (!c.CreateTenant(t).ok()) return 1;
  }
  pqxx::connection admin(db.conninfo());
  auto exec = [&](const std::string& sql) { pqxx::nontransaction(admin).exec(sql); };
  auto copy = [&](const std::string& table, const std::string& columns, const std::string& file) {
    return Command({"/usr/bin/psql", db.conninfo(), "-qc",
                    absl::StrCat("\\copy ", table, " (", columns, ") FROM '", file,
                                 "' WITH (FORMAT csv, HEADER true)")});
  };
  struct Side {
    std::vector<double> copy_rate, first_rate, again_rate, first_cpu;
  } u, s;
  for (int r = 0; r < rounds; ++r) {
    // Every round from empty tables and a checkpoint.
    exec(
        "TRUNCATE usage_events, usage_event_keys, subscription_events, subscription_event_ids, "
        "partition_writes");
    exec("DROP TABLE IF EXISTS plain_usage, plain_subscriptions");
    exec(
        "CREATE TABLE plain_usage (id text, source text, type text, subject text, "
        "time timestamptz, user_id text, value double precision, plan text)");
    exec(
        "CREATE TABLE plain_subscriptions (event_id text, subscription_id text, customer_id "
        "text, effective_at timestamptz, status text, plan_id text, quantity bigint, "
        "unit_amount bigint, currency text, interval_unit text, interval_count int)");
    exec("CHECKPOINT");
    auto plain = [&] {
      Run c = copy("plain_usage", "id,source,type,subject,time,user_id,value,plan", usage_csv);
      u.copy_rate.push_back(c.rate(usage));
      c = copy("plain_subscriptions",
               "event_id,subscription_id,customer_id,effective_at,status,plan_id,quantity,"
               "unit_amount,currency,interval_unit,interval_count",
               subs_csv);
      s.copy_rate.push_back(c.rate(subscriptions));
    };
    auto service = [&] {
      Run first = ingest("usage-events", usage_csv);
      u.first_rate.push_back(first.rate(usage));
      u.first_cpu.push_back(first.cpu / (static_cast<double>(usage) / 1e6));
      u.again_rate.push_back(ingest("usage-events", usage_csv).rate(usage));
      first = ingest("subscription-events", subs_csv);
      s.first_rate.push_back(first.rate(subscriptions));
      s.first_cpu.push_back(first.cpu / (static_cast<double>(subscriptions) / 1e6));
      s.again_rate.push_back(ingest("subscription-events", subs_csv).rate(subscriptions));
    };
    if (r % 2 == 0) {
      plain(), service();
    } else {
      service(), plain();
    }
    fprintf(stderr, "round %d: usage %.0f/s (copy %.0f/s), subscriptions %.0f/s (copy %.0f/s)\n",
            r + 1, u.first_rate.back(), u.copy_rate.back(), s.first_rate.back(),
            s.copy_rate.back());
  }
  const int64_t stored =
      pqxx::nontransaction(admin).exec1("SELECT count(*) FROM usage_events")[0].as<int64_t>();
  printf(
      "\nsaasctl ingest vs psql \\copy (same CSV files, same PostgreSQL; medians of %d rounds)\n",
      rounds);
  printf("  %-22s %14s %14s %8s %16s %14s %9s\n", "kind", "psql \\copy/s", "saasctl/s", "ratio",
         "saasctl CPU s/M", "re-ingest/s", "re/first");
  auto row = [](const char* name, const Side& x) {
    printf("  %-22s %14.0f %14.0f %7.2fx %16.2f %14.0f %8.2fx\n", name, Median(x.copy_rate),
           Median(x.first_rate), Median(x.first_rate) / Median(x.copy_rate), Median(x.first_cpu),
           Median(x.again_rate), Median(x.again_rate) / Median(x.first_rate));
  };
  row(absl::StrCat("usage events (", usage / 1000, "k)").c_str(), u);
  row(absl::StrCat("subscriptions (", subscriptions / 1000, "k)").c_str(), s);
  rusage children{};
  getrusage(RUSAGE_CHILDREN, &children);
  printf("  stored usage events: %lld (expected %lld)\n", static_cast<long long>(stored),
         static_cast<long long>(usage));
  printf("  peak RSS: server %.0f MiB, largest child (saasctl or psql) %.0f MiB\n",
         PeakRssMiB(std::to_string(server.pid)), children.ru_maxrss / 1024.0);
  std::filesystem::remove_all(dir);
  return stored == usage ? 0 : 1;
}
