// Health groups (ANALYTICS.md "Health groups"): each edge the definition names worked by
// hand, the transition matrix, the slow reference on randomized histories (pauses,
// reactivations, a DST zone), and the policy's validation.
#include "server/engine/health.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/engine/reference.h"
#include "tests/engine/world.h"

namespace saasmetrics::engine {
namespace {

using Agg = EngagementComponent::Aggregation;

absl::Time At(int m, int d, int h = 12) {
  return absl::FromCivil(absl::CivilSecond(2024, m, d, h, 0, 0), absl::UTCTimeZone());
}

// Group and reasons of each customer in `health`, as "group:reason,reason".
std::map<std::string, std::string> Describe(const World& w,
                                            const std::vector<CustomerHealth>& health) {
  std::map<std::string, std::string> out;
  for (const CustomerHealth& h : health) {
    out[w.ledger.customer_ids[h.customer]] = absl::StrCat(
        HealthGroupName(h.group), ":", absl::StrJoin(HealthReasonNames(h.reasons), ","));
  }
  return out;
}

// One customer per rule, on 2024-06-30 with the default policy and a model of logins
// (7 days, target 10): the first rule that applies decides, and every reason is named.
TEST(Health, EachRuleWorkedByHand) {
  const EngagementModel model{.window_days = 7, .components = {{{"login"}, Agg::kCount, 10, 1}}};
  std::vector<SubscriptionEvent> subs;
  std::vector<UsageEvent> events;
  auto logins = [&](const std::string& c, int n, absl::Time at) {
    for (int i = 0; i < n; ++i) events.push_back(Use(c, "login", "", at));
  };
  for (const char* c : {"power", "normal", "low", "idle", "paused", "lost", "gone", "never"}) {
    if (std::string(c) != "never") subs.push_back(Sub(c, At(1, 10), 1000));
  }
  logins("power", 8, At(6, 28));   // score 80 ≥ 70
  logins("normal", 5, At(6, 28));  // 50
  logins("low", 2, At(6, 29));     // 20 < 30
  logins("idle", 8, At(6, 10));    // 0 in the model's week, nothing in 14 days: low and inactive
  // Another event type keeps it active while the model sees nothing.
  events.push_back(Use("low", "report", "", At(6, 30)));
  subs.push_back(Sub("paused", At(6, 1), 0, /*paused=*/true));  // paused: at risk, whatever it does
  logins("paused", 9, At(6, 29));
  subs.push_back(Sub("lost", At(4, 2), 0));  // churned 89 days before June 30: lost
  subs.push_back(Sub("gone", At(4, 1), 0));  // 90 days before: in no group
  logins("never", 10, At(6, 29));            // never paid: not listed at all
  const World w = Build(events, subs, absl::UTCTimeZone(), absl::CivilDay(2024, 6, 30));
  const HealthInputs in{w.inputs(absl::UTCTimeZone()), &w.pauses};
  auto health = HealthAt(HealthPolicy{}, &model, in, {absl::CivilDay(2024, 6, 30)});
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(Describe(w, (*health)[0]), (std::map<std::string, std::string>{
                                           {"power", "power:high_score"},
                                           {"normal", "normal:"},
                                           {"low", "at_risk:low_score"},
                                           {"idle", "at_risk:low_score,inactive"},
                                           {"paused", "at_risk:paused"},
                                           {"lost", "lost:churned"},
                                           {"gone", "none:"},
                                       }));
  for (const CustomerHealth& h : (*health)[0]) {
    const std::string& id = w.ledger.customer_ids[h.customer];
    if (id == "power") {
      EXPECT_EQ(h.score, 80);
    }
    if (id == "lost") {
      EXPECT_EQ(h.churn_day, absl::CivilDay(2024, 4, 2));
    }
    if (id == "paused" || id == "lost") {
      EXPECT_FALSE(h.score.has_value()) << id;
    }
    EXPECT_EQ(h.mrr, id == "power" || id == "normal" || id == "low" || id == "idle" ? 1000 : 0);
  }
  // Without a model only activity and pauses apply, and no customer is power.
  health = HealthAt(HealthPolicy{}, nullptr, in, {absl::CivilDay(2024, 6, 30)});
  ASSERT_TRUE(health.ok());
  const auto plain = Describe(w, (*health)[0]);
  EXPECT_EQ(plain.at("power"), "normal:");
  EXPECT_EQ(plain.at("low"), "normal:");
  EXPECT_EQ(plain.at("idle"), "at_risk:inactive");
  EXPECT_EQ(plain.at("paused"), "at_risk:paused");
}

// A paused customer whose paused subscription is then canceled churns on that day (its
// churn day), not on the day it paused; a reactivated customer leaves lost.
TEST(Health, ChurnDayOfAPausedCustomerAndReactivation) {
  std::vector<SubscriptionEvent> subs = {
      Sub("p", At(1, 5), 1000), Sub("p", At(2, 1), 0, /*paused=*/true),
      Sub("p", At(5, 20), 0),   Sub("r", At(1, 5), 1000),
      Sub("r", At(2, 1), 0),    Sub("r", At(3, 1), 500)};
  for (size_t i = 0; i < subs.size(); ++i) subs[i].seq = static_cast<int64_t>(i);
  const World w = Build({}, subs, absl::UTCTimeZone(), absl::CivilDay(2024, 6, 30));
  const HealthInputs in{w.inputs(absl::UTCTimeZone()), &w.pauses};
  HealthPolicy policy;
  policy.lost_window_days = 30;
  auto health = HealthAt(policy, nullptr, in,
                         {absl::CivilDay(2024, 2, 15), absl::CivilDay(2024, 6, 1),
                          absl::CivilDay(2024, 6, 18), absl::CivilDay(2024, 6, 19)});
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(Describe(w, (*health)[0]),
            (std::map<std::string, std::string>{{"p", "at_risk:paused"}, {"r", "lost:churned"}}));
  EXPECT_EQ(Describe(w, (*health)[1]),  // churned May 20; r pays again, with no usage
            (std::map<std::string, std::string>{{"p", "lost:churned"}, {"r", "at_risk:inactive"}}));
  EXPECT_EQ(Describe(w, (*health)[2]).at("p"), "lost:churned");  // 29 days after: within 30
  EXPECT_EQ(Describe(w, (*health)[3]).at("p"), "none:");         // 30 days after: not
  for (const CustomerHealth& h : (*health)[1]) {
    if (w.ledger.customer_ids[h.customer] == "p") {
      EXPECT_EQ(h.churn_day, absl::CivilDay(2024, 5, 20));
    }
  }
}

// Counts, MRR and the transition matrix between period ends, by hand: in January a and b
// start, in February b pauses and c starts, in March a churns.
TEST(Health, SeriesCountsAndTransitions) {
  std::vector<SubscriptionEvent> subs = {Sub("a", At(1, 3), 1000), Sub("b", At(1, 3), 500),
                                         Sub("b", At(2, 3), 0, true), Sub("c", At(2, 3), 200),
                                         Sub("a", At(3, 3), 0)};
  for (size_t i = 0; i < subs.size(); ++i) subs[i].seq = static_cast<int64_t>(i);
  std::vector<UsageEvent> events;
  for (int m = 1; m <= 3; ++m) {
    for (const char* c : {"a", "b", "c"}) events.push_back(Use(c, "x", "", At(m, 28)));
  }
  const World w = Build(events, subs, absl::UTCTimeZone(), absl::CivilDay(2024, 3, 31));
  const HealthInputs in{w.inputs(absl::UTCTimeZone()), &w.pauses};
  const std::vector<Period> periods = {{absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 1, 31)},
                                       {absl::CivilDay(2024, 2, 1), absl::CivilDay(2024, 2, 29)},
                                       {absl::CivilDay(2024, 3, 1), absl::CivilDay(2024, 3, 31)}};
  auto series = HealthSeries(HealthPolicy{}, nullptr, in, periods);
  ASSERT_TRUE(series.ok());
  constexpr int kNone = 0, kNormal = 2, kAtRisk = 3, kLost = 4;
  const HealthPoint& jan = (*series)[0];
  EXPECT_EQ(jan.customers[kNormal], 2);
  EXPECT_EQ(jan.mrr[kNormal], 1500);
  EXPECT_EQ(jan.moved[kNone][kNormal], 2);
  const HealthPoint& feb = (*series)[1];
  EXPECT_EQ(feb.customers[kNormal], 2);  // a, c
  EXPECT_EQ(feb.mrr[kNormal], 1200);
  EXPECT_EQ(feb.customers[kAtRisk], 1);  // b, paused
  EXPECT_EQ(feb.mrr[kAtRisk], 0);
  EXPECT_EQ(feb.moved[kNormal][kNormal], 1);
  EXPECT_EQ(feb.moved[kNormal][kAtRisk], 1);
  EXPECT_EQ(feb.moved[kNone][kNormal], 1);
  const HealthPoint& mar = (*series)[2];
  EXPECT_EQ(mar.customers[kLost], 1);
  EXPECT_EQ(mar.moved[kNormal][kLost], 1);
  EXPECT_EQ(mar.moved[kAtRisk][kAtRisk], 1);
  EXPECT_EQ(mar.moved[kNormal][kNormal], 1);
  int64_t moved = 0;
  for (const auto& row : mar.moved) {
    for (int64_t n : row) moved += n;
  }
  EXPECT_EQ(moved, 3) << "every customer that ever paid, once; none → none is not counted";
}

// With a trained churn model, a paying customer it puts at or above risk_at_least is at
// risk for that reason alone (ANALYTICS.md "Health groups"); every day read needs the list.
TEST(Health, ChurnRiskPutsAPayingCustomerAtRisk) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  const absl::Time start = absl::FromCivil(absl::CivilDay(2024, 1, 2), utc);
  const std::vector<SubscriptionEvent> subs = {Sub("a", start, 1000), Sub("b", start, 1000)};
  std::vector<UsageEvent> usage;
  for (const char* id : {"a", "b"}) {
    usage.push_back(Use(id, "login", "", absl::FromCivil(absl::CivilDay(2024, 1, 30), utc)));
  }
  const World w = Build(usage, subs, utc, absl::CivilDay(2024, 1, 31));
  const int32_t b = w.ledger.customer_ids[0] == "b" ? 0 : 1;
  const ChurnRisk risk{.days = {absl::CivilDay(2024, 1, 31)}, .at_risk = {{b}}};
  const HealthInputs in{w.inputs(utc), &w.pauses, &risk};
  auto health = HealthAt(HealthPolicy{}, nullptr, in, {absl::CivilDay(2024, 1, 31)});
  ASSERT_TRUE(health.ok()) << health.status();
  ASSERT_EQ((*health)[0].size(), 2u);
  for (const CustomerHealth& h : (*health)[0]) {
    if (h.customer == b) {
      EXPECT_EQ(h.group, HealthGroup::kAtRisk);
      EXPECT_EQ(h.reasons, kReasonChurnRisk);
      EXPECT_EQ(absl::StrJoin(HealthReasonNames(h.reasons), ","), "churn_risk");
    } else {
      EXPECT_EQ(h.group, HealthGroup::kNormal);
    }
  }
  // A day without the list is a bug of the caller, not a guess.
  auto missing = HealthAt(HealthPolicy{}, nullptr, in, {absl::CivilDay(2024, 1, 30)});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInternal);
}

