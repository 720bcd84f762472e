// Callbacks at given times, for many waiters (the health watches), from one loop that
// sleeps until the earliest: no work while nothing is due. The loop runs on a thread lent
// by a pool made in main (Start).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/query/thread_pool.h"

namespace saasmetrics::query {

class Timers {
 public:
  Timers() = default;
  ~Timers();  // drops what is not due; waits for the loop; no callback runs after it returns
  Timers(const Timers&) = delete;
  Timers& operator=(const Timers&) = delete;

  // Starts the loop on one of `pool`'s threads, which it keeps until the timers are
  // destroyed; false when the pool refused it. Once.
  bool Start(ThreadPool& pool);

  // Runs `fn` on the timers' loop at `when` (at once if past, once started); it must not
  // block. The id is for Cancel.
  int64_t At(absl::Time when, std::function<void()> fn);
  // Drops the timer if it has not run (a running one finishes).
  void Cancel(int64_t id);
  int pending() const;

 private:
  void Run();

  mutable absl::Mutex mu_;
  std::map<std::pair<absl::Time, int64_t>, std::function<void()>> due_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, absl::Time> when_ ABSL_GUARDED_BY(mu_);
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool running_ ABSL_GUARDED_BY(mu_) = false;  // the loop is on its thread
};

}  // namespace saasmetrics::query
