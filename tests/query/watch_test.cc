#include "server/query/watch.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "server/engine/dates.h"
#include "server/query/timers.h"

namespace saasmetrics::query {
namespace {

using engine::HealthGroup;
using ::testing::ElementsAre;

TransitionRow Row(absl::CivilDay day, const std::string& customer, HealthGroup from, HealthGroup to,
                  int64_t mrr, std::optional<double> score = std::nullopt) {
  return TransitionRow{.day = day,
                       .customer_id = customer,
                       .from = from,
                       .to = to,
                       .reasons = 0,
                       .mrr = mrr,
                       .score = score};
}

const absl::CivilDay kDay(2026, 11, 20);

TEST(Watch, LastEndedDayIsYesterdayInTheZone) {
  absl::TimeZone ny;
  ASSERT_TRUE(absl::LoadTimeZone("America/New_York", &ny));
  // 03:00 UTC on Dec 1 is still Nov 30 in New York: its last ended day is Nov 29.
  const absl::Time t =
      absl::FromCivil(absl::CivilSecond(2026, 12, 1, 3, 0, 0), absl::UTCTimeZone());
  EXPECT_EQ(LastEndedDay(t, ny), absl::CivilDay(2026, 11, 29));
  EXPECT_EQ(LastEndedDay(t, absl::UTCTimeZone()), absl::CivilDay(2026, 11, 30));
}

// Every day of the range, empty ones too, with the rows into `to`.
TEST(Watch, DaysCoverTheRangeAndKeepTheGroupAskedFor) {
  const std::vector<TransitionRow> rows = {
      Row(kDay, "a", HealthGroup::kNone, HealthGroup::kNormal, 100),
      Row(kDay, "b", HealthGroup::kNormal, HealthGroup::kAtRisk, 200),
      Row(kDay + 2, "a", HealthGroup::kNormal, HealthGroup::kAtRisk, 100),
  };
  const std::vector<TransitionDay> all = TransitionDays(rows, std::nullopt, kDay, kDay + 3);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].rows.size(), 2u);
  EXPECT_EQ(all[1].rows.size(), 0u);
  EXPECT_EQ(all[2].rows.size(), 1u);
  EXPECT_EQ(all[3].day, kDay + 3);
  const std::vector<TransitionDay> risk =
      TransitionDays(rows, HealthGroup::kAtRisk, kDay, kDay + 3);
  ASSERT_EQ(risk[0].rows.size(), 1u);
  EXPECT_EQ(risk[0].rows[0]->customer_id, "b");
  EXPECT_TRUE(TransitionDays(rows, std::nullopt, kDay, kDay - 1).empty());
}

// The fingerprint is pinned (clients hold it across processes and releases) and changes
// with any field of any transition, and with the day.
TEST(Watch, FingerprintsArePinnedAndSeeEveryField) {
  const TransitionRow base =
      Row(kDay, "c1", HealthGroup::kNormal, HealthGroup::kAtRisk, 1000, 42.5);
  EXPECT_EQ(TransitionFingerprint(kDay, {}), TransitionFingerprint(kDay, {}));
  EXPECT_EQ(TransitionFingerprint(kDay, {}).size(), 16u);
  // FNV-1a 64 of the date's length (8 bytes, little-endian) and text, computed apart:
  //   h = 0xcbf29ce484222325; for b in pack('<q', 10) + b'2026-11-20': h = (h ^ b) * 0x100000001b3
  EXPECT_EQ(TransitionFingerprint(kDay, {}), "b83fa3789230e257");
  EXPECT_NE(TransitionFingerprint(kDay, {}), TransitionFingerprint(kDay + 1, {}));
  const std::string fp = TransitionFingerprint(kDay, {&base});
  std::vector<TransitionRow> variants(6, base);
  variants[0].customer_id = "c2";
  variants[1].from = HealthGroup::kPower;
  variants[2].to = HealthGroup::kLost;
  variants[3].reasons = 1;
  variants[4].mrr = 1001;
  variants[5].score = std::nullopt;
  for (const TransitionRow& v : variants) {
    EXPECT_NE(TransitionFingerprint(kDay, {&v}), fp) << v.customer_id;
  }
  TransitionRow other_score = base;
  other_score.score = 42.50001;
  EXPECT_NE(TransitionFingerprint(kDay, {&other_score}), fp);
}

// First round: every day is new. Then only what changed, as revisions; a day the client
// already holds (from an earlier stream) with the same fingerprint is not sent again.
TEST(Watch, OnlyNewAndChangedDaysAreSentAndChangesAreRevisions) {
  std::vector<TransitionRow> rows = {Row(kDay, "a", HealthGroup::kNone, HealthGroup::kNormal, 1)};
  absl::flat_hash_map<absl::CivilDay, std::string> held;
  auto sent = [&](const std::vector<TransitionDay>& days) {
    std::vector<std::string> out;
    for (const DayToSend& d : DaysToSend(days, held)) {
      out.push_back(absl::StrCat(engine::FormatIsoDate(d.day->day), d.revision ? " revised" : ""));
    }
    return out;
  };
  std::vector<TransitionDay> days = TransitionDays(rows, std::nullopt, kDay, kDay + 1);
  EXPECT_THAT(sent(days), ElementsAre("2026-11-20", "2026-11-21"));
  EXPECT_THAT(sent(days), ElementsAre());
  // A late event changes yesterday (kDay + 1) and a new day ends.
  rows.push_back(Row(kDay + 1, "b", HealthGroup::kNormal, HealthGroup::kLost, 0));
  days = TransitionDays(rows, std::nullopt, kDay, kDay + 2);
  EXPECT_THAT(sent(days), ElementsAre("2026-11-21 revised", "2026-11-22"));
  // A client resuming with what it holds: nothing again; with a stale day: that day.
  absl::flat_hash_map<absl::CivilDay, std::string> resumed = held;
  resumed[kDay] = "0000000000000000";
  EXPECT_THAT(DaysToSend(days, resumed).size(), 1u);
  EXPECT_TRUE(DaysToSend(days, resumed).empty());
}

TEST(Timers, RunInTimeOrderAndCancelledOnesNever) {
  ThreadPool pool(1, 1);  // main's background pool: outlives the timers
  Timers timers;
  ASSERT_TRUE(timers.Start(pool));
  std::vector<int> order;
  absl::Mutex mu;
  absl::Notification last;
  const absl::Time now = absl::Now();
  timers.At(now + absl::Milliseconds(60), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(3);
    last.Notify();
  });
  const int64_t cancelled = timers.At(now + absl::Milliseconds(40), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(99);
  });
  timers.At(now + absl::Milliseconds(20), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(2);
  });
  timers.At(now - absl::Seconds(1), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(1);
  });
  timers.Cancel(cancelled);
  ASSERT_TRUE(last.WaitForNotificationWithTimeout(absl::Seconds(5)));
  absl::MutexLock lock(&mu);
  EXPECT_THAT(order, ElementsAre(1, 2, 3));
  EXPECT_EQ(timers.pending(), 0);
}

// A timer far ahead neither runs nor delays destruction.
TEST(Timers, DestructionDropsWhatIsNotDue) {
  std::atomic<bool> ran{false};
  const absl::Time start = absl::Now();
  ThreadPool pool(1, 1);
  {
    Timers timers;
    ASSERT_TRUE(timers.Start(pool));
    timers.At(absl::Now() + absl::Hours(24), [&] { ran = true; });
  }
  EXPECT_FALSE(ran);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

}  // namespace
}  // namespace saasmetrics::query
