// Incremental history (query/history.h) equals a full rebuild, and both equal the
// reference replay, after random late and new events into old and new months, applied
// one change after another (each update starts from the previous update).
#include "server/query/history.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "tests/engine/reference.h"

namespace saasmetrics::query {
namespace {

using engine::SubscriptionEvent;

struct Tenant {
  std::map<absl::CivilMonth, std::vector<SubscriptionEvent>> months;
  std::map<absl::CivilMonth, int64_t> version;
};

SubscriptionEvent RandomEvent(std::mt19937_64& rng, absl::CivilMonth month, int64_t seq) {
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  SubscriptionEvent e;
  e.event_id = absl::StrCat("e", seq);
  e.customer_id = absl::StrCat("c", pick(25));
  e.subscription_id = absl::StrCat("s", pick(2));
  e.effective_at = absl::FromCivil(absl::CivilDay(month) + pick(28), absl::UTCTimeZone()) +
                   absl::Seconds(pick(86400));
  e.seq = seq;
  static const engine::SubscriptionStatus kStatuses[] = {
      engine::SubscriptionStatus::kActive,  engine::SubscriptionStatus::kActive,
      engine::SubscriptionStatus::kPastDue, engine::SubscriptionStatus::kTrialing,
      engine::SubscriptionStatus::kPaused,  engine::SubscriptionStatus::kCanceled};
  e.status = kStatuses[pick(6)];
  e.plan_id = pick(2) ? "pro" : "basic";
  e.quantity = 1 + pick(3);
  e.unit_amount = 100 * (1 + pick(50));
  e.interval_unit = engine::IntervalUnit::kMonth;
  e.interval_count = 1;
  return e;
}

void Partitions(const Tenant& t, std::vector<store::PartitionVersion>* versions,
                SubscriptionPartitions* partitions) {
  versions->clear();
  partitions->clear();
  for (const auto& [month, events] : t.months) {
    versions->push_back({month, t.version.at(month)});
    partitions->push_back(std::make_shared<const engine::SubscriptionPartition>(
        engine::BuildSubscriptionPartition(month, events)));
  }
}

// By external ids: what a user can see of a history.
using Seen = std::tuple<std::string, absl::CivilDay, engine::MovementType, int64_t, int64_t>;
std::vector<Seen> Movements(const History& h) {
  std::vector<Seen> out;
  for (const engine::Movement& m : h.movements) {
    out.emplace_back(h.ledger.customer_ids[m.customer], m.day, m.type, m.amount, m.after);
  }
  std::sort(out.begin(), out.end());
  return out;
}
std::map<std::string, std::set<std::string>> Plans(const History& h) {
  std::map<std::string, std::set<std::string>> out;
  for (size_t c = 0; c < h.ledger.customer_ids.size(); ++c) {
    out[h.ledger.customer_ids[c]].insert(h.ledger.customer_plans[c].begin(),
                                         h.ledger.customer_plans[c].end());
  }
  return out;
}
std::multiset<std::tuple<std::string, std::string, int64_t, int64_t>> Events(const History& h) {
  std::multiset<std::tuple<std::string, std::string, int64_t, int64_t>> out;
  for (const engine::LedgerEvent& e : h.ledger.events) {
    out.emplace(h.ledger.customer_ids[e.customer], h.ledger.subscription_ids[e.subscription],
                e.at_us, e.mrr);
  }
  return out;
}

bool OrderedByCustomerThenDay(const History& h) {
  return std::is_sorted(h.movements.begin(), h.movements.end(), [](const auto& a, const auto& b) {
    return std::tie(a.customer, a.day) < std::tie(b.customer, b.day);
  });
}

TEST(History, IncrementalUpdatesEqualAFullRebuildAndTheReference) {
  absl::TimeZone tz;
  ASSERT_TRUE(absl::LoadTimeZone("America/New_York", &tz));
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    std::mt19937_64 rng(seed);
    Tenant t;
    int64_t seq = 0;
    for (int m = 0; m < 8; ++m) {
      const absl::CivilMonth month = absl::CivilMonth(2023, 3) + m;
      for (int i = 0; i < 15; ++i) t.months[month].push_back(RandomEvent(rng, month, ++seq));
      t.version[month] = 1;
    }
    std::vector<store::PartitionVersion> versions;
    SubscriptionPartitions partitions;
    Partitions(t, &versions, &partitions);
    absl::StatusOr<History> current = BuildHistory(versions, partitions, tz, nullptr);
    ASSERT_TRUE(current.ok());
    for (int change = 0; change < 12; ++change) {
      SCOPED_TRACE(absl::StrCat("change ", change));
      // Late events into one old month, or a new month after the last (or before the first).
      const int what = static_cast<int>(rng() % 4);
      absl::CivilMonth month = t.months.begin()->first + static_cast<int>(rng() % t.months.size());
      if (what == 0) month = t.months.rbegin()->first + 1;
      const int n = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < n; ++i) t.months[month].push_back(RandomEvent(rng, month, ++seq));
      ++t.version[month];
      Partitions(t, &versions, &partitions);

      absl::StatusOr<History> updated = UpdateHistory(*current, versions, partitions, tz, nullptr);
      absl::StatusOr<History> rebuilt = BuildHistory(versions, partitions, tz, nullptr);
      ASSERT_TRUE(updated.ok() && rebuilt.ok());
      EXPECT_EQ(Movements(*updated), Movements(*rebuilt));
      EXPECT_EQ(Events(*updated), Events(*rebuilt));
      EXPECT_EQ(Plans(*updated), Plans(*rebuilt));
      EXPECT_TRUE(OrderedByCustomerThenDay(*updated));
      EXPECT_EQ(updated->ledger.customer_ids.size(), updated->ledger.customer_plans.size());

      std::vector<SubscriptionEvent> all;
      for (const auto& [m, es] : t.months) all.insert(all.end(), es.begin(), es.end());
      absl::CivilDay last = absl::CivilDay(1970, 1, 1);
      for (const auto& e : all) last = std::max(last, absl::ToCivilDay(e.effective_at, tz));
      std::vector<std::tuple<std::string, absl::CivilDay, engine::MovementType, int64_t>> want, got;
      for (const auto& m : reference::Movements(all, tz, last)) {
        want.emplace_back(m.customer, m.day, m.type, m.amount);
      }
      for (const auto& [c, d, type, amount, after] : Movements(*updated)) {
        got.emplace_back(c, d, type, amount);
      }
      std::sort(want.begin(), want.end());
      EXPECT_EQ(got, want);
      current = std::move(updated);
    }
  }
}

