// Metric queries: the same answers from plain SQL in PostgreSQL and from the service,
// cold (--cache_bytes=0: every partition loaded per query) and warm (cached). Checks the
// answers agree, then prints medians, ratios and peak RSS.
//   metrics_bench [--customers=200000] [--months=36] [--usage=5000000] [--runs=5]
//                 [--load_calls=200] [--load_rate=90000] [--tight_query_memory_mb=192]
// Also: each query right after one late write into the same tenant, warm MRR latency
// while events stream into the same tenant, the physical floor of each warm query, and a
// cold server whose query memory is held to --tight_query_memory_mb (its peak RSS).
#include <benchmark/benchmark.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/client.h"
#include "client/generator.h"
#include "saasmetrics/v1/admin.grpc.pb.h"
#include "saasmetrics/v1/ingest.grpc.pb.h"
#include "saasmetrics/v1/metrics.grpc.pb.h"
#include "server/engine/timeline.h"
#include "tests/bench/bench_support.h"
#include "tests/support/grpc_test_util.h"

namespace saasmetrics::bench {
namespace {

// Each customer's MRR at the end of every day it changes (`b`; `a` before it, net within
// the day), from subscription events before $2, with $1 the tenant: the daily ledger both
// the movements and the PQL statements start from.
constexpr const char* kDailyMrrCtes = R"sql(
WITH ev AS (
  SELECT customer_id, subscription_id, effective_at, seq, (status = 4)::int AS paused,
    CASE WHEN status IN (1, 2) THEN round(
      ((unit_amount::numeric * quantity * (10000 - discount_bps) - discount_amount::numeric * 10000)
        * CASE interval_unit WHEN 1 THEN 365 WHEN 2 THEN 52 ELSE 1 END)
      / (10000 * interval_count * CASE interval_unit WHEN 3 THEN 1 ELSE 12 END))::bigint
    ELSE 0 END AS mrr
  FROM subscription_events WHERE tenant_id = $1 AND effective_at < $2::timestamptz),
d AS (
  SELECT customer_id, (effective_at AT TIME ZONE 'UTC')::date AS day,
    mrr - coalesce(lag(mrr) OVER w, 0) AS dmrr, paused - coalesce(lag(paused) OVER w, 0) AS dp
  FROM ev WINDOW w AS (PARTITION BY customer_id, subscription_id ORDER BY effective_at, seq)),
daily AS (SELECT customer_id, day, sum(dmrr) AS dmrr, sum(dp) AS dp FROM d GROUP BY 1, 2),
run AS (
  SELECT customer_id, day, sum(dmrr) OVER c AS b, sum(dmrr) OVER c - dmrr AS a,
    sum(dp) OVER c AS paused_end, sum(dp) OVER c - dp AS paused_start
  FROM daily WINDOW c AS (PARTITION BY customer_id ORDER BY day)))sql";

// Daily customer MRR changes classified as METRICS.md says, summed per month ($3: the
// first day): what GetMrr's movements are, in one SQL statement.
const std::string kMovementsSql = std::string(kDailyMrrCtes) + R"sql(,
flagged AS (
  SELECT *, coalesce(max(b) OVER (PARTITION BY customer_id ORDER BY day
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) > 0 AS paid_before FROM run)
SELECT to_char(date_trunc('month', day), 'YYYY-MM'),
  sum(CASE WHEN a = 0 AND NOT paid_before THEN b - a ELSE 0 END),
  sum(CASE WHEN (a > 0 AND b > a) OR (a = 0 AND paid_before AND paused_start > 0) THEN b - a ELSE 0 END),
  sum(CASE WHEN (a > 0 AND b > 0 AND b < a) OR (a > 0 AND b = 0 AND paused_end > 0) THEN b - a ELSE 0 END),
  sum(CASE WHEN a > 0 AND b = 0 AND paused_end <= 0 THEN b - a ELSE 0 END),
  sum(CASE WHEN a = 0 AND paid_before AND paused_start <= 0 THEN b - a ELSE 0 END)
FROM flagged WHERE a <> b AND day >= $3::date GROUP BY 1 ORDER BY 1)sql";

constexpr const char* kActiveSql = R"sql(
SELECT to_char(date_trunc('month', time AT TIME ZONE 'UTC'), 'YYYY-MM'), count(DISTINCT customer_id)
FROM usage_events WHERE tenant_id = $1 AND time >= $2::timestamptz AND time < $3::timestamptz
GROUP BY 1 ORDER BY 1)sql";

// PQL count for the days $3..$4, rule "at least 5 report.created events in the trailing
// 30 days", as METRICS.md defines it: customers that, on some day D, meet the rule over
// D-29..D while their MRR at the end of D is 0 (no stretch of the daily ledger with
// positive MRR covers D).
const std::string kPqlSql = std::string(kDailyMrrCtes) + R"sql(,
days AS (SELECT g::date AS day FROM generate_series($3::date, $4::date, '1 day') g),
per_day AS (
  SELECT customer_id, (time AT TIME ZONE 'UTC')::date AS day, count(*) AS n
  FROM usage_events
  WHERE tenant_id = $1 AND type = 'report.created'
    AND time >= ($3::date - 29)::timestamp AT TIME ZONE 'UTC' AND time < $2::timestamptz
  GROUP BY 1, 2),
qualified AS (
  SELECT p.customer_id, d.day FROM days d
  JOIN per_day p ON p.day BETWEEN d.day - 29 AND d.day
  GROUP BY 1, 2 HAVING sum(p.n) >= 5),
paying AS (
  SELECT customer_id, day AS from_day,
    lead(day) OVER (PARTITION BY customer_id ORDER BY day) AS to_day, b
  FROM run)
SELECT count(DISTINCT q.customer_id) FROM qualified q
WHERE NOT EXISTS (
  SELECT 1 FROM paying p WHERE p.customer_id = q.customer_id AND p.b > 0
    AND p.from_day <= q.day AND (p.to_day IS NULL OR q.day < p.to_day)))sql";

