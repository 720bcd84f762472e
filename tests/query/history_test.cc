// Incremental history (query/history.h) equals a full rebuild, and both equal the
// reference replay, after random late and new events into old and new months, applied
// one change after another (each update starts from the previous update).
#include "server/query/history.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "server/engine/currency.h"
#include "server/engine/mrr.h"
#include "server/engine/tenant.h"
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
  static const char* const kCurrencies[] = {"USD", "USD", "EUR", "JPY"};
  e.currency = kCurrencies[pick(4)];
  return e;
}

void Partitions(const Tenant& t, std::vector<store::PartitionVersion>* versions,
                SubscriptionPartitions* partitions) {
  versions->clear();
  partitions->clear();
  for (const auto& [month, events] : t.months) {
    versions->push_back({month, t.version.at(month)});
    engine::SubscriptionPartition p = engine::BuildSubscriptionPartition(month, events);
    p.version = t.version.at(month);
    partitions->push_back(std::make_shared<const engine::SubscriptionPartition>(std::move(p)));
  }
}

// `months` months from January 2024 of `per_month` random events each, at `version`.
Tenant RandomTenant(std::mt19937_64& rng, int months, int per_month, int64_t version,
                    int64_t& seq) {
  Tenant t;
  for (int m = 0; m < months; ++m) {
    const absl::CivilMonth month = absl::CivilMonth(2024, 1) + m;
    for (int i = 0; i < per_month; ++i) t.months[month].push_back(RandomEvent(rng, month, ++seq));
    t.version[month] = version;
  }
  return t;
}

// `e` appended to its month (a new version of it), and the tenant's partitions again.
void AddEvent(const SubscriptionEvent& e, Tenant& t, std::vector<store::PartitionVersion>* versions,
              SubscriptionPartitions* partitions) {
  const absl::CivilMonth month = absl::ToCivilMonth(e.effective_at, absl::UTCTimeZone());
  t.months[month].push_back(e);
  ++t.version[month];
  Partitions(t, versions, partitions);
}

// By external ids: what a user can see of a history.
using Seen = std::tuple<std::string, absl::CivilDay, engine::MovementType, int64_t, int64_t>;
std::vector<Seen> Movements(const History& h) {
  std::vector<Seen> out;
  for (const engine::Movement& m : h.movements()) {
    out.emplace_back(h.ids().customer_ids[m.customer], m.day, m.type, m.amount, m.after);
  }
  std::sort(out.begin(), out.end());
  return out;
}
std::map<std::string, std::set<std::string>> Plans(const History& h) {
  std::map<std::string, std::set<std::string>> out;
  for (size_t c = 0; c < h.ids().customer_ids.size(); ++c) {
    out[h.ids().customer_ids[c]].insert(h.ids().customer_plans[c].begin(),
                                        h.ids().customer_plans[c].end());
  }
  return out;
}
std::multiset<std::tuple<std::string, std::string, int64_t, int64_t>> Events(const History& h) {
  std::multiset<std::tuple<std::string, std::string, int64_t, int64_t>> out;
  for (const auto& month : h.months()) {
    for (const engine::LedgerEvent& e : *month) {
      out.emplace(h.ids().customer_ids[e.customer], h.ids().subscription_ids[e.subscription],
                  e.at_us, e.mrr);
    }
  }
  return out;
}

// A layer cake as plain numbers: per period, MRR, earlier, existing and the layers.
std::vector<std::vector<int64_t>> Cake(const std::vector<engine::MrrByCohortPoint>& points) {
  std::vector<std::vector<int64_t>> out;
  for (const auto& p : points) {
    std::vector<int64_t> row = {p.mrr, p.earlier_mrr, p.existing_mrr};
    row.insert(row.end(), p.layers.begin(), p.layers.end());
    out.push_back(row);
  }
  return out;
}

