#include "server/engine/usage.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace saasmetrics::engine {
namespace {

// Usage events at whole seconds (the cache keeps usage time to the second).
std::vector<UsageEvent> RandomUsage(std::mt19937_64& rng, absl::Time from, int days, int n) {
  std::vector<UsageEvent> out;
  for (int i = 0; i < n; ++i) {
    UsageEvent e;
    e.id = absl::StrCat(i);
    e.customer_id = absl::StrCat("c", rng() % 30);
    e.type = absl::StrCat("t", rng() % 4);
    e.user_id = rng() % 3 == 0 ? "" : absl::StrCat("u", rng() % 50);
    e.time = from + absl::Seconds(static_cast<int64_t>(rng() % (days * 86400LL)));
    e.value = static_cast<double>(rng() % 10);
    out.push_back(e);
  }
  return out;
}

UsagePartitions ByMonth(const std::vector<UsageEvent>& events) {
  std::map<absl::CivilMonth, std::vector<UsageEvent>> months;
  for (const auto& e : events) months[absl::ToCivilMonth(e.time, absl::UTCTimeZone())].push_back(e);
  UsagePartitions out;
  for (const auto& [m, es] : months) {
    out.push_back(std::make_shared<const UsagePartition>(BuildUsagePartition(m, es)));
  }
  return out;
}

TEST(Usage, ActiveCustomersAndActivationMatchABruteForceCount) {
  absl::TimeZone tz;
  ASSERT_TRUE(absl::LoadTimeZone("America/New_York", &tz));
  std::mt19937_64 rng(7);
  const absl::Time from = absl::FromCivil(absl::CivilDay(2024, 2, 20), tz);
  for (int round = 0; round < 50; ++round) {
    SCOPED_TRACE(round);
    const std::vector<UsageEvent> events = RandomUsage(rng, from, 70, 400);
    const UsagePartitions parts = ByMonth(events);
    const std::vector<Period> periods =
        CutPeriods(absl::CivilDay(2024, 2, 25), absl::CivilDay(2024, 4, 20), Interval::kWeek);
    const std::vector<std::string> types = {"t1", "t3"};
    absl::flat_hash_set<std::string> selected;
    for (int c = 0; c < 30; c += 2) selected.insert(absl::StrCat("c", c));

    const UsageIndex index = BuildUsageIndex(parts);
    const std::vector<int64_t> active =
        ActiveCustomers(parts, index, periods, tz, types, selected).value();
    for (size_t p = 0; p < periods.size(); ++p) {
      std::set<std::string> want;
      for (const auto& e : events) {
        const absl::CivilDay d = absl::ToCivilDay(e.time, tz);
        if (d >= periods[p].first && d <= periods[p].last && (e.type == "t1" || e.type == "t3") &&
            selected.contains(e.customer_id)) {
          want.insert(e.customer_id);
        }
      }
      EXPECT_EQ(active[p], static_cast<int64_t>(want.size())) << "period " << p;
    }
    EXPECT_EQ(ActiveCustomers(parts, index, periods, tz, {}, std::nullopt)->size(), periods.size());

    std::vector<Customer> customers;
    for (int c = 0; c < 30; ++c) {
      customers.push_back(
          {.customer_id = absl::StrCat("c", c),
           .created_at = from + absl::Seconds(static_cast<int64_t>(rng() % (60 * 86400LL)))});
    }
    const absl::Duration window = absl::Hours(24 * 7);
    const std::vector<ActivationPoint> act =
        Activation(parts, customers, periods, tz, {"t2"}, window, std::nullopt);
    for (size_t p = 0; p < periods.size(); ++p) {
      int64_t created = 0, activated = 0;
      for (const Customer& c : customers) {
        const absl::CivilDay d = absl::ToCivilDay(c.created_at, tz);
        if (d < periods[p].first || d > periods[p].last) continue;
        ++created;
        for (const auto& e : events) {
          if (e.customer_id == c.customer_id && e.type == "t2" && e.time >= c.created_at &&
              e.time <= c.created_at + window) {
            ++activated;
            break;
          }
        }
      }
      EXPECT_EQ(act[p].new_customers, created);
      EXPECT_EQ(act[p].activated, activated);
    }
  }
}

TEST(UsagePartition, CostsAtMost32BytesPerEvent) {
  std::vector<UsageEvent> events;
  const absl::Time start = absl::FromCivil(absl::CivilMonth(2024, 1), absl::UTCTimeZone());
  for (int i = 0; i < 500000; ++i) {
    UsageEvent e;
    e.customer_id = absl::StrCat("customer_", i % 5000);
    e.type = absl::StrCat("feature_", i % 20);
    e.user_id = absl::StrCat("user_", i % 25000);
    e.time = start + absl::Seconds(i * 5);
    events.push_back(e);
  }
  const UsagePartition p = BuildUsagePartition(absl::CivilMonth(2024, 1), events);
  const double per_event = static_cast<double>(p.bytes()) / static_cast<double>(p.events());
  EXPECT_LE(per_event, 32.0) << per_event;
  EXPECT_GE(per_event, 24.0) << "bytes() must count the columns honestly";
  EXPECT_EQ(p.time(7), events[7].time);
}

// Monthly and quarterly periods in zones east and west of UTC: most UTC month partitions
// lie wholly inside one period (counted from their customers), the edge ones do not
// (counted event by event); either way the count is the brute-force one.
TEST(Usage, ActiveCustomersPerMonthAndQuarterMatchABruteForceCount) {
  std::mt19937_64 rng(13);
  for (const char* zone : {"UTC", "America/New_York", "Asia/Tokyo"}) {
    absl::TimeZone tz;
    ASSERT_TRUE(absl::LoadTimeZone(zone, &tz));
    const absl::Time from = absl::FromCivil(absl::CivilDay(2024, 1, 1), absl::UTCTimeZone());
    for (int round = 0; round < 20; ++round) {
      SCOPED_TRACE(absl::StrCat(zone, " round ", round));
      const std::vector<UsageEvent> events = RandomUsage(rng, from, 200, 500);
      const UsagePartitions parts = ByMonth(events);
      const UsageIndex index = BuildUsageIndex(parts);
      for (Interval interval : {Interval::kMonth, Interval::kQuarter}) {
        const std::vector<Period> periods =
            CutPeriods(absl::CivilDay(2024, 1, 15), absl::CivilDay(2024, 7, 10), interval);
        for (const std::vector<std::string>& types :
             {std::vector<std::string>{}, std::vector<std::string>{"t2"}}) {
          const std::vector<int64_t> active =
              ActiveCustomers(parts, index, periods, tz, types, std::nullopt).value();
          for (size_t p = 0; p < periods.size(); ++p) {
            std::set<std::string> want;
            for (const auto& e : events) {
              const absl::CivilDay d = absl::ToCivilDay(e.time, tz);
              if (d >= periods[p].first && d <= periods[p].last &&
                  (types.empty() || e.type == types[0])) {
                want.insert(e.customer_id);
              }
            }
            EXPECT_EQ(active[p], static_cast<int64_t>(want.size())) << "period " << p;
          }
        }
      }
    }
  }
}

// An index updated month by month (late events, new customers, into random months)
// counts as one built afresh, shares the unchanged months' maps, and copies the ids only
// when a new customer appears.
TEST(UsageIndex, UpdatingOnlyTheChangedMonthsCountsAsARebuild) {
  std::mt19937_64 rng(11);
  const absl::Time from = absl::FromCivil(absl::CivilDay(2024, 1, 1), absl::UTCTimeZone());
  std::vector<UsageEvent> events = RandomUsage(rng, from, 150, 600);
  UsagePartitions parts = ByMonth(events);
  UsageIndex index = BuildUsageIndex(parts);
  const std::vector<Period> periods =
      CutPeriods(absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 5, 31), Interval::kWeek);
  for (int change = 0; change < 30; ++change) {
    SCOPED_TRACE(change);
    // A late event into one month, by a known customer or (every third change) a new one.
    const size_t month = rng() % parts.size();
    std::vector<UsageEvent> in_month;
    for (const auto& e : events) {
      if (absl::ToCivilMonth(e.time, absl::UTCTimeZone()) == parts[month]->month) {
        in_month.push_back(e);
      }
    }
    UsageEvent late = in_month.front();
    late.id = absl::StrCat("late", change);
    late.customer_id =
        change % 3 == 0 ? absl::StrCat("new", change) : absl::StrCat("c", rng() % 30);
    events.push_back(late);
    in_month.push_back(late);
    UsagePartitions next = parts;
    next[month] =
        std::make_shared<const UsagePartition>(BuildUsagePartition(parts[month]->month, in_month));
    std::vector<bool> reusable(parts.size(), true);
    reusable[month] = false;
    const UsageIndex updated = UpdateUsageIndex(index, next, reusable);
    ASSERT_TRUE(CheckUsageIndex(next, updated).ok());
    for (size_t i = 0; i < parts.size(); ++i) {
      EXPECT_EQ(updated.local_to_dense[i] == index.local_to_dense[i], i != month) << i;
    }
    EXPECT_EQ(updated.ids == index.ids, change % 3 != 0);
    EXPECT_EQ(*ActiveCustomers(next, updated, periods, absl::UTCTimeZone(), {}, std::nullopt),
              *ActiveCustomers(next, BuildUsageIndex(next), periods, absl::UTCTimeZone(), {},
                               std::nullopt));
    parts = next;
    index = updated;
  }
}

