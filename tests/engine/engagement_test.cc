// Engagement scores (ANALYTICS.md "Engagement score") against a hand-computed example, a
// slow reference that reads raw events day by day, and model validation.
#include "server/engine/engagement.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "server/engine/ledger.h"
#include "server/engine/pql.h"
#include "tests/engine/reference.h"
#include "tests/engine/world.h"

namespace saasmetrics::engine {
namespace {

using Agg = EngagementComponent::Aggregation;

absl::Time At(int m, int d, int h = 12) {
  return absl::FromCivil(absl::CivilSecond(2024, m, d, h, 0, 0), absl::UTCTimeZone());
}

// Worked by hand: logins count 5 of target 10 (weight 2 → 1.0), 3 distinct users of
// target 4 (weight 1 → 0.75), 2 tickets of target 5 (weight -1 → -0.4): 100 × 1.35 / 3 = 45.
TEST(Engagement, HandComputedScore) {
  const EngagementModel model{.window_days = 30,
                              .components = {{{"login"}, Agg::kCount, 10, 2},
                                             {{"login"}, Agg::kDistinctUsers, 4, 1},
                                             {{"ticket"}, Agg::kCount, 5, -1}}};
  std::vector<UsageEvent> events;
  for (const char* user : {"u1", "u1", "u2", "u3", ""})
    events.push_back(Use("a", "login", user, At(3, 10)));
  events.push_back(Use("a", "ticket", "u1", At(3, 11)));
  events.push_back(Use("a", "ticket", "u1", At(3, 12)));
  events.push_back(Use("a", "login", "u9", At(2, 1)));   // before the window (Feb 16..Mar 16)
  events.push_back(Use("b", "login", "u1", At(3, 10)));  // not paying
  const World w =
      Build(events, {Sub("a", At(1, 5), 1000)}, absl::UTCTimeZone(), absl::CivilDay(2024, 3, 31));
  auto scores = ScoresAt(model, w.inputs(absl::UTCTimeZone()), absl::CivilDay(2024, 3, 16));
  ASSERT_TRUE(scores.ok()) << scores.status();
  ASSERT_EQ(scores->size(), 1u) << "only paying customers are scored";
  EXPECT_EQ((*scores)[0].x, (std::vector<double>{5, 3, 2}));
  EXPECT_DOUBLE_EQ((*scores)[0].score, 45);
  // Clamped: with 9 tickets the sum is negative, the score 0; with no tickets, 100 × 1.75/3.
  EXPECT_EQ(EngagementScore(model, std::vector<double>{0, 0, 9}), 0);
  EXPECT_EQ(EngagementScore(model, std::vector<double>{20, 8, 0}), 100);
}

// Nearest-rank percentiles over the paying customers, absent with none paying.
TEST(Engagement, SeriesDistribution) {
  const EngagementModel model{.window_days = 7, .components = {{{}, Agg::kCount, 10, 1}}};
  std::vector<UsageEvent> events;
  std::vector<SubscriptionEvent> subs;
  for (int c = 1; c <= 10; ++c) {  // customer c has c events: scores 10, 20, ..., 100
    const std::string id = absl::StrCat("c", c);
    subs.push_back(Sub(id, At(1, 2), 500));
    for (int i = 0; i < c; ++i) events.push_back(Use(id, absl::StrCat("t", i), "", At(1, 20)));
  }
  const World w = Build(events, subs, absl::UTCTimeZone(), absl::CivilDay(2024, 1, 31));
  const std::vector<Period> periods = {{absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 1, 1)},
                                       {absl::CivilDay(2024, 1, 2), absl::CivilDay(2024, 1, 25)}};
  auto series = EngagementSeries(model, w.inputs(absl::UTCTimeZone()), periods);
  ASSERT_TRUE(series.ok());
  EXPECT_EQ((*series)[0].customers, 0);
  EXPECT_FALSE((*series)[0].mean.has_value());
  const EngagementPoint& p = (*series)[1];
  EXPECT_EQ(p.customers, 10);
  EXPECT_DOUBLE_EQ(*p.mean, 55);
  EXPECT_EQ(*p.p10, 10);  // rank ⌈1.0⌉ = 1
  EXPECT_EQ(*p.p25, 30);  // rank ⌈2.5⌉ = 3
  EXPECT_EQ(*p.p50, 50);  // rank 5
  EXPECT_EQ(*p.p75, 80);  // rank ⌈7.5⌉ = 8
  EXPECT_EQ(*p.p90, 90);  // rank 9
}

// Random usage across three months (in a zone with a DST change inside), customers that
// start, stop and restart paying, random models: the engine equals the reference.
TEST(Engagement, MatchesTheReferenceOnRandomData) {
  std::mt19937_64 rng(20261201);
  for (const char* zone : {"UTC", "America/New_York"}) {
    absl::TimeZone tz;
    ASSERT_TRUE(absl::LoadTimeZone(zone, &tz));
    for (int round = 0; round < 8; ++round) {
      std::uniform_int_distribution<int> pick(0, 1 << 30);
      std::vector<UsageEvent> events;
      std::vector<SubscriptionEvent> subs;
      const absl::Time start = absl::FromCivil(absl::CivilDay(2024, 2, 1), absl::UTCTimeZone());
      for (int c = 0; c < 25; ++c) {
        const std::string id = absl::StrCat("c", c);
        if (c % 5 != 4) {  // every fifth customer never pays
          absl::Time t = start + absl::Hours(pick(rng) % (24 * 40));
          subs.push_back(Sub(id, t, 100 * (1 + pick(rng) % 9)));
          if (pick(rng) % 2 == 0) {
            t += absl::Hours(1 + pick(rng) % (24 * 30));  // never two changes at one instant
            subs.push_back(Sub(id, t, 0));
            if (pick(rng) % 2 == 0)
              subs.push_back(Sub(id, t + absl::Hours(1 + pick(rng) % 500), 700));
          }
        }
        const int n = pick(rng) % 60;
        for (int i = 0; i < n; ++i) {
          events.push_back(
              Use(id, absl::StrCat("t", pick(rng) % 4), absl::StrCat("u", pick(rng) % 5),
                  start + absl::Minutes(pick(rng) % (60 * 24 * 88)), 0.5 * (pick(rng) % 9)));
          if (pick(rng) % 7 == 0) events.back().user_id.clear();
        }
      }
      for (size_t i = 0; i < subs.size(); ++i) subs[i].event_id = absl::StrCat("e", i);
      EngagementModel model{.window_days = 1 + pick(rng) % 40};
      const int k = 1 + pick(rng) % 4;
      for (int i = 0; i < k; ++i) {
        EngagementComponent comp;
        comp.aggregation = static_cast<Agg>(1 + pick(rng) % 4);
        for (int t = 0; t < 4; ++t) {
          if (pick(rng) % 3 == 0) comp.event_types.push_back(absl::StrCat("t", t));
        }
        comp.target = 1 + pick(rng) % 12;
        comp.weight = i == 0 ? 1 + pick(rng) % 3 : static_cast<double>(pick(rng) % 7) - 3;
        if (comp.weight == 0) comp.weight = 1;
        model.components.push_back(comp);
      }
      Violations violations;
      ValidateEngagementModel(model, "model", violations);
      ASSERT_TRUE(violations.empty()) << violations[0].description;
      const absl::CivilDay last(2024, 4, 30);
      const World w = Build(events, subs, tz, last);
      for (absl::CivilDay day(2024, 2, 1); day <= last; day += 7) {
        auto scores = ScoresAt(model, w.inputs(tz), day);
        ASSERT_TRUE(scores.ok()) << scores.status();
        const auto want = reference::EngagementX(model, events, subs, tz, day);
        ASSERT_EQ(scores->size(), want.size()) << zone << " " << day;
        for (const CustomerEngagement& got : *scores) {
          const std::string& id = w.ledger.customer_ids[got.customer];
          ASSERT_TRUE(want.count(id)) << id;
          EXPECT_EQ(got.x, want.at(id)) << zone << " " << day << " " << id;
          EXPECT_DOUBLE_EQ(got.score, reference::EngagementScore(model, want.at(id))) << id;
        }
      }
    }
  }
}

TEST(Engagement, ValidationNamesEveryField) {
  EngagementModel model{.window_days = 0,
                        .components = {{{"a", "a"}, static_cast<Agg>(9), 0, 0},
                                       {{std::string(300, 'x')}, Agg::kCount, 1, -1}}};
  Violations v;
  ValidateEngagementModel(model, "model", v);
  std::set<std::string> fields;
  for (const auto& f : v) fields.insert(f.field);
  EXPECT_EQ(fields,
            (std::set<std::string>{
                "model.window_days", "model.components", "model.components[0].aggregation",
                "model.components[0].target", "model.components[0].weight",
                "model.components[0].event_types[1]", "model.components[1].event_types[0]"}));
}

}  // namespace
}  // namespace saasmetrics::engine
