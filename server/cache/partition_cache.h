// Immutable partition snapshots by (tenant, kind, month), each with the version it was
// loaded at. A query passes the version PostgreSQL has now: a snapshot of another
// version is reloaded, so every replica answers from current data. Concurrent requests
// for one partition share one load; readers hold shared_ptrs, so eviction or a refresh
// never pulls data from under a running query. LRU eviction keeps the total within a
// byte budget.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace saasmetrics::cache {

struct PartitionKey {
  std::string tenant_id;
  int kind = 0;
  int64_t month = 0;  // engine::MonthIndex, or another integer a kind chooses
  bool operator==(const PartitionKey&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const PartitionKey& k) {
    return H::combine(std::move(h), k.tenant_id, k.kind, k.month);
  }
};

// What the cache holds: anything that can tell its size.
class Snapshot {
 public:
  virtual ~Snapshot() = default;
  virtual size_t bytes() const = 0;
};

// Receives the cache's events; wired to Prometheus by the server.
struct CacheObserver {
  std::function<void()> hit, miss, eviction;
  std::function<void(absl::Duration)> loaded;
  std::function<void(size_t bytes, size_t entries)> size;
};

class PartitionCache {
 public:
  using Loader = std::function<absl::StatusOr<std::shared_ptr<const Snapshot>>()>;

  PartitionCache(size_t budget_bytes, CacheObserver observer = {});

  // The snapshot of `key` at `version`: cached, or loaded by `load` (once, however many
  // callers ask at the same time). A failed load — an error status or an exception — is
  // returned to every waiter and not cached. A caller that waits for another's load gives
  // up at its own `deadline` (DEADLINE_EXCEEDED); the load goes on for the others.
  absl::StatusOr<std::shared_ptr<const Snapshot>> Get(const PartitionKey& key, int64_t version,
                                                      const Loader& load,
                                                      absl::Time deadline = absl::InfiniteFuture());

  // Whatever snapshot `key` holds now, of any version (for incremental rebuilds), without
  // counting a hit or a miss or touching the LRU order.
  struct Held {
    int64_t version = 0;
    std::shared_ptr<const Snapshot> snapshot;
  };
  std::optional<Held> Peek(const PartitionKey& key) const;

  size_t bytes() const;
  size_t entries() const;

 private:
  struct Entry {
    int64_t version = 0;
    std::shared_ptr<const Snapshot> snapshot;
    size_t bytes = 0;
    std::list<PartitionKey>::iterator lru;  // position in lru_
  };
  struct Load {  // one in flight
    int64_t version = 0;
    bool done = false;
    absl::StatusOr<std::shared_ptr<const Snapshot>> result;
  };

  // `size`: the snapshot's bytes(), measured before taking the lock.
  void InsertLocked(const PartitionKey& key, int64_t version,
                    std::shared_ptr<const Snapshot> snapshot, size_t size)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Report() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t budget_;
  const CacheObserver observer_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<PartitionKey, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::list<PartitionKey> lru_ ABSL_GUARDED_BY(mu_);  // most recently used first
  absl::flat_hash_map<PartitionKey, std::shared_ptr<Load>> loading_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace saasmetrics::cache
