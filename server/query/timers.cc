#include "server/query/timers.h"

#include "absl/time/clock.h"

namespace saasmetrics::query {

Timers::~Timers() {
  absl::MutexLock lock(&mu_);
  stop_ = true;
  mu_.Await(absl::Condition(
      +[](bool* running) { return !*running; }, &running_));
}

bool Timers::Start(ThreadPool& pool) {
  {
    absl::MutexLock lock(&mu_);
    if (running_) return true;
    running_ = true;
  }
  const bool started = pool.TrySubmit([this] {
    Run();
    absl::MutexLock lock(&mu_);
    running_ = false;
  });
  if (!started) {
    absl::MutexLock lock(&mu_);
    running_ = false;
  }
  return started;
}

int64_t Timers::At(absl::Time when, std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  const int64_t id = next_id_++;
  due_.emplace(std::make_pair(when, id), std::move(fn));
  when_[id] = when;
  return id;
}

void Timers::Cancel(int64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = when_.find(id);
  if (it == when_.end()) return;
  due_.erase({it->second, id});
  when_.erase(it);
}

int Timers::pending() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(due_.size());
}

void Timers::Run() {
  absl::MutexLock lock(&mu_);
  while (true) {
    // Sleeps until stopped, something new is earlier, or the earliest is due.
    const absl::Time earliest = due_.empty() ? absl::InfiniteFuture() : due_.begin()->first.first;
    auto changed = [this, earliest]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return stop_ || (!due_.empty() && due_.begin()->first.first < earliest);
    };
    mu_.AwaitWithDeadline(absl::Condition(&changed), earliest);
    if (stop_) return;
    while (!due_.empty() && due_.begin()->first.first <= absl::Now()) {
      auto node = due_.extract(due_.begin());
      when_.erase(node.key().second);
      mu_.Unlock();
      node.mapped()();
      mu_.Lock();
      if (stop_) return;
    }
  }
}

}  // namespace saasmetrics::query
