#include "server/cache/partition_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace saasmetrics::cache {
namespace {

class Blob : public Snapshot {
 public:
  Blob(size_t size, int tag) : size_(size), tag_(tag) {}
  size_t bytes() const override { return size_; }
  int tag() const { return tag_; }

 private:
  size_t size_;
  int tag_;
};

PartitionKey Key(int month) { return {"acme", 1, month}; }

PartitionCache::Loader Loads(size_t size, int tag, std::atomic<int>* calls = nullptr) {
  return [=]() -> absl::StatusOr<std::shared_ptr<const Snapshot>> {
    if (calls != nullptr) ++*calls;
    return std::make_shared<const Blob>(size, tag);
  };
}

int Tag(const absl::StatusOr<std::shared_ptr<const Snapshot>>& s) {
  return static_cast<const Blob&>(**s).tag();
}

TEST(PartitionCache, HitsWhileTheVersionIsCurrentAndReloadsWhenItChanges) {
  int hits = 0, misses = 0;
  PartitionCache cache(1000, {.hit = [&] { ++hits; }, .miss = [&] { ++misses; }});
  std::atomic<int> calls{0};
  EXPECT_EQ(Tag(cache.Get(Key(1), 7, Loads(10, 1, &calls))), 1);
  EXPECT_EQ(Tag(cache.Get(Key(1), 7, Loads(10, 2, &calls))), 1);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(Tag(cache.Get(Key(1), 8, Loads(10, 3, &calls))), 3);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(hits, 1);
  EXPECT_EQ(misses, 2);
  EXPECT_EQ(cache.entries(), 1u);
  EXPECT_EQ(cache.bytes(), 10u);
}

// Blocks until `n` callers have missed (each has then joined or started the load).
void AwaitMisses(const std::atomic<int>& misses, int n) {
  while (misses < n) absl::SleepFor(absl::Milliseconds(1));
}

TEST(PartitionCache, ConcurrentRequestsShareOneLoad) {
  std::atomic<int> misses{0};
  PartitionCache cache(1000, {.miss = [&] { ++misses; }});
  std::atomic<int> calls{0};
  absl::Notification release;
  auto slow = [&]() -> absl::StatusOr<std::shared_ptr<const Snapshot>> {
    ++calls;
    release.WaitForNotification();
    return std::make_shared<const Blob>(10, 42);
  };
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] { ok += Tag(cache.Get(Key(1), 1, slow)) == 42; });
  }
  // The load is held until every caller is in: unshared loads would each count a call.
  AwaitMisses(misses, 8);
  release.Notify();
  for (auto& t : threads) t.join();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(ok, 8);
}

TEST(PartitionCache, AFailedLoadReachesItsCallersAndIsNotCached) {
  PartitionCache cache(1000);
  auto s = cache.Get(Key(1), 1, [] {
    return absl::StatusOr<std::shared_ptr<const Snapshot>>(absl::UnavailableError("db down"));
  });
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(cache.entries(), 0u);
  EXPECT_EQ(Tag(cache.Get(Key(1), 1, Loads(10, 5))), 5);
}

TEST(PartitionCache, EvictsTheLeastRecentlyUsedToStayWithinBudget) {
  int evictions = 0;
  PartitionCache cache(100, {.eviction = [&] { ++evictions; }});
  std::atomic<int> calls{0};
  ASSERT_TRUE(cache.Get(Key(1), 1, Loads(40, 1, &calls)).ok());
  ASSERT_TRUE(cache.Get(Key(2), 1, Loads(40, 2, &calls)).ok());
  ASSERT_TRUE(cache.Get(Key(1), 1, Loads(40, 1, &calls)).ok());  // 1 is now more recent than 2
  ASSERT_TRUE(cache.Get(Key(3), 1, Loads(40, 3, &calls)).ok());  // over budget: 2 goes
  EXPECT_EQ(evictions, 1);
  EXPECT_LE(cache.bytes(), 100u);
  EXPECT_EQ(calls, 3);
  ASSERT_TRUE(cache.Get(Key(1), 1, Loads(40, 1, &calls)).ok());
  EXPECT_EQ(calls, 3) << "key 1 was kept";
  ASSERT_TRUE(cache.Get(Key(2), 1, Loads(40, 2, &calls)).ok());
  EXPECT_EQ(calls, 4) << "key 2 was evicted";
}

