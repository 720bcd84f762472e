// Query memory admission: a server-wide byte budget for what queries build beyond what
// the cache already holds (partitions loaded on a miss, derived snapshots, filtered
// lists), so that a server's peak memory is set by flags (--cache_bytes,
// --query_memory_bytes), not by the size of the tenants it serves. With the cache off
// every query builds all it reads, and this budget is what bounds it.
//
// A call charges what it built as it goes (MemoryShare) and gives it all back when the
// call ends. A charge that does not fit waits for other calls to give memory back, within
// the call's deadline. A call that alone needs more than the budget is refused at once
// with RESOURCE_EXHAUSTED naming the flag; so is a call that holds memory and waits while
// every other holder waits too (none of them would ever give any back).
#pragma once

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace saasmetrics::query {

class MemoryBudget {
 public:
  explicit MemoryBudget(int64_t limit) : limit_(limit) {}  // 0: unlimited
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  int64_t limit() const { return limit_; }
  int64_t in_use() const;
  int waiting_holders() const;  // calls holding memory that wait for more

 private:
  friend class MemoryShare;
  // `held`: what the taking call holds already (0: it holds nothing, so it is not one of
  // the holders that could wait on each other).
  absl::Status Take(int64_t bytes, int64_t held, absl::Time deadline);
  void Give(int64_t bytes, bool last);  // `last`: the call holds nothing afterwards

  const int64_t limit_;
  mutable absl::Mutex mu_;
  absl::CondVar changed_;
  int64_t used_ ABSL_GUARDED_BY(mu_) = 0;
  int holders_ ABSL_GUARDED_BY(mu_) = 0;          // calls holding memory
  int waiting_holders_ ABSL_GUARDED_BY(mu_) = 0;  // of them, waiting for more
};

// One call's share of a budget: what it was charged, given back when it is destroyed.
// Thread-safe: a call's loader tasks charge it too.
class MemoryShare {
 public:
  MemoryShare() = default;
  MemoryShare(const MemoryShare&) = delete;
  MemoryShare& operator=(const MemoryShare&) = delete;
  ~MemoryShare();

  // Charges `bytes` against `budget` (one budget per share: the first charge sets it).
  absl::Status Charge(MemoryBudget& budget, int64_t bytes, absl::Time deadline);
  int64_t held() const;

 private:
  mutable absl::Mutex mu_;
  MemoryBudget* budget_ ABSL_GUARDED_BY(mu_) = nullptr;
  int64_t held_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace saasmetrics::query
