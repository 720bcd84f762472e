// Query memory admission (server/query/memory.h): what fits is taken, what does not waits
// for memory given back, a call that alone exceeds the budget is refused at once, and
// calls that hold memory while each waits for more do not wait on each other forever.
#include "server/query/memory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace saasmetrics::query {
namespace {

using ::testing::HasSubstr;

absl::Time Soon() { return absl::Now() + absl::Seconds(10); }

TEST(MemoryBudget, ACallThatAloneExceedsTheBudgetIsRefusedAndHoldsNothing) {
  MemoryBudget budget(1000);
  MemoryShare share;
  ASSERT_TRUE(share.Charge(budget, 600, Soon()).ok());
  const absl::Status s = share.Charge(budget, 500, Soon());
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("--query_memory_bytes=1000"));
  EXPECT_THAT(s.message(), HasSubstr("narrow"));
  EXPECT_EQ(share.held(), 600);
  EXPECT_EQ(budget.in_use(), 600);
}

TEST(MemoryBudget, EverythingIsGivenBackWhenTheCallEnds) {
  MemoryBudget budget(0);  // no limit: still counted
  {
    MemoryShare share;
    ASSERT_TRUE(share.Charge(budget, int64_t{1} << 40, Soon()).ok());
    ASSERT_TRUE(share.Charge(budget, 5, Soon()).ok());
    EXPECT_EQ(budget.in_use(), (int64_t{1} << 40) + 5);
  }
  EXPECT_EQ(budget.in_use(), 0);
}

TEST(MemoryBudget, AChargeWaitsForMemoryGivenBackAndForNoLongerThanItsDeadline) {
  MemoryBudget budget(1000);
  auto first = std::make_unique<MemoryShare>();
  ASSERT_TRUE(first->Charge(budget, 800, Soon()).ok());
  MemoryShare second;
  const absl::Time start = absl::Now();
  EXPECT_EQ(second.Charge(budget, 300, start + absl::Milliseconds(100)).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
  EXPECT_EQ(budget.in_use(), 800);

  absl::Notification charged;
  std::thread waiter([&] {
    EXPECT_TRUE(second.Charge(budget, 300, Soon()).ok());
    charged.Notify();
  });
  EXPECT_FALSE(charged.WaitForNotificationWithTimeout(absl::Milliseconds(100)))
      << "it waits while the first call holds the memory";
  first.reset();  // the first call ends
  EXPECT_TRUE(charged.WaitForNotificationWithTimeout(absl::Seconds(10)));
  waiter.join();
  EXPECT_EQ(budget.in_use(), 300);
}

TEST(MemoryBudget, HoldersWaitingOnEachOtherDoNotWaitForever) {
  MemoryBudget budget(1000);
  auto a = std::make_unique<MemoryShare>();
  auto b = std::make_unique<MemoryShare>();
  ASSERT_TRUE(a->Charge(budget, 500, Soon()).ok());
  ASSERT_TRUE(b->Charge(budget, 400, Soon()).ok());
  // a waits for 300 more; then b asks for 300 more: neither would ever give any back.
  absl::Status a_result;
  absl::Notification a_done;
  std::thread ta([&] {
    a_result = a->Charge(budget, 300, Soon());
    a_done.Notify();
  });
  // b asks only once a is waiting (a thread slow to start would make b the first waiter).
  const absl::Time waited_from = absl::Now();
  while (budget.waiting_holders() == 0 && absl::Now() - waited_from < absl::Seconds(5)) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(budget.waiting_holders(), 1);
  EXPECT_FALSE(a_done.HasBeenNotified());
  const absl::Time start = absl::Now();
  const absl::Status b_result = b->Charge(budget, 300, Soon());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << "refused, not left to its deadline";
  EXPECT_EQ(b_result.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(b_result.message(), HasSubstr("concurrent queries"));
  b.reset();  // b's call ends with its error, giving back its 400: a goes on
  EXPECT_TRUE(a_done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ta.join();
  EXPECT_TRUE(a_result.ok()) << a_result;
  EXPECT_EQ(budget.in_use(), 800);
}

}  // namespace
}  // namespace saasmetrics::query