TEST(PartitionCache, ASnapshotLargerThanTheBudgetIsServedButNotKept) {
  PartitionCache cache(100);
  EXPECT_EQ(Tag(cache.Get(Key(1), 1, Loads(500, 9))), 9);
  EXPECT_EQ(cache.entries(), 0u);
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(PartitionCache, ReadersKeepTheirSnapshotAcrossEviction) {
  PartitionCache cache(50);
  auto held = cache.Get(Key(1), 1, Loads(40, 1));
  ASSERT_TRUE(cache.Get(Key(2), 1, Loads(40, 2)).ok());  // evicts key 1
  EXPECT_EQ(Tag(held), 1);                               // still valid for whoever holds it
}

TEST(PartitionCache, ALoaderThatThrowsFailsEveryWaiterAndIsNotCached) {
  std::atomic<int> misses{0};
  PartitionCache cache(1000, {.miss = [&] { ++misses; }});
  absl::Notification release;
  auto throwing = [&]() -> absl::StatusOr<std::shared_ptr<const Snapshot>> {
    release.WaitForNotification();
    throw std::runtime_error("connection lost mid-COPY");
  };
  std::vector<std::thread> threads;
  std::atomic<int> internal{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto got = cache.Get(Key(1), 1, throwing);
      internal += got.status().code() == absl::StatusCode::kInternal &&
                  got.status().message().find("connection lost") != std::string::npos;
    });
  }
  AwaitMisses(misses, 4);
  release.Notify();
  for (auto& t : threads) t.join();
  EXPECT_EQ(internal, 4) << "every waiter completes with the loader's error";
  EXPECT_EQ(cache.entries(), 0u);
  EXPECT_EQ(Tag(cache.Get(Key(1), 1, Loads(10, 5))), 5) << "the next caller loads again";
}

TEST(PartitionCache, AWaiterGivesUpAtItsOwnDeadlineWhileTheLoadGoesOn) {
  std::atomic<int> misses{0};
  PartitionCache cache(1000, {.miss = [&] { ++misses; }});
  absl::Notification release;
  auto slow = [&]() -> absl::StatusOr<std::shared_ptr<const Snapshot>> {
    release.WaitForNotification();
    return std::make_shared<const Blob>(10, 7);
  };
  std::thread loader([&] { EXPECT_EQ(Tag(cache.Get(Key(1), 1, slow)), 7); });
  AwaitMisses(misses, 1);
  const absl::Time start = absl::Now();
  auto waiter = cache.Get(Key(1), 1, Loads(10, 99), absl::Now() + absl::Milliseconds(50));
  EXPECT_EQ(waiter.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  release.Notify();
  loader.join();
  EXPECT_EQ(Tag(cache.Get(Key(1), 1, Loads(10, 99))), 7) << "the slow load was kept";
}

TEST(PartitionCache, TwoVersionsOfOneKeyLoadAtOnceAndTheNewerStays) {
  std::atomic<int> misses{0};
  PartitionCache cache(1000, {.miss = [&] { ++misses; }});
  absl::Notification release;
  auto old_load = [&]() -> absl::StatusOr<std::shared_ptr<const Snapshot>> {
    release.WaitForNotification();
    return std::make_shared<const Blob>(10, 1);
  };
  std::thread slow_old([&] { EXPECT_EQ(Tag(cache.Get(Key(1), 1, old_load)), 1); });
  AwaitMisses(misses, 1);
  // Version 2 loads while version 1 is still loading: neither waits for the other.
  EXPECT_EQ(Tag(cache.Get(Key(1), 2, Loads(10, 2))), 2);
  release.Notify();
  slow_old.join();
  // The older load finished last but does not replace the newer snapshot.
  EXPECT_EQ(Tag(cache.Get(Key(1), 2, Loads(10, 3))), 2);
  EXPECT_EQ(cache.entries(), 1u);
}

}  // namespace
}  // namespace saasmetrics::cache
