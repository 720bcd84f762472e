#include "server/engine/pql.h"

#include <gtest/gtest.h>

#include <map>

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
  const PqlPoint p = CountPqls(Rule(), s.usage, s.movements, s.ledger.customer_ids, kJanuary,
                               absl::UTCTimeZone(), 30, std::nullopt)[0];
  EXPECT_EQ(p.pqls, 2);         // a and d
  EXPECT_EQ(p.conversions, 1);  // a, nine days after qualifying
  EXPECT_DOUBLE_EQ(*p.conversion_rate(), 0.5);
  // A conversion window shorter than a's nine days counts none.
  EXPECT_EQ(CountPqls(Rule(), s.usage, s.movements, s.ledger.customer_ids, kJanuary,
                      absl::UTCTimeZone(), 5, std::nullopt)[0]
                .conversions,
            0);
}

TEST(Pql, WeightedScoreAndCustomerSelection) {
  Scenario s = Build();
  PqlRule r = Rule();
  r.score_threshold = 1.0;  // either condition is enough
  EXPECT_EQ(CountPqls(r, s.usage, s.movements, s.ledger.customer_ids, kJanuary, absl::UTCTimeZone(),
                      30, std::nullopt)[0]
                .pqls,
            3);  // a, b, d (c pays)
  absl::flat_hash_set<std::string> only_b = {"b"};
  EXPECT_EQ(CountPqls(r, s.usage, s.movements, s.ledger.customer_ids, kJanuary, absl::UTCTimeZone(),
                      30, only_b)[0]
                .pqls,
            1);
}

TEST(Pql, TheWindowTrailsEachDay) {
  Scenario s = Build();
  PqlRule r = Rule();
  r.window_days = 1;  // a's reports spread over Jan 1 and 3 no longer add up
  const std::vector<Period> week = {{absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 1, 7)}};
  EXPECT_EQ(CountPqls(r, s.usage, s.movements, s.ledger.customer_ids, week, absl::UTCTimeZone(), 30,
                      std::nullopt)[0]
                .pqls,
            1);  // d only
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

}  // namespace
}  // namespace saasmetrics::engine
