// Waiting in tests for something another thread or process does.
#pragma once

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace saasmetrics::testing {

// Polls `done` every 10 ms until it holds (true) or `limit` passes (false).
template <typename Fn>
bool Eventually(Fn done, absl::Duration limit = absl::Seconds(20)) {
  const absl::Time end = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() > end) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

}  // namespace saasmetrics::testing
