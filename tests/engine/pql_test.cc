#include "server/engine/pql.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "server/engine/ledger.h"

namespace saasmetrics::engine {
namespace {

absl::Time Noon(int m, int d) {
  return absl::FromCivil(absl::CivilSecond(2024, m, d, 12, 0, 0), absl::UTCTimeZone());
}

UsageEvent Use(const std::string& customer, const std::string& type, const std::string& user,
               absl::Time at) {
  UsageEvent e;
  e.customer_id = customer;
  e.type = type;
  e.user_id = user;
  e.time = at;
  return e;
}

SubscriptionEvent Paying(const std::string& customer, absl::Time at) {
  SubscriptionEvent e;
  e.customer_id = customer;
  e.subscription_id = "s";
  e.effective_at = at;
  e.status = SubscriptionStatus::kActive;
  e.quantity = 1;
  e.unit_amount = 1000;
  e.interval_unit = IntervalUnit::kMonth;
  e.interval_count = 1;
  return e;
}

// a: 3 reports by 2 users by Jan 3, subscribes Jan 10 (a conversion).
// b: 3 reports by one user (fails the distinct-users condition).
// c: qualifies on usage but has paid since December (excluded).
// d: 3 reports by 2 users on Jan 1, never subscribes.
struct Scenario {
  UsagePartitions usage;
  Ledger ledger;
  std::vector<Movement> movements;
};

Scenario Build() {
  const std::vector<UsageEvent> events = {
      Use("a", "report", "u1", Noon(1, 1)), Use("a", "report", "u1", Noon(1, 1)),
      Use("a", "report", "u2", Noon(1, 3)), Use("b", "report", "u1", Noon(1, 2)),
      Use("b", "report", "u1", Noon(1, 2)), Use("b", "report", "u1", Noon(1, 4)),
      Use("c", "report", "u1", Noon(1, 5)), Use("c", "report", "u2", Noon(1, 5)),
      Use("c", "report", "u3", Noon(1, 5)), Use("d", "report", "u1", Noon(1, 1)),
      Use("d", "report", "u2", Noon(1, 1)), Use("d", "login", "u3", Noon(1, 1)),
      Use("d", "report", "u2", Noon(1, 1))};
  Scenario s;
  s.usage = {std::make_shared<const UsagePartition>(
      BuildUsagePartition(absl::CivilMonth(2024, 1), events))};
  s.ledger =
      BuildLedger({Paying("c", Noon(1, 1) - absl::Hours(24 * 20)), Paying("a", Noon(1, 10))});
  MrrTimeline t = MrrTimeline::Build(s.ledger.events, s.ledger.customer_ids.size());
  s.movements = t.Movements(absl::UTCTimeZone(), absl::CivilDay(2024, 1, 31));
  return s;
}

// CountPqls as the query layer calls it: over the partitions' dense-id index, with each
// customer's movements found through its ledger id.
std::vector<PqlPoint> Count(const PqlRule& rule, const UsagePartitions& usage,
                            const std::vector<Movement>& movements, const Ledger& ledger,
                            const std::vector<Period>& periods, absl::TimeZone tz,
                            int conversion_window_days, const CustomerSet& selected) {
  const UsageIndex index = BuildUsageIndex(usage);
  const std::vector<int32_t> link = LinkToLedger(index, ledger);
  std::vector<std::vector<Movement>> of(ledger.customer_ids.size());
  for (const Movement& m : movements) of[m.customer].push_back(m);
  absl::StatusOr<std::vector<PqlPoint>> got = CountPqls(
      rule, usage, index,
      [&](int32_t dense) {
        return link[dense] < 0 ? std::span<const Movement>() : std::span(of[link[dense]]);
      },
      periods, tz, conversion_window_days, SelectDense(index, selected));
  EXPECT_TRUE(got.ok()) << got.status();
  return got.ok() ? *got : std::vector<PqlPoint>{};
}

PqlRule Rule() {
  PqlRule r;
  r.window_days = 7;
  r.conditions = {{PqlCondition::Kind::kEventCount, "report", 3, 1},
                  {PqlCondition::Kind::kDistinctUsers, "", 2, 1}};
  return r;
}

const std::vector<Period> kJanuary = {{absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 1, 31)}};

TEST(Pql, AllConditionsNotPayingAndConversions) {
  Scenario s = Build();
  const PqlPoint p = Count(Rule(), s.usage, s.movements, s.ledger, kJanuary, absl::UTCTimeZone(),
                           30, std::nullopt)[0];
  EXPECT_EQ(p.pqls, 2);         // a and d
  EXPECT_EQ(p.conversions, 1);  // a, nine days after qualifying
  EXPECT_DOUBLE_EQ(*p.conversion_rate(), 0.5);
  // A conversion window shorter than a's nine days counts none.
  EXPECT_EQ(Count(Rule(), s.usage, s.movements, s.ledger, kJanuary, absl::UTCTimeZone(), 5,
                  std::nullopt)[0]
                .conversions,
            0);
}

TEST(Pql, WeightedScoreAndCustomerSelection) {
  Scenario s = Build();
  PqlRule r = Rule();
  r.score_threshold = 1.0;  // either condition is enough
  EXPECT_EQ(
      Count(r, s.usage, s.movements, s.ledger, kJanuary, absl::UTCTimeZone(), 30, std::nullopt)[0]
          .pqls,
      3);  // a, b, d (c pays)
  absl::flat_hash_set<std::string> only_b = {"b"};
  EXPECT_EQ(
      Count(r, s.usage, s.movements, s.ledger, kJanuary, absl::UTCTimeZone(), 30, only_b)[0].pqls,
      1);
}

TEST(Pql, TheWindowTrailsEachDay) {
  Scenario s = Build();
  PqlRule r = Rule();
  r.window_days = 1;  // a's reports spread over Jan 1 and 3 no longer add up
  const std::vector<Period> week = {{absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 1, 7)}};
  EXPECT_EQ(
      Count(r, s.usage, s.movements, s.ledger, week, absl::UTCTimeZone(), 30, std::nullopt)[0].pqls,
      1);  // d only
}

