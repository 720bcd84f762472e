// A fixed set of threads with a bounded queue: what runs handler work (database I/O stays
// off gRPC's threads) and partition loads. Threads are created once, in main, never per
// request; a full queue refuses work instead of growing without bound, so overload sheds
// load (RESOURCE_EXHAUSTED) rather than exhausting memory.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace saasmetrics::query {

class ThreadPool {
 public:
  // `max_queued`: tasks waiting for a thread beyond which TrySubmit refuses.
  ThreadPool(int threads, size_t max_queued);
  ~ThreadPool();  // runs what is queued, then joins
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // False (and `task` dropped) when the queue is full or the pool is stopping.
  bool TrySubmit(std::function<void()> task);

  size_t queued() const;

  // Runs every task of `tasks` and returns when all have finished: the calling thread takes
  // them one by one, and so do up to tasks.size() − 1 helpers it queues here, so a busy
  // pool only means the caller does them all (never a wait on the queue). Tasks may
  // reference the caller's stack: each one is run by whoever took it, before this returns.
  void RunAll(std::vector<std::function<void()>>& tasks);

 private:
  void Work();

  const size_t max_queued_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace saasmetrics::query
