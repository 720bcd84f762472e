// The service's Prometheus metric families, created once and shared by the layers
// that record into them. Labels are bounded: method, code, statement name.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace saasmetrics::observability {

class ServerMetrics {
 public:
  ServerMetrics();

  // grpc_server_started_total, grpc_server_handled_total, grpc_server_handling_seconds
  // (names of the go-grpc-prometheus conventions). `code` is the canonical code name.
  void RpcStarted(absl::string_view service, absl::string_view method, absl::string_view type);
  void RpcHandled(absl::string_view service, absl::string_view method, absl::string_view type,
                  absl::string_view code, absl::Duration elapsed);
  // saasmetrics_ingested_events_total / saasmetrics_duplicate_events_total by kind.
  void Ingested(absl::string_view kind, int64_t accepted, int64_t duplicates);
  void QueryDone(absl::string_view statement, absl::Duration elapsed);
  // saasmetrics_calls_shed_total by pool: calls refused because the pool's queue was full.
  void Shed(absl::string_view pool);
  // saasmetrics_auth_denied_total by reason: unauthenticated, permission_denied.
  void Denied(absl::string_view reason);
  void SetDatabaseUp(bool up);
  void SetSchemaVersion(int version);
  // saasmetrics_watches (open), saasmetrics_watch_rounds_total.
  void SetWatches(int open);
  void WatchRound();
  int64_t watch_rounds() const;

  // saasmetrics_cache_{hits,misses,evictions}_total, _load_seconds, _bytes, _entries.
  struct CacheHooks {
    std::function<void()> hit, miss, eviction;
    std::function<void(absl::Duration)> loaded;
    std::function<void(size_t bytes, size_t entries)> size;
  };
  CacheHooks CacheHooksFor();

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& handling_seconds_;
  prometheus::Family<prometheus::Histogram>& query_seconds_;
  prometheus::Family<prometheus::Counter>& ingested_;
  prometheus::Family<prometheus::Counter>& duplicates_;
  prometheus::Family<prometheus::Counter>& shed_;
  prometheus::Family<prometheus::Counter>& denied_;
  prometheus::Counter& cache_hits_;
  prometheus::Counter& cache_misses_;
  prometheus::Counter& cache_evictions_;
  prometheus::Histogram& cache_load_seconds_;
  prometheus::Gauge& cache_bytes_;
  prometheus::Gauge& cache_entries_;
  prometheus::Gauge& database_up_;
  prometheus::Gauge& schema_version_;
  prometheus::Gauge& watches_;
  prometheus::Counter& watch_rounds_;
};

// Serves the registry at http://<address>/metrics. INVALID_ARGUMENT naming the flag
// when the address can't be bound.
absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartExposer(
    const std::string& address, const std::shared_ptr<prometheus::Registry>& registry);

}  // namespace saasmetrics::observability
