// WatchHealthTransitions end to end: real servers on one database (two replicas), the
// client library's HealthWatcher, late writes through the other replica, a restart.
#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "saasmetrics/v1/ingest.grpc.pb.h"
#include "saasmetrics/v1/metrics.grpc.pb.h"
#include "server/engine/dates.h"
#include "server/rpc/convert.h"
#include "tests/support/eventually.h"
#include "tests/support/grpc_test_util.h"
#include "tests/support/test_server.h"

namespace saasmetrics {
namespace {

using google::protobuf::util::MessageDifferencer;
using testing::Ctx;
using ::testing::ElementsAre;
using testing::Eventually;
using testing::ViolatedFields;

constexpr char kZone[] = "America/New_York";

absl::TimeZone Zone() {
  absl::TimeZone tz;
  EXPECT_TRUE(absl::LoadTimeZone(kZone, &tz));
  return tz;
}

absl::CivilDay Today() { return absl::ToCivilDay(absl::Now(), Zone()); }

// Noon of `day` in the tenant's zone.
absl::Time Noon(absl::CivilDay day) {
  return absl::FromCivil(absl::CivilSecond(day.year(), day.month(), day.day(), 12, 0, 0), Zone());
}

std::string Iso(absl::CivilDay d) { return engine::FormatIsoDate(d); }

rpc::ServerConfig Config(const std::string& database_url = "", const std::string& address = "") {
  rpc::ServerConfig c;
  c.watch_min_interval = absl::Milliseconds(100);
  c.db_probe_interval = absl::Seconds(1);
  if (!database_url.empty()) {
    c.database_url = database_url;
    c.grpc_address = address.empty() ? "127.0.0.1:0" : address;
    c.metrics_address = "";
    c.bootstrap_admin_token = testing::kTestAdminToken;
    c.worker_threads = 4;
    c.db_pool_size = 4;
  }
  return c;
}

// A second replica on the test server's database (or one on a given address).
std::unique_ptr<rpc::Server> Replica(const std::string& database_url,
                                     const std::string& address = "") {
  auto server = rpc::Server::Start(Config(database_url, address));
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return nullptr;
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (!(*server)->serving() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(20));
  return std::move(*server);
}

std::string Address(const rpc::Server& s) { return absl::StrCat("127.0.0.1:", s.grpc_port()); }

// What a watching client has seen: each day's latest version, and every revision.
struct Seen {
  absl::Mutex mu;
  std::map<std::string, v1::HealthTransitionsDay> days;
  std::vector<std::string> revisions;  // dates, in arrival order
  std::vector<std::string> arrivals;   // every day received, in order

  bool Has(const std::string& date) {
    absl::MutexLock lock(&mu);
    return days.count(date) > 0;
  }
  int RevisionsOf(const std::string& date) {
    absl::MutexLock lock(&mu);
    return static_cast<int>(std::count(revisions.begin(), revisions.end(), date));
  }
};

// Runs a HealthWatcher on a thread until destroyed.
class Watching {
 public:
  Watching(const std::string& address, v1::WatchHealthTransitionsRequest req)
      : client_(
            client::ClientOptions{.address = address, .initial_backoff = absl::Milliseconds(50)}),
        watcher_(client_, std::move(req)) {
    thread_ = std::thread([this] {
      status_ = watcher_.Run([this](const v1::HealthTransitionsDay& day) {
        absl::MutexLock lock(&seen_.mu);
        seen_.days[day.date()] = day;
        seen_.arrivals.push_back(day.date());
        if (day.revision()) seen_.revisions.push_back(day.date());
        return true;
      });
    });
  }
  ~Watching() {
    watcher_.Stop();
    thread_.join();
  }
  Seen& seen() { return seen_; }
  const client::HealthWatcher& watcher() const { return watcher_; }
  absl::Status status() const { return status_; }

 private:
  client::Client client_;
  client::HealthWatcher watcher_;
  Seen seen_;
  absl::Status status_;
  std::thread thread_;
};

class HealthWatchTest : public ::testing::Test {
 protected:
  HealthWatchTest() : server_(Config()) {
    v1::Tenant t;
    t.set_tenant_id("acme");
    t.set_currency("USD");
    t.set_timezone(kZone);
    EXPECT_TRUE(server_.client().CreateTenant(t).ok());
  }

