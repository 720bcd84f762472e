// The query layer against a real PostgreSQL, without gRPC: validation, planning, the
// cache, incremental history after a late write, bounded answers and cancellation.
#include "server/query/reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "server/engine/periods.h"
#include "server/engine/pql.h"
#include "server/engine/series.h"
#include "server/query/metrics.h"
#include "server/query/models.h"
#include "server/query/refresher.h"
#include "server/store/all_statements.h"
#include "server/store/ingest_store.h"
#include "server/store/migrate.h"
#include "tests/support/test_db.h"

namespace saasmetrics::query {
namespace {

using ::testing::HasSubstr;

engine::SubscriptionEvent Sub(const std::string& id, const std::string& customer,
                              absl::CivilDay day, int64_t amount) {
  engine::SubscriptionEvent e;
  e.event_id = id;
  e.customer_id = customer;
  e.subscription_id = "s1";
  e.effective_at = absl::FromCivil(day, absl::UTCTimeZone()) + absl::Hours(12);
  e.status =
      amount > 0 ? engine::SubscriptionStatus::kActive : engine::SubscriptionStatus::kCanceled;
  e.plan_id = "pro";
  e.quantity = 1;
  e.unit_amount = amount > 0 ? amount : 100;
  e.currency = "USD";
  e.interval_unit = engine::IntervalUnit::kMonth;
  e.interval_count = 1;
  return e;
}

// A snapshot of a given size and nothing else, to push others out of the cache.
struct Filler : cache::Snapshot {
  explicit Filler(size_t b) : size(b) {}
  size_t bytes() const override { return size; }
  size_t size;
};

class ReaderTest : public ::testing::Test {
 protected:
  ReaderTest()
      : pool_({.conninfo = db_.conninfo(), .size = 3, .statements = store::AllStatements()}),
        tenants_(pool_),
        ingest_(pool_),
        store_(pool_),
        cache_(kCache, {.miss = [this] { ++misses_; }}),
        loaders_(2, 16) {
    pqxx::connection conn(db_.conninfo());
    auto migrated = store::Migrate(conn, store::MigrateMode::kAuto, store::EmbeddedMigrations());
    EXPECT_TRUE(migrated.ok()) << migrated.status();
    EXPECT_TRUE(
        tenants_.Create({.tenant_id = "acme", .currency = "USD", .timezone = "UTC"}, Deadline())
            .ok());
  }
  static constexpr size_t kCache = 64 << 20;
  static absl::Time Deadline() { return absl::Now() + absl::Seconds(20); }
  Reader MakeReader(ReaderLimits limits = {}) {
    return Reader(limits, tenants_, store_, cache_, loaders_);
  }
  void Write(const std::vector<engine::SubscriptionEvent>& events) {
    ASSERT_TRUE(ingest_.WriteSubscriptionEvents("acme", events, Deadline()).ok());
  }
  // One "report" usage event of `customer` on March `day`, 2024.
  void Use(const std::string& id, const std::string& customer, int day) {
    engine::UsageEvent e{.id = id, .source = "app", .type = "report", .customer_id = customer};
    e.time = absl::FromCivil(absl::CivilDay(2024, 3, day), absl::UTCTimeZone()) + absl::Hours(9);
    ASSERT_TRUE(ingest_.WriteUsageEvents("acme", {e}, Deadline()).ok());
  }
  // PQLs of March 2024 under "3 reports within 7 days" (-1 when the query fails).
  static engine::PqlRule ThreeReports() {
    engine::PqlRule rule;
    rule.window_days = 7;
    rule.conditions = {{engine::PqlCondition::Kind::kEventCount, "report", 3, 1}};
    return rule;
  }
  // Runs `statement` on a connection of its own, behind the store's back.
  void Sql(const std::string& statement) {
    pqxx::connection conn(db_.conninfo());
    pqxx::work tx(conn);
    tx.exec(statement);
    tx.commit();
  }
  // Pushes every entry but `keep` out of the cache with a filler that leaves just their
  // room, then uses each once more, so that the filler is the next to go.
  void KeepOnly(const std::vector<cache::PartitionKey>& keep) {
    std::vector<cache::PartitionCache::Held> held;
    size_t bytes = 0;
    for (const cache::PartitionKey& k : keep) {
      std::optional<cache::PartitionCache::Held> h = cache_.Peek(k);
      ASSERT_TRUE(h.has_value()) << k.tenant_id << " " << k.kind << " is cached";
      bytes += h->snapshot->bytes();
      held.push_back(*std::move(h));
    }
    auto served = [](std::shared_ptr<const cache::Snapshot> s) {
      return [s]() -> absl::StatusOr<std::shared_ptr<const cache::Snapshot>> { return s; };
    };
    ASSERT_TRUE(
        cache_.Get({"filler", 0, 0}, 1, served(std::make_shared<Filler>(kCache - bytes))).ok());
    ASSERT_EQ(cache_.entries(), keep.size() + 1);
    const int misses = misses_;
    for (size_t i = 0; i < keep.size(); ++i) {
      ASSERT_TRUE(cache_.Get(keep[i], held[i].version, served(nullptr)).ok());
    }
    ASSERT_EQ(misses_, misses) << "each kept entry is still cached";
  }
  static int64_t MarchPqls(Reader& reader) {
    const Context ctx{.deadline = Deadline()};
    absl::StatusOr<Query> q = reader.Prepare(Spec("2024-03-01", "2024-03-31"), {}, ctx);
    EXPECT_TRUE(q.ok()) << q.status();
    if (!q.ok()) return -1;
    absl::StatusOr<std::vector<engine::PqlPoint>> points =
        PqlCount(reader, *q, ThreeReports(), 30, ctx);
    EXPECT_TRUE(points.ok()) << points.status();
    return points.ok() && points->size() == 1 ? (*points)[0].pqls : -1;
  }
  static QuerySpec Spec(const std::string& start, const std::string& end, int interval = 3) {
    return {.tenant_id = "acme", .start_date = start, .end_date = end, .interval = interval};
  }
  std::vector<int64_t> MonthlyMrr(Reader& reader, const std::string& start,
                                  const std::string& end) {
    absl::StatusOr<Query> q = reader.Prepare(Spec(start, end), {}, Context{.deadline = Deadline()});
    EXPECT_TRUE(q.ok()) << q.status();
    if (!q.ok()) return {};
    std::vector<int64_t> out;
    for (const auto& p : engine::ComputeMrrSeries(*q->movements, q->periods).points) {
      out.push_back(p.mrr);
    }
    return out;
  }

