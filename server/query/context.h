// One call's deadline and cancellation, checked by long computations so that an abandoned
// or late call stops working instead of finishing an answer nobody reads.
#pragma once

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/query/memory.h"

namespace saasmetrics::query {

struct Context {
  absl::Time deadline = absl::InfiniteFuture();
  std::function<bool()> cancelled;  // may be empty: never cancelled
  // What the call built is charged here and given back when the last copy of the context
  // goes (the reader's loader tasks hold one while they work for the call).
  std::shared_ptr<MemoryShare> memory = std::make_shared<MemoryShare>();

  // CANCELLED when the caller went away, DEADLINE_EXCEEDED past the deadline, else OK.
  absl::Status Check() const {
    if (cancelled && cancelled()) return absl::CancelledError("the caller cancelled the call");
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError("the call's deadline passed while it was computed");
    }
    return absl::OkStatus();
  }
  // For the engine's loops: true when they should stop.
  std::function<bool()> StopFlag() const {
    return [this] { return !Check().ok(); };
  }
};

}  // namespace saasmetrics::query
