#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <tuple>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "saasmetrics/v1/admin.grpc.pb.h"
#include "saasmetrics/v1/ingest.grpc.pb.h"
#include "saasmetrics/v1/metrics.grpc.pb.h"
#include "server/rpc/convert.h"
#include "tests/support/grpc_test_util.h"
#include "tests/support/test_server.h"

namespace saasmetrics {
namespace {

using testing::Ctx;
using testing::ViolatedFields;

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::Time At(int y, int m, int d, int h = 12) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, h, 0, 0), absl::UTCTimeZone());
}

class MetricsTest : public ::testing::Test {
 protected:
  MetricsTest()
      : channel_(grpc::CreateChannel(server_.address(), grpc::InsecureChannelCredentials())),
        ingest_(v1::IngestService::NewStub(channel_)),
        metrics_(v1::MetricsService::NewStub(channel_)) {
    v1::Tenant t;
    t.set_tenant_id("acme");
    t.set_currency("EUR");
    t.set_timezone("Europe/Berlin");
    EXPECT_TRUE(server_.client().CreateTenant(t).ok());
  }

  void Sub(const std::string& id, const std::string& customer, const std::string& sub,
           absl::Time at, v1::SubscriptionStatus status, int64_t amount,
           const std::string& plan = "pro", v1::IntervalUnit unit = v1::INTERVAL_UNIT_MONTH,
           int32_t count = 1, const std::string& currency = "EUR") {
    v1::IngestSubscriptionEventsRequest req;
    req.set_tenant_id("acme");
    v1::SubscriptionEvent* e = req.add_events();
    e->set_event_id(id);
    e->set_customer_id(customer);
    e->set_subscription_id(sub);
    rpc::ToProto(at, e->mutable_effective_at());
    e->set_status(status);
    e->set_plan_id(plan);
    e->set_quantity(1);
    e->set_unit_amount(amount);
    e->set_currency(currency);
    e->set_interval_unit(unit);
    e->set_interval_count(count);
    v1::IngestResult r;
    ASSERT_TRUE(ingest_->IngestSubscriptionEvents(Ctx().get(), req, &r).ok());
  }

  // One usage event of `customer`, by user "u-<customer>".
  void Use(const std::string& id, const std::string& customer, const std::string& type,
           absl::Time at) {
    v1::IngestUsageEventsRequest req;
    req.set_tenant_id("acme");
    v1::UsageEvent* e = req.add_events();
    e->set_id(id);
    e->set_source("app");
    e->set_type(type);
    e->set_subject(customer);
    e->set_user_id("u-" + customer);
    rpc::ToProto(at, e->mutable_time());
    v1::IngestResult r;
    ASSERT_TRUE(ingest_->IngestUsageEvents(Ctx().get(), req, &r).ok());
  }

  void Customer(const std::string& id, const std::string& channel) {
    v1::UpsertCustomersRequest req;
    req.set_tenant_id("acme");
    v1::Customer* c = req.add_customers();
    c->set_customer_id(id);
    rpc::ToProto(At(2024, 1, 1), c->mutable_created_at());
    c->set_acquisition_channel(channel);
    v1::IngestResult r;
    ASSERT_TRUE(ingest_->UpsertCustomers(Ctx().get(), req, &r).ok());
  }

  // Records one rate; returns the call's status and what it counted.
  grpc::Status Rate(const std::string& date, const std::string& currency, const std::string& rate,
                    v1::IngestResult* result = nullptr) {
    v1::RecordExchangeRatesRequest req;
    req.set_tenant_id("acme");
    v1::ExchangeRate* r = req.add_rates();
    r->set_date(date);
    r->set_currency(currency);
    r->set_rate(rate);
    v1::IngestResult ignored;
    return ingest_->RecordExchangeRates(Ctx().get(), req, result != nullptr ? result : &ignored);
  }

  static v1::MetricsQuery Query(const std::string& start, const std::string& end,
                                v1::Interval interval = v1::INTERVAL_MONTH) {
    v1::MetricsQuery q;
    q.set_tenant_id("acme");
    q.set_start_date(start);
    q.set_end_date(end);
    q.set_interval(interval);
    return q;
  }

