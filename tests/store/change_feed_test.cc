#include "server/store/change_feed.h"

#include <gtest/gtest.h>

#include <atomic>

#include "absl/time/clock.h"
#include "server/query/thread_pool.h"
#include "tests/support/eventually.h"
#include "tests/support/test_db.h"

namespace saasmetrics::store {
namespace {

using testing::Eventually;
using testing::TestDatabase;

// Lends the feeds' loops threads, as main's background pool does (declared before the
// feeds, so it outlives them).
struct Pool {
  query::ThreadPool pool{2, 2};
  ChangeFeed::Executor run = [this](std::function<void()> task) {
    return pool.TrySubmit(std::move(task));
  };
};

// Two replicas on one database: a write on one is heard by the other's subscribers of that
// tenant, and by nobody else's.
TEST(ChangeFeed, AWriteOnOneReplicaReachesTheOthersSubscribersOfItsTenant) {
  TestDatabase db;
  Pool threads;
  ChangeFeed a({.conninfo = db.conninfo()}), b({.conninfo = db.conninfo()});
  ASSERT_TRUE(a.Start(threads.run));
  ASSERT_TRUE(b.Start(threads.run));
  std::atomic<int> acme{0}, other{0};
  const int64_t id = b.Subscribe("acme", [&] { ++acme; });
  b.Subscribe("other", [&] { ++other; });
  ASSERT_TRUE(Eventually([&] { return a.listening() && b.listening(); }));
  a.Written("acme");
  ASSERT_TRUE(Eventually([&] { return acme.load() == 1; }));
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(acme.load(), 1);
  EXPECT_EQ(other.load(), 0);
  b.Unsubscribe(id);
  a.Written("acme");
  ASSERT_TRUE(Eventually([&] { return b.notifications_heard() == 2; }));
  EXPECT_EQ(acme.load(), 1) << "called after Unsubscribe";
}

// A burst of writes costs a few notifications, not one each, and the last one is heard.
TEST(ChangeFeed, WritesCoalesce) {
  TestDatabase db;
  Pool threads;
  ChangeFeed feed({.conninfo = db.conninfo(), .min_notify_interval = absl::Milliseconds(200)});
  std::atomic<int> heard{0};
  feed.Subscribe("acme", [&] { ++heard; });
  ASSERT_TRUE(feed.Start(threads.run));
  ASSERT_TRUE(Eventually([&] { return feed.listening(); }));
  const absl::Time start = absl::Now();
  while (absl::Now() - start < absl::Milliseconds(500)) {
    feed.Written("acme");
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_TRUE(Eventually([&] { return heard.load() >= 2; }));
  absl::SleepFor(absl::Milliseconds(400));
  EXPECT_LE(feed.notifications_sent(), 5);
  EXPECT_EQ(heard.load(), feed.notifications_sent());
}

// A lost connection: the feed reconnects, wakes every subscriber once (writes may have been
// missed), and hears writes again.
TEST(ChangeFeed, ReconnectsAndWakesEveryoneAfterALostConnection) {
  TestDatabase db;
  Pool threads;
  ChangeFeed feed({.conninfo = db.conninfo(), .channel = "feed_reconnect_test"});
  std::atomic<int> acme{0};
  feed.Subscribe("acme", [&] { ++acme; });
  ASSERT_TRUE(feed.Start(threads.run));
  ASSERT_TRUE(Eventually([&] { return feed.listening(); }));
  testing::QueryInt(db.conninfo(),
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE query LIKE '%feed_reconnect_test%' AND pid <> pg_backend_pid()");
  ASSERT_TRUE(Eventually([&] { return acme.load() == 1; })) << "not woken after reconnecting";
  ASSERT_TRUE(feed.listening());
  feed.Written("acme");
  ASSERT_TRUE(Eventually([&] { return acme.load() == 2; }));
}

// Idle, the feed's thread sleeps: no notification is sent or heard, and it stops at once.
TEST(ChangeFeed, StopsPromptlyWhileIdle) {
  TestDatabase db;
  Pool threads;
  auto feed = std::make_unique<ChangeFeed>(ChangeFeedOptions{.conninfo = db.conninfo()});
  ASSERT_TRUE(feed->Start(threads.run));
  ASSERT_TRUE(Eventually([&] { return feed->listening(); }));
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(feed->notifications_sent(), 0);
  const absl::Time start = absl::Now();
  feed.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

}  // namespace
}  // namespace saasmetrics::store