  testing::TestDatabase db_;
  store::ConnectionPool pool_;
  store::TenantStore tenants_;
  store::IngestStore ingest_;
  store::MetricsStore store_;
  std::atomic<int> misses_{0};
  cache::PartitionCache cache_;
  ThreadPool loaders_;
};

TEST_F(ReaderTest, AnInvalidSpecNamesEveryViolatedField) {
  Reader reader = MakeReader();
  QuerySpec spec{.tenant_id = "Not A Tenant",
                 .start_date = "2024-13-01",
                 .end_date = "yesterday",
                 .interval = 9,
                 .filters = {"plan=pro", "nonsense"}};
  absl::StatusOr<Query> q = reader.Prepare(spec, {}, Context{.deadline = Deadline()});
  ASSERT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> fields;
  for (const auto& v : engine::ViolationsOf(q.status())) fields.push_back(v.field);
  EXPECT_THAT(fields,
              ::testing::ElementsAre("query.tenant_id", "query.start_date", "query.end_date",
                                     "query.interval", "query.filter[1]"));
  EXPECT_THAT(q.status().message(), HasSubstr("(and 4 more)"));

  spec = Spec("2024-02-01", "2024-01-01");
  EXPECT_THAT(reader.Prepare(spec, {}, {}).status().message(),
              HasSubstr("query.end_date: must not be before start_date"));
  EXPECT_EQ(reader.Prepare(Spec("2024-01-01", "2024-01-31", 0), {}, {}).status().code(),
            absl::StatusCode::kInvalidArgument)
      << "an interval is required unless the metric says otherwise";
  EXPECT_TRUE(reader.Prepare(Spec("2024-01-01", "2024-01-31", 0), {.interval = false}, {}).ok());
}

TEST_F(ReaderTest, AnUnknownTenantIsNotFound) {
  Reader reader = MakeReader();
  QuerySpec spec = Spec("2024-01-01", "2024-01-31");
  spec.tenant_id = "globex";
  EXPECT_EQ(reader.Prepare(spec, {}, {}).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ReaderTest, AnOversizedAnswerIsRefusedBeforeItsMemoryIsSpent) {
  Reader reader = MakeReader({.max_periods = 400, .max_answer_cells = 1000});
  absl::StatusOr<Query> q =
      reader.Prepare(Spec("2015-01-01", "2024-12-31", 1), {}, Context{.deadline = Deadline()});
  EXPECT_EQ(q.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(q.status().message(), HasSubstr("3653 periods; the limit is 400"));
  EXPECT_THAT(q.status().message(), HasSubstr("longer interval"));
  EXPECT_EQ(misses_, 0) << "refused before anything was loaded";
  EXPECT_THAT(reader.CheckAnswerSize(1001, "cohort cells").message(),
              HasSubstr("1001 cohort cells; the limit is 1000"));
  EXPECT_TRUE(reader.CheckAnswerSize(1000, "cohort cells").ok());
}

TEST_F(ReaderTest, ACancelledOrLateQueryStopsWithItsCode) {
  Write({Sub("e1", "c1", absl::CivilDay(2024, 1, 10), 1000)});
  Reader reader = MakeReader();
  absl::StatusOr<Query> cancelled =
      reader.Prepare(Spec("2024-01-01", "2024-01-31"), {},
                     Context{.deadline = Deadline(), .cancelled = [] { return true; }});
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled);
  absl::StatusOr<Query> late = reader.Prepare(Spec("2024-01-01", "2024-01-31"), {},
                                              Context{.deadline = absl::Now() - absl::Seconds(1)});
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(MonthlyMrr(reader, "2024-01-01", "2024-01-31"), std::vector<int64_t>{1000})
      << "and nothing was left half-built";
}

TEST_F(ReaderTest, ALateWriteUpdatesTheHistoryAndReloadsOnlyItsMonth) {
  std::vector<engine::SubscriptionEvent> events;
  for (int m = 1; m <= 6; ++m) {
    for (int c = 0; c < 5; ++c) {
      events.push_back(Sub(absl::StrCat("e", m, "-", c), absl::StrCat("c", c, "-", m),
                           absl::CivilDay(2024, m, 3 + c), 100 * (c + 1)));
    }
  }
  Write(events);
  Reader reader = MakeReader();
  const std::vector<int64_t> before = MonthlyMrr(reader, "2024-01-01", "2024-06-30");
  EXPECT_EQ(before, (std::vector<int64_t>{1500, 3000, 4500, 6000, 7500, 9000}));
  const int cold_misses = misses_;
  EXPECT_EQ(MonthlyMrr(reader, "2024-01-01", "2024-06-30"), before);
  EXPECT_EQ(misses_, cold_misses) << "warm: served from the cache";

  // A late event in February: one month's partition and the history are stale.
  Write({Sub("late", "c0-1", absl::CivilDay(2024, 2, 20), 0)});
  EXPECT_EQ(MonthlyMrr(reader, "2024-01-01", "2024-06-30"),
            (std::vector<int64_t>{1500, 2900, 4400, 5900, 7400, 8900}));
  EXPECT_EQ(misses_, cold_misses + 2) << "February's partition and the history, nothing else";
  // The incremental history answers as a fresh build does.
  cache::PartitionCache fresh_cache(64 << 20);
  Reader fresh(ReaderLimits{}, tenants_, store_, fresh_cache, loaders_);
  EXPECT_EQ(MonthlyMrr(fresh, "2024-01-01", "2024-06-30"),
            MonthlyMrr(reader, "2024-01-01", "2024-06-30"));
}

// PQLs run on the cached usage index with its customers linked to the history's ledger:
// a usage customer the index has not seen, and a subscription for a customer the ledger
// has not seen, each change what the link must say; the warm reader answers as a fresh one.
TEST_F(ReaderTest, PqlCountsFollowNewUsageCustomersAndNewSubscribers) {
  Write({Sub("e1", "paying", absl::CivilDay(2024, 1, 5), 1000)});
  for (int d = 1; d <= 3; ++d) {
    Use(absl::StrCat("a", d), "lead-a", d);
    Use(absl::StrCat("p", d), "paying", d);
  }
  auto fresh = [&] {
    cache::PartitionCache fresh_cache(64 << 20);
    Reader r(ReaderLimits{}, tenants_, store_, fresh_cache, loaders_);
    return MarchPqls(r);
  };
  Reader reader = MakeReader();
  EXPECT_EQ(MarchPqls(reader), 1) << "lead-a; 'paying' pays";
  for (int d = 10; d <= 12; ++d) Use(absl::StrCat("b", d), "lead-b", d);  // new to the index
  EXPECT_EQ(MarchPqls(reader), 2);
  // lead-a subscribes before it qualified: new to the ledger, and no longer a lead.
  Write({Sub("e2", "lead-a", absl::CivilDay(2024, 2, 20), 500)});
  EXPECT_EQ(MarchPqls(reader), 1);
  EXPECT_EQ(MarchPqls(reader), fresh());
}

// The usage index is positional (each month's local customer numbers, given in the order
// the month's rows arrive), so it may only be used with the very partitions it was built
// over. The month's read has no ORDER BY: PostgreSQL returns its rows in whatever order the
// plan gives (an index's, or the heap's, where an updated or vacuumed row moves and a
// synchronized scan starts mid-table), so two loads of one month at one version can number
// its customers differently. Here March is read, its rows are made to arrive in another
// order (same content, same version), March alone is evicted and read again: the index
// cached over the first load would give lead-a's reports to the paying customer (0 PQLs).
TEST_F(ReaderTest, AUsageIndexIsNeverUsedWithAnotherLoadOfItsMonths) {
  Write({Sub("e1", "paying", absl::CivilDay(2024, 1, 5), 1000)});
  Use("p", "paying", 10);
  Use("b", "lead-b", 11);
  for (int d = 1; d <= 3; ++d) Use(absl::StrCat("a", d), "lead-a", d);
  Reader reader = MakeReader();
  EXPECT_EQ(MarchPqls(reader), 1);

  // lead-a's rows come first from now on, in write order (the index the month's read
  // takes) as in physical order (an updated row is a new row version at the end).
  Sql("UPDATE usage_events SET write_id = write_id + 1000000 "
      "WHERE customer_id IN ('paying', 'lead-b')");
  // Everything but the index leaves the cache: the next query reads March whole, at the
  // version the index was cached under.
  auto month = [](int m) { return engine::MonthIndex(absl::CivilMonth(2024, m)); };
  KeepOnly({{"acme", static_cast<int>(CacheKind::kUsageIndex), month(2) * 1000000 + month(4)}});
  ASSERT_FALSE(cache_.Peek({"acme", static_cast<int>(CacheKind::kUsageMonth), month(3)}));

  EXPECT_EQ(MarchPqls(reader), 1) << "lead-a qualifies, whatever number March gives it";
}

// The same holds for a field column (a customer field's values per ledger id, with the
// positions of the customer records outside the ledger): the customer table's read has no
// ORDER BY either, so the column may only be used with the very records it was made from.
// Here the records are read, made to arrive in another order (same content, same version)
// and read again with the history and the column still cached: the column's positions
// would name another record, and the DE filter would lose b-de.
TEST_F(ReaderTest, AFieldColumnIsNeverUsedWithAnotherLoadOfTheCustomers) {
  Write({Sub("e1", "paying", absl::CivilDay(2024, 1, 5), 1000)});
  auto record = [](const std::string& id, const std::string& country) {
    return engine::Customer{.customer_id = id,
                            .created_at = absl::FromUnixSeconds(1700000000),
                            .country = country,
                            .updated_at = absl::FromUnixSeconds(1700000000)};
  };
  for (const auto& [id, country] : std::vector<std::pair<std::string, std::string>>{
           {"b-de", "DE"}, {"a-fr", "FR"}, {"paying", "DE"}}) {
    ASSERT_TRUE(ingest_.UpsertCustomers("acme", {record(id, country)}, Deadline()).ok());
  }
  Reader reader = MakeReader();
  QuerySpec spec = Spec("2024-01-01", "2024-01-31");
  spec.filters = {"country=DE"};
  // The records' order as read, and the customers the filter selects.
  auto read = [&](std::vector<std::string>& order) -> std::vector<std::string> {
    absl::StatusOr<Query> q = reader.Prepare(spec, {}, Context{.deadline = Deadline()});
    EXPECT_TRUE(q.ok()) << q.status();
    if (!q.ok() || !q->selected.has_value()) return {};
    order.clear();
    for (const engine::Customer& c : *q->customers) order.push_back(c.customer_id);
    std::vector<std::string> out(q->selected->begin(), q->selected->end());
    std::sort(out.begin(), out.end());
    return out;
  };
  std::vector<std::string> first_order, second_order;
  EXPECT_THAT(read(first_order), ::testing::ElementsAre("b-de", "paying"));

  // b-de's row comes last from now on (a new row, not an update in place).
  Sql("WITH gone AS (DELETE FROM customers WHERE customer_id = 'b-de' RETURNING *) "
      "INSERT INTO customers SELECT * FROM gone");
  KeepOnly({{"acme@UTC", static_cast<int>(CacheKind::kHistory), 0},
            {"acme", static_cast<int>(CacheKind::kFieldColumn),
             static_cast<int>(absl::HashOf(std::string("country")) & 0x7fffffff)}});
  ASSERT_FALSE(cache_.Peek({"acme", static_cast<int>(CacheKind::kCustomers), 0}));

  EXPECT_THAT(read(second_order), ::testing::ElementsAre("b-de", "paying"));
  EXPECT_NE(first_order, second_order) << "the records came back in another order";
}

// With the cache off, a query holds all it builds: the query memory budget bounds it.
TEST_F(ReaderTest, WhatAQueryBuildsIsChargedAndGivenBackAndTooMuchIsRefused) {
  std::vector<engine::SubscriptionEvent> events;
  for (int c = 0; c < 200; ++c) {
    events.push_back(Sub(absl::StrCat("e", c), absl::StrCat("c", c),
                         absl::CivilDay(2024, 1 + c % 6, 1 + c % 28), 100));
  }
  Write(events);
  cache::PartitionCache no_cache(0);
  Reader tight(ReaderLimits{.query_memory_bytes = 4096}, tenants_, store_, no_cache, loaders_);
  {
    const Context ctx{.deadline = Deadline()};
    absl::StatusOr<Query> q = tight.Prepare(Spec("2024-01-01", "2024-06-30"), {}, ctx);
    EXPECT_EQ(q.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(q.status().message(), HasSubstr("--query_memory_bytes=4096"));
  }
  EXPECT_EQ(tight.memory().in_use(), 0) << "the refused call gave back what it held";

  // Its loaders are busy: the helpers it submits are still queued when it returns, and
  // must not keep its memory charged (nor its months alive).
  ThreadPool busy(1, 16);
  absl::Notification unblock;
  ASSERT_TRUE(busy.TrySubmit([&] { unblock.WaitForNotification(); }));
  Reader roomy(ReaderLimits{.query_memory_bytes = 64 << 20}, tenants_, store_, no_cache, busy);
  {
    const Context ctx{.deadline = Deadline()};
    absl::StatusOr<Query> q = roomy.Prepare(Spec("2024-01-01", "2024-06-30"), {}, ctx);
    ASSERT_TRUE(q.ok()) << q.status();
    // Six months and the history, each measured as the cache would.
    EXPECT_GE(ctx.memory->held(), static_cast<int64_t>(q->history->bytes()));
    EXPECT_EQ(roomy.memory().in_use(), ctx.memory->held());
  }
  EXPECT_GT(busy.queued(), 0u);
  EXPECT_EQ(roomy.memory().in_use(), 0);
  unblock.Notify();
  // What a refused call built stays cached (the cache's budget holds it), and a query the
  // cache serves builds nothing, so is charged nothing.
  Reader warm = MakeReader({.query_memory_bytes = 4096});
  int refused = 0;
  for (; refused < 20; ++refused) {
    const Context ctx{.deadline = Deadline()};
    absl::StatusOr<Query> q = warm.Prepare(Spec("2024-01-01", "2024-06-30"), {}, ctx);
    if (q.ok()) {
      EXPECT_EQ(ctx.memory->held(), 0);
      break;
    }
    EXPECT_EQ(q.status().code(), absl::StatusCode::kResourceExhausted);
  }
  EXPECT_GE(refused, 1);
  EXPECT_LT(refused, 20);
}

// A model computation charges what it builds (its copy of the events, a row per customer and
// day, the features twice) to the call's memory before it starts, so --query_memory_bytes
// bounds it like any query; a budget too small for it refuses it, naming the flag.
TEST_F(ReaderTest, ModelComputationsAreChargedToTheQueryMemoryBudget) {
  Write({Sub("e1", "c1", absl::CivilDay(2024, 1, 10), 1000),
         Sub("e2", "c2", absl::CivilDay(2024, 1, 11), 2000),
         Sub("e3", "c3", absl::CivilDay(2024, 1, 12), 3000)});
  engine::TrainSettings settings;
  settings.month_ends = {absl::CivilDay(2024, 1, 31), absl::CivilDay(2024, 2, 29),
                         absl::CivilDay(2024, 3, 31)};
  settings.as_of = absl::InfiniteFuture();
  Reader roomy = MakeReader({.query_memory_bytes = 64 << 20});
  const Context ctx{.deadline = Deadline()};
  absl::StatusOr<Query> q = roomy.Prepare(Spec("2024-01-01", "2024-03-31"), {}, ctx);
  ASSERT_TRUE(q.ok()) << q.status();
  const int64_t before = ctx.memory->held();
  // Nobody churns: the fit is refused, after the computation was charged.
  absl::StatusOr<engine::Model> m = Train(roomy, *q, settings, {}, nullptr, ctx);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << m.status();
  // 3 customers × 3 days, each a candidate (16 bytes) and a row of ≥ 15 features held twice.
  EXPECT_GE(ctx.memory->held() - before, 9 * (16 + 15 * 16));
  // Again, everything it reads cached: what it holds is the computation's charge alone.
  const Context warm{.deadline = Deadline()};
  absl::StatusOr<Query> cached = roomy.Prepare(Spec("2024-01-01", "2024-03-31"), {}, warm);
  ASSERT_TRUE(cached.ok()) << cached.status();
  (void)Train(roomy, *cached, settings, {}, nullptr, warm);
  const int64_t charge = warm.memory->held();
  EXPECT_GE(charge, 9 * (16 + 15 * 16));
  // A budget the computation cannot fit in refuses it.
  Reader tight = MakeReader({.query_memory_bytes = charge - 1});
  const Context small{.deadline = Deadline()};
  absl::StatusOr<Query> again = tight.Prepare(Spec("2024-01-01", "2024-03-31"), {}, small);
  ASSERT_TRUE(again.ok()) << again.status();
  absl::StatusOr<engine::Model> refused = Train(tight, *again, settings, {}, nullptr, small);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("--query_memory_bytes"));
}

// After a write, the refresher brings a warm tenant's history up to date off the query
// path: the next query loads nothing. A cold tenant stays cold; writes in a burst coalesce.
TEST_F(ReaderTest, ARefreshAfterAWriteLeavesTheNextQueryNothingToLoad) {
  Write({Sub("e1", "c1", absl::CivilDay(2024, 1, 10), 1000),
         Sub("e2", "c2", absl::CivilDay(2024, 2, 10), 2000)});
  Reader reader = MakeReader();
  Refresher refresher(reader, loaders_);
  refresher.SubscriptionsWritten("acme");
  refresher.WaitIdle();
  EXPECT_EQ(refresher.refreshes(), 1);
  EXPECT_EQ(misses_, 0) << "a refresh never loads a cold tenant";

  EXPECT_EQ(MonthlyMrr(reader, "2024-01-01", "2024-03-31"),
            (std::vector<int64_t>{1000, 3000, 3000}));
  Write({Sub("e3", "c3", absl::CivilDay(2024, 1, 20), 500)});  // late, into a cached month
  int before = misses_;
  refresher.SubscriptionsWritten("acme");
  refresher.WaitIdle();
  EXPECT_GT(misses_, before) << "the refresh loaded the month and re-derived the history";
  before = misses_;
  EXPECT_EQ(MonthlyMrr(reader, "2024-01-01", "2024-03-31"),
            (std::vector<int64_t>{1500, 3500, 3500}));
  EXPECT_EQ(misses_, before) << "the query found everything current";

  // Without the refresher, the same late write costs the next query the loads.
  Write({Sub("e4", "c4", absl::CivilDay(2024, 3, 5), 100)});
  EXPECT_EQ(MonthlyMrr(reader, "2024-01-01", "2024-03-31"),
            (std::vector<int64_t>{1500, 3500, 3600}));
  EXPECT_GT(misses_, before);

  // A burst: 20 writes, each told; fewer refreshes than writes, and the last one current.
  const int64_t refreshes = refresher.refreshes();
  for (int i = 0; i < 20; ++i) {
    Write({Sub(absl::StrCat("b", i), absl::StrCat("b", i), absl::CivilDay(2024, 2, 1 + i), 10)});
    refresher.SubscriptionsWritten("acme");
  }
  refresher.WaitIdle();
  EXPECT_LE(refresher.refreshes() - refreshes, 20);
  before = misses_;
  EXPECT_EQ(MonthlyMrr(reader, "2024-01-01", "2024-03-31"),
            (std::vector<int64_t>{1500, 3700, 3800}));
  EXPECT_EQ(misses_, before);
}

TEST_F(ReaderTest, CustomersAndSpendAreCachedByVersion) {
  Reader reader = MakeReader();
  ASSERT_TRUE(ingest_
                  .UpsertCustomers("acme",
                                   {{.customer_id = "c1",
                                     .created_at = absl::FromUnixSeconds(1700000000),
                                     .acquisition_channel = "ads",
                                     .updated_at = absl::FromUnixSeconds(1700000000)}},
                                   Deadline())
                  .ok());
  const Context ctx{.deadline = Deadline()};
  auto first = reader.Prepare(Spec("2024-01-01", "2024-01-31"), {.customers = true}, ctx);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->customers->size(), 1u);
  const int after_first = misses_;
  auto second = reader.Prepare(Spec("2024-01-01", "2024-01-31"), {.customers = true}, ctx);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(misses_, after_first);
  EXPECT_EQ(second->customers.get(), first->customers.get()) << "the same cached list";

  ASSERT_TRUE(ingest_
                  .UpsertCustomers("acme",
                                   {{.customer_id = "c2",
                                     .created_at = absl::FromUnixSeconds(1700000000),
                                     .updated_at = absl::FromUnixSeconds(1700000000)}},
                                   Deadline())
                  .ok());
  auto third = reader.Prepare(Spec("2024-01-01", "2024-01-31"), {.customers = true}, ctx);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->customers->size(), 2u) << "a new version reloads";

  ASSERT_TRUE(ingest_
                  .WriteSpend("acme",
                              {{.spend_id = "s1",
                                .channel = "ads",
                                .start_date = absl::CivilDay(2024, 1, 1),
                                .end_date = absl::CivilDay(2024, 1, 31),
                                .amount = 5000,
                                .currency = "USD"}},
                              Deadline())
                  .ok());
  auto spend = reader.Spend("acme", ctx);
  ASSERT_TRUE(spend.ok());
  ASSERT_EQ((*spend)->size(), 1u);
  EXPECT_EQ((*spend)->front().amount, 5000);
  EXPECT_EQ(reader.Spend("acme", ctx)->get(), spend->get());
}

}  // namespace
}  // namespace saasmetrics::query