// A stop request ends the count between partitions with CANCELLED, having asked once per
// partition at most.
TEST(Usage, ActiveCustomersStopsWhenAsked) {
  std::mt19937_64 rng(12);
  const absl::Time from = absl::FromCivil(absl::CivilDay(2024, 1, 1), absl::UTCTimeZone());
  const UsagePartitions parts = ByMonth(RandomUsage(rng, from, 150, 600));
  ASSERT_GE(parts.size(), 4u);
  const UsageIndex index = BuildUsageIndex(parts);
  const std::vector<Period> periods =
      CutPeriods(absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 5, 31), Interval::kMonth);
  int asked = 0;
  auto stop_at_third = [&] { return ++asked == 3; };
  EXPECT_EQ(
      ActiveCustomers(parts, index, periods, absl::UTCTimeZone(), {}, std::nullopt, stop_at_third)
          .status()
          .code(),
      absl::StatusCode::kCancelled);
  EXPECT_EQ(asked, 3);
  EXPECT_TRUE(ActiveCustomers(parts, index, periods, absl::UTCTimeZone(), {}, std::nullopt, [] {
                return false;
              }).ok());
}

TEST(UsageIndex, AppliedToPartitionsInAnotherOrderFailsInsteadOfReadingOutOfBounds) {
  std::mt19937_64 rng(11);
  const absl::Time from = absl::FromCivil(absl::CivilDay(2024, 1, 1), absl::UTCTimeZone());
  const UsagePartitions parts = ByMonth(RandomUsage(rng, from, 90, 600));
  ASSERT_EQ(parts.size(), 3u);
  const UsageIndex index = BuildUsageIndex(parts);
  EXPECT_TRUE(CheckUsageIndex(parts, index).ok());
  const std::vector<Period> periods =
      CutPeriods(absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 3, 31), Interval::kMonth);

  const UsagePartitions reversed(parts.rbegin(), parts.rend());
  const auto wrong = ActiveCustomers(reversed, index, periods, absl::UTCTimeZone(), {}, {});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(wrong.status().message().find("2024-03"), std::string::npos) << wrong.status();
  const UsagePartitions fewer(parts.begin(), parts.begin() + 2);
  EXPECT_EQ(ActiveCustomers(fewer, index, periods, absl::UTCTimeZone(), {}, {}).status().code(),
            absl::StatusCode::kInternal);
  // Same months, but another load of one of them (more customers): also refused.
  std::vector<UsageEvent> more = RandomUsage(rng, from, 28, 50);
  for (auto& e : more) e.customer_id += "-new";
  UsagePartitions reloaded = parts;
  reloaded[0] =
      std::make_shared<const UsagePartition>(BuildUsagePartition(absl::CivilMonth(2024, 1), more));
  EXPECT_FALSE(CheckUsageIndex(reloaded, index).ok());
  // The index of the reordered set answers the same as the original.
  EXPECT_EQ(
      *ActiveCustomers(reversed, BuildUsageIndex(reversed), periods, absl::UTCTimeZone(), {}, {}),
      *ActiveCustomers(parts, index, periods, absl::UTCTimeZone(), {}, {}));
}

