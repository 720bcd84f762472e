#include "server/query/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>

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

}  // namespace
}  // namespace saasmetrics::query