  v1::GetMrrResponse Mrr(const v1::MetricsQuery& q) {
    v1::GetMrrRequest req;
    *req.mutable_query() = q;
    v1::GetMrrResponse resp;
    grpc::Status s = metrics_->GetMrr(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  testing::TestServer server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::IngestService::Stub> ingest_;
  std::unique_ptr<v1::MetricsService::Stub> metrics_;
};

TEST_F(MetricsTest, MrrSeriesWithMovementsFromStoredEvents) {
  Sub("1", "c1", "s1", At(2024, 1, 10), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  Sub("2", "c2", "s1", At(2024, 1, 20), v1::SUBSCRIPTION_STATUS_ACTIVE, 3000);
  Sub("3", "c1", "s2", At(2024, 2, 5), v1::SUBSCRIPTION_STATUS_ACTIVE, 500);
  Sub("4", "c2", "s1", At(2024, 3, 1), v1::SUBSCRIPTION_STATUS_CANCELED, 3000);
  v1::GetMrrResponse r = Mrr(Query("2024-01-01", "2024-03-31"));
  EXPECT_EQ(r.currency(), "EUR");
  EXPECT_EQ(r.start_mrr(), 0);
  ASSERT_EQ(r.entries_size(), 3);
  EXPECT_EQ(r.entries(0).date(), "2024-01-31");
  EXPECT_EQ(r.entries(0).mrr(), 4000);
  EXPECT_EQ(r.entries(0).arr(), 48000);
  EXPECT_EQ(r.entries(0).customers(), 2);
  EXPECT_EQ(r.entries(0).arpa().value(), 2000);
  EXPECT_EQ(r.entries(0).new_business(), 4000);
  EXPECT_EQ(r.entries(1).mrr(), 4500);
  EXPECT_EQ(r.entries(1).expansion(), 500);
  EXPECT_EQ(r.entries(2).mrr(), 1500);
  EXPECT_EQ(r.entries(2).churn(), -3000);
  EXPECT_EQ(r.entries(2).customers(), 1);
  EXPECT_EQ(r.summary().current(), 1500);
  EXPECT_EQ(r.summary().previous(), 4500);
  EXPECT_NEAR(r.summary().percentage_change().value(), -66.6667, 1e-3);
}

// METRICS.md "Currencies", worked by hand. The tenant reports in EUR (Berlin); each state's
// MRR is converted at the rate of its own day, rounded once, and stays so when rates move.
TEST_F(MetricsTest, SubscriptionsInSeveralCurrenciesConvertAtTheRateOfTheirStateChange) {
  const auto active = v1::SUBSCRIPTION_STATUS_ACTIVE;
  const auto month = v1::INTERVAL_UNIT_MONTH;
  ASSERT_TRUE(Rate("2024-01-01", "USD", "0.9").ok());
  ASSERT_TRUE(Rate("2024-02-01", "USD", "0.8").ok());
  ASSERT_TRUE(Rate("2024-02-01", "JPY", "0.0061").ok());
  ASSERT_TRUE(Rate("2024-03-01", "KWD", "2.9876").ok());
  {  // One rate through StreamIngest.
    auto ctx = Ctx();
    auto stream = ingest_->StreamIngest(ctx.get());
    v1::IngestBatch batch;
    batch.set_tenant_id("acme");
    batch.set_batch_id("rates");
    v1::ExchangeRate* r = batch.mutable_exchange_rates()->add_rates();
    r->set_date("2024-03-01");
    r->set_currency("GBP");
    r->set_rate("1.1733333");
    ASSERT_TRUE(stream->Write(batch));
    stream->WritesDone();
    v1::IngestAck ack;
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.error_code(), 0) << ack.error_message();
    EXPECT_EQ(ack.result().accepted(), 1);
    while (stream->Read(&ack)) {
    }
    ASSERT_TRUE(stream->Finish().ok());
  }
  // $10.00 on Jan 10 at 0.9: 900 cents, locked (February's 0.8 does not move it).
  Sub("1", "c-usd", "s", At(2024, 1, 10), active, 1000, "pro", month, 1, "USD");
  // ¥1,500 (exponent 0) on Feb 15 at 0.0061: 9.15 EUR.
  Sub("2", "c-jpy", "s", At(2024, 2, 15), active, 1500, "pro", month, 1, "JPY");
  // 3.000 KWD (exponent 3) on Mar 5 at 2.9876: 8.9628 EUR, 896 cents.
  Sub("3", "c-kwd", "s", At(2024, 3, 5), active, 3000, "pro", month, 1, "KWD");
  // £1.00 on Mar 20 at 1.1733333: 117.33333 cents, 117.
  Sub("4", "c-gbp", "s", At(2024, 3, 20), active, 100, "pro", month, 1, "GBP");
  // c-usd doubles on Mar 10: $20.00 at that day's rate, 0.8: 1,600 cents.
  Sub("5", "c-usd", "s", At(2024, 3, 10), active, 2000, "pro", month, 1, "USD");
  v1::GetMrrResponse r = Mrr(Query("2024-01-01", "2024-03-31"));
  EXPECT_EQ(r.currency(), "EUR");
  ASSERT_EQ(r.entries_size(), 3);
  EXPECT_EQ(r.entries(0).mrr(), 900);
  EXPECT_EQ(r.entries(1).mrr(), 900 + 915);
  EXPECT_EQ(r.entries(1).new_business(), 915);
  EXPECT_EQ(r.entries(2).mrr(), 1600 + 915 + 896 + 117);
  EXPECT_EQ(r.entries(2).new_business(), 896 + 117);
  EXPECT_EQ(r.entries(2).expansion(), 1600 - 900) << "the new state at its own day's rate";
  for (int i = 0; i < r.entries_size(); ++i) {  // the movement invariant, to the minor unit
    const auto& e = r.entries(i);
    const int64_t start = i == 0 ? r.start_mrr() : r.entries(i - 1).mrr();
    EXPECT_EQ(
        start + e.new_business() + e.expansion() + e.contraction() + e.churn() + e.reactivation(),
        e.mrr());
  }

  {  // The customer profile converts each state the same way and names its currency.
    v1::GetCustomerRequest who;
    who.set_tenant_id("acme");
    who.set_customer_id("c-usd");
    who.set_date("2024-03-31");
    v1::CustomerProfile profile;
    grpc::Status s = metrics_->GetCustomer(Ctx().get(), who, &profile);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(profile.subscriptions_size(), 1);
    EXPECT_EQ(profile.subscriptions(0).mrr(), 1600);
    EXPECT_EQ(profile.subscriptions(0).unit_amount(), 2000);
    EXPECT_EQ(profile.subscriptions(0).currency(), "USD");
    EXPECT_EQ(profile.mrr(), 1600);
  }

  // A late rate for a day before c-usd's first state: the next answer uses it.
  ASSERT_TRUE(Rate("2024-01-05", "USD", "0.95").ok());
  r = Mrr(Query("2024-01-01", "2024-03-31"));
  EXPECT_EQ(r.entries(0).mrr(), 950);
  EXPECT_EQ(r.entries(2).expansion(), 1600 - 950);
  EXPECT_EQ(r.entries(2).mrr(), 1600 + 915 + 896 + 117);
  // The same rate again is a duplicate; another one for the same day replaces it.
  v1::IngestResult counted;
  ASSERT_TRUE(Rate("2024-01-05", "USD", "0.950", &counted).ok());
  EXPECT_EQ(counted.accepted(), 0);
  EXPECT_EQ(counted.duplicates(), 1);
  ASSERT_TRUE(Rate("2024-01-05", "USD", "0.96", &counted).ok());
  EXPECT_EQ(counted.accepted(), 1);
  EXPECT_EQ(Mrr(Query("2024-01-01", "2024-01-31")).entries(0).mrr(), 960);

  // A currency without a rate on its day: the query fails naming both, never a zero.
  Sub("6", "c-chf", "s", At(2024, 3, 25), active, 1000, "pro", month, 1, "CHF");
  v1::GetMrrRequest req;
  *req.mutable_query() = Query("2024-01-01", "2024-03-31");
  v1::GetMrrResponse resp;
  grpc::Status s = metrics_->GetMrr(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("CHF"));
  EXPECT_THAT(s.error_message(), HasSubstr("2024-03-25"));
  ASSERT_TRUE(Rate("2024-03-26", "CHF", "1.05").ok());  // a day late: still missing
  EXPECT_EQ(metrics_->GetMrr(Ctx().get(), req, &resp).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(Rate("2024-03-25", "CHF", "1.04").ok());
  EXPECT_EQ(Mrr(Query("2024-03-01", "2024-03-31")).entries(0).mrr(), 1600 + 915 + 896 + 117 + 1040);

  {  // Spend in GBP converts each day's share at that day's rate: £1.00 a day over March at
     // 1.1733333 is 117.33333 cents a day, 3,637.33 over the 31 days, rounded once.
    v1::RecordAcquisitionSpendRequest spend;
    spend.set_tenant_id("acme");
    auto* row = spend.add_spend();
    row->set_spend_id("gbp");
    row->set_channel("ads");
    row->set_start_date("2024-03-01");
    row->set_end_date("2024-03-31");
    row->set_amount(3100);
    row->set_currency("GBP");
    v1::IngestResult counted_spend;
    ASSERT_TRUE(ingest_->RecordAcquisitionSpend(Ctx().get(), spend, &counted_spend).ok());
    v1::GetUnitEconomicsRequest req;
    *req.mutable_query() = Query("2024-03-01", "2024-03-31");
    v1::GetUnitEconomicsResponse resp;
    grpc::Status s = metrics_->GetUnitEconomics(Ctx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.entries(0).spend(), 3637);
    // Spend from before GBP's first rate cannot be converted.
    row->set_spend_id("gbp-early");
    row->set_start_date("2024-02-28");
    ASSERT_TRUE(ingest_->RecordAcquisitionSpend(Ctx().get(), spend, &counted_spend).ok());
    s = metrics_->GetUnitEconomics(Ctx().get(), req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(s.error_message(), HasSubstr("GBP"));
    EXPECT_THAT(s.error_message(), HasSubstr("2024-02-28"));
  }

  {  // MRR per billing currency, unconverted: the exposure to each.
    v1::GetMrrRequest by;
    *by.mutable_query() = Query("2024-02-01", "2024-03-31");
    by.set_by_currency(true);
    v1::GetMrrResponse got;
    ASSERT_TRUE(metrics_->GetMrr(Ctx().get(), by, &got).ok());
    ASSERT_EQ(got.entries_size(), 2);
    auto pairs = [](const v1::MrrEntry& e) {
      std::vector<std::pair<std::string, int64_t>> out;
      for (const auto& c : e.by_currency()) out.emplace_back(c.currency(), c.mrr());
      return out;
    };
    EXPECT_THAT(pairs(got.entries(0)), ElementsAre(std::pair<std::string, int64_t>("JPY", 1500),
                                                   std::pair<std::string, int64_t>("USD", 1000)));
    EXPECT_THAT(pairs(got.entries(1)), ElementsAre(std::pair<std::string, int64_t>("CHF", 1000),
                                                   std::pair<std::string, int64_t>("GBP", 100),
                                                   std::pair<std::string, int64_t>("JPY", 1500),
                                                   std::pair<std::string, int64_t>("KWD", 3000),
                                                   std::pair<std::string, int64_t>("USD", 2000)));
    EXPECT_EQ(Mrr(Query("2024-02-01", "2024-03-31")).entries(0).by_currency_size(), 0)
        << "only when asked";
  }

  // Bad rates name their field and store nothing.
  grpc::Status bad = Rate("2024-03-01", "EUR", "1");
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(bad), ElementsAre("rates[0].currency"));
  bad = Rate("2024-03-01", "USD", "1,5");
  EXPECT_THAT(ViolatedFields(bad), ElementsAre("rates[0].rate"));
  bad = Rate("2024-02-30", "USD", "-1");
  EXPECT_THAT(ViolatedFields(bad), ElementsAre("rates[0].date", "rates[0].rate"));
  EXPECT_EQ(Mrr(Query("2024-03-01", "2024-03-31")).entries(0).mrr(), 1600 + 915 + 896 + 117 + 1040);
}

TEST_F(MetricsTest, DaysAreCutInTheTenantsTimeZone) {
  // 23:30 UTC on Jan 31 is already Feb 1 in Berlin.
  Sub("1", "c1", "s1",
      absl::FromCivil(absl::CivilSecond(2024, 1, 31, 23, 30, 0), absl::UTCTimeZone()),
      v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  v1::GetMrrResponse r = Mrr(Query("2024-01-01", "2024-02-29"));
  EXPECT_EQ(r.entries(0).mrr(), 0);
  EXPECT_EQ(r.entries(1).mrr(), 1000);
  EXPECT_FALSE(r.entries(0).has_arpa()) << "no paying customer: ARPA is absent, not 0";
}

TEST_F(MetricsTest, ChangingTheTimeZoneRecutsTheDays) {
  Sub("1", "c1", "s1",
      absl::FromCivil(absl::CivilSecond(2024, 1, 31, 23, 30, 0), absl::UTCTimeZone()),
      v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  EXPECT_EQ(Mrr(Query("2024-01-01", "2024-02-29")).entries(0).mrr(), 0);  // Berlin: Feb 1
  v1::Tenant t;
  t.set_tenant_id("acme");
  t.set_timezone("America/New_York");
  ASSERT_TRUE(server_.client().UpdateTenant(t).ok());
  EXPECT_EQ(Mrr(Query("2024-01-01", "2024-02-29")).entries(0).mrr(), 1000);  // New York: Jan 31
}

TEST_F(MetricsTest, ALateEventIntoAnOldMonthShowsInTheNextQuery) {
  Sub("1", "c1", "s1", At(2024, 1, 10), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  EXPECT_EQ(Mrr(Query("2024-01-01", "2024-03-31")).entries(2).mrr(), 1000);
  Sub("late", "c1", "s1", At(2024, 2, 1), v1::SUBSCRIPTION_STATUS_ACTIVE, 1200);
  v1::GetMrrResponse r = Mrr(Query("2024-01-01", "2024-03-31"));
  EXPECT_EQ(r.entries(1).expansion(), 200);
  EXPECT_EQ(r.entries(2).mrr(), 1200);
}

TEST_F(MetricsTest, FiltersRestrictTheCustomerSetAndTheInvariantHolds) {
  Customer("c1", "ads");
  Customer("c2", "seo");
  Sub("1", "c1", "s1", At(2024, 1, 10), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000, "basic");
  Sub("2", "c2", "s1", At(2024, 1, 20), v1::SUBSCRIPTION_STATUS_ACTIVE, 3000, "pro");
  Sub("3", "c3", "s1", At(2024, 1, 25), v1::SUBSCRIPTION_STATUS_ACTIVE, 7000, "pro");
  v1::MetricsQuery q = Query("2024-01-01", "2024-01-31");
  q.add_filter("acquisition_channel=ads,seo");
  EXPECT_EQ(Mrr(q).entries(0).mrr(), 4000);
  q.add_filter("plan=pro");
  v1::GetMrrResponse r = Mrr(q);
  EXPECT_EQ(r.entries(0).mrr(), 3000);
  EXPECT_EQ(r.start_mrr() + r.entries(0).new_business() + r.entries(0).expansion() +
                r.entries(0).contraction() + r.entries(0).churn() + r.entries(0).reactivation(),
            r.entries(0).mrr());
}

TEST_F(MetricsTest, ChurnRatesAndAbsentValues) {
  Sub("1", "c1", "s1", At(2024, 1, 5), v1::SUBSCRIPTION_STATUS_ACTIVE, 2000);
  Sub("2", "c2", "s1", At(2024, 1, 6), v1::SUBSCRIPTION_STATUS_ACTIVE, 2000);
  Sub("3", "c2", "s1", At(2024, 2, 10), v1::SUBSCRIPTION_STATUS_CANCELED, 2000);
  v1::GetChurnRequest req;
  *req.mutable_query() = Query("2024-01-01", "2024-02-29");
  v1::GetChurnResponse resp;
  ASSERT_TRUE(metrics_->GetChurn(Ctx().get(), req, &resp).ok());
  ASSERT_EQ(resp.entries_size(), 2);
  EXPECT_FALSE(resp.entries(0).has_customer_churn_rate());
  EXPECT_FALSE(resp.entries(0).has_nrr());
  EXPECT_EQ(resp.entries(1).customers_at_start(), 2);
  EXPECT_EQ(resp.entries(1).churned_customers(), 1);
  EXPECT_DOUBLE_EQ(resp.entries(1).customer_churn_rate().value(), 0.5);
  EXPECT_DOUBLE_EQ(resp.entries(1).gross_mrr_churn_rate().value(), 0.5);
  EXPECT_DOUBLE_EQ(resp.entries(1).nrr().value(), 0.5);
  EXPECT_DOUBLE_EQ(resp.entries(1).grr().value(), 0.5);
  EXPECT_DOUBLE_EQ(resp.entries(1).quick_ratio().value(), 0.0);
}

TEST_F(MetricsTest, MovementsAreListedPageByPageWithTheirSubscriptions) {
  for (int i = 0; i < 5; ++i) {
    Sub(absl::StrCat("n", i), absl::StrCat("c", i), "s1", At(2024, 1, 10 + i),
        v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  }
  Sub("x", "c0", "s2", At(2024, 1, 20), v1::SUBSCRIPTION_STATUS_ACTIVE, 500);
  v1::ListMovementsRequest req;
  *req.mutable_query() = Query("2024-01-01", "2024-01-31", v1::INTERVAL_UNSPECIFIED);
  req.set_page_size(2);
  std::vector<std::string> seen;
  do {
    v1::ListMovementsResponse resp;
    grpc::Status s = metrics_->ListMovements(Ctx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    for (const auto& m : resp.movements()) {
      seen.push_back(absl::StrCat(m.date(), " ", m.customer_id(), " ",
                                  v1::MovementType_Name(m.type()), " ", m.amount(), " ",
                                  absl::StrJoin(m.subscription_ids(), ",")));
    }
    req.set_page_token(resp.next_page_token());
  } while (!req.page_token().empty());
  EXPECT_THAT(seen, ElementsAre("2024-01-10 c0 MOVEMENT_TYPE_NEW_BUSINESS 1000 s1",
                                "2024-01-11 c1 MOVEMENT_TYPE_NEW_BUSINESS 1000 s1",
                                "2024-01-12 c2 MOVEMENT_TYPE_NEW_BUSINESS 1000 s1",
                                "2024-01-13 c3 MOVEMENT_TYPE_NEW_BUSINESS 1000 s1",
                                "2024-01-14 c4 MOVEMENT_TYPE_NEW_BUSINESS 1000 s1",
                                "2024-01-20 c0 MOVEMENT_TYPE_EXPANSION 500 s2"));
  req.set_page_token("");
  req.add_types(v1::MOVEMENT_TYPE_EXPANSION);
  v1::ListMovementsResponse only;
  ASSERT_TRUE(metrics_->ListMovements(Ctx().get(), req, &only).ok());
  ASSERT_EQ(only.movements_size(), 1);
  EXPECT_EQ(only.movements(0).mrr_before(), 1000);
  EXPECT_EQ(only.movements(0).mrr_after(), 1500);
}

// Issue 13, hardening 8: a page token is sealed for its tenant and query; altered, forged or
// reused with another query it is refused.
TEST_F(MetricsTest, PageTokensAreBoundToTheirQueryAndCannotBeForged) {
  for (int i = 0; i < 3; ++i) {
    Sub(absl::StrCat("n", i), absl::StrCat("c", i), "s1", At(2024, 1, 10 + i),
        v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  }
  v1::ListMovementsRequest req;
  *req.mutable_query() = Query("2024-01-01", "2024-01-31", v1::INTERVAL_UNSPECIFIED);
  req.set_page_size(1);
  v1::ListMovementsResponse first;
  ASSERT_TRUE(metrics_->ListMovements(Ctx().get(), req, &first).ok());
  ASSERT_FALSE(first.next_page_token().empty());
  auto refused = [&](v1::ListMovementsRequest r) {
    v1::ListMovementsResponse out;
    grpc::Status s = metrics_->ListMovements(Ctx().get(), r, &out);
    return s.error_code() == grpc::StatusCode::INVALID_ARGUMENT &&
           s.error_message().find("page_token") != std::string::npos;
  };
  v1::ListMovementsRequest next = req;
  next.set_page_token(first.next_page_token());
  v1::ListMovementsResponse second;
  ASSERT_TRUE(metrics_->ListMovements(Ctx().get(), next, &second).ok());
  EXPECT_EQ(second.movements(0).customer_id(), "c1");

  v1::ListMovementsRequest other_query = next;
  other_query.mutable_query()->set_end_date("2024-02-29");
  EXPECT_TRUE(refused(other_query)) << "another range";
  v1::ListMovementsRequest other_types = next;
  other_types.add_types(v1::MOVEMENT_TYPE_NEW_BUSINESS);
  EXPECT_TRUE(refused(other_types)) << "another selection";
  v1::ListMovementsRequest forged = req;
  forged.set_page_token(absl::WebSafeBase64Escape("2024-01-10|c0"));  // the old, unsigned form
  EXPECT_TRUE(refused(forged));
  v1::ListMovementsRequest altered = next;
  std::string t = first.next_page_token();
  t[2] = t[2] == 'A' ? 'B' : 'A';
  altered.set_page_token(t);
  EXPECT_TRUE(refused(altered));
}

TEST_F(MetricsTest, CohortsGroupedByChannel) {
  Customer("c1", "ads");
  Customer("c2", "ads");
  Customer("c3", "seo");
  Sub("1", "c1", "s1", At(2024, 1, 5), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  Sub("2", "c2", "s1", At(2024, 1, 6), v1::SUBSCRIPTION_STATUS_ACTIVE, 3000);
  Sub("3", "c3", "s1", At(2024, 2, 7), v1::SUBSCRIPTION_STATUS_ACTIVE, 500);
  Sub("4", "c2", "s1", At(2024, 2, 20), v1::SUBSCRIPTION_STATUS_CANCELED, 3000);
  v1::GetCohortRetentionRequest req;
  *req.mutable_query() = Query("2024-01-01", "2024-03-31");
  req.set_group_by("acquisition_channel");
  v1::GetCohortRetentionResponse resp;
  grpc::Status s = metrics_->GetCohortRetention(Ctx().get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.cohorts_size(), 2);
  const v1::Cohort& jan = resp.cohorts(0);
  EXPECT_EQ(jan.period(), "2024-01-31");
  EXPECT_EQ(jan.group(), "ads");
  EXPECT_EQ(jan.customers(), 2);
  EXPECT_EQ(jan.initial_mrr(), 4000);
  ASSERT_EQ(jan.cells_size(), 3);  // Jan, Feb, Mar; nothing after the query's end
  EXPECT_DOUBLE_EQ(jan.cells(1).logo_retention().value(), 0.5);
  EXPECT_DOUBLE_EQ(jan.cells(1).mrr_retention().value(), 0.25);
  const v1::Cohort& feb = resp.cohorts(1);
  EXPECT_EQ(feb.group(), "seo");
  EXPECT_EQ(feb.cells_size(), 2);

  req.set_group_by("plan");
  EXPECT_EQ(metrics_->GetCohortRetention(Ctx().get(), req, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(MetricsTest, UnitEconomicsWithSpendPerChannel) {
  Customer("c1", "ads");
  Customer("c2", "seo");
  Sub("1", "c1", "s1", At(2024, 1, 5), v1::SUBSCRIPTION_STATUS_ACTIVE, 3000);
  Sub("2", "c2", "s1", At(2024, 1, 6), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  v1::RecordAcquisitionSpendRequest spend;
  spend.set_tenant_id("acme");
  for (auto [id, channel, amount] : {std::tuple{"a", "ads", 6200}, std::tuple{"b", "seo", 3100}}) {
    auto* row = spend.add_spend();
    row->set_spend_id(id);
    row->set_channel(channel);
    row->set_start_date("2024-01-01");
    row->set_end_date("2024-01-31");
    row->set_amount(amount);
    row->set_currency("EUR");
  }
  v1::IngestResult r;
  ASSERT_TRUE(ingest_->RecordAcquisitionSpend(Ctx().get(), spend, &r).ok());
  v1::GetUnitEconomicsRequest req;
  *req.mutable_query() = Query("2024-01-01", "2024-01-31");
  v1::GetUnitEconomicsResponse resp;
  grpc::Status s = metrics_->GetUnitEconomics(Ctx().get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.entries_size(), 1);
  const v1::UnitEconomicsEntry& e = resp.entries(0);
  EXPECT_EQ(e.new_customers(), 2);
  EXPECT_EQ(e.asp().value(), 2000);
  EXPECT_EQ(e.spend(), 9300);
  EXPECT_EQ(e.cac().value(), 4650);
  EXPECT_FALSE(e.has_ltv()) << "no churn history: LTV is undefined";
  EXPECT_NEAR(e.cac_payback_months().value(), 4650.0 / 2000.0, 1e-12);  // gross margin 1
  ASSERT_EQ(e.channels_size(), 2);
  EXPECT_EQ(e.channels(0).channel(), "ads");
  EXPECT_EQ(e.channels(0).cac().value(), 6200);
  EXPECT_EQ(e.channels(1).cac().value(), 3100);

  req.set_ltv_churn_window_months(40);
  EXPECT_EQ(metrics_->GetUnitEconomics(Ctx().get(), req, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(MetricsTest, ActiveCustomersAndActivationFromUsageEvents) {
  auto use = [&](const std::string& id, const std::string& customer, const std::string& type,
                 absl::Time at) { Use(id, customer, type, at); };
  Customer("c1", "ads");  // created 2024-01-01
  Customer("c2", "seo");
  use("1", "c1", "login", At(2024, 1, 3));
  use("2", "c2", "report.created", At(2024, 1, 20));
  use("3", "c1", "login", At(2024, 2, 2));
  use("4", "c3", "login", At(2024, 2, 3));

  v1::GetActiveCustomersRequest active;
  *active.mutable_query() = Query("2024-01-01", "2024-02-29");
  v1::GetActiveCustomersResponse active_resp;
  ASSERT_TRUE(metrics_->GetActiveCustomers(Ctx().get(), active, &active_resp).ok());
  ASSERT_EQ(active_resp.entries_size(), 2);
  EXPECT_EQ(active_resp.entries(0).active_customers(), 2);
  EXPECT_EQ(active_resp.entries(1).active_customers(), 2);
  // A new customer's event after a (cached) query shows in the next one.
  use("5", "c4", "login", At(2024, 2, 9));
  ASSERT_TRUE(metrics_->GetActiveCustomers(Ctx().get(), active, &active_resp).ok());
  EXPECT_EQ(active_resp.entries(1).active_customers(), 3);
  // A plan filter reads the subscription history: only c1 has a "pro" subscription.
  Sub("p1", "c1", "s1", At(2024, 1, 2), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000, "pro");
  v1::GetActiveCustomersRequest by_plan = active;
  by_plan.mutable_query()->add_filter("plan=pro");
  ASSERT_TRUE(metrics_->GetActiveCustomers(Ctx().get(), by_plan, &active_resp).ok());
  EXPECT_EQ(active_resp.entries(0).active_customers(), 1);
  EXPECT_EQ(active_resp.entries(1).active_customers(), 1);
  active.add_event_types("report.created");
  active.mutable_query()->add_filter("acquisition_channel=seo");
  ASSERT_TRUE(metrics_->GetActiveCustomers(Ctx().get(), active, &active_resp).ok());
  EXPECT_EQ(active_resp.entries(0).active_customers(), 1);
  EXPECT_EQ(active_resp.entries(1).active_customers(), 0);

  v1::GetActivationRequest activation;
  *activation.mutable_query() = Query("2024-01-01", "2024-01-31");
  activation.add_activation_event_types("report.created");
  activation.set_window_days(30);
  v1::GetActivationResponse activation_resp;
  ASSERT_TRUE(metrics_->GetActivation(Ctx().get(), activation, &activation_resp).ok());
  ASSERT_EQ(activation_resp.entries_size(), 1);
  EXPECT_EQ(activation_resp.entries(0).new_customers(), 2);
  EXPECT_EQ(activation_resp.entries(0).activated(), 1);
  EXPECT_DOUBLE_EQ(activation_resp.entries(0).activation_rate().value(), 0.5);
  activation.set_window_days(7);  // c2's report comes 19 days after signup
  ASSERT_TRUE(metrics_->GetActivation(Ctx().get(), activation, &activation_resp).ok());
  EXPECT_EQ(activation_resp.entries(0).activated(), 0);
  activation.clear_activation_event_types();
  EXPECT_EQ(metrics_->GetActivation(Ctx().get(), activation, &activation_resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(MetricsTest, PqlCountThroughAStoredRule) {
  for (int i = 0; i < 3; ++i)
    Use(absl::StrCat("u", i), "lead", "report.created", At(2024, 1, 2 + i));
  Sub("1", "lead", "s1", At(2024, 1, 20), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  auto admin = v1::AdminService::NewStub(channel_);
  v1::CreatePqlRuleRequest create;
  create.set_tenant_id("acme");
  create.mutable_rule()->set_rule_id("engaged");
  create.mutable_rule()->set_window_days(7);
  auto* c = create.mutable_rule()->add_conditions();
  c->set_kind(v1::PqlCondition::KIND_EVENT_COUNT);
  c->set_event_type("report.created");
  c->set_threshold(3);
  v1::PqlRule rule;
  ASSERT_TRUE(admin->CreatePqlRule(Ctx().get(), create, &rule).ok());

  v1::GetPqlCountRequest req;
  *req.mutable_query() = Query("2024-01-01", "2024-02-29");
  req.set_rule_id("engaged");
  v1::GetPqlCountResponse resp;
  grpc::Status s = metrics_->GetPqlCount(Ctx().get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.entries_size(), 2);
  EXPECT_EQ(resp.entries(0).pqls(), 1);
  EXPECT_EQ(resp.entries(0).conversions(), 1);
  EXPECT_EQ(resp.entries(1).pqls(), 0) << "paying from Jan 20: no longer a lead";
  req.set_rule_id("nope");
  EXPECT_EQ(metrics_->GetPqlCount(Ctx().get(), req, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// Engagement through the API: a stored model, the monthly distribution over paying
// customers, and the per-customer listing ordered, filtered and paged.
TEST_F(MetricsTest, EngagementThroughAStoredModel) {
  auto use = [&](const std::string& id, const std::string& customer, const std::string& type,
                 absl::Time at) { Use(id, customer, type, at); };
  Sub("1", "c1", "s1", At(2024, 1, 5), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  Sub("2", "c2", "s1", At(2024, 1, 6), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  Sub("3", "c3", "s1", At(2024, 1, 7), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  Sub("4", "c3", "s1", At(2024, 2, 10), v1::SUBSCRIPTION_STATUS_CANCELED, 1000);
  for (int i = 0; i < 4; ++i) use(absl::StrCat("a", i), "c1", "login", At(2024, 1, 20 + i));
  use("b0", "c2", "login", At(2024, 1, 25));
  use("b1", "c2", "ticket", At(2024, 1, 26));
  use("x0", "lead", "login", At(2024, 1, 25));  // not paying: not scored
  auto admin = v1::AdminService::NewStub(channel_);
  v1::CreateEngagementModelRequest create;
  create.set_tenant_id("acme");
  v1::EngagementModel* m = create.mutable_model();
  m->set_model_id("health");
  m->set_name("Health");
  auto* logins = m->add_components();
  logins->set_name("logins");
  logins->add_event_types("login");
  logins->set_aggregation(v1::EngagementComponent::AGGREGATION_COUNT);
  logins->set_target(4);
  logins->set_weight(3);
  auto* tickets = m->add_components();
  tickets->add_event_types("ticket");
  tickets->set_aggregation(v1::EngagementComponent::AGGREGATION_COUNT);
  tickets->set_target(1);
  tickets->set_weight(-1);
  v1::EngagementModel stored;
  ASSERT_TRUE(admin->CreateEngagementModel(Ctx().get(), create, &stored).ok());
  EXPECT_EQ(stored.window_days(), 0);
  EXPECT_TRUE(stored.has_create_time());

  v1::GetEngagementRequest req;
  *req.mutable_query() = Query("2024-01-01", "2024-02-29");
  req.set_model_id("health");
  v1::GetEngagementResponse resp;
  grpc::Status s = metrics_->GetEngagement(Ctx().get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.entries_size(), 2);
  // Jan 31: c1 4/4 logins → 100; c2 1/4 logins and a ticket → 100 × (0.75 − 1) / 3 → 0;
  // c3 no events → 0.
  EXPECT_EQ(resp.entries(0).customers(), 3);
  EXPECT_DOUBLE_EQ(resp.entries(0).mean().value(), 100.0 / 3);
  EXPECT_EQ(resp.entries(0).p50().value(), 0);
  EXPECT_EQ(resp.entries(0).p90().value(), 100);
  // Feb 29: c3 churned; the 30-day window (Jan 31..Feb 29) holds nothing.
  EXPECT_EQ(resp.entries(1).customers(), 2);
  EXPECT_EQ(resp.entries(1).mean().value(), 0);

  v1::ListEngagementScoresRequest list;
  *list.mutable_query() = Query("2024-01-31", "2024-01-31");
  list.set_model_id("health");
  list.set_page_size(2);
  v1::ListEngagementScoresResponse page;
  s = metrics_->ListEngagementScores(Ctx().get(), list, &page);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(page.date(), "2024-01-31");
  EXPECT_EQ(page.total(), 3);
  ASSERT_EQ(page.customers_size(), 2);
  EXPECT_EQ(page.customers(0).customer_id(), "c1");  // highest first, then by id
  EXPECT_EQ(page.customers(0).score(), 100);
  EXPECT_EQ(page.customers(1).customer_id(), "c2");
  EXPECT_EQ(page.customers(1).components(0), 1);
  EXPECT_EQ(page.customers(1).components(1), 1);
  ASSERT_FALSE(page.next_page_token().empty());
  list.set_page_token(page.next_page_token());
  s = metrics_->ListEngagementScores(Ctx().get(), list, &page);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(page.customers_size(), 1);
  EXPECT_EQ(page.customers(0).customer_id(), "c3");
  EXPECT_TRUE(page.next_page_token().empty());
  // A token of one order does not serve another.
  list.set_order(v1::ListEngagementScoresRequest::ORDER_CUSTOMER_ID);
  EXPECT_EQ(metrics_->ListEngagementScores(Ctx().get(), list, &page).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  list.clear_page_token();
  list.mutable_min_score()->set_value(50);
  list.set_order(v1::ListEngagementScoresRequest::ORDER_SCORE_ASC);
  ASSERT_TRUE(metrics_->ListEngagementScores(Ctx().get(), list, &page).ok());
  ASSERT_EQ(page.customers_size(), 1);
  EXPECT_EQ(page.customers(0).customer_id(), "c1");

  // A bad model is refused field by field and stores nothing; an unknown one is NOT_FOUND.
  v1::CreateEngagementModelRequest bad;
  bad.set_tenant_id("acme");
  bad.mutable_model()->set_model_id("Bad Id");
  bad.mutable_model()->add_components()->set_weight(-1);
  grpc::Status refused = admin->CreateEngagementModel(Ctx().get(), bad, &stored);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(testing::ViolatedFields(refused),
              ::testing::UnorderedElementsAre("model.model_id", "model.components[0].aggregation",
                                              "model.components[0].target", "model.components"));
  v1::ListEngagementModelsRequest all;
  all.set_tenant_id("acme");
  v1::ListEngagementModelsResponse models;
  ASSERT_TRUE(admin->ListEngagementModels(Ctx().get(), all, &models).ok());
  EXPECT_EQ(models.models_size(), 1);
  req.set_model_id("nope");
  EXPECT_EQ(metrics_->GetEngagement(Ctx().get(), req, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// Health groups through the API, worked by hand: the tenant's policy with and without a
// model, the counts, MRR and transitions per month end, the listing of a group with its
// reasons and last activity, paged, and a policy naming a missing model.
TEST_F(MetricsTest, HealthGroupsThroughTheTenantsPolicy) {
  Sub("1", "c1", "s1", At(2024, 1, 5), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  Sub("2", "c2", "s2", At(2024, 1, 5), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  Sub("3", "c3", "s3", At(2024, 1, 5), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  Sub("4", "c3", "s3", At(2024, 2, 10), v1::SUBSCRIPTION_STATUS_CANCELED, 1000);
  Sub("5", "c4", "s4", At(2024, 1, 5), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  Sub("6", "c4", "s4", At(2024, 2, 1), v1::SUBSCRIPTION_STATUS_PAUSED, 1000);
  for (int i = 0; i < 4; ++i) {
    Use(absl::StrCat("a", i), "c1", "login", At(2024, 1, 20 + i));
    Use(absl::StrCat("b", i), "c1", "login", At(2024, 2, 20 + i));
  }
  Use("c0", "c2", "login", At(2024, 1, 25));
  Use("c1", "c2", "ticket", At(2024, 1, 26));
  auto health = [&](v1::GetHealthResponse& resp) {
    v1::GetHealthRequest req;
    *req.mutable_query() = Query("2024-01-01", "2024-02-29");
    return metrics_->GetHealth(Ctx().get(), req, &resp);
  };
  // Groups as "group=customers/mrr", transitions as "from>to=customers".
  auto describe = [](const v1::HealthEntry& e) {
    std::vector<std::string> out;
    for (const auto& g : e.groups()) {
      if (g.customers() > 0) {
        out.push_back(absl::StrCat(v1::HealthGroup_Name(g.group()).substr(13), "=", g.customers(),
                                   "/", g.mrr()));
      }
    }
    for (const auto& t : e.transitions()) {
      out.push_back(absl::StrCat(v1::HealthGroup_Name(t.from()).substr(13), ">",
                                 v1::HealthGroup_Name(t.to()).substr(13), "=", t.customers()));
    }
    return absl::StrJoin(out, " ");
  };
  // No model: only activity (14 days) and pauses; nobody is power.
  v1::GetHealthResponse resp;
  grpc::Status s = health(resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.engagement_model_id(), "");
  ASSERT_EQ(resp.entries_size(), 2);
  EXPECT_EQ(describe(resp.entries(0)), "NORMAL=2/2000 AT_RISK=2/2000 NONE>NORMAL=2 NONE>AT_RISK=2");

  // With a model (the tenant's first): logins, 4 a month, and tickets against.
  auto admin = v1::AdminService::NewStub(channel_);
  v1::CreateEngagementModelRequest create;
  create.set_tenant_id("acme");
  v1::EngagementModel* m = create.mutable_model();
  m->set_model_id("logins");
  auto* logins = m->add_components();
  logins->add_event_types("login");
  logins->set_aggregation(v1::EngagementComponent::AGGREGATION_COUNT);
  logins->set_target(4);
  logins->set_weight(3);
  auto* tickets = m->add_components();
  tickets->add_event_types("ticket");
  tickets->set_aggregation(v1::EngagementComponent::AGGREGATION_COUNT);
  tickets->set_target(1);
  tickets->set_weight(-1);
  v1::EngagementModel stored;
  ASSERT_TRUE(admin->CreateEngagementModel(Ctx().get(), create, &stored).ok());
  s = health(resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.engagement_model_id(), "logins");
  // Jan 31: c1 scores 100 (power); c2 0 (a login and a ticket); c3, c4 0 and inactive.
  EXPECT_EQ(resp.entries(0).date(), "2024-01-31");
  EXPECT_EQ(describe(resp.entries(0)), "POWER=1/1000 AT_RISK=3/3000 NONE>POWER=1 NONE>AT_RISK=3");
  // Feb 29: c1 still power; c2 at risk; c4 paused (at risk, no MRR); c3 churned Feb 10.
  EXPECT_EQ(describe(resp.entries(1)),
            "POWER=1/1000 AT_RISK=2/1000 LOST=1/0 POWER>POWER=1 AT_RISK>AT_RISK=2 AT_RISK>LOST=1");

  // The at-risk customers on Feb 29, biggest first, one per page.
  v1::ListHealthCustomersRequest list;
  *list.mutable_query() = Query("2024-02-29", "2024-02-29");
  list.set_group(v1::HEALTH_GROUP_AT_RISK);
  list.set_page_size(1);
  v1::ListHealthCustomersResponse page;
  s = metrics_->ListHealthCustomers(Ctx().get(), list, &page);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(page.date(), "2024-02-29");
  EXPECT_EQ(page.total(), 2);
  EXPECT_EQ(page.engagement_model_id(), "logins");
  ASSERT_EQ(page.customers_size(), 1);
  const v1::HealthCustomer& c2 = page.customers(0);
  EXPECT_EQ(c2.customer_id(), "c2");
  EXPECT_EQ(c2.group(), v1::HEALTH_GROUP_AT_RISK);
  EXPECT_THAT(c2.reasons(), ElementsAre("low_score", "inactive"));
  EXPECT_EQ(c2.mrr(), 1000);
  EXPECT_EQ(c2.score().value(), 0);
  EXPECT_EQ(rpc::FromProto(c2.last_activity()), At(2024, 1, 26)) << "its ticket, a month before";
  list.set_page_token(page.next_page_token());
  s = metrics_->ListHealthCustomers(Ctx().get(), list, &page);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(page.customers_size(), 1);
  EXPECT_EQ(page.customers(0).customer_id(), "c4");
  EXPECT_THAT(page.customers(0).reasons(), ElementsAre("paused"));
  EXPECT_FALSE(page.customers(0).has_score());
  EXPECT_FALSE(page.customers(0).has_last_activity());
  EXPECT_TRUE(page.next_page_token().empty());
  // Every group, by id: c3 is lost with its churn day.
  list.clear_page_token();
  list.set_group(v1::HEALTH_GROUP_UNSPECIFIED);
  list.set_order(v1::ListHealthCustomersRequest::ORDER_CUSTOMER_ID);
  list.set_page_size(10);
  ASSERT_TRUE(metrics_->ListHealthCustomers(Ctx().get(), list, &page).ok());
  ASSERT_EQ(page.customers_size(), 4);
  EXPECT_EQ(page.customers(0).reasons(0), "high_score");
  EXPECT_EQ(page.customers(2).customer_id(), "c3");
  EXPECT_EQ(page.customers(2).group(), v1::HEALTH_GROUP_LOST);
  EXPECT_EQ(page.customers(2).churn_date(), "2024-02-10");
  // c1's profile at Feb 29: its record, subscription, movements, scores, health, activity
  // and latest NPS answer.
  Customer("c1", "ads");
  v1::RecordSurveyResponsesRequest nps;
  nps.set_tenant_id("acme");
  for (auto [id, score, day] : {std::tuple{"n1", 6, 10}, std::tuple{"n2", 9, 12}}) {
    v1::SurveyResponse* r = nps.add_responses();
    r->set_id(id);
    r->set_customer_id("c1");
    r->set_score(score);
    rpc::ToProto(At(2024, 2, day), r->mutable_time());
  }
  v1::IngestResult stored_nps;
  ASSERT_TRUE(ingest_->RecordSurveyResponses(Ctx().get(), nps, &stored_nps).ok());
  v1::GetCustomerRequest who;
  who.set_tenant_id("acme");
  who.set_customer_id("c1");
  who.set_date("2024-02-29");
  v1::CustomerProfile profile;
  s = metrics_->GetCustomer(Ctx().get(), who, &profile);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(profile.record().acquisition_channel(), "ads");
  ASSERT_EQ(profile.subscriptions_size(), 1);
  EXPECT_EQ(profile.subscriptions(0).subscription_id(), "s1");
  EXPECT_EQ(profile.subscriptions(0).status(), v1::SUBSCRIPTION_STATUS_ACTIVE);
  EXPECT_EQ(profile.mrr(), 1000);
  EXPECT_EQ(profile.first_paid_date(), "2024-01-05");
  EXPECT_EQ(profile.tenure_days(), 55);
  ASSERT_EQ(profile.movements_size(), 1);
  EXPECT_EQ(profile.movements(0).type(), v1::MOVEMENT_TYPE_NEW_BUSINESS);
  ASSERT_EQ(profile.scores_size(), 7);
  EXPECT_EQ(profile.scores(0).date(), "2023-08-31");
  EXPECT_EQ(profile.scores(5).date(), "2024-01-31");
  EXPECT_EQ(profile.scores(5).score(), 100);
  EXPECT_EQ(profile.scores(6).date(), "2024-02-29");
  EXPECT_EQ(profile.scores(6).score(), 100);
  EXPECT_EQ(profile.health_group(), v1::HEALTH_GROUP_POWER);
  EXPECT_THAT(profile.health_reasons(), ElementsAre("high_score"));
  EXPECT_EQ(rpc::FromProto(profile.last_activity()), At(2024, 2, 23));
  EXPECT_EQ(profile.latest_response().id(), "n2");
  EXPECT_EQ(profile.engagement_model_id(), "logins");
  // c3 churned on Feb 10: lost, no MRR, its subscription canceled.
  who.set_customer_id("c3");
  ASSERT_TRUE(metrics_->GetCustomer(Ctx().get(), who, &profile).ok());
  EXPECT_EQ(profile.health_group(), v1::HEALTH_GROUP_LOST);
  EXPECT_EQ(profile.mrr(), 0);
  EXPECT_EQ(profile.subscriptions(0).status(), v1::SUBSCRIPTION_STATUS_CANCELED);
  EXPECT_EQ(profile.movements_size(), 2);
  who.set_customer_id("nobody");
  EXPECT_EQ(metrics_->GetCustomer(Ctx().get(), who, &profile).error_code(),
            grpc::StatusCode::NOT_FOUND);
  who.set_date("29.02.2024");
  EXPECT_THAT(ViolatedFields(metrics_->GetCustomer(Ctx().get(), who, &profile)),
              ElementsAre("date"));

  // A bad group is named; a policy naming a missing model is a failed precondition.
  list.set_group(static_cast<v1::HealthGroup>(42));
  EXPECT_THAT(ViolatedFields(metrics_->ListHealthCustomers(Ctx().get(), list, &page)),
              ElementsAre("group"));
  v1::UpdateTenantRequest update;
  update.mutable_tenant()->set_tenant_id("acme");
  update.mutable_tenant()->mutable_health_policy()->set_engagement_model_id("gone");
  v1::Tenant tenant;
  ASSERT_TRUE(admin->UpdateTenant(Ctx().get(), update, &tenant).ok());
  s = health(resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("'gone'"));
}

// NPS through the API: survey responses ingested (idempotent by id, a bad batch refused
// whole), the series, its groups by a customer field and by health group, and filters.
TEST_F(MetricsTest, NpsFromSurveyResponses) {
  Customer("c1", "ads");
  Customer("c2", "organic");
  Sub("1", "c1", "s1", At(2024, 1, 5), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  Sub("2", "c2", "s2", At(2024, 1, 5), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  auto response = [](v1::RecordSurveyResponsesRequest& req, const std::string& id,
                     const std::string& customer, const std::string& user, int score,
                     absl::Time at) {
    v1::SurveyResponse* r = req.add_responses();
    r->set_id(id);
    r->set_customer_id(customer);
    r->set_user_id(user);
    r->set_score(score);
    rpc::ToProto(at, r->mutable_time());
  };
  v1::RecordSurveyResponsesRequest req;
  req.set_tenant_id("acme");
  response(req, "r1", "c1", "u1", 10, At(2024, 1, 10));
  response(req, "r2", "c1", "u1", 4, At(2024, 1, 20));  // u1's latest: a detractor
  response(req, "r3", "c2", "", 9, At(2024, 1, 15));
  response(req, "r4", "c3", "", 8, At(2024, 1, 16));  // never paid, no customer record
  v1::IngestResult result;
  grpc::Status s = ingest_->RecordSurveyResponses(Ctx().get(), req, &result);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(result.accepted(), 4);
  req.mutable_responses(0)->set_score(0);  // a repeated id is a duplicate, whatever it says
  ASSERT_TRUE(ingest_->RecordSurveyResponses(Ctx().get(), req, &result).ok());
  EXPECT_EQ(result.accepted(), 0);
  EXPECT_EQ(result.duplicates(), 4);
  v1::RecordSurveyResponsesRequest bad;
  bad.set_tenant_id("acme");
  response(bad, "r5", "c1", "", 11, At(2024, 1, 21));
  response(bad, "r6", "c1", "", 7, At(2024, 1, 21));
  bad.mutable_responses(1)->clear_time();
  s = ingest_->RecordSurveyResponses(Ctx().get(), bad, &result);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(s), ElementsAre("responses[0].score", "responses[1].time"));

  auto nps = [&](const std::string& group_by, const std::vector<std::string>& filters = {}) {
    v1::GetNpsRequest r;
    *r.mutable_query() = Query("2024-01-01", "2024-02-29");
    for (const auto& f : filters) r.mutable_query()->add_filter(f);
    r.set_group_by(group_by);
    v1::GetNpsResponse resp;
    grpc::Status st = metrics_->GetNps(Ctx().get(), r, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  };
  // "respondents promoters/passives/detractors nps" per entry.
  auto describe = [](const v1::NpsEntry& e) {
    return absl::StrCat(e.respondents(), " ", e.promoters(), "/", e.passives(), "/", e.detractors(),
                        " ", e.has_nps() ? absl::StrCat(e.nps().value()) : "-");
  };
  v1::GetNpsResponse all = nps("");
  ASSERT_EQ(all.entries_size(), 2);
  EXPECT_EQ(describe(all.entries(0)), "3 1/1/1 0");  // c1/u1 detractor, c2 promoter, c3 passive
  EXPECT_EQ(describe(all.entries(1)), "0 0/0/0 -");  // nobody in February: absent
  EXPECT_EQ(all.groups_size(), 0);

  v1::GetNpsResponse by_channel = nps("acquisition_channel");
  ASSERT_EQ(by_channel.groups_size(), 3);
  EXPECT_EQ(by_channel.groups(0).group(), "(none)");
  EXPECT_EQ(describe(by_channel.groups(0).entries(0)), "1 0/1/0 0");
  EXPECT_EQ(by_channel.groups(1).group(), "ads");
  EXPECT_EQ(describe(by_channel.groups(1).entries(0)), "1 0/0/1 -100");
  EXPECT_EQ(by_channel.groups(2).group(), "organic");
  EXPECT_EQ(describe(by_channel.groups(2).entries(0)), "1 1/0/0 100");

  // No usage: both paying customers are at risk (inactive) at January's end; c3 never paid.
  v1::GetNpsResponse by_health = nps("health");
  ASSERT_EQ(by_health.groups_size(), 2);
  EXPECT_EQ(by_health.groups(0).group(), "at_risk");
  EXPECT_EQ(describe(by_health.groups(0).entries(0)), "2 1/0/1 0");
  EXPECT_EQ(by_health.groups(1).group(), "none");
  EXPECT_EQ(describe(by_health.groups(1).entries(0)), "1 0/1/0 0");

  EXPECT_EQ(describe(nps("", {"acquisition_channel=organic"}).entries(0)), "1 1/0/0 100");

  v1::GetNpsRequest unknown;
  *unknown.mutable_query() = Query("2024-01-01", "2024-02-29");
  unknown.set_group_by("shoe_size");
  v1::GetNpsResponse ignored;
  EXPECT_THAT(ViolatedFields(metrics_->GetNps(Ctx().get(), unknown, &ignored)),
              ElementsAre("group_by"));
}

// The ideal-customer profile through the API, worked by hand: the top half of four paying
// customers by MRR, each channel's and plan's shares and lift, in lift order.
TEST_F(MetricsTest, IdealCustomerProfileByHand) {
  const std::vector<std::tuple<std::string, std::string, std::string, int64_t>> customers = {
      {"c1", "ads", "enterprise", 3000},
      {"c2", "ads", "pro", 2000},
      {"c3", "organic", "pro", 1000},
      {"c4", "organic", "pro", 500}};
  int n = 0;
  for (const auto& [id, channel, plan, mrr] : customers) {
    Customer(id, channel);
    Sub(absl::StrCat("e", ++n), id, "s-" + id, At(2024, 1, 5), v1::SUBSCRIPTION_STATUS_ACTIVE, mrr,
        plan);
  }
  v1::GetIdealCustomerProfileRequest req;
  *req.mutable_query() = Query("2024-01-31", "2024-01-31");
  req.add_fields("acquisition_channel");
  req.add_fields("plan");
  req.mutable_top_share()->set_value(0.5);
  req.set_min_count(1);
  v1::GetIdealCustomerProfileResponse resp;
  grpc::Status s = metrics_->GetIdealCustomerProfile(Ctx().get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.paying_customers(), 4);
  EXPECT_EQ(resp.top_customers(), 2);
  std::vector<std::string> got;
  for (const auto& v : resp.values()) {
    got.push_back(absl::StrCat(v.field(), "=", v.value(), " ", v.top_customers(), "/",
                               v.all_customers(), " lift ", v.lift()));
  }
  EXPECT_EQ(got, (std::vector<std::string>{
                     "acquisition_channel=ads 2/2 lift 2", "plan=enterprise 1/1 lift 2",
                     "plan=pro 1/3 lift 0.666667", "acquisition_channel=organic 0/2 lift 0"}));
  // The field columns are cached: the next answers follow a changed record (c4 → ads),
  // then a new customer (c5) and a plan added to a customer (c3 → enterprise too).
  auto values = [&] {
    grpc::Status s = metrics_->GetIdealCustomerProfile(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<std::string> got;
    for (const auto& v : resp.values()) {
      got.push_back(absl::StrCat(v.field(), "=", v.value(), " ", v.top_customers(), "/",
                                 v.all_customers(), " lift ", v.lift()));
    }
    return got;
  };
  Customer("c4", "ads");
  EXPECT_EQ(values(), (std::vector<std::string>{
                          "plan=enterprise 1/1 lift 2", "acquisition_channel=ads 2/3 lift 1.33333",
                          "plan=pro 1/3 lift 0.666667", "acquisition_channel=organic 0/1 lift 0"}));
  // Top 3 of 5: c5, c1, c2.
  Customer("c5", "ads");
  Sub("e5", "c5", "s-c5", At(2024, 1, 6), v1::SUBSCRIPTION_STATUS_ACTIVE, 4000, "pro");
  Sub("e6", "c3", "s-c3", At(2024, 1, 10), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000, "enterprise");
  EXPECT_EQ(values(),
            (std::vector<std::string>{
                "acquisition_channel=ads 3/4 lift 1.25", "plan=enterprise 1/2 lift 0.833333",
                "plan=pro 2/4 lift 0.833333", "acquisition_channel=organic 0/1 lift 0"}));
  EXPECT_EQ(resp.top_customers(), 3);
  // The default min_count (10) leaves out every value of four customers.
  req.clear_min_count();
  ASSERT_TRUE(metrics_->GetIdealCustomerProfile(Ctx().get(), req, &resp).ok());
  EXPECT_EQ(resp.values_size(), 0);
  req.clear_fields();
  req.add_fields("shoe_size");
  req.mutable_top_share()->set_value(1.5);
  EXPECT_THAT(ViolatedFields(metrics_->GetIdealCustomerProfile(Ctx().get(), req, &resp)),
              ElementsAre("fields[0]", "top_share"));
}

// Survival through the API, worked by hand (ANALYTICS.md "Survival"): lifetimes from the
// first new-business day to the first churn day (a pause is not churn; cancelling the
// paused subscription is; a reactivation starts no new lifetime), censored at the end.
TEST_F(MetricsTest, SurvivalByHand) {
  Customer("c1", "ads");
  Customer("c2", "ads");
  Customer("c3", "seo");
  Customer("c4", "seo");
  Customer("c6", "web");
  Sub("1", "c1", "s1", At(2024, 1, 5), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  Sub("2", "c1", "s1", At(2024, 3, 5), v1::SUBSCRIPTION_STATUS_CANCELED, 1000);  // 60 d
  Sub("3", "c2", "s1", At(2024, 1, 10), v1::SUBSCRIPTION_STATUS_ACTIVE, 2000);
  Sub("4", "c2", "s1", At(2024, 2, 9), v1::SUBSCRIPTION_STATUS_PAUSED, 2000);
  Sub("5", "c2", "s1", At(2024, 4, 9), v1::SUBSCRIPTION_STATUS_CANCELED, 2000);  // 90 d
  Sub("6", "c3", "s1", At(2024, 1, 20), v1::SUBSCRIPTION_STATUS_ACTIVE, 3000);   // 162 d +
  Sub("7", "c4", "s1", At(2024, 2, 1), v1::SUBSCRIPTION_STATUS_ACTIVE, 500);
  Sub("8", "c4", "s1", At(2024, 2, 21), v1::SUBSCRIPTION_STATUS_CANCELED, 500);  // 20 d
  Sub("9", "c4", "s2", At(2024, 3, 1), v1::SUBSCRIPTION_STATUS_ACTIVE, 500);
  Sub("10", "c5", "s1", At(2023, 12, 20), v1::SUBSCRIPTION_STATUS_ACTIVE, 900);  // before
  Sub("11", "c6", "s1", At(2024, 2, 15), v1::SUBSCRIPTION_STATUS_ACTIVE, 700);   // 136 d +
  auto survival = [&](const std::string& group_by, bool cox,
                      const std::vector<std::string>& filters = {}) {
    v1::GetSurvivalRequest req;
    *req.mutable_query() = Query("2024-01-01", "2024-06-30");
    for (const std::string& f : filters) req.mutable_query()->add_filter(f);
    req.set_group_by(group_by);
    req.set_cox(cox);
    if (cox) req.add_cox_fields("acquisition_channel");
    v1::GetSurvivalResponse resp;
    grpc::Status s = metrics_->GetSurvival(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  };
  auto points = [](const v1::SurvivalGroup& g) {
    std::vector<std::string> out;
    for (const v1::SurvivalPoint& p : g.points()) {
      out.push_back(
          absl::StrFormat("%d:%.12g/%d/%d", p.day(), p.survival(), p.at_risk(), p.churned()));
    }
    return out;
  };
  // Lifetimes 20, 60, 90 (churned), 136 and 162 (censored at June 30).
  const v1::GetSurvivalResponse all = survival("", false);
  ASSERT_EQ(all.groups_size(), 1);
  EXPECT_EQ(all.groups(0).customers(), 5);
  EXPECT_EQ(all.groups(0).churned(), 3);
  EXPECT_EQ(all.groups(0).median_days().value(), 90);
  EXPECT_EQ(all.groups(0).longest_days(), 162);
  EXPECT_THAT(points(all.groups(0)),
              ElementsAre("30:0.8/4/1", "60:0.6/4/2", "90:0.4/3/3", "120:0.4/2/3", "150:0.4/1/3"));
  EXPECT_TRUE(all.groups(0).points(0).has_lower());
  EXPECT_FALSE(all.has_log_rank());
  EXPECT_EQ(all.cox_size(), 0);
  EXPECT_EQ(all.currency(), "EUR");
  // By channel: ads {60, 90}, seo {20, 162+}, web {136+}; the log-rank test over three.
  const v1::GetSurvivalResponse by = survival("acquisition_channel", true);
  ASSERT_EQ(by.groups_size(), 3);
  EXPECT_EQ(by.groups(0).group(), "ads");
  EXPECT_EQ(by.groups(0).median_days().value(), 60);
  EXPECT_EQ(by.groups(1).group(), "seo");
  EXPECT_EQ(by.groups(1).median_days().value(), 20);
  EXPECT_EQ(by.groups(2).group(), "web");
  EXPECT_FALSE(by.groups(2).has_median_days());
  ASSERT_TRUE(by.has_log_rank());
  EXPECT_EQ(by.log_rank().degrees_of_freedom(), 2);
  EXPECT_GT(by.log_rank().p_value(), 0);
  double expected = 0;
  for (const auto& g : by.groups()) expected += g.expected_churned();
  EXPECT_NEAR(expected, 3, 1e-12);  // expected events sum to the observed
  // Cox: ads the reference; web never churned (no estimate, its customer leaves the fit).
  std::vector<std::string> terms;
  for (const v1::HazardRatio& h : by.cox()) {
    terms.push_back(absl::StrCat(h.field(), "=", h.value(), h.reference() ? " ref" : "", " ",
                                 h.customers(), "/", h.churned(),
                                 h.has_hazard_ratio() ? " hr" : ""));
  }
  EXPECT_THAT(terms,
              ElementsAre("acquisition_channel=ads ref 2/2", "acquisition_channel=seo 2/1 hr",
                          "acquisition_channel=web 1/0", "first_mrr= 4/3 hr"));
  EXPECT_EQ(by.cox_customers(), 4);
  const v1::HazardRatio& seo = by.cox(1);
  EXPECT_NEAR(seo.hazard_ratio().value(), std::exp(seo.coefficient().value()), 1e-12);
  EXPECT_LT(seo.lower().value(), seo.hazard_ratio().value());
  EXPECT_GT(seo.upper().value(), seo.hazard_ratio().value());
  // Filters restrict the population.
  const v1::GetSurvivalResponse ads = survival("", false, {"acquisition_channel=ads"});
  EXPECT_EQ(ads.groups(0).customers(), 2);
  // A point on the longest lifetime's day is reported (S = 0 there, no interval).
  EXPECT_THAT(points(ads.groups(0)), ElementsAre("30:1/2/0", "60:0.5/2/1", "90:0/1/2"));
  EXPECT_FALSE(ads.groups(0).points(2).has_lower());
  // Bad requests say what to change and touch nothing.
  v1::GetSurvivalRequest bad;
  *bad.mutable_query() = Query("2024-01-01", "2024-06-30");
  bad.set_group_by("shoe_size");
  bad.add_cox_fields("country");
  v1::GetSurvivalResponse ignored;
  EXPECT_THAT(ViolatedFields(metrics_->GetSurvival(Ctx().get(), bad, &ignored)),
              ElementsAre("group_by", "cox_fields"));
}

// Retention drivers through the API, worked by hand (ANALYTICS.md "Retention drivers"):
// "did" = an event of the type on the 14 days from the new-business day; "retained" =
// paying or paused at the end of day +90, only where that day has ended by as_of.
TEST_F(MetricsTest, RetentionDriversByHand) {
  Sub("1", "c1", "s1", At(2024, 1, 5), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  Use("u1", "c1", "login", At(2024, 1, 6));
  Sub("2", "c2", "s1", At(2024, 1, 10), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  Use("u2", "c2", "login", At(2024, 1, 30));  // after its window (Jan 10 – 23)
  Sub("3", "c2", "s1", At(2024, 2, 1), v1::SUBSCRIPTION_STATUS_CANCELED, 1000);
  Sub("4", "c3", "s1", At(2024, 1, 20), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  Use("u3", "c3", "login", At(2024, 1, 20));
  Use("u4", "c3", "report", At(2024, 1, 21));
  Sub("5", "c3", "s1", At(2024, 3, 1), v1::SUBSCRIPTION_STATUS_PAUSED, 1000);  // paused: kept
  Sub("6", "c4", "s1", At(2024, 2, 1), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  Sub("7", "c5", "s1", At(2024, 3, 20), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);  // day +90: Jun 18
  Use("u5", "c5", "login", At(2024, 3, 21));
  Sub("8", "c5", "s1", At(2024, 4, 1), v1::SUBSCRIPTION_STATUS_CANCELED, 1000);
  auto drivers = [&](std::optional<absl::Time> as_of, int min_events = 0) {
    v1::GetRetentionDriversRequest req;
    *req.mutable_query() = Query("2024-01-01", "2024-03-31");
    if (as_of.has_value()) rpc::ToProto(*as_of, req.mutable_as_of());
    req.set_min_events(min_events);
    v1::GetRetentionDriversResponse resp;
    grpc::Status s = metrics_->GetRetentionDrivers(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<std::string> rows;
    for (const v1::RetentionDriver& d : resp.drivers()) {
      rows.push_back(absl::StrFormat(
          "%s %d/%d vs %d/%d lift %s diff %s p %.6g%s", d.type(), d.did_retained(), d.did(),
          d.did_not_retained(), d.did_not(),
          d.has_lift() ? absl::StrFormat("%.6g", d.lift().value()) : "-",
          d.has_difference() ? absl::StrFormat("%.6g", d.difference().value()) : "-", d.p_value(),
          d.eligible() ? " eligible" : ""));
    }
    return std::make_pair(resp, rows);
  };
  // June 18 has not ended in Berlin at noon UTC: c5 is not observable yet.
  auto [early, early_rows] = drivers(At(2024, 6, 18));
  EXPECT_EQ(early.customers(), 4);
  EXPECT_EQ(early.retained(), 3);
  // login: {c1, c3} both kept, {c2, c4} one kept; Fisher on [[2, 0], [1, 1]]: p = 1.
  // report: {c3} kept; {c1, c2, c4} two kept. Fewer than 30 a side: by type.
  EXPECT_THAT(early_rows, ElementsAre("login 2/2 vs 1/2 lift 2 diff 0.5 p 1",
                                      "report 1/1 vs 2/3 lift 1.5 diff 0.333333 p 1"));
  auto [now, now_rows] = drivers(std::nullopt);
  EXPECT_EQ(now.customers(), 5);
  EXPECT_THAT(now_rows, ElementsAre("login 2/3 vs 1/2 lift 1.33333 diff 0.166667 p 1",
                                    "report 1/1 vs 2/4 lift 2 diff 0.5 p 1"));
  // Two logins in the window: nobody did; the empty arm has no retention, lift or difference.
  auto [twice, twice_rows] = drivers(std::nullopt, 2);
  EXPECT_THAT(twice_rows, ElementsAre("login 0/0 vs 3/5 lift - diff - p 1",
                                      "report 0/0 vs 3/5 lift - diff - p 1"));
  EXPECT_FALSE(twice.drivers(0).has_retention_did());
  // Bad settings say what to change.
  v1::GetRetentionDriversRequest bad;
  *bad.mutable_query() = Query("2024-01-01", "2024-03-31");
  bad.set_min_events(-1);
  bad.set_window_days(400);
  bad.set_retained_days(5000);
  v1::GetRetentionDriversResponse ignored;
  EXPECT_THAT(ViolatedFields(metrics_->GetRetentionDrivers(Ctx().get(), bad, &ignored)),
              ElementsAre("min_events", "window_days", "retained_days"));
}

// A churn model through the API (ANALYTICS.md "Churn risk"): customers who use the product
// weekly rarely churn, quiet ones often do. Trained, evaluated on held-out months, stored
// (GetModel returns it), scored page by page; bad requests say what to change.
TEST_F(MetricsTest, ChurnModelTrainsStoresAndScores) {
  std::mt19937_64 rng(16);
  std::uniform_int_distribution<int> pick(0, 1 << 30);
  v1::IngestUsageEventsRequest usage;
  usage.set_tenant_id("acme");
  int events = 0;
  for (int c = 0; c < 160; ++c) {
    const std::string id = absl::StrCat("k", c);
    Customer(id, c % 2 == 0 ? "ads" : "seo");
    const bool engaged = c % 3 != 0;
    const absl::Time start = At(2024, 1, 1) + absl::Hours(pick(rng) % (24 * 80));
    Sub(absl::StrCat("m", c, "a"), id, "s1", start, v1::SUBSCRIPTION_STATUS_ACTIVE,
        1000 + 100 * (pick(rng) % 20));
    std::optional<absl::Time> churned;
    if (pick(rng) % 100 < (engaged ? 8 : 70)) {
      churned = start + absl::Hours(24 * (20 + pick(rng) % 250));
      Sub(absl::StrCat("m", c, "b"), id, "s1", *churned, v1::SUBSCRIPTION_STATUS_CANCELED, 1000);
    }
    for (absl::Time t = start; engaged && t < At(2025, 1, 1); t += absl::Hours(24 * 6)) {
      if (churned.has_value() && t > *churned) break;
      v1::UsageEvent* e = usage.add_events();
      e->set_id(absl::StrCat("ev", events++));
      e->set_source("app");
      e->set_type("login");
      e->set_subject(id);
      e->set_user_id(absl::StrCat("u", pick(rng) % 3));
      rpc::ToProto(t, e->mutable_time());
      if (usage.events_size() == 500) {
        v1::IngestResult r;
        ASSERT_TRUE(ingest_->IngestUsageEvents(Ctx().get(), usage, &r).ok());
        usage.clear_events();
      }
    }
  }
  v1::IngestResult r;
  ASSERT_TRUE(ingest_->IngestUsageEvents(Ctx().get(), usage, &r).ok());
  v1::TrainModelRequest train;
  *train.mutable_query() = Query("2024-01-01", "2024-10-31");
  train.set_model_id("churn");
  train.set_kind(v1::MODEL_KIND_CHURN);
  train.set_horizon_days(60);
  v1::Model model;
  grpc::Status s = metrics_->TrainModel(Ctx().get(), train, &model);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(model.evaluation().method(), "time_split");  // ten label months
  EXPECT_EQ(model.evaluation().label_months(), 10);
  EXPECT_EQ(model.evaluation().test_months(), 3);
  EXPECT_GT(model.evaluation().auc().value(), 0.75) << model.evaluation().ShortDebugString();
  EXPECT_GT(model.positives(), 10);
  EXPECT_EQ(model.currency(), "EUR");
  EXPECT_EQ(model.evaluation().calibration_size(), 10);
  std::map<std::string, const v1::ModelFeature*> by_name;
  for (const v1::ModelFeature& f : model.features()) by_name[f.name()] = &f;
  ASSERT_TRUE(by_name.contains("log_usage_30d"));
  EXPECT_LT(by_name["log_usage_30d"]->coefficient(), 0) << "usage keeps customers";
  EXPECT_TRUE(by_name["past_due"]->dropped()) << "nobody was past due: a constant";
  EXPECT_DOUBLE_EQ(by_name["log_mrr"]->odds_ratio(), std::exp(by_name["log_mrr"]->coefficient()));
  // Stored: every replica reads the same model.
  v1::GetModelRequest get;
  get.set_tenant_id("acme");
  get.set_model_id("churn");
  v1::Model stored;
  ASSERT_TRUE(metrics_->GetModel(Ctx().get(), get, &stored).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(stored, model))
      << stored.ShortDebugString();
  // Scores of the customers paying at the end of the year, ten a page, most at risk first.
  auto score_page = [&](const std::string& token, v1::ScoreCustomersResponse* out) {
    v1::ScoreCustomersRequest req;
    *req.mutable_query() = Query("2024-12-31", "2024-12-31");
    req.set_model_id("churn");
    req.set_page_size(10);
    req.set_page_token(token);
    return metrics_->ScoreCustomers(Ctx().get(), req, out);
  };
  std::vector<std::pair<double, std::string>> served;
  std::string token;
  int64_t total = 0;
  do {
    v1::ScoreCustomersResponse page;
    grpc::Status ps = score_page(token, &page);
    ASSERT_TRUE(ps.ok()) << ps.error_message();
    total = page.total();
    for (const v1::CustomerScore& c : page.scores()) {
      served.emplace_back(c.probability(), c.customer_id());
      ASSERT_EQ(c.top_factors_size(), 3);
      EXPECT_GE(std::abs(c.top_factors(0).contribution()),
                std::abs(c.top_factors(1).contribution()));
    }
    token = page.next_page_token();
  } while (!token.empty());
  v1::GetMrrRequest mrr;
  *mrr.mutable_query() = Query("2024-12-01", "2024-12-31");
  v1::GetMrrResponse paying;
  ASSERT_TRUE(metrics_->GetMrr(Ctx().get(), mrr, &paying).ok());
  EXPECT_EQ(total, paying.entries(0).customers());
  ASSERT_EQ(static_cast<int64_t>(served.size()), total);
  for (size_t i = 1; i < served.size(); ++i) {
    EXPECT_TRUE(served[i - 1].first > served[i].first ||
                (served[i - 1].first == served[i].first && served[i - 1].second < served[i].second))
        << i;
  }
  std::set<std::string> distinct;
  for (const auto& [p, id] : served) distinct.insert(id);
  EXPECT_EQ(distinct.size(), served.size());
  // Health groups use it: with the policy's risk_at_least at the fifth-highest score, exactly
  // the customers it scores at that or more carry the reason churn_risk; the profile shows
  // the same score and factors.
  const double threshold = served[4].first;
  v1::Tenant policy;
  policy.set_tenant_id("acme");
  policy.mutable_health_policy()->mutable_risk_at_least()->set_value(threshold);
  ASSERT_TRUE(server_.client().UpdateTenant(policy).ok());
  std::set<std::string> risky;
  for (const auto& [p, id] : served) {
    if (p >= threshold) risky.insert(id);
  }
  ASSERT_GE(risky.size(), 5u);
  v1::ListHealthCustomersRequest health;
  *health.mutable_query() = Query("2024-12-31", "2024-12-31");
  health.set_page_size(1000);
  v1::ListHealthCustomersResponse groups;
  ASSERT_TRUE(metrics_->ListHealthCustomers(Ctx().get(), health, &groups).ok());
  std::set<std::string> with_reason;
  for (const v1::HealthCustomer& h : groups.customers()) {
    for (const std::string& r : h.reasons()) {
      if (r == "churn_risk") {
        with_reason.insert(h.customer_id());
        EXPECT_EQ(h.group(), v1::HEALTH_GROUP_AT_RISK);
      }
    }
  }
  EXPECT_EQ(with_reason, risky);
  v1::GetCustomerRequest profile_req;
  profile_req.set_tenant_id("acme");
  profile_req.set_customer_id(served.front().second);
  profile_req.set_date("2024-12-31");
  v1::CustomerProfile profile;
  ASSERT_TRUE(metrics_->GetCustomer(Ctx().get(), profile_req, &profile).ok());
  ASSERT_TRUE(profile.has_churn_risk());
  EXPECT_EQ(profile.churn_risk().model_id(), "churn");
  EXPECT_DOUBLE_EQ(profile.churn_risk().probability(), served.front().first);
  EXPECT_EQ(profile.churn_risk().top_factors_size(), 3);
  EXPECT_FALSE(profile.has_upsell_propensity()) << "no upsell model is trained";
  EXPECT_THAT(profile.health_reasons(), ::testing::Contains("churn_risk"));
  // Retrained with a field: one-hot columns, and the old page token no longer opens.
  v1::ScoreCustomersResponse first;
  ASSERT_TRUE(score_page("", &first).ok());
  train.add_fields("acquisition_channel");
  v1::Model with_field;
  ASSERT_TRUE(metrics_->TrainModel(Ctx().get(), train, &with_field).ok());
  std::vector<std::string> names;
  for (const v1::ModelFeature& f : with_field.features()) names.push_back(f.name());
  EXPECT_THAT(names, ::testing::IsSupersetOf({"acquisition_channel=ads", "acquisition_channel=seo",
                                              "acquisition_channel=other"}));
  for (const v1::ModelFeature& f : with_field.features()) {
    // Every customer has one of the two channels: each is a live column, `other` constant.
    if (f.name() == "acquisition_channel=ads" || f.name() == "acquisition_channel=seo") {
      EXPECT_FALSE(f.dropped()) << f.name();
      EXPECT_NEAR(f.mean(), 0.5, 0.05) << f.name();
    }
    if (f.name() == "acquisition_channel=other") {
      EXPECT_TRUE(f.dropped());
    }
  }
  v1::ScoreCustomersResponse stale;
  EXPECT_EQ(score_page(first.next_page_token(), &stale).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Bad requests.
  v1::TrainModelRequest bad;
  *bad.mutable_query() = Query("2024-01-01", "2024-10-31");
  bad.set_model_id("Bad Id");
  bad.set_horizon_days(400);
  bad.mutable_lambda()->set_value(0);
  bad.add_fields("country");
  bad.add_fields("country");
  bad.add_fields("shoe_size");
  v1::Model ignored;
  EXPECT_THAT(ViolatedFields(metrics_->TrainModel(Ctx().get(), bad, &ignored)),
              ElementsAre("model_id", "kind", "horizon_days", "lambda", "fields[1]", "fields[2]"));
  train.clear_fields();
  *train.mutable_query() = Query("2024-01-05", "2024-01-20");
  EXPECT_THAT(ViolatedFields(metrics_->TrainModel(Ctx().get(), train, &ignored)),
              ElementsAre("query"));
  // A horizon past the data: no label window has ended by as_of.
  *train.mutable_query() = Query("2024-09-01", "2024-10-31");
  rpc::ToProto(At(2024, 11, 15), train.mutable_as_of());
  s = metrics_->TrainModel(Ctx().get(), train, &ignored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("horizon_days"));
  get.set_model_id("nope");
  EXPECT_EQ(metrics_->GetModel(Ctx().get(), get, &ignored).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // Listed, then deleted: the health groups lose the churn rule with it.
  v1::ListModelsRequest list;
  list.set_tenant_id("acme");
  v1::ListModelsResponse listed;
  ASSERT_TRUE(metrics_->ListModels(Ctx().get(), list, &listed).ok());
  ASSERT_EQ(listed.models_size(), 1);
  EXPECT_EQ(listed.models(0).model_id(), "churn");
  EXPECT_EQ(listed.models(0).kind(), v1::MODEL_KIND_CHURN);
  EXPECT_DOUBLE_EQ(listed.models(0).auc().value(), with_field.evaluation().auc().value());
  v1::DeleteModelRequest del;
  del.set_tenant_id("acme");
  del.set_model_id("churn");
  v1::DeleteModelResponse deleted;
  ASSERT_TRUE(metrics_->DeleteModel(Ctx().get(), del, &deleted).ok());
  EXPECT_EQ(metrics_->DeleteModel(Ctx().get(), del, &deleted).error_code(),
            grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(metrics_->ListHealthCustomers(Ctx().get(), health, &groups).ok());
  for (const v1::HealthCustomer& h : groups.customers()) {
    EXPECT_THAT(h.reasons(), ::testing::Not(::testing::Contains("churn_risk")));
  }
}

// The churn cross-tab: each group's series is exactly the series the same query gives
// filtered to that group; plans count a customer in each plan it has an event on.
TEST_F(MetricsTest, ChurnByGroupEqualsEachGroupsFilter) {
  Customer("c1", "ads");
  Customer("c2", "ads");
  Customer("c3", "seo");
  Customer("c4", "seo");
  Sub("1", "c1", "s1", At(2024, 1, 5), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000, "basic");
  Sub("2", "c2", "s1", At(2024, 1, 6), v1::SUBSCRIPTION_STATUS_ACTIVE, 2000, "pro");
  Sub("3", "c3", "s1", At(2024, 1, 7), v1::SUBSCRIPTION_STATUS_ACTIVE, 3000, "pro");
  Sub("4", "c4", "s1", At(2024, 1, 8), v1::SUBSCRIPTION_STATUS_ACTIVE, 4000, "basic");
  Sub("5", "c5", "s1", At(2024, 1, 9), v1::SUBSCRIPTION_STATUS_ACTIVE, 5000, "pro");  // no record
  Sub("6", "c2", "s1", At(2024, 2, 10), v1::SUBSCRIPTION_STATUS_CANCELED, 2000, "pro");
  Sub("7", "c3", "s1", At(2024, 3, 3), v1::SUBSCRIPTION_STATUS_ACTIVE, 1500,
      "basic");  // plan change
  Sub("8", "c4", "s1", At(2024, 3, 20), v1::SUBSCRIPTION_STATUS_PAUSED, 4000, "basic");
  Sub("9", "c5", "s1", At(2024, 3, 21), v1::SUBSCRIPTION_STATUS_CANCELED, 5000, "pro");
  auto churn = [&](const std::string& group_by, const std::vector<std::string>& filters) {
    v1::GetChurnRequest req;
    *req.mutable_query() = Query("2024-01-01", "2024-04-30");
    for (const auto& f : filters) req.mutable_query()->add_filter(f);
    req.set_group_by(group_by);
    v1::GetChurnResponse resp;
    grpc::Status s = metrics_->GetChurn(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  };
  const v1::GetChurnResponse all = churn("", {});
  for (const auto& [field, want] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"acquisition_channel", {"(none)", "ads", "seo"}}, {"plan", {"basic", "pro"}}}) {
    const v1::GetChurnResponse grouped = churn(field, {});
    ASSERT_EQ(grouped.entries_size(), all.entries_size());
    for (int i = 0; i < all.entries_size(); ++i) {
      EXPECT_TRUE(
          google::protobuf::util::MessageDifferencer::Equals(grouped.entries(i), all.entries(i)))
          << "entries stay the total";
    }
    std::vector<std::string> names;
    for (const auto& g : grouped.groups()) {
      names.push_back(g.group());
      if (g.group() == "(none)") continue;
      const v1::GetChurnResponse filtered = churn("", {field + "=" + g.group()});
      ASSERT_EQ(g.entries_size(), filtered.entries_size());
      for (int i = 0; i < g.entries_size(); ++i) {
        EXPECT_TRUE(
            google::protobuf::util::MessageDifferencer::Equals(g.entries(i), filtered.entries(i)))
            << field << "=" << g.group() << " " << g.entries(i).DebugString() << " vs "
            << filtered.entries(i).DebugString();
      }
    }
    EXPECT_EQ(names, want) << field;
  }
  // c2 churned in February: the ads group's February has 1 of 2 churned.
  const v1::GetChurnResponse by_channel = churn("acquisition_channel", {});
  EXPECT_EQ(by_channel.groups(1).entries(1).churned_customers(), 1);
  EXPECT_EQ(by_channel.groups(1).entries(1).customers_at_start(), 2);
  // Under a filter, only the selected customers form groups.
  const v1::GetChurnResponse seo_plans = churn("plan", {"acquisition_channel=seo"});
  ASSERT_EQ(seo_plans.groups_size(), 2);  // c3 pro then basic, c4 basic
  v1::GetChurnRequest bad;
  *bad.mutable_query() = Query("2024-01-01", "2024-04-30");
  bad.set_group_by("favourite_colour");
  v1::GetChurnResponse ignored;
  grpc::Status s = metrics_->GetChurn(Ctx().get(), bad, &ignored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(testing::ViolatedFields(s), ::testing::ElementsAre("group_by"));
}

// Health transitions day by day (no engagement model: activity and pauses decide): c1 is
// normal from its first day, at risk once 14 days pass without usage; c2 never uses the
// product (at risk at once) and cancels (lost). Paged, filtered by the group moved into.
TEST_F(MetricsTest, HealthTransitionsDayByDay) {
  Sub("1", "c1", "s", At(2024, 1, 5), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  Use("u1", "c1", "login", At(2024, 1, 5));
  Sub("2", "c2", "s", At(2024, 1, 10), v1::SUBSCRIPTION_STATUS_ACTIVE, 2000);
  Sub("3", "c2", "s", At(2024, 1, 20), v1::SUBSCRIPTION_STATUS_CANCELED, 2000);
  auto list = [&](v1::HealthGroup to, int page_size, const std::string& token) {
    v1::ListHealthTransitionsRequest req;
    *req.mutable_query() = Query("2024-01-01", "2024-01-31");
    req.set_to(to);
    req.set_page_size(page_size);
    req.set_page_token(token);
    v1::ListHealthTransitionsResponse resp;
    grpc::Status s = metrics_->ListHealthTransitions(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  };
  std::vector<std::string> seen;
  std::string token;
  do {
    const v1::ListHealthTransitionsResponse page = list(v1::HEALTH_GROUP_UNSPECIFIED, 3, token);
    EXPECT_EQ(page.total(), 4);
    for (const auto& t : page.transitions()) {
      seen.push_back(absl::StrCat(t.date(), " ", t.customer_id(), " ",
                                  v1::HealthGroup_Name(t.from()).substr(13), ">",
                                  v1::HealthGroup_Name(t.to()).substr(13), " ",
                                  absl::StrJoin(t.reasons(), ","), " ", t.mrr()));
    }
    token = page.next_page_token();
  } while (!token.empty());
  EXPECT_THAT(seen, ElementsAre("2024-01-05 c1 NONE>NORMAL  1000",
                                "2024-01-10 c2 NONE>AT_RISK inactive 2000",
                                "2024-01-19 c1 NORMAL>AT_RISK inactive 1000",
                                "2024-01-20 c2 AT_RISK>LOST churned 0"));
  const v1::ListHealthTransitionsResponse at_risk = list(v1::HEALTH_GROUP_AT_RISK, 0, "");
  EXPECT_EQ(at_risk.total(), 2);
  ASSERT_EQ(at_risk.transitions_size(), 2);
  EXPECT_EQ(at_risk.transitions(1).customer_id(), "c1");
  // More than 92 days, a token of another query: named.
  v1::ListHealthTransitionsRequest bad;
  *bad.mutable_query() = Query("2024-01-01", "2024-06-30");
  bad.set_page_token(list(v1::HEALTH_GROUP_UNSPECIFIED, 1, "").next_page_token());
  v1::ListHealthTransitionsResponse ignored;
  EXPECT_THAT(ViolatedFields(metrics_->ListHealthTransitions(Ctx().get(), bad, &ignored)),
              ElementsAre("page_token", "query.end_date"));
}

// The layer cake: January's cohort (c1, c2) and February's (c3, which leaves in March and
// stays a layer of 0); c0 was won before the range. The cohort totals (monthly from a
// month's first day) and the movements (a filter that selects everyone) agree.
TEST_F(MetricsTest, MrrByCohortLayersAndTheShareFromExistingCustomers) {
  Customer("c0", "ads");
  Customer("c1", "ads");
  Customer("c2", "ads");
  Customer("c3", "ads");
  Sub("0", "c0", "s", At(2023, 12, 5), v1::SUBSCRIPTION_STATUS_ACTIVE, 500);
  Sub("1", "c1", "s", At(2024, 1, 5), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  Sub("2", "c2", "s", At(2024, 1, 20), v1::SUBSCRIPTION_STATUS_ACTIVE, 2000);
  Sub("3", "c3", "s", At(2024, 2, 3), v1::SUBSCRIPTION_STATUS_ACTIVE, 4000);
  Sub("4", "c3", "s", At(2024, 3, 9), v1::SUBSCRIPTION_STATUS_CANCELED, 4000);
  Sub("5", "c2", "s", At(2024, 3, 10), v1::SUBSCRIPTION_STATUS_ACTIVE, 3000);  // expands
  auto cake = [&](const std::vector<std::string>& filters) {
    v1::GetMrrByCohortRequest req;
    *req.mutable_query() = Query("2024-01-01", "2024-03-31");
    for (const auto& f : filters) req.mutable_query()->add_filter(f);
    v1::GetMrrByCohortResponse resp;
    grpc::Status s = metrics_->GetMrrByCohort(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  };
  const v1::GetMrrByCohortResponse all = cake({});
  EXPECT_EQ(all.currency(), "EUR");
  EXPECT_THAT(all.cohorts(), ElementsAre("2024-01-01", "2024-02-01", "2024-03-01"));
  ASSERT_EQ(all.entries_size(), 3);
  EXPECT_THAT(all.entries(0).layer_mrr(), ElementsAre(3000));
  EXPECT_THAT(all.entries(1).layer_mrr(), ElementsAre(3000, 4000));
  EXPECT_THAT(all.entries(2).layer_mrr(), ElementsAre(4000, 0, 0));
  EXPECT_EQ(all.entries(2).earlier_mrr(), 500);
  EXPECT_EQ(all.entries(2).mrr(), 4500);
  EXPECT_EQ(all.entries(1).existing_mrr(), 3500);
  EXPECT_DOUBLE_EQ(all.entries(1).existing_share().value(), 3500.0 / 7500);
  const v1::GetMrrByCohortResponse filtered = cake({"acquisition_channel=ads"});
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(all, filtered))
      << all.DebugString() << " vs " << filtered.DebugString();
  // Weekly, from mid-January: c1 (won Jan 5) is earlier now; every layer sums to MRR.
  v1::GetMrrByCohortRequest weekly;
  *weekly.mutable_query() = Query("2024-01-15", "2024-03-31", v1::INTERVAL_WEEK);
  v1::GetMrrByCohortResponse w;
  ASSERT_TRUE(metrics_->GetMrrByCohort(Ctx().get(), weekly, &w).ok());
  EXPECT_EQ(w.entries(0).earlier_mrr(), 1500);
  for (const auto& e : w.entries()) {
    int64_t sum = e.earlier_mrr();
    for (int64_t layer : e.layer_mrr()) sum += layer;
    EXPECT_EQ(sum, e.mrr()) << e.date();
  }
  EXPECT_EQ(w.entries(w.entries_size() - 1).mrr(), 4500);
}

// Renewal rates from stored terms: an annual subscription that renews, one canceled on its
// date, a monthly one counted only when min_term allows it, a filter, and a late term change
// that moves a renewal date in the warm cache.
TEST_F(MetricsTest, RenewalsThroughTheStoredTerms) {
  const v1::IntervalUnit year = v1::INTERVAL_UNIT_YEAR;
  Customer("c2", "ads");
  Sub("1", "c1", "s1", At(2024, 3, 10), v1::SUBSCRIPTION_STATUS_ACTIVE, 12000, "pro", year);
  Sub("2", "c2", "s1", At(2024, 3, 20), v1::SUBSCRIPTION_STATUS_ACTIVE, 24000, "pro", year);
  Sub("3", "c2", "s1", At(2025, 3, 20, 10), v1::SUBSCRIPTION_STATUS_CANCELED, 24000, "pro", year);
  Sub("4", "c3", "s1", At(2024, 3, 5), v1::SUBSCRIPTION_STATUS_ACTIVE, 500);
  auto renewals = [&](const std::vector<std::string>& filters, int count = 0,
                      v1::IntervalUnit unit = v1::INTERVAL_UNIT_UNSPECIFIED) {
    v1::GetRenewalsRequest req;
    *req.mutable_query() = Query("2025-02-01", "2025-03-31");
    for (const auto& f : filters) req.mutable_query()->add_filter(f);
    if (count > 0) {
      req.mutable_min_term()->set_unit(unit);
      req.mutable_min_term()->set_count(count);
    }
    v1::GetRenewalsResponse resp;
    grpc::Status s = metrics_->GetRenewals(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  };
  v1::GetRenewalsResponse r = renewals({});
  EXPECT_EQ(r.currency(), "EUR");
  EXPECT_EQ(r.min_term().unit(), year);
  EXPECT_EQ(r.min_term().count(), 1);
  ASSERT_EQ(r.entries_size(), 2);
  EXPECT_EQ(r.entries(0).date(), "2025-02-28");
  EXPECT_EQ(r.entries(0).subscriptions().up_for_renewal(), 0);
  EXPECT_FALSE(r.entries(0).subscriptions().has_rate_by_count()) << "none up: absent";
  const v1::RenewalRates& march = r.entries(1).subscriptions();
  EXPECT_EQ(march.up_for_renewal(), 2);
  EXPECT_EQ(march.renewed(), 1);
  EXPECT_EQ(march.mrr_up_for_renewal(), 1000 + 2000);
  EXPECT_EQ(march.renewed_mrr(), 1000);
  EXPECT_DOUBLE_EQ(march.rate_by_count().value(), 0.5);
  EXPECT_DOUBLE_EQ(march.rate_by_amount().value(), 1.0 / 3);
  EXPECT_EQ(r.entries(1).customers().up_for_renewal(), 2);
  // A month: c3's monthly subscription renews on the 5th of each month too.
  const v1::GetRenewalsResponse monthly = renewals({}, 1, v1::INTERVAL_UNIT_MONTH);
  EXPECT_EQ(monthly.entries(0).subscriptions().up_for_renewal(), 1);
  EXPECT_EQ(monthly.entries(1).subscriptions().up_for_renewal(), 3);
  // Filtered to the ads channel: c2 alone, canceled.
  const v1::GetRenewalsResponse ads = renewals({"acquisition_channel=ads"});
  EXPECT_EQ(ads.entries(1).subscriptions().up_for_renewal(), 1);
  EXPECT_EQ(ads.entries(1).subscriptions().renewed(), 0);
  EXPECT_DOUBLE_EQ(ads.entries(1).customers().rate_by_count().value(), 0);
  // A late change of c1's term to two years (2024-06-01) resets its anchor: no date in
  // March 2025 any more.
  Sub("5", "c1", "s1", At(2024, 6, 1), v1::SUBSCRIPTION_STATUS_ACTIVE, 24000, "pro", year, 2);
  EXPECT_EQ(renewals({}).entries(1).subscriptions().up_for_renewal(), 1);
  // Bad terms name the field.
  v1::GetRenewalsRequest bad;
  *bad.mutable_query() = Query("2025-02-01", "2025-03-31");
  bad.mutable_min_term()->set_unit(static_cast<v1::IntervalUnit>(9));
  bad.mutable_min_term()->set_count(20000);
  v1::GetRenewalsResponse ignored;
  EXPECT_THAT(ViolatedFields(metrics_->GetRenewals(Ctx().get(), bad, &ignored)),
              ElementsAre("min_term.unit", "min_term.count"));
  bad.mutable_min_term()->set_unit(v1::INTERVAL_UNIT_UNSPECIFIED);
  bad.mutable_min_term()->set_count(3);
  EXPECT_THAT(ViolatedFields(metrics_->GetRenewals(Ctx().get(), bad, &ignored)),
              ElementsAre("min_term.unit"));
}

TEST_F(MetricsTest, BadQueriesNameTheFieldAndTheRule) {
  struct Case {
    v1::MetricsQuery query;
    std::string field;
    std::string says;
  };
  auto with = [](std::function<void(v1::MetricsQuery&)> f) {
    v1::MetricsQuery q = Query("2024-01-01", "2024-03-31");
    f(q);
    return q;
  };
  const Case cases[] = {
      {with([](auto& q) { q.set_end_date("2023-12-31"); }), "query.end_date",
       "must not be before start_date"},
      {with([](auto& q) { q.set_start_date("2024-02-30"); }), "query.start_date", "is not a date"},
      {with([](auto& q) { q.set_interval(v1::INTERVAL_UNSPECIFIED); }), "query.interval",
       "is required"},
      {with([](auto& q) { q.set_interval(static_cast<v1::Interval>(9)); }), "query.interval",
       "unknown value 9"},
      {with([](auto& q) { q.set_end_date("2035-01-01"); }), "query.end_date",
       "the limit is 3700 (--max_query_days)"},
      {with([](auto& q) { q.add_filter("colour=red"); }), "query.filter[0]", "unknown field"},
      {with([](auto& q) { q.add_filter("country"); }), "query.filter[0]", "field=value"},
      {with([](auto& q) { q.set_tenant_id("Bad Tenant"); }), "query.tenant_id", "[a-z0-9_-]"},
  };
  for (const Case& c : cases) {
    v1::GetMrrRequest req;
    *req.mutable_query() = c.query;
    v1::GetMrrResponse resp;
    grpc::Status s = metrics_->GetMrr(Ctx().get(), req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_THAT(ViolatedFields(s), ElementsAre(c.field));
    EXPECT_THAT(s.error_message(), HasSubstr(c.says));
  }
  v1::GetMrrRequest req;
  *req.mutable_query() = Query("2024-01-01", "2024-01-31");
  req.mutable_query()->set_tenant_id("ghost");
  v1::GetMrrResponse resp;
  EXPECT_EQ(metrics_->GetMrr(Ctx().get(), req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace saasmetrics