TEST(History, AnOlderOrShrunkenStateRebuildsFromScratch) {
  std::mt19937_64 rng(3);
  Tenant t;
  int64_t seq = 0;
  for (int m = 0; m < 4; ++m) {
    const absl::CivilMonth month = absl::CivilMonth(2024, 1) + m;
    for (int i = 0; i < 10; ++i) t.months[month].push_back(RandomEvent(rng, month, ++seq));
    t.version[month] = 5;
  }
  std::vector<store::PartitionVersion> versions;
  SubscriptionPartitions partitions;
  Partitions(t, &versions, &partitions);
  const History newer = *BuildHistory(versions, partitions, absl::UTCTimeZone(), nullptr);
  // Fewer months and lower versions than `newer`: not reachable incrementally.
  t.months.erase(t.months.begin());
  for (auto& [m, v] : t.version) v = 1;
  t.version.erase(t.version.begin());
  Partitions(t, &versions, &partitions);
  const History older = *UpdateHistory(newer, versions, partitions, absl::UTCTimeZone(), nullptr);
  EXPECT_EQ(Movements(older),
            Movements(*BuildHistory(versions, partitions, absl::UTCTimeZone(), nullptr)));
}

TEST(History, AStopRequestEndsTheBuildWithCancelled) {
  std::mt19937_64 rng(4);
  Tenant t;
  t.months[absl::CivilMonth(2024, 1)].push_back(RandomEvent(rng, absl::CivilMonth(2024, 1), 1));
  t.version[absl::CivilMonth(2024, 1)] = 1;
  std::vector<store::PartitionVersion> versions;
  SubscriptionPartitions partitions;
  Partitions(t, &versions, &partitions);
  EXPECT_EQ(
      BuildHistory(versions, partitions, absl::UTCTimeZone(), [] { return true; }).status().code(),
      absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace saasmetrics::query
