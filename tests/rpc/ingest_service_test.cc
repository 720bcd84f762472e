#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "saasmetrics/v1/ingest.grpc.pb.h"
#include "server/rpc/convert.h"
#include "tests/support/grpc_test_util.h"
#include "tests/support/test_server.h"

namespace saasmetrics {
namespace {

using testing::Ctx;
using testing::ViolatedFields;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::QueryInt;

absl::Time Day(int y, int m, int d) {
  return absl::FromCivil(absl::CivilDay(y, m, d), absl::UTCTimeZone());
}

v1::SubscriptionEvent Sub(const std::string& id, absl::Time at, int64_t amount = 4900) {
  v1::SubscriptionEvent e;
  e.set_event_id(id);
  e.set_subscription_id("sub-" + id);
  e.set_customer_id("cus-" + id);
  rpc::ToProto(at, e.mutable_effective_at());
  e.set_status(v1::SUBSCRIPTION_STATUS_ACTIVE);
  e.set_plan_id("pro");
  e.set_quantity(1);
  e.set_unit_amount(amount);
  e.set_currency("USD");
  e.set_interval_unit(v1::INTERVAL_UNIT_MONTH);
  e.set_interval_count(1);
  return e;
}

v1::UsageEvent Use(const std::string& id, absl::Time at, const std::string& source = "app") {
  v1::UsageEvent e;
  e.set_id(id);
  e.set_source(source);
  e.set_type("report.created");
  e.set_subject("cus-1");
  rpc::ToProto(at, e.mutable_time());
  (*e.mutable_properties())["plan"] = "pro \"quoted\"\n";
  return e;
}

class IngestTest : public ::testing::Test {
 protected:
  IngestTest()
      : channel_(grpc::CreateChannel(server_.address(), grpc::InsecureChannelCredentials())),
        ingest_(v1::IngestService::NewStub(channel_)) {
    v1::Tenant t;
    t.set_tenant_id("acme");
    t.set_currency("USD");
    EXPECT_TRUE(server_.client().CreateTenant(t).ok());
  }

  grpc::Status Subs(const std::vector<v1::SubscriptionEvent>& events, v1::IngestResult* out,
                    const std::string& tenant = "acme") {
    v1::IngestSubscriptionEventsRequest req;
    req.set_tenant_id(tenant);
    for (const auto& e : events) *req.add_events() = e;
    return ingest_->IngestSubscriptionEvents(Ctx().get(), req, out);
  }

  grpc::Status Usage(const std::vector<v1::UsageEvent>& events, v1::IngestResult* out) {
    v1::IngestUsageEventsRequest req;
    req.set_tenant_id("acme");
    for (const auto& e : events) *req.add_events() = e;
    return ingest_->IngestUsageEvents(Ctx().get(), req, out);
  }

  int64_t Count(const std::string& sql) { return QueryInt(server_.db().conninfo(), sql); }

  testing::TestServer server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::IngestService::Stub> ingest_;
};

TEST_F(IngestTest, StoresABatchAndBumpsTheTouchedMonths) {
  v1::IngestResult r;
  ASSERT_TRUE(
      Subs({Sub("a", Day(2024, 1, 5)), Sub("b", Day(2024, 1, 20)), Sub("c", Day(2024, 3, 1))}, &r)
          .ok());
  EXPECT_EQ(r.accepted(), 3);
  EXPECT_EQ(r.duplicates(), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM subscription_events WHERE tenant_id = 'acme'"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM partition_versions WHERE kind = 1"), 2);
  EXPECT_EQ(Count("SELECT version FROM partition_versions WHERE month = '2024-01-01'"), 1);
  // The values arrive as sent, to the microsecond.
  EXPECT_EQ(Count("SELECT unit_amount FROM subscription_events WHERE event_id = 'b'"), 4900);
  EXPECT_EQ(Count("SELECT (extract(epoch FROM effective_at))::bigint FROM subscription_events "
                  "WHERE event_id = 'c'"),
            absl::ToUnixSeconds(Day(2024, 3, 1)));