// A partition's events in order, by their strings (local ids may differ between builds).
std::vector<std::tuple<uint32_t, std::string, std::string, std::string, double>> Content(
    const UsagePartition& p) {
  std::vector<std::tuple<uint32_t, std::string, std::string, std::string, double>> out;
  for (size_t i = 0; i < p.events(); ++i) {
    out.emplace_back(p.second[i], p.customers[p.customer[i]], p.types[p.type[i]],
                     p.user[i] < 0 ? "" : std::string(p.users[p.user[i]]), p.value[i]);
  }
  return out;
}

// by_type holds, for each type, exactly the positions of its events, in time order.
::testing::AssertionResult GroupedByType(const UsagePartition& p) {
  if (p.type_begin.size() != p.types.size() + 1 || p.by_type.size() != p.events()) {
    return ::testing::AssertionFailure() << "sizes";
  }
  for (size_t t = 0; t < p.types.size(); ++t) {
    std::vector<uint32_t> want;
    for (size_t i = 0; i < p.events(); ++i) {
      if (p.type[i] == static_cast<int32_t>(t)) want.push_back(static_cast<uint32_t>(i));
    }
    const std::span<const uint32_t> got = p.OfType(static_cast<int32_t>(t));
    if (!std::equal(got.begin(), got.end(), want.begin(), want.end())) {
      return ::testing::AssertionFailure() << "type " << p.types[t];
    }
    if (p.TypeId(p.types[t]) != static_cast<int32_t>(t)) {
      return ::testing::AssertionFailure() << "TypeId(" << p.types[t] << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

TEST(UsagePartition, IsTheSameWhateverOrderItsRowsArriveIn) {
  std::mt19937_64 rng(5);
  const absl::Time from = absl::FromCivil(absl::CivilDay(2024, 5, 1), absl::UTCTimeZone());
  // Few distinct seconds: most events share a second with others.
  std::vector<UsageEvent> events = RandomUsage(rng, from, 1, 300);
  for (auto& e : events) e.time = from + absl::Seconds(absl::ToInt64Seconds(e.time - from) % 7);
  for (auto& e : events) e.value = static_cast<double>(rng() % 1000) / 7.0;
  const auto want = Content(BuildUsagePartition(absl::CivilMonth(2024, 5), events));
  for (int round = 0; round < 20; ++round) {
    std::shuffle(events.begin(), events.end(), rng);
    EXPECT_EQ(Content(BuildUsagePartition(absl::CivilMonth(2024, 5), events)), want);
    // Straight from rows, in arrival order, as the store builds it.
    UsagePartitionBuilder b(absl::CivilMonth(2024, 5));
    for (const auto& e : events) {
      b.Add(e.customer_id, e.type, e.user_id, e.value,
            static_cast<uint32_t>(absl::ToInt64Seconds(e.time - from)));
    }
    const UsagePartition built = std::move(b).Finish();
    EXPECT_EQ(Content(built), want);
    EXPECT_TRUE(GroupedByType(built));
  }
}

TEST(UsagePartition, ABaseWithAddedEventsEqualsAPartitionBuiltFromAll) {
  std::mt19937_64 rng(11);
  const absl::Time from = absl::FromCivil(absl::CivilDay(2024, 5, 1), absl::UTCTimeZone());
  auto second = [&](const UsageEvent& e) {
    return static_cast<uint32_t>(absl::ToInt64Seconds(e.time - from));
  };
  for (int round = 0; round < 30; ++round) {
    // Few distinct seconds in some rounds (ties across base and added), spread in others;
    // added events that repeat the base's strings, add new ones, or both.
    std::vector<UsageEvent> all = RandomUsage(rng, from, round % 2 == 0 ? 1 : 28, 200);
    if (round % 2 == 0) {
      for (auto& e : all) e.time = from + absl::Seconds(absl::ToInt64Seconds(e.time - from) % 5);
    }
    const size_t split = rng() % (all.size() + 1);
    for (size_t i = split; i < all.size(); ++i) {
      if (round % 3 == 0) all[i].customer_id += "-new";
      if (round % 5 == 0) all[i].type = "added-type";
      if (round % 7 == 0) all[i].user_id = i % 2 ? "" : "added-user";
    }
    const std::vector<UsageEvent> base_events(all.begin(), all.begin() + split);
    const UsagePartition base = BuildUsagePartition(absl::CivilMonth(2024, 5), base_events);
    UsagePartitionBuilder b(base);
    b.Reserve(all.size() - split);
    for (size_t i = split; i < all.size(); ++i) {
      b.Add(all[i].customer_id, all[i].type, all[i].user_id, all[i].value, second(all[i]));
    }
    const UsagePartition merged = std::move(b).Finish();
    EXPECT_TRUE(GroupedByType(merged)) << "round " << round;
    EXPECT_EQ(Content(merged), Content(BuildUsagePartition(absl::CivilMonth(2024, 5), all)))
        << "round " << round << ", split " << split;
    // One dictionary entry per distinct string, as a partition built at once has.
    absl::flat_hash_set<std::string> customers;
    for (size_t c = 0; c < merged.customers.size(); ++c) {
      EXPECT_TRUE(customers.insert(std::string(merged.customers[c])).second) << merged.customers[c];
    }
    // The base itself is untouched.
    EXPECT_EQ(Content(base), Content(BuildUsagePartition(absl::CivilMonth(2024, 5), base_events)));
  }
}

}  // namespace
}  // namespace saasmetrics::engine