bool OrderedByCustomerThenDay(const History& h) {
  return std::is_sorted(h.movements().begin(), h.movements().end(),
                        [](const auto& a, const auto& b) {
                          return std::tie(a.customer, a.day) < std::tie(b.customer, b.day);
                        });
}

// Each customer's movements as MovementsOf gives them equal their slice of the whole list.
bool EachCustomerMatchesTheList(const History& h) {
  std::vector<engine::Movement> joined;
  for (size_t c = 0; c < h.ids().customer_ids.size(); ++c) {
    const auto of = h.MovementsOf(static_cast<int32_t>(c));
    joined.insert(joined.end(), of.begin(), of.end());
  }
  return joined == h.movements();
}

// The MRR series the per-day totals give, month by month over the whole history.
engine::MrrSeries Monthly(const History& h) {
  return engine::ComputeMrrSeries(
      h.daily(), engine::CutPeriods(absl::CivilDay(2023, 1, 1), absl::CivilDay(2025, 12, 31),
                                    engine::Interval::kMonth));
}
bool SameSeries(const engine::MrrSeries& a, const engine::MrrSeries& b) {
  if (a.start_mrr != b.start_mrr || a.points.size() != b.points.size()) return false;
  for (size_t i = 0; i < a.points.size(); ++i) {
    if (a.points[i].mrr != b.points[i].mrr || a.points[i].paying != b.points[i].paying ||
        !(a.points[i].movements == b.points[i].movements)) {
      return false;
    }
  }
  return true;
}

