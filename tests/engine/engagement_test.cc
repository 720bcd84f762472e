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

namespace saasmetrics::engine {
namespace {

using Agg = EngagementComponent::Aggregation;

UsageEvent Use(const std::string& customer, const std::string& type, const std::string& user,
               absl::Time at, double value = 1) {
  UsageEvent e;
  e.customer_id = customer;
  e.type = type;
  e.user_id = user;
  e.time = at;
  e.value = value;
  return e;
}

SubscriptionEvent Sub(const std::string& customer, absl::Time at, int64_t amount) {
  SubscriptionEvent e;
  e.customer_id = customer;
  e.subscription_id = "s-" + customer;
  e.effective_at = at;
  e.status = amount > 0 ? SubscriptionStatus::kActive : SubscriptionStatus::kCanceled;
  e.quantity = 1;
  e.unit_amount = amount > 0 ? amount : 1000;
  e.interval_unit = IntervalUnit::kMonth;
  e.interval_count = 1;
  return e;
}

// The data a query hands the engine: monthly partitions with their index, the ledger and
// its movements (ordered by customer, then day), and the link between them.
struct World {
  UsagePartitions usage;
  UsageIndex index;
  Ledger ledger;
  std::vector<Movement> movements;
  std::vector<int32_t> link;
  EngagementInputs inputs(absl::TimeZone tz) const {
    return {&usage, &index, &link, &movements, ledger.customer_ids.size(), tz};
  }
};

World Build(const std::vector<UsageEvent>& events, const std::vector<SubscriptionEvent>& subs,
            absl::TimeZone tz, absl::CivilDay last_day) {
  World w;
  std::map<absl::CivilMonth, std::vector<UsageEvent>> by_month;
  for (const UsageEvent& e : events) {
    by_month[absl::CivilMonth(absl::ToCivilSecond(e.time, absl::UTCTimeZone()))].push_back(e);
  }
  for (const auto& [month, list] : by_month) {
    w.usage.push_back(std::make_shared<const UsagePartition>(BuildUsagePartition(month, list)));
  }
  w.index = BuildUsageIndex(w.usage);
  w.ledger = BuildLedger(subs);
  w.movements =
      MrrTimeline::Build(w.ledger.events, static_cast<int32_t>(w.ledger.customer_ids.size()))
          .Movements(tz, last_day);
  w.link = LinkToLedger(w.index, w.ledger);
  return w;
}

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

// The slow way: for each customer paying at the end of `day` (replaying its subscription
// events), read every raw event once per component.
std::map<std::string, std::vector<double>> Reference(const EngagementModel& model,
                                                     const std::vector<UsageEvent>& events,
                                                     const std::vector<SubscriptionEvent>& subs,
                                                     absl::TimeZone tz, absl::CivilDay day) {
  std::set<std::string> customers;
  for (const auto& s : subs) customers.insert(s.customer_id);
  const absl::Time from = absl::FromCivil(day - (model.window_days - 1), tz);
  const absl::Time until = absl::FromCivil(day + 1, tz);
  std::map<std::string, std::vector<double>> out;
  for (const std::string& c : customers) {
    if (reference::StateBefore(subs, c, until).mrr <= 0) continue;
    std::vector<double>& x = out[c];
    for (const EngagementComponent& comp : model.components) {
      double v = 0;
      std::set<absl::CivilDay> days;
      std::set<std::string> users;
      for (const UsageEvent& e : events) {
        if (e.customer_id != c || e.time < from || e.time >= until) continue;
        if (!comp.event_types.empty() && std::find(comp.event_types.begin(), comp.event_types.end(),
                                                   e.type) == comp.event_types.end()) {
          continue;
        }
        if (comp.aggregation == Agg::kCount) v += 1;
        if (comp.aggregation == Agg::kValueSum) v += e.value;
        if (comp.aggregation == Agg::kActiveDays) days.insert(absl::ToCivilDay(e.time, tz));
        if (comp.aggregation == Agg::kDistinctUsers && !e.user_id.empty()) users.insert(e.user_id);
      }
      if (comp.aggregation == Agg::kActiveDays) v = static_cast<double>(days.size());
      if (comp.aggregation == Agg::kDistinctUsers) v = static_cast<double>(users.size());
      x.push_back(v);
    }
  }
  return out;
}

double ReferenceScore(const EngagementModel& model, const std::vector<double>& x) {
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const auto& c = model.components[i];
    num += c.weight * (x[i] >= c.target ? 1.0 : x[i] / c.target);
    if (c.weight > 0) den += c.weight;
  }
  const double s = 100 * num / den;
  return s < 0 ? 0 : s > 100 ? 100 : s;
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
        const auto want = Reference(model, events, subs, tz, day);
        ASSERT_EQ(scores->size(), want.size()) << zone << " " << day;
        for (const CustomerEngagement& got : *scores) {
          const std::string& id = w.ledger.customer_ids[got.customer];
          ASSERT_TRUE(want.count(id)) << id;
          EXPECT_EQ(got.x, want.at(id)) << zone << " " << day << " " << id;
          EXPECT_DOUBLE_EQ(got.score, ReferenceScore(model, want.at(id))) << id;
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