// The definition read literally: for every customer, period and day, look at every
// event and every movement again. Slow and obviously right.
std::vector<PqlPoint> BruteForcePqls(const PqlRule& rule, const std::vector<UsageEvent>& events,
                                     const std::vector<Movement>& movements,
                                     const std::vector<std::string>& customer_ids,
                                     const std::vector<Period>& periods, absl::TimeZone tz,
                                     int conversion_window_days, const CustomerSet& selected) {
  std::vector<PqlPoint> out;
  std::set<std::string> customers;
  for (const UsageEvent& e : events) {
    if (!selected || selected->contains(e.customer_id)) customers.insert(e.customer_id);
  }
  for (const Period& period : periods) {
    PqlPoint point{period};
    for (const std::string& customer : customers) {
      std::optional<absl::CivilDay> first;
      for (absl::CivilDay d = period.first; d <= period.last && !first; ++d) {
        const absl::CivilDay from = d - (rule.window_days - 1);
        bool any = false;
        std::vector<double> sums(rule.conditions.size(), 0);
        std::vector<std::set<std::string>> users(rule.conditions.size());
        for (absl::CivilDay w = from; w <= d; ++w) {  // day by day, oldest first
          std::vector<double> day_sums(rule.conditions.size(), 0);
          for (const UsageEvent& e : events) {
            if (e.customer_id != customer || absl::ToCivilDay(e.time, tz) != w) continue;
            for (size_t c = 0; c < rule.conditions.size(); ++c) {
              const PqlCondition& cond = rule.conditions[c];
              if (!cond.event_type.empty() && cond.event_type != e.type) continue;
              any = true;
              day_sums[c] += cond.kind == PqlCondition::Kind::kValueSum ? e.value : 1;
              if (!e.user_id.empty()) users[c].insert(e.user_id);
            }
          }
          for (size_t c = 0; c < sums.size(); ++c) sums[c] += day_sums[c];
        }
        if (!any) continue;
        double score = 0;
        bool all = true;
        for (size_t c = 0; c < rule.conditions.size(); ++c) {
          const PqlCondition& cond = rule.conditions[c];
          const double value = cond.kind == PqlCondition::Kind::kDistinctUsers
                                   ? static_cast<double>(users[c].size())
                                   : sums[c];
          all = all && value >= cond.threshold;
          if (value >= cond.threshold) score += cond.weight;
        }
        if (!(rule.score_threshold ? score >= *rule.score_threshold : all)) continue;
        int64_t mrr = 0;
        for (const Movement& m : movements) {
          if (customer_ids[m.customer] == customer && m.day <= d) mrr = m.after;
        }
        if (mrr <= 0) first = d;
      }
      if (!first) continue;
      ++point.pqls;
      for (const Movement& m : movements) {
        if (customer_ids[m.customer] == customer && m.type == MovementType::kNewBusiness &&
            m.day >= *first && m.day <= *first + conversion_window_days) {
          ++point.conversions;
          break;
        }
      }
    }
    out.push_back(point);
  }
  return out;
}