// Health groups (ANALYTICS.md, the default policy, the benchmark's two-component model:
// login active days of 12 weighted 2, report.created events of 10 weighted 1, 30 days) at
// each month end from $3 to $4: per month end and group, customers and MRR. The daily
// ledger gives each customer's state at a month end (MRR, paused, ever paid, last churn
// day); trailing-window usage counts per customer and month end give score and activity.
const std::string kHealthSql = std::string(kDailyMrrCtes) + R"sql(,
flagged AS (
  SELECT *, coalesce(max(b) OVER (PARTITION BY customer_id ORDER BY day
              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) > 0 AS paid_before,
    lead(day) OVER (PARTITION BY customer_id ORDER BY day) AS next_day
  FROM run),
marked AS (
  SELECT *,
    max(CASE WHEN (paid_before OR b > 0) AND b = 0 AND paused_end <= 0
             AND NOT (paid_before AND a = 0 AND paused_start <= 0) THEN day END)
      OVER (PARTITION BY customer_id ORDER BY day) AS churn_day,
    bool_or(b > 0) OVER (PARTITION BY customer_id ORDER BY day) AS ever
  FROM flagged),
ends AS (
  SELECT (date_trunc('month', g) + interval '1 month - 1 day')::date AS e
  FROM generate_series($3::date, $4::date, interval '1 month') g),
state AS (
  SELECT ends.e, m.customer_id, m.b AS mrr, m.b = 0 AND m.paused_end > 0 AS paused, m.churn_day
  FROM ends JOIN marked m ON m.day <= ends.e AND (m.next_day IS NULL OR ends.e < m.next_day)
  WHERE m.ever),
usage_days AS (
  SELECT customer_id, (time AT TIME ZONE 'UTC')::date AS day, bool_or(type = 'login') AS login,
    count(*) FILTER (WHERE type = 'report.created') AS reports
  FROM usage_events
  WHERE tenant_id = $1 AND time >= (($3::date - 31)::timestamp AT TIME ZONE 'UTC')
    AND time < $2::timestamptz
  GROUP BY 1, 2),
usage_at AS (
  SELECT ends.e, u.customer_id, count(*) FILTER (WHERE u.login) AS login_days,
    sum(u.reports) AS reports, bool_or(u.day > ends.e - 14) AS active
  FROM ends JOIN usage_days u ON u.day > ends.e - 30 AND u.day <= ends.e
  GROUP BY 1, 2),
scored AS (
  SELECT s.*, coalesce(u.active, false) AS active,
    greatest(0, least(100, 100.0 * (2 * least(coalesce(u.login_days, 0)::float8 / 12, 1)
                                    + 1 * least(coalesce(u.reports, 0)::float8 / 10, 1)) / 3))
      AS score
  FROM state s LEFT JOIN usage_at u ON u.e = s.e AND u.customer_id = s.customer_id)
SELECT to_char(e, 'YYYY-MM-DD'),
  CASE WHEN mrr = 0 AND NOT paused THEN
         CASE WHEN churn_day > e - 90 THEN 'LOST' ELSE 'NONE' END
       WHEN paused OR score < 30 OR NOT active THEN 'AT_RISK'
       WHEN score >= 70 THEN 'POWER' ELSE 'NORMAL' END AS grp,
  count(*), sum(mrr)
FROM scored GROUP BY 1, 2 ORDER BY 1, 2)sql";

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename Fn>
std::vector<double> Time(int runs, Fn fn) {
  std::vector<double> out;
  for (int i = 0; i < runs; ++i) {
    const absl::Time start = absl::Now();
    fn();
    out.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
  }
  return out;
}

}  // namespace
}  // namespace saasmetrics::bench

