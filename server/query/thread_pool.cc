#include "server/query/thread_pool.h"

#include <atomic>
#include <memory>

namespace saasmetrics::query {

ThreadPool::ThreadPool(int threads, size_t max_queued) : max_queued_(max_queued) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

ThreadPool::~ThreadPool() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

bool ThreadPool::TrySubmit(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (stop_ || queue_.size() >= max_queued_) return false;
  queue_.push_back(std::move(task));
  return true;
}

size_t ThreadPool::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

void ThreadPool::RunAll(std::vector<std::function<void()>>& tasks) {
  // Owned with the helpers: one that starts after every task was taken only reads this.
  struct Shared {
    std::vector<std::function<void()>>* tasks;
    size_t count;
    std::atomic<size_t> next{0};
    absl::Mutex mu;
    size_t done ABSL_GUARDED_BY(mu) = 0;
  };
  auto shared = std::make_shared<Shared>();
  shared->tasks = &tasks;
  shared->count = tasks.size();
  auto take = [](Shared& s) {
    for (size_t i; (i = s.next.fetch_add(1)) < s.count;) {
      (*s.tasks)[i]();
      absl::MutexLock lock(&s.mu);
      ++s.done;
    }
  };
  for (size_t i = 1; i < tasks.size(); ++i) {
    if (!TrySubmit([shared, take] { take(*shared); })) break;
  }
  take(*shared);
  absl::MutexLock lock(&shared->mu);
  auto finished = [&s = *shared]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) { return s.done == s.count; };
  shared->mu.Await(absl::Condition(&finished));
}

void ThreadPool::Work() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace saasmetrics::query