TEST(Pql, MatchesTheDefinitionReadLiterallyOnRandomHistories) {
  std::mt19937_64 rng(20261123);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  const char* kTypes[] = {"login", "report", "export"};
  const char* kZones[] = {"UTC", "America/New_York", "Australia/Lord_Howe"};
  for (int round = 0; round < 60; ++round) {
    absl::TimeZone tz;
    ASSERT_TRUE(absl::LoadTimeZone(kZones[round % 3], &tz));
    const int customers = 2 + pick(12);
    std::vector<UsageEvent> events;
    const int count = pick(400);
    for (int i = 0; i < count; ++i) {
      UsageEvent e;
      e.customer_id = absl::StrCat("c", pick(customers));
      e.type = kTypes[pick(3)];
      e.user_id = pick(4) == 0 ? "" : absl::StrCat("u", pick(5));
      e.value = pick(6) * 0.5 - 1;  // negative values too: they bound nothing
      // Across February-April 2024 (DST changes in March/April in these zones).
      e.time = absl::FromCivil(absl::CivilSecond(2024, 2, 1, 0, 0, 0), absl::UTCTimeZone()) +
               absl::Seconds(static_cast<int64_t>(rng() % (89LL * 86400)));
      events.push_back(e);
    }
    std::sort(events.begin(), events.end(),
              [](const UsageEvent& a, const UsageEvent& b) { return a.time < b.time; });
    UsagePartitions usage;
    for (int m = 2; m <= 4; ++m) {
      std::vector<UsageEvent> month;
      for (const UsageEvent& e : events) {
        if (absl::ToCivilMonth(e.time, absl::UTCTimeZone()) == absl::CivilMonth(2024, m)) {
          month.push_back(e);
        }
      }
      usage.push_back(std::make_shared<const UsagePartition>(
          BuildUsagePartition(absl::CivilMonth(2024, m), month)));
    }
    std::vector<SubscriptionEvent> subs;
    for (int c = 0; c < customers; ++c) {
      if (pick(2)) continue;
      SubscriptionEvent e = Paying(absl::StrCat("c", c), Noon(2, 1) + absl::Hours(24 * pick(80)));
      e.subscription_id = absl::StrCat("s", c);
      subs.push_back(e);
      if (pick(2)) {
        SubscriptionEvent end = e;
        end.effective_at += absl::Hours(24 * (1 + pick(30)));
        end.status = SubscriptionStatus::kCanceled;
        subs.push_back(end);
      }
    }
    const Ledger ledger = BuildLedger(subs);
    const std::vector<Movement> movements =
        MrrTimeline::Build(ledger.events, ledger.customer_ids.size())
            .Movements(tz, absl::CivilDay(2024, 6, 30));
    PqlRule rule;
    rule.window_days = 1 + pick(20);
    const int conditions = 1 + pick(3);
    for (int c = 0; c < conditions; ++c) {
      const auto kind = static_cast<PqlCondition::Kind>(1 + pick(3));
      rule.conditions.push_back(
          {kind, kind == PqlCondition::Kind::kDistinctUsers && pick(2) ? "" : kTypes[pick(3)],
           static_cast<double>(pick(8)) + (pick(2) ? 0.5 : 0), static_cast<double>(pick(3))});
    }
    if (pick(3) == 0) rule.score_threshold = 1 + pick(3);
    CustomerSet selected;
    if (pick(4) == 0) selected = absl::flat_hash_set<std::string>{"c0", "c1", "c2"};
    const std::vector<Period> periods =
        CutPeriods(absl::CivilDay(2024, 3, 1) - pick(10), absl::CivilDay(2024, 4, 20) + pick(10),
                   pick(2) ? Interval::kWeek : Interval::kMonth);
    const int conversion = 1 + pick(30);
    const std::vector<PqlPoint> got =
        Count(rule, usage, movements, ledger, periods, tz, conversion, selected);
    const std::vector<PqlPoint> want = BruteForcePqls(rule, events, movements, ledger.customer_ids,
                                                      periods, tz, conversion, selected);
    ASSERT_EQ(got.size(), want.size());
    for (size_t p = 0; p < got.size(); ++p) {
      EXPECT_EQ(got[p].pqls, want[p].pqls) << "round " << round << " period " << p;
      EXPECT_EQ(got[p].conversions, want[p].conversions) << "round " << round << " period " << p;
    }
  }
}

