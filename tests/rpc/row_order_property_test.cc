// Issue 20, as a property: whatever order months are ingested in, and whatever order
// PostgreSQL returns partition rows in (heap order under the first custom plans of a
// prepared statement, index order under the generic plan that follows), every metric
// answers the same, every time, and active customers match a count of what was sent.
#include <gtest/gtest.h>

#include <map>
#include <pqxx/pqxx>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/engine/dates.h"
#include "server/rpc/convert.h"
#include "tests/support/test_server.h"

namespace saasmetrics {
namespace {

struct Sent {
  std::map<absl::CivilMonth, std::set<std::string>> active;  // UTC month → customers
};

// Other tenants' partitions, and statistics that know them and the tenant's own, as
// autovacuum would gather them.
void AnalyzedOtherTenants(const std::string& conninfo) {
  pqxx::connection conn(conninfo);
  pqxx::work w(conn);
  w.exec(
      "INSERT INTO partition_versions (tenant_id, kind, month, version) "
      "SELECT 'other' || (g / 48), 1 + g % 2, date '2019-01-01' + ((g / 2) % 24) * "
      "interval '1 month', 1 FROM generate_series(0, 5999) g");
  w.commit();
  pqxx::nontransaction(conn).exec("ANALYZE partition_versions");
}

TEST(RowOrderProperty, EveryAnswerIsTheSameAcrossThePlanSwitchAndIngestOrder) {
  constexpr int kSpan = 110;  // months from 2015-01: enough of the tenant's rows that the
                              // first plans scan the heap and the generic plan the index
  for (uint64_t seed : {1, 2}) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    std::mt19937_64 rng(seed);
    testing::TestServer server(rpc::ServerConfig{.db_pool_size = 1});
    client::Client& c = server.client();
    v1::Tenant t;
    t.set_tenant_id("acme");
    t.set_currency("USD");
    t.set_timezone("America/New_York");  // local months straddle UTC months
    ASSERT_TRUE(c.CreateTenant(t).ok());

    // A random subset of the months, ingested in random order, usage and subscriptions.
    std::vector<int> months;
    for (int m = 0; m < kSpan; ++m) {
      if (rng() % 4 != 0) months.push_back(m);
    }
    std::shuffle(months.begin(), months.end(), rng);
    Sent sent;
    int event = 0;
    for (int m : months) {
      const absl::CivilMonth month = absl::CivilMonth(2015, 1) + m;
      v1::IngestUsageEventsRequest usage;
      usage.set_tenant_id("acme");
      v1::IngestSubscriptionEventsRequest subs;
      subs.set_tenant_id("acme");
      const int n = 5 + static_cast<int>(rng() % 40);
      for (int i = 0; i < n; ++i) {
        const std::string customer = absl::StrCat("c", rng() % 60);
        const absl::Time at = absl::FromCivil(month, absl::UTCTimeZone()) +
                              absl::Seconds(static_cast<int64_t>(rng() % (27 * 86400)));
        v1::UsageEvent* e = usage.add_events();
        e->set_id(absl::StrCat(++event));
        e->set_source("app");
        e->set_type(rng() % 4 == 0 ? "report.created" : "login");
        e->set_subject(customer);
        e->mutable_value()->set_value(static_cast<double>(rng() % 100) / 3.0);
        rpc::ToProto(at, e->mutable_time());
        sent.active[month].insert(customer);
        if (rng() % 4 == 0) {
          v1::SubscriptionEvent* s = subs.add_events();
          s->set_event_id(absl::StrCat(event));
          s->set_customer_id(customer);
          s->set_subscription_id(absl::StrCat("s", rng() % 2));
          rpc::ToProto(at, s->mutable_effective_at());
          s->set_status(rng() % 5 == 0 ? v1::SUBSCRIPTION_STATUS_CANCELED
                                       : v1::SUBSCRIPTION_STATUS_ACTIVE);
          s->set_plan_id("pro");
          s->set_quantity(1);
          s->set_unit_amount(1000 + static_cast<int64_t>(rng() % 9000));
          s->set_currency("USD");
          s->set_interval_unit(v1::INTERVAL_UNIT_MONTH);
          s->set_interval_count(1);
        }
      }
      ASSERT_TRUE(c.IngestUsageEvents(usage).ok());
      if (subs.events_size() > 0) {
        ASSERT_TRUE(c.IngestSubscriptionEvents(subs).ok());
      }
    }
    AnalyzedOtherTenants(server.db().conninfo());
    v1::CreatePqlRuleRequest rule;
    rule.set_tenant_id("acme");
    rule.mutable_rule()->set_rule_id("engaged");
    rule.mutable_rule()->set_window_days(20);
    auto* cond = rule.mutable_rule()->add_conditions();
    cond->set_kind(v1::PqlCondition::KIND_VALUE_SUM);
    cond->set_event_type("login");
    cond->set_threshold(40);
    ASSERT_TRUE(c.CreatePqlRule(rule).ok());

    v1::MetricsQuery q;
    q.set_tenant_id("acme");
    q.set_start_date("2015-01-01");
    q.set_end_date("2024-02-29");
    q.set_interval(v1::INTERVAL_MONTH);
    v1::GetActiveCustomersRequest active;
    *active.mutable_query() = q;
    v1::GetPqlCountRequest pql;
    *pql.mutable_query() = q;
    pql.set_rule_id("engaged");
    v1::GetMrrRequest mrr;
    *mrr.mutable_query() = q;
    v1::GetActivationRequest activation;
    *activation.mutable_query() = q;
    activation.add_activation_event_types("report.created");

    std::string first_active, first_pql, first_mrr, first_activation;
    // Eight rounds of four queries: each prepared statement runs past its fifth execution
    // on the one connection.
    for (int round = 0; round < 8; ++round) {
      SCOPED_TRACE(absl::StrCat("round ", round));
      auto a = c.GetActiveCustomers(active);
      auto p = c.GetPqlCount(pql);
      auto m = c.GetMrr(mrr);
      auto v = c.GetActivation(activation);
      ASSERT_TRUE(a.ok()) << a.status();
      ASSERT_TRUE(p.ok()) << p.status();
      ASSERT_TRUE(m.ok()) << m.status();
      ASSERT_TRUE(v.ok()) << v.status();
      if (round == 0) {
        first_active = a->SerializeAsString();
        first_pql = p->SerializeAsString();
        first_mrr = m->SerializeAsString();
        first_activation = v->SerializeAsString();
        continue;
      }
      EXPECT_EQ(a->SerializeAsString(), first_active) << a->DebugString();
      EXPECT_EQ(p->SerializeAsString(), first_pql) << p->DebugString();
      EXPECT_EQ(m->SerializeAsString(), first_mrr) << m->DebugString();
      EXPECT_EQ(v->SerializeAsString(), first_activation) << v->DebugString();
    }

    // And the count is right: a UTC tenant's months are the UTC months sent.
    t.set_timezone("UTC");
    ASSERT_TRUE(c.UpdateTenant(t).ok());
    for (int round = 0; round < 7; ++round) {
      auto a = c.GetActiveCustomers(active);
      ASSERT_TRUE(a.ok()) << a.status();
      ASSERT_EQ(a->entries_size(), kSpan);
      for (int m = 0; m < kSpan; ++m) {
        const absl::CivilMonth month = absl::CivilMonth(2015, 1) + m;
        const auto it = sent.active.find(month);
        EXPECT_EQ(a->entries(m).active_customers(),
                  it == sent.active.end() ? 0 : static_cast<int64_t>(it->second.size()))
            << "round " << round << ", month " << absl::FormatCivilTime(month);
      }
    }
  }
}

}  // namespace
}  // namespace saasmetrics
