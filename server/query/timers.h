// Callbacks at given times, for many waiters (the health watches), on one thread that
// sleeps until the earliest: no work while nothing is due.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <thread>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace saasmetrics::query {

class Timers {
 public:
  Timers();
  ~Timers();  // drops what is not due; no callback runs after it returns
  Timers(const Timers&) = delete;
  Timers& operator=(const Timers&) = delete;

  // Runs `fn` on the timers' thread at `when` (at once if past); it must not block. The id
  // is for Cancel.
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
  std::thread thread_;
};

}  // namespace saasmetrics::query