TEST(Pql, StopsWhenAskedAndRefusesAnIndexOfOtherPartitions) {
  Scenario s = Build();
  const UsageIndex index = BuildUsageIndex(s.usage);
  auto none = [](int32_t) { return std::span<const Movement>(); };
  absl::StatusOr<std::vector<PqlPoint>> stopped =
      CountPqls(Rule(), s.usage, index, none, kJanuary, absl::UTCTimeZone(), 30, std::nullopt,
                [] { return true; });
  EXPECT_EQ(stopped.status().code(), absl::StatusCode::kCancelled);
  UsagePartitions other = s.usage;
  other.push_back(other.front());  // one partition more than the index knows
  EXPECT_EQ(CountPqls(Rule(), other, index, none, kJanuary, absl::UTCTimeZone(), 30, std::nullopt)
                .status()
                .code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(CountPqls(Rule(), s.usage, index, none, kJanuary, absl::UTCTimeZone(), 30,
                      std::vector<bool>(1))
                .status()
                .code(),
            absl::StatusCode::kInternal);
}

TEST(Pql, ARangeBeyondWhatAHitCanIndexIsRefused) {
  Scenario s = Build();
  const UsageIndex index = BuildUsageIndex(s.usage);
  const std::vector<Period> centuries = {
      {absl::CivilDay(1900, 1, 1), absl::CivilDay(2099, 12, 31)}};
  EXPECT_EQ(CountPqls(
                Rule(), s.usage, index, [](int32_t) { return std::span<const Movement>(); },
                centuries, absl::UTCTimeZone(), 30, std::nullopt)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// Customers passed over by the bound (too few events, users or positive value over the
// whole range) are exactly those the definition would not count: a customer whose
// negative values cancel out its positive ones still qualifies on the day they are apart.
TEST(Pql, NegativeValuesDoNotHideADayThatQualifies) {
  std::vector<UsageEvent> events = {Use("a", "seat", "", Noon(1, 1)),
                                    Use("a", "seat", "", Noon(1, 20))};
  events[0].value = 5;
  events[1].value = -5;
  UsagePartitions usage = {std::make_shared<const UsagePartition>(
      BuildUsagePartition(absl::CivilMonth(2024, 1), events))};
  PqlRule r;
  r.window_days = 7;
  r.conditions = {{PqlCondition::Kind::kValueSum, "seat", 5, 1}};
  EXPECT_EQ(Count(r, usage, {}, Ledger{}, kJanuary, absl::UTCTimeZone(), 30, std::nullopt)[0].pqls,
            1);
  r.conditions[0].threshold = 5.5;  // more than its positive values: passed over
  EXPECT_EQ(Count(r, usage, {}, Ledger{}, kJanuary, absl::UTCTimeZone(), 30, std::nullopt)[0].pqls,
            0);
}

TEST(ValidatePqlRule, NamesEachBrokenField) {
  PqlRule r;
  r.window_days = 0;
  r.conditions = {{static_cast<PqlCondition::Kind>(0), "", -1, 0}};
  r.score_threshold = 0;
  Violations v;
  ValidatePqlRule(r, "rule", v);
  std::vector<std::string> fields;
  for (const auto& x : v) fields.push_back(x.field);
  EXPECT_EQ(fields,
            (std::vector<std::string>{"rule.window_days", "rule.conditions[0].kind",
                                      "rule.conditions[0].event_type",
                                      "rule.conditions[0].threshold", "rule.score_threshold"}));
}

TEST(ValidatePqlRule, AnEightMebibyteEventTypeIsRefused) {
  PqlRule r;
  r.window_days = 7;
  r.conditions = {{PqlCondition::Kind::kEventCount, std::string(8 << 20, 'x'), 1, 0}};
  Violations v;
  ValidatePqlRule(r, "rule", v);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].field, "rule.conditions[0].event_type");
  EXPECT_EQ(v[0].description, "must be at most 200 bytes, got 8388608");
}

}  // namespace
}  // namespace saasmetrics::engine