  static void Sub(client::Client& c, const std::string& id, const std::string& customer,
                  absl::Time at, v1::SubscriptionStatus status, int64_t amount) {
    v1::IngestSubscriptionEventsRequest req;
    req.set_tenant_id("acme");
    v1::SubscriptionEvent* e = req.add_events();
    e->set_event_id(id);
    e->set_customer_id(customer);
    e->set_subscription_id("s-" + customer);
    rpc::ToProto(at, e->mutable_effective_at());
    e->set_status(status);
    e->set_plan_id("pro");
    e->set_quantity(1);
    e->set_unit_amount(amount);
    e->set_currency("USD");
    e->set_interval_unit(v1::INTERVAL_UNIT_MONTH);
    e->set_interval_count(1);
    absl::StatusOr<v1::IngestResult> r = c.IngestSubscriptionEvents(req);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->accepted(), 1);
  }

  static void Use(client::Client& c, const std::string& id, const std::string& customer,
                  absl::Time at) {
    v1::IngestUsageEventsRequest req;
    req.set_tenant_id("acme");
    v1::UsageEvent* e = req.add_events();
    e->set_id(id);
    e->set_source("app");
    e->set_type("login");
    e->set_subject(customer);
    e->set_user_id("u-" + customer);
    rpc::ToProto(at, e->mutable_time());
    ASSERT_TRUE(c.IngestUsageEvents(req).ok());
  }

  static v1::WatchHealthTransitionsRequest Request(absl::CivilDay from) {
    v1::WatchHealthTransitionsRequest req;
    req.mutable_query()->set_tenant_id("acme");
    req.mutable_query()->set_start_date(Iso(from));
    return req;
  }

  // ListHealthTransitions over from..to, by day (every page).
  std::map<std::string, std::vector<v1::CustomerTransition>> Listed(absl::CivilDay from,
                                                                    absl::CivilDay to) {
    std::map<std::string, std::vector<v1::CustomerTransition>> out;
    v1::ListHealthTransitionsRequest req;
    req.mutable_query()->set_tenant_id("acme");
    req.mutable_query()->set_start_date(Iso(from));
    req.mutable_query()->set_end_date(Iso(to));
    req.set_page_size(2);
    do {
      absl::StatusOr<v1::ListHealthTransitionsResponse> page =
          server_.client().ListHealthTransitions(req);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      for (const auto& t : page->transitions()) out[t.date()].push_back(t);
      req.set_page_token(page->next_page_token());
    } while (!req.page_token().empty());
    return out;
  }

  // The watcher's days equal the listing's, day by day, over from..yesterday.
  void ExpectSameAsListed(Seen& seen, absl::CivilDay from) {
    const absl::CivilDay last = Today() - 1;
    auto listed = Listed(from, last);
    absl::MutexLock lock(&seen.mu);
    for (absl::CivilDay d = from; d <= last; ++d) {
      auto it = seen.days.find(Iso(d));
      ASSERT_NE(it, seen.days.end()) << "day " << Iso(d) << " never sent";
      const auto& want = listed[Iso(d)];
      ASSERT_EQ(it->second.transitions_size(), static_cast<int>(want.size())) << Iso(d);
      for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_TRUE(
            MessageDifferencer::Equals(it->second.transitions(static_cast<int>(i)), want[i]))
            << Iso(d) << ": " << it->second.transitions(static_cast<int>(i)).DebugString() << " vs "
            << want[i].DebugString();
      }
    }
  }

  testing::TestServer server_;
};

