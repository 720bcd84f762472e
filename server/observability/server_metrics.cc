#include "server/observability/server_metrics.h"

#include "absl/strings/str_cat.h"

namespace saasmetrics::observability {
namespace {

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  return *buckets;
}

}  // namespace

ServerMetrics::ServerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      started_(prometheus::BuildCounter()
                   .Name("grpc_server_started_total")
                   .Help("RPCs started on the server.")
                   .Register(*registry_)),
      handled_(prometheus::BuildCounter()
                   .Name("grpc_server_handled_total")
                   .Help("RPCs completed on the server, by status code.")
                   .Register(*registry_)),
      handling_seconds_(prometheus::BuildHistogram()
                            .Name("grpc_server_handling_seconds")
                            .Help("Time from receiving an RPC to sending its status.")
                            .Register(*registry_)),
      query_seconds_(prometheus::BuildHistogram()
                         .Name("saasmetrics_db_query_seconds")
                         .Help("PostgreSQL statement latency by statement name.")
                         .Register(*registry_)),
      ingested_(prometheus::BuildCounter()
                    .Name("saasmetrics_ingested_events_total")
                    .Help("Items stored by ingestion, by kind.")
                    .Register(*registry_)),
      duplicates_(prometheus::BuildCounter()
                      .Name("saasmetrics_duplicate_events_total")
                      .Help("Items skipped because their identity was already stored, by kind.")
                      .Register(*registry_)),
      shed_(prometheus::BuildCounter()
                .Name("saasmetrics_calls_shed_total")
                .Help("Calls refused with RESOURCE_EXHAUSTED because their pool's queue was full.")
                .Register(*registry_)),
      denied_(prometheus::BuildCounter()
                  .Name("saasmetrics_auth_denied_total")
                  .Help("Calls refused for their credentials, by reason.")
                  .Register(*registry_)),
      cache_hits_(prometheus::BuildCounter()
                      .Name("saasmetrics_cache_hits_total")
                      .Help("Partition lookups served from the cache.")
                      .Register(*registry_)
                      .Add({})),
      cache_misses_(prometheus::BuildCounter()
                        .Name("saasmetrics_cache_misses_total")
                        .Help("Partition lookups that needed a load (missing or stale).")
                        .Register(*registry_)
                        .Add({})),
      cache_evictions_(prometheus::BuildCounter()
                           .Name("saasmetrics_cache_evictions_total")
                           .Help("Partitions evicted to stay within --cache_bytes.")
                           .Register(*registry_)
                           .Add({})),
      cache_load_seconds_(prometheus::BuildHistogram()
                              .Name("saasmetrics_cache_load_seconds")
                              .Help("Time to load one partition from PostgreSQL.")
                              .Register(*registry_)
                              .Add({}, LatencyBuckets())),
      cache_bytes_(prometheus::BuildGauge()
                       .Name("saasmetrics_cache_bytes")
                       .Help("Bytes held by cached partitions.")
                       .Register(*registry_)
                       .Add({})),
      cache_entries_(prometheus::BuildGauge()
                         .Name("saasmetrics_cache_entries")
                         .Help("Partitions held in the cache.")
                         .Register(*registry_)
                         .Add({})),
      database_up_(prometheus::BuildGauge()
                       .Name("saasmetrics_database_up")
                       .Help("1 while the database is reachable and the schema current.")
                       .Register(*registry_)
                       .Add({})),
      schema_version_(prometheus::BuildGauge()
                          .Name("saasmetrics_schema_version")
                          .Help("Highest applied migration version.")
                          .Register(*registry_)
                          .Add({})),
      watches_(prometheus::BuildGauge()
                   .Name("saasmetrics_watches")
                   .Help("WatchHealthTransitions streams open on this replica.")
                   .Register(*registry_)
                   .Add({})),
      watch_rounds_(prometheus::BuildCounter()
                        .Name("saasmetrics_watch_rounds_total")
                        .Help("Computations of a watch's days (after a change to its tenant "
                              "or a day's end).")
                        .Register(*registry_)
                        .Add({})) {
  prometheus::BuildGauge()
      .Name("saasmetrics_build_info")
      .Help("Build information; the value is always 1.")
      .Register(*registry_)
      .Add({{"version", SAASMETRICS_VERSION}})
      .Set(1);
}

void ServerMetrics::RpcStarted(absl::string_view service, absl::string_view method,
                               absl::string_view type) {
  started_
      .Add({{"grpc_service", std::string(service)},
            {"grpc_method", std::string(method)},
            {"grpc_type", std::string(type)}})
      .Increment();
}

void ServerMetrics::RpcHandled(absl::string_view service, absl::string_view method,
                               absl::string_view type, absl::string_view code,
                               absl::Duration elapsed) {
  std::map<std::string, std::string> labels = {{"grpc_service", std::string(service)},
                                               {"grpc_method", std::string(method)},
                                               {"grpc_type", std::string(type)}};
  handling_seconds_.Add(labels, LatencyBuckets()).Observe(absl::ToDoubleSeconds(elapsed));
  labels["grpc_code"] = std::string(code);
  handled_.Add(labels).Increment();
}

void ServerMetrics::QueryDone(absl::string_view statement, absl::Duration elapsed) {
  query_seconds_.Add({{"statement", std::string(statement)}}, LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(elapsed));
}

void ServerMetrics::Shed(absl::string_view pool) {
  shed_.Add({{"pool", std::string(pool)}}).Increment();
}

void ServerMetrics::Denied(absl::string_view reason) {
  denied_.Add({{"reason", std::string(reason)}}).Increment();
}

void ServerMetrics::Ingested(absl::string_view kind, int64_t accepted, int64_t duplicates) {
  ingested_.Add({{"kind", std::string(kind)}}).Increment(static_cast<double>(accepted));
  duplicates_.Add({{"kind", std::string(kind)}}).Increment(static_cast<double>(duplicates));
}

ServerMetrics::CacheHooks ServerMetrics::CacheHooksFor() {
  return CacheHooks{
      .hit = [this] { cache_hits_.Increment(); },
      .miss = [this] { cache_misses_.Increment(); },
      .eviction = [this] { cache_evictions_.Increment(); },
      .loaded = [this](absl::Duration d) { cache_load_seconds_.Observe(absl::ToDoubleSeconds(d)); },
      .size =
          [this](size_t bytes, size_t entries) {
            cache_bytes_.Set(static_cast<double>(bytes));
            cache_entries_.Set(static_cast<double>(entries));
          },
  };
}

void ServerMetrics::SetWatches(int open) { watches_.Set(open); }
void ServerMetrics::WatchRound() { watch_rounds_.Increment(); }
int64_t ServerMetrics::watch_rounds() const { return static_cast<int64_t>(watch_rounds_.Value()); }

void ServerMetrics::SetDatabaseUp(bool up) { database_up_.Set(up ? 1 : 0); }
void ServerMetrics::SetSchemaVersion(int version) { schema_version_.Set(version); }

absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartExposer(
    const std::string& address, const std::shared_ptr<prometheus::Registry>& registry) {
  try {
    auto exposer = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/1);
    exposer->RegisterCollectable(registry);
    return exposer;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_address=", address, ": cannot listen: ", e.what()));
  }
}

}  // namespace saasmetrics::observability