int main(int argc, char** argv) {
  using namespace saasmetrics;
  using namespace saasmetrics::bench;
  client::GeneratorOptions gen{.seed = 42,
                               .customers = 200000,
                               .months = 36,
                               .first_month = absl::CivilMonth(2021, 1),
                               .usage_events = 5000000};
  int runs = 5;
  int load_calls = 200;
  double load_rate = 90000;  // half the ingest benchmark's service rate
  int64_t tight_mb = 192;
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (absl::ConsumePrefix(&a, "--customers="))
      (void)absl::SimpleAtoi(a, &gen.customers);
    else if (absl::ConsumePrefix(&a, "--months="))
      (void)absl::SimpleAtoi(a, &gen.months);
    else if (absl::ConsumePrefix(&a, "--usage="))
      (void)absl::SimpleAtoi(a, &gen.usage_events);
    else if (absl::ConsumePrefix(&a, "--runs="))
      (void)absl::SimpleAtoi(a, &runs);
    else if (absl::ConsumePrefix(&a, "--load_calls="))
      (void)absl::SimpleAtoi(a, &load_calls);
    else if (absl::ConsumePrefix(&a, "--load_rate="))
      (void)absl::SimpleAtod(a, &load_rate);
    else if (absl::ConsumePrefix(&a, "--tight_query_memory_mb="))
      (void)absl::SimpleAtoi(a, &tight_mb);
  }
  testing::TestDatabase db;
  BenchServer warm = StartServer(db.conninfo());
  client::Client c({.address = warm.address, .timeout = absl::Minutes(10)});
  {
    v1::Tenant t;
    t.set_tenant_id("bench");
    t.set_currency("USD");
    if (!c.CreateTenant(t).ok()) return 1;
  }
  const absl::Time load_start = absl::Now();
  const client::GeneratedData data = client::Generate(gen);
  constexpr size_t kBatch = 10000;
  for (size_t i = 0; i < data.customers.size(); i += kBatch) {
    v1::UpsertCustomersRequest req;
    req.set_tenant_id("bench");
    for (size_t j = i; j < std::min(i + kBatch, data.customers.size()); ++j)
      *req.add_customers() = data.customers[j];
    if (!c.UpsertCustomers(req).ok()) return 1;
  }
  for (size_t i = 0; i < data.subscription_events.size(); i += kBatch) {
    v1::IngestSubscriptionEventsRequest req;
    req.set_tenant_id("bench");
    for (size_t j = i; j < std::min(i + kBatch, data.subscription_events.size()); ++j) {
      *req.add_events() = data.subscription_events[j];
    }
    auto r = c.IngestSubscriptionEvents(req);
    if (!r.ok()) {
      fprintf(stderr, "%s\n", std::string(r.status().message()).c_str());
      return 1;
    }
  }
  {
    auto stub = v1::IngestService::NewStub(
        grpc::CreateChannel(warm.address, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    testing::AddToken(&ctx);
    auto stream = stub->StreamIngest(&ctx);
    client::GenerateUsage(gen, data, static_cast<int>(kBatch),
                          [&](std::vector<v1::UsageEvent>&& events) {
                            v1::IngestBatch b;
                            b.set_tenant_id("bench");
                            for (auto& e : events)
                              *b.mutable_usage_events()->add_events() = std::move(e);
                            v1::IngestAck ack;
                            if (!stream->Write(b) || !stream->Read(&ack) || ack.error_code() != 0)
                              std::exit(1);
                          });
    stream->WritesDone();
    stream->Finish();
  }
  // Issue 17: the same subscriptions in a second tenant, with its customers in DE billed in
  // EUR and in GB in GBP (a weekly rate table): converted MRR against the single-currency
  // figure, interleaved below.
  client::GeneratorOptions fx_gen = gen;
  fx_gen.local_currencies = true;
  const client::GeneratedData fx_data = client::Generate(fx_gen);
  {
    v1::Tenant t;
    t.set_tenant_id("bench-fx");
    t.set_currency("USD");
    if (auto created = c.CreateTenant(t); !created.ok()) {
      fprintf(stderr, "CreateTenant: %s\n", created.status().ToString().c_str());
      return 1;
    }
    v1::RecordExchangeRatesRequest rates;
    rates.set_tenant_id("bench-fx");
    for (const auto& r : fx_data.exchange_rates) *rates.add_rates() = r;
    auto stub = v1::IngestService::NewStub(
        grpc::CreateChannel(warm.address, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    testing::AddToken(&ctx);
    v1::IngestResult result;
    if (grpc::Status st = stub->RecordExchangeRates(&ctx, rates, &result); !st.ok()) {
      fprintf(stderr, "RecordExchangeRates: %s\n", st.error_message().c_str());
      return 1;
    }
  }
  for (size_t i = 0; i < fx_data.subscription_events.size(); i += kBatch) {
    v1::IngestSubscriptionEventsRequest req;
    req.set_tenant_id("bench-fx");
    for (size_t j = i; j < std::min(i + kBatch, fx_data.subscription_events.size()); ++j) {
      *req.add_events() = fx_data.subscription_events[j];
    }
    if (auto r = c.IngestSubscriptionEvents(req); !r.ok()) {
      fprintf(stderr, "IngestSubscriptionEvents (three currencies): %s\n",
              r.status().ToString().c_str());
      return 1;
    }
  }
  {
    pqxx::connection conn(db.conninfo());
    pqxx::nontransaction t(conn);
    t.exec("ANALYZE");
  }
  printf("loaded %d customers, %zu subscription events, %lld usage events in %.0f s\n",
         gen.customers, data.subscription_events.size(), static_cast<long long>(gen.usage_events),
         absl::ToDoubleSeconds(absl::Now() - load_start));

  BenchServer cold = StartServer(db.conninfo(), {"--cache_bytes=0"});
  const std::string first = absl::FormatCivilTime(absl::CivilDay(gen.first_month));
  const std::string last = absl::FormatCivilTime(absl::CivilDay(gen.first_month + gen.months) - 1);
  const std::string until = absl::FormatCivilTime(absl::CivilDay(gen.first_month + gen.months));

  // SQL.
  pqxx::connection conn(db.conninfo());
  pqxx::result sql_movements, sql_active;
  auto sql_mrr = Time(runs, [&] {
    pqxx::read_transaction t(conn);
    sql_movements = t.exec_params(kMovementsSql, "bench", until, first);
  });
  auto sql_act = Time(runs, [&] {
    pqxx::read_transaction t(conn);
    sql_active = t.exec_params(kActiveSql, "bench", first, until);
  });
  // PQLs in the last month of the data.
  const absl::CivilMonth pql_month = gen.first_month + (gen.months - 1);
  const std::string pql_first = absl::FormatCivilTime(absl::CivilDay(pql_month));
  int64_t sql_pqls = -1;
  auto sql_pql = Time(runs, [&] {
    pqxx::read_transaction t(conn);
    sql_pqls = t.exec_params1(kPqlSql, "bench", until, pql_first, last)[0].as<int64_t>();
  });

  // Service.
  v1::GetMrrRequest mrr_req;
  mrr_req.mutable_query()->set_tenant_id("bench");
  mrr_req.mutable_query()->set_start_date(first);
  mrr_req.mutable_query()->set_end_date(last);
  mrr_req.mutable_query()->set_interval(v1::INTERVAL_MONTH);
  v1::GetActiveCustomersRequest act_req;
  *act_req.mutable_query() = mrr_req.query();
  client::Client cold_client({.address = cold.address, .timeout = absl::Minutes(10)});
  v1::GetMrrResponse mrr_resp;
  v1::GetActiveCustomersResponse act_resp;
  auto get_mrr = [&](client::Client& cl) {
    auto r = cl.GetMrr(mrr_req);
    if (!r.ok()) std::exit(1);
    mrr_resp = *r;
  };
  auto active_via = [&](client::Client& cl) {
    auto stub = v1::MetricsService::NewStub(cl.channel());
    grpc::ClientContext ctx;
    testing::AddToken(&ctx);
    if (!stub->GetActiveCustomers(&ctx, act_req, &act_resp).ok()) std::exit(1);
  };
  {
    v1::CreatePqlRuleRequest rule;
    rule.set_tenant_id("bench");
    rule.mutable_rule()->set_rule_id("engaged");
    rule.mutable_rule()->set_window_days(30);
    v1::PqlCondition* cond = rule.mutable_rule()->add_conditions();
    cond->set_kind(v1::PqlCondition::KIND_EVENT_COUNT);
    cond->set_event_type("report.created");
    cond->set_threshold(5);
    if (!c.CreatePqlRule(rule).ok()) return 1;
  }
  v1::GetPqlCountRequest pql_req;
  pql_req.mutable_query()->set_tenant_id("bench");
  pql_req.mutable_query()->set_start_date(pql_first);
  pql_req.mutable_query()->set_end_date(last);
  pql_req.mutable_query()->set_interval(v1::INTERVAL_MONTH);
  pql_req.set_rule_id("engaged");
  int64_t service_pqls = -1;
  auto get_pql = [&](client::Client& cl) {
    auto r = cl.GetPqlCount(pql_req);
    if (!r.ok() || r->entries_size() != 1) {
      fprintf(stderr, "GetPqlCount: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
    service_pqls = r->entries(0).pqls();
  };
  auto cold_mrr = Time(runs, [&] { get_mrr(cold_client); });
  auto cold_pql = Time(runs, [&] { get_pql(cold_client); });
  auto cold_act = Time(runs, [&] { active_via(cold_client); });

  // Cold again, with the query memory budget held to --tight_query_memory_mb: the peak RSS
  // is then set by the flags, not by the tenant; a query that alone needs more than the
  // budget is refused (RESOURCE_EXHAUSTED) rather than served. Each answered query must
  // equal the cold server's answer.
  std::string tight_outcome;
  double tight_rss = 0;
  {
    BenchServer tight = StartServer(
        db.conninfo(), {"--cache_bytes=0", absl::StrCat("--query_memory_bytes=", tight_mb << 20)});
    client::Client tight_client({.address = tight.address, .timeout = absl::Minutes(10)});
    auto outcome = [&](const char* name, const grpc::Status& s, bool same_answer, absl::Time t0) {
      absl::StrAppend(&tight_outcome, tight_outcome.empty() ? "" : ", ", name, " ");
      if (s.ok()) {
        absl::StrAppend(&tight_outcome, same_answer ? "answered" : "ANSWERED DIFFERENTLY", " (",
                        absl::ToInt64Milliseconds(absl::Now() - t0), " ms)");
      } else {
        absl::StrAppend(&tight_outcome, "refused (",
                        absl::StatusCodeToString(static_cast<absl::StatusCode>(s.error_code())),
                        ")");
      }
    };
    absl::Time t0 = absl::Now();
    {
      grpc::ClientContext ctx;
      testing::AddToken(&ctx);
      v1::GetMrrResponse r;
      grpc::Status s =
          v1::MetricsService::NewStub(tight_client.channel())->GetMrr(&ctx, mrr_req, &r);
      outcome("MRR", s, google::protobuf::util::MessageDifferencer::Equals(r, mrr_resp), t0);
    }
    t0 = absl::Now();
    {
      grpc::ClientContext ctx;
      testing::AddToken(&ctx);
      v1::GetActiveCustomersResponse r;
      grpc::Status s = v1::MetricsService::NewStub(tight_client.channel())
                           ->GetActiveCustomers(&ctx, act_req, &r);
      outcome("active customers", s,
              google::protobuf::util::MessageDifferencer::Equals(r, act_resp), t0);
    }
    t0 = absl::Now();
    {
      grpc::ClientContext ctx;
      testing::AddToken(&ctx);
      v1::GetPqlCountResponse r;
      grpc::Status s =
          v1::MetricsService::NewStub(tight_client.channel())->GetPqlCount(&ctx, pql_req, &r);
      outcome("PQL", s, r.entries_size() == 1 && r.entries(0).pqls() == service_pqls, t0);
    }
    tight_rss = PeakRssMiB(std::to_string(tight.pid));
  }
  get_mrr(c);
  active_via(c);  // warm up
  get_pql(c);
  auto warm_mrr = Time(runs, [&] { get_mrr(c); });
  auto warm_pql = Time(runs, [&] { get_pql(c); });
  auto warm_act = Time(runs, [&] { active_via(c); });

  // Engagement (issue 14): a two-component model; its distribution at 12 month ends, and
  // one page of the per-customer listing at the last day.
  {
    v1::CreateEngagementModelRequest m;
    m.set_tenant_id("bench");
    m.mutable_model()->set_model_id("health");
    auto* days = m.mutable_model()->add_components();
    days->add_event_types("login");
    days->set_aggregation(v1::EngagementComponent::AGGREGATION_ACTIVE_DAYS);
    days->set_target(12);
    days->set_weight(2);
    auto* reports = m.mutable_model()->add_components();
    reports->add_event_types("report.created");
    reports->set_aggregation(v1::EngagementComponent::AGGREGATION_COUNT);
    reports->set_target(10);
    reports->set_weight(1);
    if (!c.CreateEngagementModel(m).ok()) return 1;
  }
  v1::GetEngagementRequest eng_req;
  *eng_req.mutable_query() = mrr_req.query();
  eng_req.mutable_query()->set_start_date(
      absl::FormatCivilTime(absl::CivilDay(gen.first_month + (gen.months - 12))));
  eng_req.set_model_id("health");
  v1::ListEngagementScoresRequest page_req;
  *page_req.mutable_query() = mrr_req.query();
  page_req.mutable_query()->set_start_date(last);
  page_req.set_model_id("health");
  page_req.set_page_size(100);
  int64_t scored = 0;
  auto get_engagement = [&] {
    auto r = c.GetEngagement(eng_req);
    if (!r.ok() || r->entries_size() != 12) {
      fprintf(stderr, "GetEngagement: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
  };
  auto list_page = [&] {
    auto r = c.ListEngagementScores(page_req);
    if (!r.ok()) {
      fprintf(stderr, "ListEngagementScores: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
    scored = r->total();
  };
  get_engagement();
  list_page();
  auto warm_engagement = Time(runs, get_engagement);
  auto warm_page = Time(runs, list_page);

  // Health groups at the same 12 month ends (the model above is the tenant's first, so the
  // default policy scores with it), against plain SQL for the same definition; and one
  // page of the at-risk customers at the last day.
  v1::GetHealthRequest health_req;
  *health_req.mutable_query() = eng_req.query();
  v1::GetHealthResponse health_resp;
  auto get_health = [&] {
    auto r = c.GetHealth(health_req);
    if (!r.ok() || r->entries_size() != 12) {
      fprintf(stderr, "GetHealth: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
    health_resp = *r;
  };
  v1::ListHealthCustomersRequest at_risk_req;
  *at_risk_req.mutable_query() = page_req.query();
  at_risk_req.set_group(v1::HEALTH_GROUP_AT_RISK);
  at_risk_req.set_page_size(100);
  int64_t at_risk = 0;
  auto list_at_risk = [&] {
    auto r = c.ListHealthCustomers(at_risk_req);
    if (!r.ok()) {
      fprintf(stderr, "ListHealthCustomers: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
    at_risk = r->total();
  };
  get_health();
  list_at_risk();
  auto warm_health = Time(runs, get_health);
  auto warm_at_risk = Time(runs, list_at_risk);
  // The ideal-customer profile for three fields at the last day (issue 22: ≤ 50 ms warm).
  v1::GetIdealCustomerProfileRequest icp_req;
  *icp_req.mutable_query() = page_req.query();
  for (const char* f : {"acquisition_channel", "country", "attributes.segment"}) {
    icp_req.add_fields(f);
  }
  int64_t icp_values = 0;
  auto get_icp = [&] {
    auto r = c.GetIdealCustomerProfile(icp_req);
    if (!r.ok()) {
      fprintf(stderr, "GetIdealCustomerProfile: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
    icp_values = r->values_size();
  };
  get_icp();
  auto warm_icp = Time(runs, get_icp);
  // Renewal rates over the same 12 months (every subscription event's term and anchor).
  v1::GetRenewalsRequest renewals_req;
  *renewals_req.mutable_query() = eng_req.query();
  int64_t renewals_up = 0;
  auto get_renewals = [&] {
    auto r = c.GetRenewals(renewals_req);
    if (!r.ok() || r->entries_size() != 12) {
      fprintf(stderr, "GetRenewals: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
    renewals_up = 0;
    for (const auto& e : r->entries()) renewals_up += e.subscriptions().up_for_renewal();
  };
  get_renewals();
  auto warm_renewals = Time(runs, get_renewals);
  // MRR by cohort over the same 36 months as GetMrr (issue 22: warm within 2× of it), its
  // last entry checked against GetMrr's; and the health transitions of the last 31 days.
  v1::GetMrrByCohortRequest cake_req;
  *cake_req.mutable_query() = mrr_req.query();
  bool cake_same = true;
  auto get_cake = [&] {
    auto r = c.GetMrrByCohort(cake_req);
    if (!r.ok() || r->entries_size() != mrr_resp.entries_size()) {
      fprintf(stderr, "GetMrrByCohort: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
    for (int i = 0; i < r->entries_size(); ++i) {
      cake_same = cake_same && r->entries(i).mrr() == mrr_resp.entries(i).mrr();
    }
  };
  get_mrr(c);
  get_cake();
  auto warm_cake = Time(runs, get_cake);
  auto warm_mrr_again = Time(runs, [&] { get_mrr(c); });
  // Converted MRR (three currencies) and the single-currency tenant's, call by call in turn.
  v1::GetMrrRequest fx_req = mrr_req;
  fx_req.mutable_query()->set_tenant_id("bench-fx");
  bool fx_invariant = true;
  int64_t fx_last_mrr = 0;
  auto get_fx = [&] {
    auto r = c.GetMrr(fx_req);
    if (!r.ok()) {
      fprintf(stderr, "GetMrr (three currencies): %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
    int64_t before = r->start_mrr();
    for (const auto& e : r->entries()) {  // the movement invariant, to the minor unit
      fx_invariant = fx_invariant && before + e.new_business() + e.expansion() + e.contraction() +
                                             e.churn() + e.reactivation() ==
                                         e.mrr();
      before = e.mrr();
    }
    fx_last_mrr = r->entries().empty() ? 0 : r->entries().rbegin()->mrr();
  };
  get_fx();
  std::vector<double> fx_mrr, one_mrr;
  for (int i = 0; i < std::max(runs, 5); ++i) {
    one_mrr.push_back(Time(1, [&] { get_mrr(c); })[0]);
    fx_mrr.push_back(Time(1, get_fx)[0]);
  }
  v1::ListHealthTransitionsRequest moves_req;
  *moves_req.mutable_query() = mrr_req.query();
  moves_req.mutable_query()->set_start_date(
      absl::FormatCivilTime(absl::CivilDay(gen.first_month + gen.months) - 31));
  int64_t moves = 0;
  auto list_moves = [&] {
    auto r = c.ListHealthTransitions(moves_req);
    if (!r.ok()) {
      fprintf(stderr, "ListHealthTransitions: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
    moves = r->total();
  };
  list_moves();
  auto warm_moves = Time(runs, list_moves);
  pqxx::result sql_health_rows;
  auto sql_health = Time(std::max(1, runs / 2), [&] {
    pqxx::read_transaction t(conn);
    sql_health_rows = t.exec_params(kHealthSql, "bench", until, eng_req.query().start_date(), last);
  });
  bool health_same = true;
  {
    // (date, group) → "customers/mrr" from each side; groups with no customer are absent
    // from SQL and zero in the service.
    std::map<std::pair<std::string, std::string>, std::string> from_sql, from_service;
    for (const auto& r : sql_health_rows) {
      from_sql[{r[0].as<std::string>(), r[1].as<std::string>()}] =
          absl::StrCat(r[2].as<int64_t>(), "/", r[3].as<int64_t>());
    }
    for (const auto& e : health_resp.entries()) {
      for (const auto& g : e.groups()) {
        if (g.customers() == 0) continue;
        from_service[{e.date(), v1::HealthGroup_Name(g.group()).substr(13)}] =
            absl::StrCat(g.customers(), "/", g.mrr());
      }
    }
    if (from_sql != from_service) {
      health_same = false;
      for (const auto& [key, value] : from_sql) {
        const auto it = from_service.find(key);
        if (it == from_service.end() || it->second != value) {
          fprintf(stderr, "health differs at %s %s: SQL %s, service %s\n", key.first.c_str(),
                  key.second.c_str(), value.c_str(),
                  it == from_service.end() ? "-" : it->second.c_str());
        }
      }
    }
  }

  // What the comparison below checks: the answers before anything is written.
  const v1::GetMrrResponse checked_mrr = mrr_resp;
  const v1::GetActiveCustomersResponse checked_act = act_resp;

  // Warm after a write: one late subscription event (into the middle month) and one usage
  // event into the same tenant, then the query. Only the changed months reload and only the
  // written customer's history is re-derived.
  const absl::CivilMonth mid = gen.first_month + gen.months / 2;
  int write_seq = 0;
  auto write_one = [&] {
    ++write_seq;
    v1::IngestSubscriptionEventsRequest s;
    s.set_tenant_id("bench");
    v1::SubscriptionEvent* e = s.add_events();
    *e = data.subscription_events[static_cast<size_t>(write_seq * 7919) %
                                  data.subscription_events.size()];
    e->set_event_id(absl::StrCat("late-", write_seq));
    e->mutable_effective_at()->set_seconds(absl::ToUnixSeconds(
        absl::FromCivil(absl::CivilDay(mid) + write_seq % 27, absl::UTCTimeZone())));
    e->set_unit_amount(e->unit_amount() + 100);
    v1::IngestUsageEventsRequest u;
    u.set_tenant_id("bench");
    v1::UsageEvent* ue = u.add_events();
    ue->set_id(absl::StrCat("late-", write_seq));
    ue->set_source("bench");
    ue->set_type("login");
    ue->set_subject(
        data.customers[static_cast<size_t>(write_seq) % data.customers.size()].customer_id());
    ue->mutable_time()->set_seconds(absl::ToUnixSeconds(
        absl::FromCivil(absl::CivilDay(mid) + write_seq % 27, absl::UTCTimeZone())));
    if (!c.IngestSubscriptionEvents(s).ok() || !c.IngestUsageEvents(u).ok()) std::exit(1);
  };
  std::vector<double> after_write_mrr, after_write_act;
  for (int i = 0; i < runs; ++i) {
    write_one();
    after_write_mrr.push_back(Time(1, [&] { get_mrr(c); })[0]);
    write_one();
    after_write_act.push_back(Time(1, [&] { active_via(c); })[0]);
  }

  // Under load: subscription and usage events stream into the same tenant at
  // --load_rate events/s while warm MRR is asked repeatedly; p50/p99 against idle.
  auto percentile = [](std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
  };
  const std::vector<double> idle = Time(load_calls, [&] { get_mrr(c); });
  std::atomic<bool> stop{false};
  std::atomic<int64_t> streamed{0};
  const absl::Time load_start_at = absl::Now();
  std::thread loader([&] {
    client::Client lc({.address = warm.address, .timeout = absl::Minutes(1)});
    constexpr int kLoadBatch = 500;
    int64_t n = 0;
    while (!stop) {
      v1::IngestUsageEventsRequest u;
      u.set_tenant_id("bench");
      v1::IngestSubscriptionEventsRequest s;
      s.set_tenant_id("bench");
      for (int i = 0; i < kLoadBatch; ++i, ++n) {
        const absl::Time at = absl::FromCivil(absl::CivilDay(gen.first_month + (gen.months - 1)) +
                                                  static_cast<int>(n % 27),
                                              absl::UTCTimeZone()) +
                              absl::Seconds(n % 86400);
        if (i % 10 == 0) {
          v1::SubscriptionEvent* e = s.add_events();
          *e = data.subscription_events[static_cast<size_t>(n * 31) %
                                        data.subscription_events.size()];
          e->set_event_id(absl::StrCat("load-", n));
          e->mutable_effective_at()->set_seconds(absl::ToUnixSeconds(at));
        } else {
          v1::UsageEvent* ue = u.add_events();
          ue->set_id(absl::StrCat("load-", n));
          ue->set_source("load");
          ue->set_type("login");
          ue->set_subject(
              data.customers[static_cast<size_t>(n) % data.customers.size()].customer_id());
          ue->mutable_time()->set_seconds(absl::ToUnixSeconds(at));
        }
      }
      if (!lc.IngestUsageEvents(u).ok() || !lc.IngestSubscriptionEvents(s).ok()) std::exit(1);
      streamed += kLoadBatch;
      // Pace to --load_rate.
      const absl::Time due =
          load_start_at + absl::Seconds(static_cast<double>(streamed) / load_rate);
      if (due > absl::Now()) absl::SleepFor(due - absl::Now());
    }
  });
  absl::SleepFor(absl::Seconds(1));
  const std::vector<double> loaded = Time(load_calls, [&] { get_mrr(c); });
  stop = true;
  loader.join();
  const double achieved =
      static_cast<double>(streamed) / absl::ToDoubleSeconds(absl::Now() - load_start_at);

  // The physical floor: the bytes a warm query must touch (the history's movements for
  // MRR; a 12-byte time/customer/type triple per usage event for active customers) over
  // one core's sequential read bandwidth, measured here.
  double bandwidth = 0;  // bytes per ms
  {
    std::vector<int64_t> block(64 << 20 >> 3, 1);  // 64 MiB
    int64_t sum = 0;
    const std::vector<double> ms = Time(5, [&] {
      for (int64_t v : block) sum += v;
      benchmark::DoNotOptimize(sum);
    });
    bandwidth = static_cast<double>(block.size() * sizeof(int64_t)) / Median(ms);
  }
  int64_t movement_count = 0;
  {
    pqxx::read_transaction t(conn);
    movement_count =
        t.exec_params1(std::string(kDailyMrrCtes) + " SELECT count(*) FROM run WHERE a <> b",
                       "bench", until)[0]
            .as<int64_t>();
  }
  const double mrr_floor =
      static_cast<double>(movement_count) * sizeof(engine::Movement) / bandwidth;
  const double act_floor = static_cast<double>(gen.usage_events) * 12 / bandwidth;
  // PQLs read the months their trailing window reaches back into.
  int64_t pql_events = 0;
  {
    pqxx::read_transaction t(conn);
    pql_events =
        t.exec_params1(
             "SELECT count(*) FROM usage_events WHERE tenant_id = $1 AND time >= "
             "($2 || ' 00:00:00+00')::timestamptz AND time < ($3 || ' 00:00:00+00')::timestamptz",
             "bench",
             absl::FormatCivilTime(
                 absl::CivilDay(absl::CivilMonth(absl::CivilDay(pql_month) - 29))),
             until)[0]
            .as<int64_t>();
  }
  const double pql_floor = static_cast<double>(pql_events) * 12 / bandwidth;

  // The same answers?
  bool same = sql_movements.size() <= static_cast<size_t>(checked_mrr.entries_size());
  for (const auto& row : sql_movements) {
    const std::string month = row[0].as<std::string>();
    const auto it =
        std::find_if(checked_mrr.entries().begin(), checked_mrr.entries().end(),
                     [&](const v1::MrrEntry& e) { return e.date().substr(0, 7) == month; });
    if (it == checked_mrr.entries().end() || it->new_business() != row[1].as<int64_t>() ||
        it->expansion() != row[2].as<int64_t>() || it->contraction() != row[3].as<int64_t>() ||
        it->churn() != row[4].as<int64_t>() || it->reactivation() != row[5].as<int64_t>()) {
      fprintf(stderr, "movements differ in %s\n", month.c_str());
      same = false;
    }
  }
  for (size_t i = 0; i < sql_active.size(); ++i) {
    if (static_cast<int>(i) >= checked_act.entries_size() ||
        checked_act.entries(i).active_customers() != sql_active[i][1].as<int64_t>()) {
      fprintf(stderr, "active customers differ in %s\n", sql_active[i][0].c_str());
      same = false;
    }
  }
  if (sql_pqls != service_pqls) {
    fprintf(stderr, "PQL counts differ: SQL %lld, service %lld\n", static_cast<long long>(sql_pqls),
            static_cast<long long>(service_pqls));
    same = false;
  }
  // Last, since a trained churn model joins the health groups' rules (ANALYTICS.md): issue
  // 16's Kaplan–Meier by channel of every customer won (≤ 200 ms warm); a churn model
  // trained over 24 month ends (≤ 20 s, ≤ 1 GiB, at most 500k examples), then every paying
  // customer scored at the last day (≤ 1 s warm).
  v1::GetSurvivalRequest km_req;
  km_req.mutable_query()->set_tenant_id("bench");
  km_req.mutable_query()->set_start_date(first);
  km_req.mutable_query()->set_end_date(last);
  km_req.set_group_by("acquisition_channel");
  int64_t km_customers = 0;
  auto get_km = [&] {
    auto r = c.GetSurvival(km_req);
    if (!r.ok() || !r->has_log_rank()) {
      fprintf(stderr, "GetSurvival: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
    km_customers = 0;
    for (const auto& g : r->groups()) km_customers += g.customers();
  };
  get_km();
  auto warm_km = Time(runs, get_km);
  const double rss_before_training = PeakRssMiB(std::to_string(warm.pid));
  v1::TrainModelRequest train_req;
  train_req.mutable_query()->set_tenant_id("bench");
  train_req.mutable_query()->set_start_date(first);
  train_req.mutable_query()->set_end_date(
      absl::FormatCivilTime(absl::CivilDay(gen.first_month + std::min(24, gen.months)) - 1));
  train_req.set_model_id("churn");
  train_req.set_kind(v1::MODEL_KIND_CHURN);
  v1::Model trained;
  const double train_ms = Time(1, [&] {
    auto r = c.TrainModel(train_req);
    if (!r.ok()) {
      fprintf(stderr, "TrainModel: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
    trained = *r;
  })[0];
  const double rss_after_training = PeakRssMiB(std::to_string(warm.pid));
  v1::ScoreCustomersRequest score_req;
  *score_req.mutable_query() = page_req.query();
  score_req.set_model_id("churn");
  int64_t scored_customers = 0;
  auto score_all = [&] {
    auto r = c.ScoreCustomers(score_req);
    if (!r.ok()) {
      fprintf(stderr, "ScoreCustomers: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
    scored_customers = r->total();
  };
  score_all();
  auto warm_score = Time(runs, score_all);
  // The health groups again, now that a churn model scores every paying customer at the
  // 13 days they read (the period ends and the day before).
  get_health();
  auto warm_health_risk = Time(runs, get_health);

  printf("\nmetrics benchmark: %d customers, %d months, %lld usage events; medians of %d runs\n",
         gen.customers, gen.months, static_cast<long long>(gen.usage_events), runs);
  printf("  %-32s %10s %10s %10s %12s %12s\n", "query", "SQL ms", "cold ms", "warm ms", "SQL/cold",
         "SQL/warm");
  auto row = [](const char* name, const std::vector<double>& s, const std::vector<double>& c,
                const std::vector<double>& w) {
    printf("  %-32s %10.1f %10.1f %10.1f %11.1fx %11.1fx\n", name, Median(s), Median(c), Median(w),
           Median(s) / Median(c), Median(s) / Median(w));
  };
  row("monthly MRR movements, 36 mo", sql_mrr, cold_mrr, warm_mrr);
  row("monthly active customers, 36 mo", sql_act, cold_act, warm_act);
  row("PQL count, one month", sql_pql, cold_pql, warm_pql);
  printf("  %-32s %10s %10s %12s\n", "warm after one write", "warm ms", "after ms", "after/warm");
  printf("  %-32s %10.1f %10.1f %11.2fx\n", "MRR movements", Median(warm_mrr),
         Median(after_write_mrr), Median(after_write_mrr) / Median(warm_mrr));
  printf("  %-32s %10.1f %10.1f %11.2fx\n", "active customers", Median(warm_act),
         Median(after_write_act), Median(after_write_act) / Median(warm_act));
  printf("  warm MRR under load: %.0f events/s streamed into the same tenant (asked %.0f/s)\n",
         achieved, load_rate);
  printf("    idle   p50 %.1f ms  p99 %.1f ms\n", percentile(idle, 0.5), percentile(idle, 0.99));
  printf("    loaded p50 %.1f ms  p99 %.1f ms  (p99 ratio %.2fx)\n", percentile(loaded, 0.5),
         percentile(loaded, 0.99), percentile(loaded, 0.99) / percentile(idle, 0.99));
  printf(
      "  physical floor (bytes touched / one core's scan, %.1f GB/s): MRR %.2f ms (%lld "
      "movements; warm is %.0fx), active %.2f ms (warm is %.0fx), PQL %.2f ms (%lld events in "
      "the months read; warm is %.0fx)\n",
      bandwidth / 1e6, mrr_floor, static_cast<long long>(movement_count),
      Median(warm_mrr) / mrr_floor, act_floor, Median(warm_act) / act_floor, pql_floor,
      static_cast<long long>(pql_events), Median(warm_pql) / pql_floor);
  printf(
      "  engagement (2 components): distribution at 12 month ends %.1f ms (target 100 for the "
      "health groups), one listing page of %lld paying customers %.1f ms (target 20)\n",
      Median(warm_engagement), static_cast<long long>(scored), Median(warm_page));
  printf(
      "  health groups at 12 month ends: SQL %.1f ms, warm %.1f ms (target 100), SQL/warm "
      "%.1fx (target 20); at-risk listing page (%lld customers) %.1f ms; answers identical: "
      "%s\n",
      Median(sql_health), Median(warm_health), Median(sql_health) / Median(warm_health),
      static_cast<long long>(at_risk), Median(warm_at_risk), health_same ? "yes" : "NO");
  printf("  ideal-customer profile, 3 fields (%lld values): warm %.1f ms (target 50)\n",
         static_cast<long long>(icp_values), Median(warm_icp));
  printf("  renewal rates at 12 month ends (%lld subscriptions up): warm %.1f ms\n",
         static_cast<long long>(renewals_up), Median(warm_renewals));
  printf(
      "  MRR by cohort, 36 months: warm %.1f ms, GetMrr %.1f ms, ratio %.2fx (target 2); "
      "totals equal GetMrr's: %s\n",
      Median(warm_cake), Median(warm_mrr_again), Median(warm_cake) / Median(warm_mrr_again),
      cake_same ? "yes" : "NO");
  printf(
      "  MRR movements, 36 months, three currencies (USD, EUR, GBP; %zu rates): warm %.2f ms, "
      "one currency %.2f ms (interleaved), ratio %.2fx (target 1.2); last MRR %lld against %lld "
      "in the one-currency tenant; movement invariant: %s\n",
      fx_data.exchange_rates.size(), Median(fx_mrr), Median(one_mrr),
      Median(fx_mrr) / Median(one_mrr), static_cast<long long>(fx_last_mrr),
      static_cast<long long>(mrr_resp.entries().rbegin()->mrr()),
      fx_invariant ? "holds" : "BROKEN");
  printf("  health transitions, last 31 days (%lld moves): warm %.1f ms (first page)\n",
         static_cast<long long>(moves), Median(warm_moves));
  printf("  survival by channel (%lld customers): warm %.1f ms (target 200)\n",
         static_cast<long long>(km_customers), Median(warm_km));
  printf("  churn model over %d month ends: %lld examples of %lld (%lld positive), trained in "
         "%.2f s (target 20), held-out AUC %.3f (%s); warm server peak RSS %.0f → %.0f MiB\n",
         std::min(24, gen.months), static_cast<long long>(trained.examples()),
         static_cast<long long>(trained.candidates()), static_cast<long long>(trained.positives()),
         train_ms / 1000, trained.evaluation().auc().value(), trained.evaluation().method().c_str(),
         rss_before_training, rss_after_training);
  printf("  scores of every paying customer (%lld): warm %.1f ms (target 1000)\n",
         static_cast<long long>(scored_customers), Median(warm_score));
  printf("  health groups at 12 month ends with the churn model's rule: warm %.1f ms (without "
         "%.1f)\n",
         Median(warm_health_risk), Median(warm_health));
  printf("  PQLs in %s: %lld\n", absl::FormatCivilTime(pql_month).c_str(),
         static_cast<long long>(service_pqls));
  printf("  answers identical (SQL vs service): %s\n", same ? "yes" : "NO");
  printf("  peak RSS: warm server %.0f MiB, cold server %.0f MiB, benchmark %.0f MiB\n",
         PeakRssMiB(std::to_string(warm.pid)), PeakRssMiB(std::to_string(cold.pid)), PeakRssMiB());
  printf("  cold server with --query_memory_bytes=%lld MiB: %s; peak RSS %.0f MiB\n",
         static_cast<long long>(tight_mb), tight_outcome.c_str(), tight_rss);
  return same && health_same && cake_same && fx_invariant ? 0 : 1;
}
