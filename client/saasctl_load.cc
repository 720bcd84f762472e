// saasctl load: N concurrent clients run a mix of usage ingest and metric queries
// against one tenant for a bounded time; reports throughput and latency percentiles.
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/batch_sender.h"
#include "client/saasctl.h"

namespace saasmetrics::cli {
namespace {

enum Op { kIngest, kMrr, kChurn, kActive, kOps };
constexpr const char* kOpNames[] = {"ingest usage", "GetMrr", "GetChurn", "GetActiveCustomers"};

struct Samples {
  std::vector<double> ms[kOps];
  int64_t errors[kOps] = {};
  absl::Status first_error;
};

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

std::string Day(absl::Time t) { return absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone()); }

}  // namespace

int RunLoad(const client::ClientOptions& options, const LoadFlags& flags, Output output) {
  absl::Duration duration;
  if (!absl::ParseDuration(flags.duration, &duration) || duration <= absl::ZeroDuration()) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--duration=", flags.duration, ": not a positive duration like 30s")));
  }
  client::Client probe(options);
  absl::StatusOr<v1::Tenant> tenant = probe.GetTenant(flags.tenant);
  if (!tenant.ok()) return Fail(tenant.status());

  const absl::Time now = absl::Now();
  const std::string run = absl::StrCat(absl::ToUnixMillis(now), "-", getpid());
  v1::MetricsQuery year;  // the last 12 full months, monthly
  year.set_tenant_id(flags.tenant);
  year.set_start_date(Day(now - absl::Hours(24 * 365)));
  year.set_end_date(Day(now - absl::Hours(24)));
  year.set_interval(v1::INTERVAL_MONTH);

  std::vector<Samples> samples(flags.clients);
  const absl::Time end = now + duration;
  std::vector<std::thread> threads;
  for (int c = 0; c < flags.clients; ++c) {
    threads.emplace_back([&, c] {
      client::Client client(options);
      std::mt19937_64 rng(c + 1);
      std::uniform_real_distribution<double> unit(0, 1);
      Samples& s = samples[c];
      for (int64_t seq = 0; absl::Now() < end; ++seq) {
        const double pick = unit(rng);
        const Op op = pick < flags.ingest_share                                      ? kIngest
                      : pick < flags.ingest_share + (1 - flags.ingest_share) / 3     ? kMrr
                      : pick < flags.ingest_share + 2 * (1 - flags.ingest_share) / 3 ? kChurn
                                                                                     : kActive;
        const absl::Time start = absl::Now();
        absl::Status status;
        if (op == kIngest) {
          v1::IngestUsageEventsRequest req;
          req.set_tenant_id(flags.tenant);
          for (int i = 0; i < flags.batch; ++i) {
            v1::UsageEvent* e = req.add_events();
            e->set_id(absl::StrCat("load-", run, "-", c, "-", seq, "-", i));
            e->set_source("saasctl-load");
            e->set_type(i % 4 == 0 ? "login" : "report.created");
            e->set_subject(absl::StrCat("load_cus_", rng() % 1000));
            const absl::Time t = now - absl::Seconds(static_cast<int64_t>(unit(rng) * 30 * 86400));
            e->mutable_time()->set_seconds(absl::ToUnixSeconds(t));
          }
          status = client.IngestUsageEvents(req).status();
        } else if (op == kMrr) {
          v1::GetMrrRequest req;
          *req.mutable_query() = year;
          status = client.GetMrr(req).status();
        } else if (op == kChurn) {
          v1::GetChurnRequest req;
          *req.mutable_query() = year;
          status = client.GetChurn(req).status();
        } else {
          v1::GetActiveCustomersRequest req;
          *req.mutable_query() = year;
          status = client.GetActiveCustomers(req).status();
        }
        s.ms[op].push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
        if (!status.ok()) {
          ++s.errors[op];
          if (s.first_error.ok()) s.first_error = status;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - now);

  std::vector<std::vector<std::string>> rows = {
      {"OPERATION", "CALLS", "ERRORS", "CALLS/S", "P50_MS", "P90_MS", "P99_MS", "MAX_MS"}};
  int64_t total_calls = 0, total_errors = 0;
  absl::Status first_error;
  for (int op = 0; op < kOps; ++op) {
    std::vector<double> all;
    int64_t errors = 0;
    for (auto& s : samples) {
      all.insert(all.end(), s.ms[op].begin(), s.ms[op].end());
      errors += s.errors[op];
      if (first_error.ok() && !s.first_error.ok()) first_error = s.first_error;
    }
    total_calls += static_cast<int64_t>(all.size());
    total_errors += errors;
    if (all.empty()) continue;
    const double max = *std::max_element(all.begin(), all.end());
    rows.push_back({kOpNames[op], Thousands(static_cast<int64_t>(all.size())), Thousands(errors),
                    absl::StrFormat("%.1f", all.size() / seconds),
                    absl::StrFormat("%.1f", Percentile(all, 0.50)),
                    absl::StrFormat("%.1f", Percentile(all, 0.90)),
                    absl::StrFormat("%.1f", Percentile(all, 0.99)), absl::StrFormat("%.1f", max)});
  }
  if (output == Output::kJson) output = Output::kTable;  // a report, not an API response
  std::cout << absl::StrFormat(
      "load on %s: %d clients for %.1f s, %.0f%% ingest (%d usage events per call, source "
      "saasctl-load)\n",
      flags.tenant, flags.clients, seconds, flags.ingest_share * 100, flags.batch);
  PrintRows(rows, output);
  std::cout << absl::StrFormat("total: %s calls, %.1f calls/s, %s errors\n", Thousands(total_calls),
                               total_calls / seconds, Thousands(total_errors));
  if (!first_error.ok()) {
    std::cerr << "saasctl: first error: " << first_error << "\n";
    return ExitCodeFor(first_error);
  }
  return kExitOk;
}

}  // namespace saasmetrics::cli
