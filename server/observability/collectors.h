// Collectables read at scrape time: the process (CPU, memory, file descriptors, in the
// `process_*` names every Prometheus client library uses) and the connection pool.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace saasmetrics::observability {

// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds, process_threads — read
// from /proc/self on every scrape (Linux).
class ProcessCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

struct PoolSnapshot {
  int size = 0;    // configured maximum
  int open = 0;    // connections open (idle + in use + being connected)
  int in_use = 0;  // leased to a transaction
  int64_t waits = 0;
  double wait_seconds = 0;  // total time callers waited for a connection
};

// saasmetrics_db_pool_{max,open,in_use,idle}_connections,
// saasmetrics_db_pool_waits_total, saasmetrics_db_pool_wait_seconds_total.
class PoolCollector : public prometheus::Collectable {
 public:
  explicit PoolCollector(std::function<PoolSnapshot()> read) : read_(std::move(read)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::function<PoolSnapshot()> read_;
};

}  // namespace saasmetrics::observability