  ASSERT_TRUE(Subs({Sub("d", Day(2024, 1, 9))}, &r).ok());
  EXPECT_EQ(Count("SELECT version FROM partition_versions WHERE month = '2024-01-01'"), 2);
  EXPECT_EQ(Count("SELECT version FROM partition_versions WHERE month = '2024-03-01'"), 1);
}

TEST_F(IngestTest, DuplicatesWithinAndAcrossBatchesAndPartitionsAreSkippedAndCounted) {
  v1::IngestResult r;
  // "a" twice in one batch: the first one wins.
  ASSERT_TRUE(Subs({Sub("a", Day(2024, 1, 5), 100), Sub("a", Day(2024, 1, 5), 200)}, &r).ok());
  EXPECT_EQ(r.accepted(), 1);
  EXPECT_EQ(r.duplicates(), 1);
  // The same id again, now in another month: still the same event.
  ASSERT_TRUE(Subs({Sub("a", Day(2023, 7, 1), 300), Sub("b", Day(2024, 2, 1))}, &r).ok());
  EXPECT_EQ(r.accepted(), 1);
  EXPECT_EQ(r.duplicates(), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM subscription_events"), 2);
  EXPECT_EQ(Count("SELECT unit_amount FROM subscription_events WHERE event_id = 'a'"), 100);
  // A resent batch changes nothing, not even a partition version.
  const int64_t versions = Count("SELECT sum(version) FROM partition_versions");
  ASSERT_TRUE(Subs({Sub("a", Day(2024, 1, 5)), Sub("b", Day(2024, 2, 1))}, &r).ok());
  EXPECT_EQ(r.accepted(), 0);
  EXPECT_EQ(r.duplicates(), 2);
  EXPECT_EQ(Count("SELECT sum(version) FROM partition_versions"), versions);
}

TEST_F(IngestTest, LateEventsOfAnyAgeAreStored) {
  v1::IngestResult r;
  ASSERT_TRUE(Subs({Sub("old", Day(1990, 1, 1)), Sub("recent", absl::Now())}, &r).ok());
  EXPECT_EQ(r.accepted(), 2);
  ASSERT_TRUE(Usage({Use("u-old", Day(1995, 6, 30))}, &r).ok());
  EXPECT_EQ(r.accepted(), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM usage_events_y1995m06"), 1);
}

TEST_F(IngestTest, AnInvalidItemRejectsTheWholeBatchAndWritesNothing) {
  v1::SubscriptionEvent bad = Sub("bad", Day(2024, 1, 1));
  bad.set_currency("XAU");  // gold: not a billing currency
  bad.set_interval_count(0);
  v1::IngestResult r;
  grpc::Status s = Subs({Sub("good", Day(2024, 1, 1)), bad}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("events[1].interval_count"));
  EXPECT_THAT(ViolatedFields(s), ElementsAre("events[1].interval_count", "events[1].currency"));
  EXPECT_EQ(Count("SELECT count(*) FROM subscription_events"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM subscription_event_ids"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM partition_versions"), 0);
}

// Issue 13, hardening 5: 2,000 bad items give the first violations (at most 100, 4 KiB)
// and a count, and a hostile value is echoed only in part — the answer stays within what
// a client accepts as trailing metadata (8 KiB by default).
TEST_F(IngestTest, ViolationsAreCappedAndHostileValuesTruncated) {
  std::vector<v1::SubscriptionEvent> events;
  for (int i = 0; i < 2000; ++i) {
    v1::SubscriptionEvent e = Sub(absl::StrCat("bad", i), Day(2024, 1, 1));
    e.set_currency(i == 0 ? std::string(100000, 'X') : "XAU");
    events.push_back(e);
  }
  v1::IngestResult r;
  grpc::Status s = Subs(events, &r);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const std::vector<std::string> fields = ViolatedFields(s);
  ASSERT_GE(fields.size(), 10u);
  ASSERT_LE(fields.size(), 101u);
  EXPECT_EQ(fields.front(), "events[0].currency");
  EXPECT_EQ(fields.back(), "(more)");
  EXPECT_LT(s.error_details().size() + s.error_message().size(), 6u << 10);
  EXPECT_LT(s.error_message().size(), 1000u);
  EXPECT_THAT(s.error_message(), HasSubstr("(truncated)"));
  EXPECT_THAT(s.error_message(), HasSubstr("(and 1999 more)"));
  EXPECT_EQ(Count("SELECT count(*) FROM subscription_events"), 0);
}

// Issue 13, hardening 8: accepted but wrong before.
TEST_F(IngestTest, NegativeNanosAndMillenniaOfSpendAreRefused) {
  v1::UsageEvent e;
  e.set_id("n1");
  e.set_source("app");
  e.set_type("login");
  e.set_subject("c1");
  e.mutable_time()->set_seconds(1704067200);
  e.mutable_time()->set_nanos(-1);
  v1::IngestResult r;
  grpc::Status s = Usage({e}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("events[0].time: is not a valid timestamp"));

  v1::RecordAcquisitionSpendRequest spend;
  spend.set_tenant_id("acme");
  v1::AcquisitionSpend* row = spend.add_spend();
  row->set_spend_id("s1");
  row->set_channel("ads");
  row->set_start_date("2024-01-01");
  row->set_end_date("9999-12-31");
  row->set_amount(100);
  row->set_currency("USD");
  s = ingest_->RecordAcquisitionSpend(Ctx().get(), spend, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("spend[0].end_date: must be within 3660 days"));
  EXPECT_EQ(
      Count("SELECT count(*) FROM usage_events") + Count("SELECT count(*) FROM acquisition_spend"),
      0);
}

TEST_F(IngestTest, EachRuleIsEnforcedThroughTheApi) {
  struct Case {
    std::function<void(v1::SubscriptionEvent&)> mutate;
    std::string field;
  };
  const Case cases[] = {
      {[](auto& e) { e.clear_event_id(); }, "events[0].event_id"},
      {[](auto& e) { e.clear_effective_at(); }, "events[0].effective_at"},
      {[](auto& e) { rpc::ToProto(Day(1985, 1, 1), e.mutable_effective_at()); },
       "events[0].effective_at"},
      {[](auto& e) { rpc::ToProto(absl::Now() + absl::Hours(48), e.mutable_effective_at()); },
       "events[0].effective_at"},
      {[](auto& e) { e.set_status(static_cast<v1::SubscriptionStatus>(42)); }, "events[0].status"},
      {[](auto& e) { e.set_interval_unit(static_cast<v1::IntervalUnit>(42)); },
       "events[0].interval_unit"},
      {[](auto& e) { e.set_quantity(-1); }, "events[0].quantity"},
      {[](auto& e) { e.set_unit_amount(-1); }, "events[0].unit_amount"},
      {[](auto& e) { e.set_currency("usd"); }, "events[0].currency"},
      {[](auto& e) { e.mutable_discount()->set_percent_off_bps(20000); },
       "events[0].discount.percent_off_bps"},
      {[](auto& e) { e.set_customer_id(std::string(300, 'c')); }, "events[0].customer_id"},
  };
  for (const Case& c : cases) {
    v1::SubscriptionEvent e = Sub("x", Day(2024, 1, 1));
    c.mutate(e);
    v1::IngestResult r;
    grpc::Status s = Subs({e}, &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_THAT(ViolatedFields(s), ElementsAre(c.field));
  }
  EXPECT_EQ(Count("SELECT count(*) FROM subscription_events"), 0);
}

TEST_F(IngestTest, UnknownTenantIsNotFoundAndBadTenantIdIsInvalid) {
  v1::IngestResult r;
  grpc::Status s = Subs({Sub("a", Day(2024, 1, 1))}, &r, "ghost");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "tenant 'ghost' does not exist");
  s = Subs({Sub("a", Day(2024, 1, 1))}, &r, "Not Valid");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(s), ElementsAre("tenant_id"));
}

TEST(IngestLimits, OverLimitBatchesAreResourceExhausted) {
  rpc::ServerConfig config;
  config.max_batch_items = 5;
  config.max_batch_bytes = 64 * 1024;
  testing::TestServer server(config);
  v1::Tenant t;
  t.set_tenant_id("acme");
  t.set_currency("USD");
  ASSERT_TRUE(server.client().CreateTenant(t).ok());
  auto stub = v1::IngestService::NewStub(
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));

  v1::IngestUsageEventsRequest req;
  req.set_tenant_id("acme");
  for (int i = 0; i < 6; ++i) *req.add_events() = Use(absl::StrCat("u", i), Day(2024, 1, 1));
  v1::IngestResult r;
  grpc::ClientContext ctx1;
  testing::AddToken(&ctx1);
  grpc::Status s = stub->IngestUsageEvents(&ctx1, req, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(s.error_message(), "events: 6 items exceed the batch limit of 5 (--max_batch_items)");

  req.clear_events();
  v1::UsageEvent big = Use("big", Day(2024, 1, 1));
  (*big.mutable_properties())["blob"] = std::string(100 * 1024, 'x');
  *req.add_events() = big;
  grpc::ClientContext ctx2;
  testing::AddToken(&ctx2);
  s = stub->IngestUsageEvents(&ctx2, req, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(QueryInt(server.db().conninfo(), "SELECT count(*) FROM usage_events"), 0);
}

TEST_F(IngestTest, ValuesThatNeedEscapingRoundTripExactly) {
  v1::UsageEvent e = Use("tab\tnew\nline\\back", Day(2024, 1, 1));
  e.set_type("type with \t tab");
  e.mutable_value()->set_value(0.1 + 0.2);  // not representable in 6 significant digits
  (*e.mutable_properties())["k\\"] = "v\t\"";
  v1::IngestResult r;
  ASSERT_TRUE(Usage({e}, &r).ok());
  pqxx::connection conn(server_.db().conninfo());
  pqxx::read_transaction t(conn);
  pqxx::row row = t.exec1("SELECT event_id, type, value, properties->>'k\\' FROM usage_events");
  EXPECT_EQ(row[0].as<std::string>(), "tab\tnew\nline\\back");
  EXPECT_EQ(row[1].as<std::string>(), "type with \t tab");
  EXPECT_EQ(row[2].as<double>(), 0.1 + 0.2);
  EXPECT_EQ(row[3].as<std::string>(), "v\t\"");
}

TEST_F(IngestTest, UsageIdentityIsSourceAndIdAndPropertiesRoundTrip) {
  v1::IngestResult r;
  ASSERT_TRUE(Usage({Use("1", Day(2024, 1, 1), "web"), Use("1", Day(2024, 1, 1), "mobile"),
                     Use("1", Day(2024, 2, 1), "web")},
                    &r)
                  .ok());
  EXPECT_EQ(r.accepted(), 2);
  EXPECT_EQ(r.duplicates(), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM usage_events WHERE properties->>'plan' = "
                  "E'pro \"quoted\"\\n' AND value = 1"),
            2);
}

// A batch sent again is answered from its keys alone: all duplicates, nothing written,
// no month version bumped. A batch mixing stored and new identities stores the new ones,
// whether a new key sorts first or not.
TEST_F(IngestTest, ABatchSentAgainIsAnsweredFromItsKeys) {
  const std::vector<v1::UsageEvent> batch = {Use("b", Day(2024, 1, 1), "web"),
                                             Use("c", Day(2024, 1, 2), "web"),
                                             Use("d", Day(2024, 2, 1), "web")};
  v1::IngestResult r;
  ASSERT_TRUE(Usage(batch, &r).ok());
  EXPECT_EQ(r.accepted(), 3);
  const int64_t writes = Count("SELECT count(*) FROM partition_writes");
  ASSERT_TRUE(Usage(batch, &r).ok());
  EXPECT_EQ(r.accepted(), 0);
  EXPECT_EQ(r.duplicates(), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM partition_writes"), writes) << "nothing was written";
  std::vector<v1::UsageEvent> with_last = batch;  // its new key sorts last
  with_last.push_back(Use("e", Day(2024, 2, 2), "web"));
  ASSERT_TRUE(Usage(with_last, &r).ok());
  EXPECT_EQ(r.accepted(), 1);
  EXPECT_EQ(r.duplicates(), 3);
  std::vector<v1::UsageEvent> with_first = batch;  // its new key sorts first
  with_first.push_back(Use("a", Day(2024, 2, 3), "web"));
  ASSERT_TRUE(Usage(with_first, &r).ok());
  EXPECT_EQ(r.accepted(), 1);
  EXPECT_EQ(r.duplicates(), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM usage_events"), 5);
}

TEST_F(IngestTest, TheCopyPathAndTheStagedPathAgreeOnEveryIdentity) {
  // An all-new batch goes the COPY path (keys encoded by the server); a batch that repeats
  // an identity goes the staged path (keys encoded by saasmetrics_usage_key() in SQL).
  // Both must see the other's identities, whatever the characters.
  const std::vector<std::pair<std::string, std::string>> ids = {
      {"web", "1"}, {"wéb", "ü-1"}, {"a\tb", "c\\d"}, {"web", "1 "}, {"we", "b1"}};
  std::vector<v1::UsageEvent> first;
  for (const auto& [source, id] : ids) first.push_back(Use(id, Day(2024, 1, 1), source));
  v1::IngestResult r;
  ASSERT_TRUE(Usage(first, &r).ok());
  EXPECT_EQ(r.accepted(), 5);
  std::vector<v1::UsageEvent> again = first;
  again.push_back(first[0]);  // a repeat within the batch: the staged path
  again.push_back(Use("new", Day(2024, 2, 1), "wéb"));
  ASSERT_TRUE(Usage(again, &r).ok());
  EXPECT_EQ(r.accepted(), 1);
  EXPECT_EQ(r.duplicates(), 6);
  ASSERT_TRUE(Usage({Use("new", Day(2024, 3, 1), "wéb")}, &r).ok());  // COPY path, stored by SQL
  EXPECT_EQ(r.accepted(), 0);
  EXPECT_EQ(r.duplicates(), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM usage_events"), 6);
  EXPECT_EQ(Count("SELECT count(*) FROM usage_event_keys k JOIN usage_events e ON k.key = "
                  "saasmetrics_usage_key(e.tenant_id, e.source, e.event_id)"),
            6);
}

TEST_F(IngestTest, CustomersUpsertByIdAndTheLatestUpdatedAtWins) {
  auto customer = [](const std::string& channel, absl::Time updated) {
    v1::Customer c;
    c.set_customer_id("cus-1");
    rpc::ToProto(Day(2024, 1, 1), c.mutable_created_at());
    c.set_acquisition_channel(channel);
    c.set_country("FR");
    (*c.mutable_attributes())["segment"] = "smb";
    rpc::ToProto(updated, c.mutable_updated_at());
    return c;
  };
  auto upsert = [&](std::vector<v1::Customer> cs) {
    v1::UpsertCustomersRequest req;
    req.set_tenant_id("acme");
    for (auto& c : cs) *req.add_customers() = c;
    v1::IngestResult r;
    EXPECT_TRUE(ingest_->UpsertCustomers(Ctx().get(), req, &r).ok());
    return r;
  };
  auto channel = [&] {
    pqxx::connection conn(server_.db().conninfo());
    pqxx::read_transaction t(conn);
    return t.exec1("SELECT acquisition_channel FROM customers")[0].as<std::string>();
  };
  // Within a batch the later updated_at wins regardless of position.
  v1::IngestResult r = upsert({customer("ads", Day(2024, 2, 2)), customer("seo", Day(2024, 2, 1))});
  EXPECT_EQ(r.accepted(), 1);
  EXPECT_EQ(channel(), "ads");
  r = upsert({customer("referral", Day(2024, 1, 15))});  // older: ignored
  EXPECT_EQ(r.accepted(), 0);
  EXPECT_EQ(r.duplicates(), 1);
  EXPECT_EQ(channel(), "ads");
  r = upsert({customer("partner", Day(2024, 3, 1))});  // newer: replaces
  EXPECT_EQ(r.accepted(), 1);
  EXPECT_EQ(channel(), "partner");
  EXPECT_EQ(Count("SELECT count(*) FROM customers WHERE attributes->>'segment' = 'smb'"), 1);
}

TEST_F(IngestTest, SpendIsIdempotentAndDatesAreChecked) {
  v1::RecordAcquisitionSpendRequest req;
  req.set_tenant_id("acme");
  auto* s = req.add_spend();
  s->set_spend_id("may-ads");
  s->set_channel("ads");
  s->set_start_date("2024-05-01");
  s->set_end_date("2024-05-31");
  s->set_amount(250000);
  s->set_currency("USD");
  v1::IngestResult r;
  ASSERT_TRUE(ingest_->RecordAcquisitionSpend(Ctx().get(), req, &r).ok());
  EXPECT_EQ(r.accepted(), 1);
  ASSERT_TRUE(ingest_->RecordAcquisitionSpend(Ctx().get(), req, &r).ok());
  EXPECT_EQ(r.duplicates(), 1);
  s->set_spend_id("bad");
  s->set_end_date("2024-02-30");
  grpc::Status bad = ingest_->RecordAcquisitionSpend(Ctx().get(), req, &r);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(bad), ElementsAre("spend[0].end_date"));
  EXPECT_EQ(Count("SELECT count(*) FROM acquisition_spend"), 1);
}

TEST_F(IngestTest, StreamAcksEachBatchInOrderAndSurvivesABadBatch) {
  auto ctx = Ctx();
  auto stream = ingest_->StreamIngest(ctx.get());
  auto batch = [](const std::string& id, std::vector<v1::UsageEvent> events) {
    v1::IngestBatch b;
    b.set_tenant_id("acme");
    b.set_batch_id(id);
    for (auto& e : events) *b.mutable_usage_events()->add_events() = e;
    return b;
  };
  v1::UsageEvent invalid = Use("x", Day(2024, 1, 1));
  invalid.clear_type();
  const std::vector<v1::IngestBatch> batches = {
      batch("b1", {Use("1", Day(2024, 1, 1)), Use("2", Day(2024, 1, 2))}),
      batch("b2", {Use("2", Day(2024, 1, 2)), invalid}),
      batch("b3", {Use("2", Day(2024, 1, 2)), Use("3", Day(2024, 3, 3))}),
  };
  std::vector<v1::IngestAck> acks;
  for (const auto& b : batches) {
    ASSERT_TRUE(stream->Write(b));
    v1::IngestAck ack;
    ASSERT_TRUE(stream->Read(&ack));
    acks.push_back(ack);
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  ASSERT_EQ(acks.size(), 3u);
  EXPECT_EQ(acks[0].batch_id(), "b1");
  EXPECT_EQ(acks[0].result().accepted(), 2);
  EXPECT_EQ(acks[1].batch_id(), "b2");
  EXPECT_EQ(acks[1].error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_EQ(acks[1].violations_size(), 1);
  EXPECT_EQ(acks[1].violations(0).field(), "events[1].type");
  EXPECT_EQ(acks[2].result().accepted(), 1);
  EXPECT_EQ(acks[2].result().duplicates(), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM usage_events"), 3);
}

TEST_F(IngestTest, StreamRejectsABatchNamingAnotherTenantOrNothing) {
  auto ctx = Ctx();
  auto stream = ingest_->StreamIngest(ctx.get());
  v1::IngestBatch b;
  b.set_tenant_id("acme");
  b.mutable_customers()->set_tenant_id("other");
  v1::IngestAck ack;
  ASSERT_TRUE(stream->Write(b));
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ack.error_message(), HasSubstr("the batch is for 'acme' but its items name 'other'"));
  b.clear_customers();
  ASSERT_TRUE(stream->Write(b));
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.violations(0).field(), "items");
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(IngestTest, ConcurrentWritersWithOverlappingIdsStoreEachEventOnce) {
  constexpr int kWriters = 4, kBatches = 10, kPerBatch = 200, kDistinct = 1000;
  std::atomic<int64_t> accepted{0}, duplicates{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      auto stub = v1::IngestService::NewStub(channel_);
      for (int b = 0; b < kBatches; ++b) {
        v1::IngestUsageEventsRequest req;
        req.set_tenant_id("acme");
        for (int i = 0; i < kPerBatch; ++i) {
          // Writers walk the same ids in different orders and months.
          int id = (w * 7919 + b * kPerBatch + i * (w + 1)) % kDistinct;
          *req.add_events() = Use(std::to_string(id), Day(2024, 1 + id % 6, 1 + w));
        }
        v1::IngestResult r;
        grpc::Status s = stub->IngestUsageEvents(Ctx().get(), req, &r);
        ASSERT_TRUE(s.ok()) << s.error_message();
        accepted += r.accepted();
        duplicates += r.duplicates();
      }
    });
  }
  for (auto& t : writers) t.join();
  const int64_t stored = Count("SELECT count(*) FROM usage_events");
  EXPECT_EQ(stored, Count("SELECT count(DISTINCT event_id) FROM usage_events"));
  EXPECT_EQ(stored, accepted.load());
  EXPECT_EQ(accepted + duplicates, kWriters * kBatches * kPerBatch);
  EXPECT_EQ(stored, Count("SELECT count(*) FROM usage_event_keys"));
}

}  // namespace
}  // namespace saasmetrics