// Random tenants, each changed 12 times; after each change the update of the previous
// history equals a full rebuild and the reference, all converting with `conversion` (the
// reference with `mrr_of`). `between(change)` may change `conversion` before an update.
void CheckIncrementalUpdates(Conversion& conversion, const reference::MrrOf& mrr_of,
                             const std::function<void(int)>& between = {}) {
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
    absl::StatusOr<History> current = BuildHistory(versions, partitions, tz, nullptr, conversion);
    ASSERT_TRUE(current.ok()) << current.status();
    for (int change = 0; change < 12; ++change) {
      SCOPED_TRACE(absl::StrCat("change ", change));
      // Late events into one old month, or a new month after the last (or before the first).
      const int what = static_cast<int>(rng() % 4);
      absl::CivilMonth month = t.months.begin()->first + static_cast<int>(rng() % t.months.size());
      if (what == 0) month = t.months.rbegin()->first + 1;
      const bool existed = t.months.contains(month);
      const int n = 1 + static_cast<int>(rng() % 4);
      std::vector<SubscriptionEvent> fresh;
      for (int i = 0; i < n; ++i) fresh.push_back(RandomEvent(rng, month, ++seq));
      t.months[month].insert(t.months[month].end(), fresh.begin(), fresh.end());
      ++t.version[month];
      // The month as the cache would hold it: mostly a delta load's extension of the
      // partition held (the update then maps only the added events), sometimes a whole
      // load; and sometimes a second write lands before the next update, so the partition
      // extends a version the history never saw.
      auto extend = [&](const std::vector<SubscriptionEvent>& added) {
        const size_t at = static_cast<size_t>(
            std::find_if(versions.begin(), versions.end(),
                         [&](const store::PartitionVersion& v) { return v.month == month; }) -
            versions.begin());
        engine::SubscriptionPartition p =
            engine::ExtendSubscriptionPartition(*partitions[at], added);
        p.version = t.version[month];
        partitions[at] = std::make_shared<const engine::SubscriptionPartition>(std::move(p));
        versions[at].version = t.version[month];
      };
      if (existed && rng() % 3 != 0) {
        extend(fresh);
        if (rng() % 4 == 0) {
          const std::vector<SubscriptionEvent> again = {RandomEvent(rng, month, ++seq)};
          t.months[month].push_back(again[0]);
          ++t.version[month];
          extend(again);
        }
      } else {
        Partitions(t, &versions, &partitions);
      }

      // Sometimes the whole list was made before the update (it then starts from it),
      // sometimes not (the update chains overlays).
      if (rng() % 2 == 0) current->movements();
      if (between) between(change);
      absl::StatusOr<History> updated =
          UpdateHistory(*current, versions, partitions, tz, nullptr, conversion);
      absl::StatusOr<History> rebuilt = BuildHistory(versions, partitions, tz, nullptr, conversion);
      ASSERT_TRUE(updated.ok() && rebuilt.ok()) << updated.status() << rebuilt.status();
      // The per-day totals first: checking the list would make it.
      EXPECT_TRUE(SameSeries(Monthly(*updated), Monthly(*rebuilt)));
      EXPECT_TRUE(SameSeries(Monthly(*updated), engine::ComputeMrrSeries(
                                                    rebuilt->movements(),
                                                    engine::CutPeriods(absl::CivilDay(2023, 1, 1),
                                                                       absl::CivilDay(2025, 12, 31),
                                                                       engine::Interval::kMonth))));
      // The cohort totals kept up to date give the layer cake the movements give.
      const std::vector<engine::Period> months = engine::CutPeriods(
          absl::CivilDay(2023, 3, 1), absl::CivilDay(2025, 12, 20), engine::Interval::kMonth);
      EXPECT_EQ(Cake(engine::ComputeMrrByCohort(updated->cohorts(), months)),
                Cake(engine::ComputeMrrByCohort(rebuilt->movements(), months)));
      EXPECT_TRUE(EachCustomerMatchesTheList(*updated));
      EXPECT_EQ(Movements(*updated), Movements(*rebuilt));
      EXPECT_EQ(Events(*updated), Events(*rebuilt));
      EXPECT_EQ(Plans(*updated), Plans(*rebuilt));
      EXPECT_TRUE(OrderedByCustomerThenDay(*updated));
      EXPECT_EQ(updated->ids().customer_ids.size(), updated->ids().customer_plans.size());

      std::vector<SubscriptionEvent> all;
      for (const auto& [m, es] : t.months) all.insert(all.end(), es.begin(), es.end());
      absl::CivilDay last = absl::CivilDay(1970, 1, 1);
      for (const auto& e : all) last = std::max(last, absl::ToCivilDay(e.effective_at, tz));
      std::vector<std::tuple<std::string, absl::CivilDay, engine::MovementType, int64_t>> want, got;
      for (const auto& m : reference::Movements(all, tz, last, mrr_of)) {
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

TEST(History, IncrementalUpdatesEqualAFullRebuildAndTheReference) {
  Conversion none;  // every state taken as in the reporting currency
  CheckIncrementalUpdates(none, {});
}

// The same with states in USD (reporting), EUR and JPY: each converted at the rate of its
// own day in the zone (rates change every 10 days), and the reference converting each
// state it replays, with the rate found by reading the whole list. Every few changes the
// rates change too (a late rate and a correction): the update then converts everything
// again.
TEST(History, IncrementalUpdatesConvertLikeAFullRebuildAndTheReference) {
  std::vector<engine::ExchangeRate> rates;
  for (absl::CivilDay d(2023, 1, 1); d < absl::CivilDay(2024, 12, 31); d += 10) {
    const int64_t k = (d - absl::CivilDay(2023, 1, 1)) / 10;
    rates.push_back({d, "EUR", {1000 + (k * 37) % 200, 3}});   // 1.000 to 1.199
    rates.push_back({d, "JPY", {6000 + (k * 53) % 1500, 6}});  // 0.006000 to 0.007499
  }
  Conversion conversion;
  conversion.reporting = engine::Iso4217Index("USD");
  int loads = 0;
  auto use = [&](int64_t version) {
    conversion.rates_version = version;
    auto table = std::make_shared<const engine::RateTable>("USD", rates);
    conversion.rates = [table,
                        &loads]() -> absl::StatusOr<std::shared_ptr<const engine::RateTable>> {
      ++loads;
      return table;
    };
  };
  use(1);
  absl::TimeZone tz;
  ASSERT_TRUE(absl::LoadTimeZone("America/New_York", &tz));
  const reference::MrrOf mrr_of = [&](const SubscriptionEvent& e) -> int64_t {
    const int64_t mrr = engine::StateMrr(e);
    if (e.currency == "USD" || mrr == 0) return mrr;
    const absl::CivilDay day = absl::ToCivilDay(e.effective_at, tz);
    const engine::ExchangeRate* latest = nullptr;
    for (const engine::ExchangeRate& r : rates) {
      if (r.currency == e.currency && r.date <= day &&
          (latest == nullptr || r.date > latest->date)) {
        latest = &r;
      }
    }
    EXPECT_NE(latest, nullptr);
    return *engine::ConvertAmount(mrr, engine::CurrencyExponent(e.currency), 2, latest->rate);
  };
  int64_t version = 1;
  CheckIncrementalUpdates(conversion, mrr_of, [&](int change) {
    if (change % 5 != 4) return;
    // A late rate between two others, and corrections of existing ones.
    rates.push_back({absl::CivilDay(2023, 6, 3) + change, "EUR", {1500 + change, 3}});
    for (size_t i = 20; i < 60; i += 2) rates[i].rate.mantissa += 7;  // EUR, Apr–Sep 2023
    use(++version);
  });
  EXPECT_GT(loads, 0);
}

TEST(History, AnOlderOrShrunkenStateRebuildsFromScratch) {
  std::mt19937_64 rng(3);
  int64_t seq = 0;
  Tenant t = RandomTenant(rng, 4, 10, 5, seq);
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

// A late event naming only known customers, subscriptions and plans shares the previous
// version's ids and every unchanged month's events; a new customer copies the ids once.
TEST(History, AnUpdateSharesWhatDidNotChange) {
  std::mt19937_64 rng(5);
  int64_t seq = 0;
  Tenant t = RandomTenant(rng, 6, 20, 1, seq);
  std::vector<store::PartitionVersion> versions;
  SubscriptionPartitions partitions;
  Partitions(t, &versions, &partitions);
  const History built = *BuildHistory(versions, partitions, absl::UTCTimeZone(), nullptr);

  const absl::CivilMonth late = absl::CivilMonth(2024, 3);
  SubscriptionEvent known = t.months[late].front();
  known.event_id = "late";
  known.seq = ++seq;
  known.unit_amount += 100;
  AddEvent(known, t, &versions, &partitions);
  const History updated = *UpdateHistory(built, versions, partitions, absl::UTCTimeZone(), nullptr);
  EXPECT_EQ(&updated.ids(), &built.ids());
  for (size_t i = 0; i < versions.size(); ++i) {
    EXPECT_EQ(updated.months()[i] == built.months()[i], versions[i].month != late) << i;
  }
  EXPECT_EQ(Movements(updated),
            Movements(*BuildHistory(versions, partitions, absl::UTCTimeZone(), nullptr)));

  SubscriptionEvent stranger = known;
  stranger.event_id = "stranger";
  stranger.customer_id = "someone new";
  stranger.seq = ++seq;
  AddEvent(stranger, t, &versions, &partitions);
  const History grown = *UpdateHistory(updated, versions, partitions, absl::UTCTimeZone(), nullptr);
  EXPECT_NE(&grown.ids(), &updated.ids());
  EXPECT_EQ(grown.ids().customer_ids.size(), updated.ids().customer_ids.size() + 1);
  EXPECT_EQ(Movements(grown),
            Movements(*BuildHistory(versions, partitions, absl::UTCTimeZone(), nullptr)));
}

// A large overlay asks once to be compacted off the query path; once its whole list is
// made, the next update starts from that list with an empty overlay. Pauses are shared
// while no affected customer has one.
TEST(History, ALargeOverlayAsksOnceForCompaction) {
  std::mt19937_64 rng(8);
  int64_t seq = 0;
  Tenant t = RandomTenant(rng, 6, 40, 1, seq);
  std::vector<store::PartitionVersion> versions;
  SubscriptionPartitions partitions;
  Partitions(t, &versions, &partitions);
  std::optional<History> h = *BuildHistory(versions, partitions, absl::UTCTimeZone(), nullptr);
  EXPECT_FALSE(h->WantsCompaction());
  // Late events for most customers: the overlay holds most movements.
  bool asked = false;
  for (int round = 0; round < 10 && !asked; ++round) {
    const absl::CivilMonth month = absl::CivilMonth(2024, 1) + round % 6;
    SubscriptionEvent e = RandomEvent(rng, month, ++seq);
    e.event_id = absl::StrCat("late-", round);
    e.status = engine::SubscriptionStatus::kActive;
    AddEvent(e, t, &versions, &partitions);
    h = *UpdateHistory(*h, versions, partitions, absl::UTCTimeZone(), nullptr);
    asked = h->WantsCompaction();
  }
  ASSERT_TRUE(asked);
  EXPECT_FALSE(h->WantsCompaction()) << "once per version";
  h->movements();  // what the loader pool does
  SubscriptionEvent e = RandomEvent(rng, absl::CivilMonth(2024, 2), ++seq);
  e.status = engine::SubscriptionStatus::kActive;
  AddEvent(e, t, &versions, &partitions);
  const History next = *UpdateHistory(*h, versions, partitions, absl::UTCTimeZone(), nullptr);
  EXPECT_FALSE(next.WantsCompaction()) << "started from the whole list";
  EXPECT_EQ(Movements(next),
            Movements(*BuildHistory(versions, partitions, absl::UTCTimeZone(), nullptr)));
  EXPECT_EQ(next.pauses(),
            BuildHistory(versions, partitions, absl::UTCTimeZone(), nullptr)->pauses());
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

// The stop request is also polled inside the movement pass (every 1024 customers), not
// only between steps: a build over many customers asked to stop midway ends CANCELLED.
TEST(History, AStopRequestMidwayThroughTheMovementsEndsTheBuild) {
  std::vector<SubscriptionEvent> events;
  for (int c = 0; c < 5000; ++c) {
    SubscriptionEvent e;
    e.event_id = absl::StrCat("e", c);
    e.customer_id = absl::StrCat("c", c);
    e.subscription_id = "s";
    e.effective_at = absl::FromCivil(absl::CivilDay(2024, 1, 1 + c % 28), absl::UTCTimeZone());
    e.seq = c;
    e.status = engine::SubscriptionStatus::kActive;
    e.plan_id = "pro";
    e.quantity = 1;
    e.unit_amount = 100;
    e.interval_unit = engine::IntervalUnit::kMonth;
    e.interval_count = 1;
    events.push_back(e);
  }
  const std::vector<store::PartitionVersion> versions = {{absl::CivilMonth(2024, 1), 1}};
  const SubscriptionPartitions partitions = {std::make_shared<const engine::SubscriptionPartition>(
      engine::BuildSubscriptionPartition(absl::CivilMonth(2024, 1), events))};
  int asked = 0;
  // Between steps it is asked twice before the movement pass; the third ask is inside it.
  auto stop = [&] { return ++asked >= 3; };
  EXPECT_EQ(BuildHistory(versions, partitions, absl::UTCTimeZone(), stop).status().code(),
            absl::StatusCode::kCancelled);
  EXPECT_EQ(asked, 4) << "asked at the pass's first customer, then once after it";
  asked = -100;
  EXPECT_TRUE(BuildHistory(versions, partitions, absl::UTCTimeZone(), stop).ok());
}

}  // namespace
}  // namespace saasmetrics::query
