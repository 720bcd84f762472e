#include "server/cache/partition_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"

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

TEST(PartitionCache, ConcurrentRequestsShareOneLoad) {
  PartitionCache cache(1000);
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
  absl::SleepFor(absl::Milliseconds(100));
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

}  // namespace
}  // namespace saasmetrics::cache