// Randomized histories in two zones (one with a DST change inside): customers that start,
// pause, resume, churn and return on random days, random usage, random models and policies:
// the engine equals the reference replaying raw events day by day.
TEST(Health, MatchesTheReferenceOnRandomData) {
  std::mt19937_64 rng(20261202);
  for (const char* zone : {"UTC", "America/New_York"}) {
    absl::TimeZone tz;
    ASSERT_TRUE(absl::LoadTimeZone(zone, &tz));
    for (int round = 0; round < 6; ++round) {
      std::uniform_int_distribution<int> pick(0, 1 << 30);
      std::vector<UsageEvent> events;
      std::vector<SubscriptionEvent> subs;
      const absl::Time start = absl::FromCivil(absl::CivilDay(2024, 1, 15), absl::UTCTimeZone());
      for (int c = 0; c < 20; ++c) {
        const std::string id = absl::StrCat("c", c);
        absl::Time t = start + absl::Hours(pick(rng) % (24 * 30));
        const int changes = pick(rng) % 5;
        subs.push_back(Sub(id, t, 100 * (1 + pick(rng) % 9)));
        for (int i = 0; i < changes; ++i) {
          t += absl::Hours(1 + pick(rng) % (24 * 25));
          const int kind = pick(rng) % 4;
          subs.push_back(Sub(id, t, kind == 0 ? 0 : kind == 1 ? 300 : 0, /*paused=*/kind == 2));
        }
        const int n = pick(rng) % 40;
        for (int i = 0; i < n; ++i) {
          events.push_back(Use(id, absl::StrCat("t", pick(rng) % 3), "",
                               start + absl::Minutes(pick(rng) % (60 * 24 * 100))));
        }
      }
      for (size_t i = 0; i < subs.size(); ++i) {
        subs[i].event_id = absl::StrCat("e", i);
        subs[i].seq = static_cast<int64_t>(i);
      }
      EngagementModel model{.window_days = 1 + pick(rng) % 20,
                            .components = {{{"t0"}, Agg::kCount, 1.0 + pick(rng) % 5, 2},
                                           {{"t1"}, Agg::kActiveDays, 3, -1}}};
      HealthPolicy policy;
      policy.at_risk_below = pick(rng) % 40;
      policy.power_at_least = policy.at_risk_below + pick(rng) % 50;
      policy.inactive_days = 1 + pick(rng) % 20;
      policy.lost_window_days = 1 + pick(rng) % 40;
      const absl::CivilDay last(2024, 4, 30);
      const World w = Build(events, subs, tz, last);
      const HealthInputs in{w.inputs(tz), &w.pauses};
      std::vector<absl::CivilDay> days;
      for (absl::CivilDay day(2024, 1, 20); day <= last; day += 3) days.push_back(day);
      // The series split in two runs (run here in reverse order) equals the single walk.
      const std::vector<Period> periods =
          CutPeriods(absl::CivilDay(2024, 1, 20), last, Interval::kWeek);
      auto whole = HealthSeries(policy, &model, in, periods);
      auto split = HealthSeries(policy, &model, in, periods, nullptr,
                                [](std::vector<std::function<void()>>& tasks) {
                                  for (auto it = tasks.rbegin(); it != tasks.rend(); ++it) (*it)();
                                });
      ASSERT_TRUE(whole.ok() && split.ok());
      ASSERT_EQ(whole->size(), split->size());
      for (size_t i = 0; i < whole->size(); ++i) {
        EXPECT_EQ((*whole)[i].customers, (*split)[i].customers) << i;
        EXPECT_EQ((*whole)[i].mrr, (*split)[i].mrr) << i;
        EXPECT_EQ((*whole)[i].moved, (*split)[i].moved) << i;
      }
      for (const EngagementModel* m : std::vector<const EngagementModel*>{&model, nullptr}) {
        auto health = HealthAt(policy, m, in, days);
        ASSERT_TRUE(health.ok()) << health.status();
        for (size_t d = 0; d < days.size(); ++d) {
          const auto want = reference::Health(policy, m, events, subs, tz, days[d]);
          ASSERT_EQ((*health)[d].size(), want.size()) << zone << " " << days[d];
          for (const CustomerHealth& got : (*health)[d]) {
            const std::string& id = w.ledger.customer_ids[got.customer];
            const auto& ref = want.at(id);
            const std::string where =
                absl::StrCat(zone, " ", absl::FormatCivilTime(days[d]), " ", id);
            EXPECT_EQ(HealthGroupName(got.group), ref.group) << where;
            std::vector<std::string> reasons;
            for (absl::string_view r : HealthReasonNames(got.reasons)) reasons.emplace_back(r);
            EXPECT_EQ(reasons, ref.reasons) << where;
            EXPECT_EQ(got.mrr, ref.mrr) << where;
            EXPECT_EQ(got.score.has_value(), ref.score.has_value()) << where;
            if (got.score.has_value() && ref.score.has_value()) {
              EXPECT_DOUBLE_EQ(*got.score, *ref.score) << where;
            }
          }
        }
      }
      // Transitions day by day over a stretch: the reference's groups at the ends of
      // consecutive days, compared (a customer absent from the reference had never paid:
      // none).
      const absl::CivilDay from(2024, 2, 10), to(2024, 3, 5);
      auto moves = HealthTransitions(policy, &model, in, from, to);
      ASSERT_TRUE(moves.ok()) << moves.status();
      std::set<std::string> got, want;
      for (const HealthTransition& t : *moves) {
        std::vector<std::string> reasons;
        for (absl::string_view r : HealthReasonNames(t.reasons)) reasons.emplace_back(r);
        got.insert(absl::StrCat(absl::FormatCivilTime(t.day), " ",
                                w.ledger.customer_ids[t.customer], " ", HealthGroupName(t.from),
                                ">", HealthGroupName(t.to), " ", absl::StrJoin(reasons, ","), " ",
                                t.mrr));
      }
      auto before = reference::Health(policy, &model, events, subs, tz, from - 1);
      for (absl::CivilDay d = from; d <= to; ++d) {
        auto after = reference::Health(policy, &model, events, subs, tz, d);
        for (const auto& [id, h] : after) {
          const auto was = before.find(id);
          const std::string old = was == before.end() ? "none" : was->second.group;
          if (old == h.group) continue;
          want.insert(absl::StrCat(absl::FormatCivilTime(d), " ", id, " ", old, ">", h.group, " ",
                                   absl::StrJoin(h.reasons, ","), " ", h.mrr));
        }
        before = std::move(after);
      }
      EXPECT_EQ(got, want) << zone << " round " << round;
      EXPECT_FALSE(want.empty());
    }
  }
}

TEST(Health, PolicyValidationNamesTheField) {
  auto fields = [](const HealthPolicy& p) {
    Violations v;
    ValidateHealthPolicy(p, "tenant.health_policy", v);
    std::set<std::string> out;
    for (const auto& f : v) out.insert(f.field);
    return out;
  };
  EXPECT_TRUE(fields(HealthPolicy{}).empty());
  HealthPolicy p;
  p.at_risk_below = 80;  // above power_at_least: out of order
  EXPECT_EQ(fields(p), std::set<std::string>{"tenant.health_policy.at_risk_below"});
  p = HealthPolicy{.engagement_model_id = "Bad Id",
                   .power_at_least = 101,
                   .at_risk_below = -1,
                   .inactive_days = 0,
                   .lost_window_days = 4000,
                   .risk_at_least = 1.5};
  EXPECT_EQ(fields(p), (std::set<std::string>{
                           "tenant.health_policy.engagement_model_id",
                           "tenant.health_policy.power_at_least",
                           "tenant.health_policy.at_risk_below",
                           "tenant.health_policy.inactive_days",
                           "tenant.health_policy.lost_window_days",
                           "tenant.health_policy.risk_at_least",
                       }));
}

}  // namespace
}  // namespace saasmetrics::engine
