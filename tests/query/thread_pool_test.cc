#include "server/query/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <vector>

#include "absl/synchronization/notification.h"

namespace saasmetrics::query {
namespace {

TEST(ThreadPool, AFullQueueRefusesWorkAndEverythingAcceptedRuns) {
  std::atomic<int> ran{0};
  absl::Notification release;
  {
    ThreadPool pool(1, 2);
    absl::Notification started;
    ASSERT_TRUE(pool.TrySubmit([&] {
      started.Notify();
      release.WaitForNotification();
      ++ran;
    }));
    started.WaitForNotification();  // the one thread is busy
    EXPECT_TRUE(pool.TrySubmit([&] { ++ran; }));
    EXPECT_TRUE(pool.TrySubmit([&] { ++ran; }));
    EXPECT_EQ(pool.queued(), 2u);
    EXPECT_FALSE(pool.TrySubmit([&] { ran += 100; })) << "the third waiting task is refused";
    release.Notify();
  }  // destruction runs what was queued
  EXPECT_EQ(ran, 3);
}

// RunAll runs each task exactly once, on the pool's free threads and the caller's, and
// returns only when every one has finished; with the pool busy (and its queue full) the
// caller runs them all, never waiting for the queue.
TEST(ThreadPool, RunAllRunsEachTaskOnceEvenWhenThePoolIsBusy) {
  ThreadPool pool(2, 4);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::atomic<int>> runs(8);
    std::vector<std::function<void()>> tasks;
    for (size_t i = 0; i < runs.size(); ++i) {
      tasks.push_back([&runs, i] {
        absl::SleepFor(absl::Microseconds(50));
        ++runs[i];
      });
    }
    pool.RunAll(tasks);
    for (const auto& r : runs) EXPECT_EQ(r.load(), 1);
  }
  absl::Notification release, started;
  std::atomic<int> ran{0};
  {
    ThreadPool busy(1, 1);
    EXPECT_TRUE(busy.TrySubmit([&] {
      started.Notify();
      release.WaitForNotification();
    }));
    started.WaitForNotification();       // the one thread is busy
    EXPECT_TRUE(busy.TrySubmit([] {}));  // and the queue full
    std::vector<std::function<void()>> tasks(3, [&] { ++ran; });
    busy.RunAll(tasks);
    release.Notify();  // before the pool joins its thread
  }
  EXPECT_EQ(ran, 3) << "the caller ran them all";
}

}  // namespace
}  // namespace saasmetrics::query