// A client watches replica A from 12 days back; a late cancellation is written through
// replica B: A's watch sends that day again as a revision (and nothing else), and what the
// client holds then equals what ListHealthTransitions reports.
TEST_F(HealthWatchTest, ALateWriteOnAnotherReplicaIsARevisionAndTheWatchMatchesTheListing) {
  const absl::CivilDay d = Today() - 6;
  client::Client& a = server_.client();
  Sub(a, "1", "c1", Noon(d - 5), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  Use(a, "u1", "c1", Noon(d - 5));
  Sub(a, "2", "c2", Noon(d - 3), v1::SUBSCRIPTION_STATUS_ACTIVE, 2000);
  std::unique_ptr<rpc::Server> b = Replica(server_.db().conninfo());
  ASSERT_NE(b, nullptr);
  client::Client b_client({.address = Address(*b)});

  const absl::CivilDay from = d - 6;
  Watching watch(server_.address(), Request(from));
  ASSERT_TRUE(Eventually([&] { return watch.seen().Has(Iso(Today() - 1)); }));
  {
    absl::MutexLock lock(&watch.seen().mu);
    EXPECT_TRUE(watch.seen().revisions.empty());
    ASSERT_EQ(watch.seen().days[Iso(d - 5)].transitions_size(), 1);
    EXPECT_EQ(watch.seen().days[Iso(d - 5)].transitions(0).to(), v1::HEALTH_GROUP_NORMAL);
    EXPECT_EQ(watch.seen().days[Iso(d)].transitions_size(), 0);
  }
  ExpectSameAsListed(watch.seen(), from);

  // Late data, through the other replica: c2 canceled on d.
  Sub(b_client, "3", "c2", Noon(d), v1::SUBSCRIPTION_STATUS_CANCELED, 2000);
  ASSERT_TRUE(Eventually([&] { return watch.seen().RevisionsOf(Iso(d)) == 1; }))
      << "no revision of " << Iso(d);
  absl::SleepFor(absl::Milliseconds(500));
  {
    absl::MutexLock lock(&watch.seen().mu);
    EXPECT_THAT(watch.seen().revisions, ElementsAre(Iso(d)));
    const v1::HealthTransitionsDay& day = watch.seen().days[Iso(d)];
    ASSERT_EQ(day.transitions_size(), 1);
    EXPECT_EQ(day.transitions(0).customer_id(), "c2");
    EXPECT_EQ(day.transitions(0).to(), v1::HEALTH_GROUP_LOST);
  }
  ExpectSameAsListed(watch.seen(), from);
  // A late event on yesterday (c1 canceled then): yesterday comes again, revised.
  Sub(b_client, "4", "c1", Noon(Today() - 1), v1::SUBSCRIPTION_STATUS_CANCELED, 1000);
  ASSERT_TRUE(Eventually([&] { return watch.seen().RevisionsOf(Iso(Today() - 1)) == 1; }));
  {
    absl::MutexLock lock(&watch.seen().mu);
    const v1::HealthTransitionsDay& day = watch.seen().days[Iso(Today() - 1)];
    ASSERT_GE(day.transitions_size(), 1);
    EXPECT_EQ(day.transitions(0).customer_id(), "c1");
    EXPECT_EQ(day.transitions(0).to(), v1::HEALTH_GROUP_LOST);
  }
  ExpectSameAsListed(watch.seen(), from);
  // Writes that change nothing the watch shows (a customer record) send nothing.
  const size_t arrivals = [&] {
    absl::MutexLock lock(&watch.seen().mu);
    return watch.seen().arrivals.size();
  }();
  v1::UpsertCustomersRequest customers;
  customers.set_tenant_id("acme");
  v1::Customer* c1 = customers.add_customers();
  c1->set_customer_id("c1");
  rpc::ToProto(Noon(d - 5), c1->mutable_created_at());
  ASSERT_TRUE(b_client.UpsertCustomers(customers).ok());
  absl::SleepFor(absl::Milliseconds(800));
  absl::MutexLock lock(&watch.seen().mu);
  EXPECT_EQ(watch.seen().arrivals.size(), arrivals);
}

// The server restarts (same address) while a late write lands through another replica:
// the watcher reconnects, names the days it holds, and gets only the changed day.
TEST_F(HealthWatchTest, AClientResumesAfterARestartAndGetsOnlyWhatChanged) {
  const absl::CivilDay d = Today() - 4;
  client::Client& writer = server_.client();
  Sub(writer, "1", "c1", Noon(d - 3), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  Use(writer, "u1", "c1", Noon(d - 3));
  std::unique_ptr<rpc::Server> watched = Replica(server_.db().conninfo());
  ASSERT_NE(watched, nullptr);
  const std::string address = Address(*watched);
  Watching watch(address, Request(d - 5));
  ASSERT_TRUE(Eventually([&] { return watch.seen().Has(Iso(Today() - 1)); }));
  const size_t before = [&] {
    absl::MutexLock lock(&watch.seen().mu);
    return watch.seen().arrivals.size();
  }();
  watched->Shutdown(absl::ZeroDuration());
  watched.reset();
  Sub(writer, "2", "c1", Noon(d), v1::SUBSCRIPTION_STATUS_CANCELED, 1000);
  watched = Replica(server_.db().conninfo(), address);
  ASSERT_NE(watched, nullptr);
  ASSERT_TRUE(Eventually([&] { return watch.seen().RevisionsOf(Iso(d)) == 1; }));
  absl::SleepFor(absl::Milliseconds(500));
  absl::MutexLock lock(&watch.seen().mu);
  EXPECT_GE(watch.watcher().reconnects(), 1);
  const std::vector<std::string> after(watch.seen().arrivals.begin() + before,
                                       watch.seen().arrivals.end());
  EXPECT_THAT(after, ElementsAre(Iso(d))) << "only the changed day comes again";
  EXPECT_EQ(watch.seen().days[Iso(d)].transitions(0).to(), v1::HEALTH_GROUP_LOST);
}

// Bad requests are refused naming each field; no stream is left open.
TEST_F(HealthWatchTest, BadRequestsNameTheirFields) {
  auto stub = v1::MetricsService::NewStub(
      grpc::CreateChannel(server_.address(), grpc::InsecureChannelCredentials()));
  v1::WatchHealthTransitionsRequest req = Request(Today() - 200);
  req.mutable_query()->set_end_date("2024-01-31");
  req.mutable_query()->set_interval(v1::INTERVAL_MONTH);
  req.set_to(static_cast<v1::HealthGroup>(99));
  req.add_known("2024-01-01=xyz");
  auto ctx = Ctx();
  auto reader = stub->WatchHealthTransitions(ctx.get(), req);
  v1::HealthTransitionsDay day;
  EXPECT_FALSE(reader->Read(&day));
  EXPECT_THAT(ViolatedFields(reader->Finish()), ElementsAre("query.end_date", "query.interval",
                                                            "query.start_date", "to", "known[0]"));
  // A tenant the key does not cover, an unknown filter: refused too.
  v1::WatchHealthTransitionsRequest filter = Request(Today() - 3);
  filter.mutable_query()->add_filter("nonsense");
  auto ctx2 = Ctx();
  auto reader2 = stub->WatchHealthTransitions(ctx2.get(), filter);
  EXPECT_FALSE(reader2->Read(&day));
  EXPECT_THAT(ViolatedFields(reader2->Finish()), ElementsAre("query.filter[0]"));
  grpc::ClientContext anonymous;
  auto reader3 = stub->WatchHealthTransitions(&anonymous, Request(Today() - 3));
  EXPECT_FALSE(reader3->Read(&day));
  EXPECT_EQ(reader3->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

// Past --max_watches a replica refuses more.
TEST(HealthWatchLimits, MoreWatchesThanTheLimitAreRefused) {
  rpc::ServerConfig config = Config();
  config.max_watches = 1;
  testing::TestServer server(config);
  v1::Tenant t;
  t.set_tenant_id("acme");
  t.set_currency("USD");
  t.set_timezone(kZone);
  ASSERT_TRUE(server.client().CreateTenant(t).ok());
  v1::WatchHealthTransitionsRequest req;
  req.mutable_query()->set_tenant_id("acme");
  Watching first(server.address(), req);
  ASSERT_TRUE(Eventually([&] { return first.seen().Has(Iso(Today() - 1)); }));
  auto stub = v1::MetricsService::NewStub(
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
  auto ctx = Ctx();
  auto reader = stub->WatchHealthTransitions(ctx.get(), req);
  v1::HealthTransitionsDay day;
  EXPECT_FALSE(reader->Read(&day));
  grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// An idle watch costs nothing: over a minute with nothing written and no day ending, no
// round runs, and the whole process (server, client, the watch) uses next to no CPU.
TEST_F(HealthWatchTest, AnIdleWatchUsesNoCpuOverAMinute) {
  const absl::CivilDay d = Today() - 3;
  Sub(server_.client(), "1", "c1", Noon(d), v1::SUBSCRIPTION_STATUS_ACTIVE, 1000);
  Watching watch(server_.address(), Request(d));
  ASSERT_TRUE(Eventually([&] { return watch.seen().Has(Iso(Today() - 1)); }));
  absl::SleepFor(absl::Milliseconds(500));
  const absl::CivilDay today = Today();
  const int64_t rounds = server_.server().watch_rounds();
  const double cpu = CpuSeconds();
  absl::SleepFor(absl::Seconds(60));
  const double used = CpuSeconds() - cpu;
  if (Today() != today) GTEST_SKIP() << "a day ended during the minute";
  EXPECT_EQ(server_.server().watch_rounds(), rounds);
  // The database supervisor's probe runs once a second; everything else sleeps.
  EXPECT_LT(used, 0.5) << "CPU seconds in a minute";
  std::cout << "idle watch: " << used << " CPU seconds over 60 s (process), "
            << server_.server().watch_rounds() - rounds << " rounds\n";
}

}  // namespace
}  // namespace saasmetrics
