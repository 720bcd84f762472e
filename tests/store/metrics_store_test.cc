// Partition loads against a real PostgreSQL: a month loaded as a delta from an older
// version (migrations/0004) holds exactly what a whole load does, and whenever the log of
// writes cannot say which rows are new, the month is loaded whole.
#include "server/store/metrics_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <pqxx/pqxx>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "server/engine/partition.h"
#include "server/store/all_statements.h"
#include "server/store/ingest_store.h"
#include "server/store/migrate.h"
#include "server/store/tenant_store.h"
#include "tests/support/test_db.h"

namespace saasmetrics::store {
namespace {

const absl::CivilMonth kMonth(2024, 3);
const absl::Time kMonthStart = absl::FromCivil(kMonth, absl::UTCTimeZone());

engine::SubscriptionEvent Sub(const std::string& id, const std::string& customer,
                              absl::Duration into_month, int64_t amount) {
  engine::SubscriptionEvent e;
  e.event_id = id;
  e.customer_id = customer;
  e.subscription_id = "s1";
  e.effective_at = kMonthStart + into_month;
  e.status = engine::SubscriptionStatus::kActive;
  e.plan_id = "pro";
  e.quantity = 1;
  e.unit_amount = amount;
  e.currency = "USD";
  e.interval_unit = engine::IntervalUnit::kMonth;
  e.interval_count = 1;
  return e;
}

engine::UsageEvent Use(const std::string& id, const std::string& customer,
                       absl::Duration into_month) {
  engine::UsageEvent e;
  e.source = "app";
  e.id = id;
  e.type = "login";
  e.customer_id = customer;
  e.time = kMonthStart + into_month;
  e.value = 1;
  return e;
}

// A partition's events in order, by their strings (local ids may differ between loads).
std::vector<std::tuple<int64_t, int64_t, std::string, std::string, std::string>> Content(
    const engine::SubscriptionPartition& p) {
  std::vector<std::tuple<int64_t, int64_t, std::string, std::string, std::string>> out;
  for (size_t i = 0; i < p.events(); ++i) {
    const int32_t s = p.subscription[i];
    out.emplace_back(p.at_us[i], p.mrr[i], std::string(p.customers[p.subscription_customer[s]]),
                     std::string(p.subscriptions[s]),
                     p.plan[i] < 0 ? "" : std::string(p.plans[p.plan[i]]));
  }
  return out;
}
std::vector<std::tuple<uint32_t, std::string, std::string, double>> Content(
    const engine::UsagePartition& p) {
  std::vector<std::tuple<uint32_t, std::string, std::string, double>> out;
  for (size_t i = 0; i < p.events(); ++i) {
    out.emplace_back(p.second[i], p.customers[p.customer[i]], p.types[p.type[i]], p.value[i]);
  }
  return out;
}

class MetricsStoreTest : public ::testing::Test {
 protected:
  MetricsStoreTest()
      : pool_({.conninfo = db_.conninfo(), .size = 3, .statements = AllStatements()}),
        tenants_(pool_),
        ingest_(pool_),
        store_(pool_) {
    pqxx::connection conn(db_.conninfo());
    auto migrated = Migrate(conn, MigrateMode::kAuto, EmbeddedMigrations());
    EXPECT_TRUE(migrated.ok()) << migrated.status();
    EXPECT_TRUE(tenants_.Create({.tenant_id = "acme", .currency = "USD"}, Deadline()).ok());
  }
  static absl::Time Deadline() { return absl::Now() + absl::Seconds(20); }
  void Exec(const std::string& sql) {
    pqxx::connection conn(db_.conninfo());
    pqxx::work w(conn);
    w.exec(sql);
    w.commit();
  }
  engine::SubscriptionPartition WholeSubscriptions() {
    auto whole = store_.SubscriptionMonth("acme", kMonth, 0, Deadline());
    EXPECT_TRUE(whole.ok() && whole->whole);
    return engine::BuildSubscriptionPartition(kMonth,
                                              whole.ok() ? whole->rows : decltype(whole->rows){});
  }
  int64_t Version(int kind) {
    return testing::QueryInt(
        db_.conninfo(), absl::StrCat("SELECT coalesce(max(version), 0) FROM partition_versions "
                                     "WHERE tenant_id = 'acme' AND kind = ",
                                     kind));
  }

  testing::TestDatabase db_;
  ConnectionPool pool_;
  TenantStore tenants_;
  IngestStore ingest_;
  MetricsStore store_;
};

TEST_F(MetricsStoreTest, ASubscriptionDeltaReadsOnlyNewWritesAndEqualsAWholeLoad) {
  ASSERT_TRUE(ingest_
                  .WriteSubscriptionEvents(
                      "acme",
                      {Sub("a", "c1", absl::Hours(30), 100), Sub("b", "c2", absl::Hours(40), 200)},
                      Deadline())
                  .ok());
  auto first = store_.SubscriptionMonth("acme", kMonth, 0, Deadline());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->whole);
  EXPECT_EQ(first->version, 1);
  engine::SubscriptionPartition cached = engine::BuildSubscriptionPartition(kMonth, first->rows);
  cached.version = first->version;

  // Two more writes: one at the same instant as an existing event (seq decides), one with
  // a new customer; and a batch of duplicates, which stores nothing and bumps nothing.
  ASSERT_TRUE(
      ingest_.WriteSubscriptionEvents("acme", {Sub("c", "c1", absl::Hours(30), 150)}, Deadline())
          .ok());
  ASSERT_TRUE(ingest_
                  .WriteSubscriptionEvents(
                      "acme",
                      {Sub("d", "c3", absl::Hours(10), 300), Sub("a", "c1", absl::Hours(30), 100)},
                      Deadline())
                  .ok());
  const auto dup =
      ingest_.WriteSubscriptionEvents("acme", {Sub("b", "c2", absl::Hours(40), 200)}, Deadline());
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(dup->accepted, 0);
  EXPECT_EQ(Version(1), 3) << "a batch of duplicates does not bump the month";

  auto delta = store_.SubscriptionMonth("acme", kMonth, cached.version, Deadline());
  ASSERT_TRUE(delta.ok()) << delta.status();
  EXPECT_FALSE(delta->whole);
  EXPECT_EQ(delta->version, 3);
  ASSERT_EQ(delta->rows.size(), 2u) << "only the two new events";
  const engine::SubscriptionPartition extended =
      engine::ExtendSubscriptionPartition(cached, delta->rows);
  EXPECT_EQ(Content(extended), Content(WholeSubscriptions()));
  EXPECT_EQ(std::get<1>(Content(extended)[2]), 150) << "the later tie comes after";

  // Nothing new: an empty delta at the same version.
  auto none = store_.SubscriptionMonth("acme", kMonth, 3, Deadline());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->whole);
  EXPECT_TRUE(none->rows.empty());
}

TEST_F(MetricsStoreTest, AUsageDeltaIsAddedToACopyOfTheBase) {
  ASSERT_TRUE(
      ingest_
          .WriteUsageEvents(
              "acme", {Use("1", "c1", absl::Hours(5)), Use("2", "c2", absl::Hours(6))}, Deadline())
          .ok());
  auto base = store_.UsageMonth("acme", kMonth, nullptr, 0, Deadline());
  ASSERT_TRUE(base.ok()) << base.status();
  EXPECT_TRUE(base->whole);
  // The COPY path (all new) and the statement path (a repeated identity in the batch).
  ASSERT_TRUE(ingest_.WriteUsageEvents("acme", {Use("3", "c3", absl::Hours(1))}, Deadline()).ok());
  ASSERT_TRUE(ingest_
                  .WriteUsageEvents("acme",
                                    {Use("4", "c1", absl::Hours(5)), Use("4", "c1", absl::Hours(5)),
                                     Use("1", "c1", absl::Hours(5))},
                                    Deadline())
                  .ok());
  auto delta = store_.UsageMonth("acme", kMonth, &base->rows, base->version, Deadline());
  ASSERT_TRUE(delta.ok()) << delta.status();
  EXPECT_FALSE(delta->whole);
  EXPECT_EQ(delta->version, 3);
  EXPECT_EQ(delta->rows.events(), 4u);
  auto whole = store_.UsageMonth("acme", kMonth, nullptr, 0, Deadline());
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(Content(delta->rows), Content(whole->rows));
  EXPECT_EQ(base->rows.events(), 2u) << "the base is not changed";
}

TEST_F(MetricsStoreTest, AVersionWithoutALoggedWriteLoadsTheWholeMonth) {
  ASSERT_TRUE(
      ingest_.WriteSubscriptionEvents("acme", {Sub("a", "c1", absl::Hours(30), 100)}, Deadline())
          .ok());
  // A replica still running older code during a rolling upgrade: its row has no write id
  // and its bump logs nothing.
  Exec(
      "INSERT INTO subscription_events (tenant_id, effective_at, seq, event_id, subscription_id, "
      "customer_id, status, plan_id, quantity, unit_amount, currency, interval_unit, "
      "interval_count) VALUES ('acme', '2024-03-03 00:00:00+00', 1, 'old', 's9', 'c9', 1, 'pro', "
      "1, 900, 'USD', 2, 1); "
      "UPDATE partition_versions SET version = version + 1 WHERE tenant_id = 'acme' AND kind = 1");
  auto load = store_.SubscriptionMonth("acme", kMonth, 1, Deadline());
  ASSERT_TRUE(load.ok()) << load.status();
  EXPECT_TRUE(load->whole) << "version 2 has no logged write";
  EXPECT_EQ(load->rows.size(), 2u);

  // A pruned log: the same.
  ASSERT_TRUE(ingest_.WriteUsageEvents("acme", {Use("1", "c1", absl::Hours(5))}, Deadline()).ok());
  auto base = store_.UsageMonth("acme", kMonth, nullptr, 0, Deadline());
  ASSERT_TRUE(base.ok());
  ASSERT_TRUE(ingest_.WriteUsageEvents("acme", {Use("2", "c2", absl::Hours(6))}, Deadline()).ok());
  Exec("DELETE FROM partition_writes WHERE kind = 2");
  auto usage = store_.UsageMonth("acme", kMonth, &base->rows, base->version, Deadline());
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_TRUE(usage->whole);
  EXPECT_EQ(usage->rows.events(), 2u);
  // A base newer than the month (the database was restored from an older backup): whole.
  auto restored = store_.UsageMonth("acme", kMonth, &base->rows, 99, Deadline());
  ASSERT_TRUE(restored.ok());
  EXPECT_TRUE(restored->whole);
  EXPECT_EQ(restored->rows.events(), 2u);

  // A month partition that is not where its usual name says (the table was reorganised):
  // a delta reads the partition by name, so the month is loaded whole through the parent.
  ASSERT_TRUE(ingest_.WriteUsageEvents("acme", {Use("3", "c3", absl::Hours(7))}, Deadline()).ok());
  Exec("ALTER TABLE usage_events_y2024m03 RENAME TO usage_events_march");
  auto renamed = store_.UsageMonth("acme", kMonth, &usage->rows, usage->version, Deadline());
  ASSERT_TRUE(renamed.ok()) << renamed.status();
  EXPECT_TRUE(renamed->whole);
  EXPECT_EQ(renamed->rows.events(), 3u);
}

TEST_F(MetricsStoreTest, TheLogKeepsAboutTheLast1024VersionsOfAMonth) {
  ASSERT_TRUE(ingest_.WriteUsageEvents("acme", {Use("0", "c1", absl::Hours(1))}, Deadline()).ok());
  // As if 1086 more writes had happened: versions 2..1087 logged.
  Exec(
      "INSERT INTO partition_writes (tenant_id, kind, month, version, write_id) "
      "SELECT 'acme', 2, '2024-03-01', v, 0 FROM generate_series(2, 1087) v; "
      "UPDATE partition_versions SET version = 1087 WHERE tenant_id = 'acme' AND kind = 2");
  ASSERT_TRUE(ingest_.WriteUsageEvents("acme", {Use("1", "c1", absl::Hours(2))}, Deadline()).ok());
  EXPECT_EQ(
      testing::QueryInt(db_.conninfo(), "SELECT min(version) FROM partition_writes WHERE kind = 2"),
      1088 - 1023)
      << "version 1088 (a multiple of 64) pruned what is 1024 versions older";
  EXPECT_EQ(
      testing::QueryInt(db_.conninfo(), "SELECT count(*) FROM partition_writes WHERE kind = 2"),
      1024);
}

TEST_F(MetricsStoreTest, AWriteCommittedDuringALoadIsLeftForTheNextLoad) {
  // A write commits right after a load read the month's version and before it reads the
  // rows (deterministically, from the statement observer). The load must hold exactly the
  // version it returns: a row of the newer version would be read again by the next delta.
  for (const bool usage : {true, false}) {
    SCOPED_TRACE(usage ? "usage" : "subscriptions");
    const std::string p = usage ? "u" : "s";
    auto write = [&](int n) {
      const std::string id = absl::StrCat(p, n);
      return usage ? ingest_.WriteUsageEvents("acme", {Use(id, "c1", absl::Hours(n))}, Deadline())
                         .ok()
                   : ingest_
                         .WriteSubscriptionEvents("acme", {Sub(id, "c1", absl::Hours(n), 100 * n)},
                                                  Deadline())
                         .ok();
    };
    ASSERT_TRUE(write(1));
    ASSERT_TRUE(write(2));
    bool injected = false;
    pool_.set_query_observer([&](absl::string_view name, absl::Duration) {
      if (name == "metrics_month_plan" && !injected) {
        injected = true;
        EXPECT_TRUE(write(3));  // version 3, committed mid-load on another connection
      }
    });
    int64_t version = 0;
    size_t events = 0;
    if (usage) {
      auto whole = store_.UsageMonth("acme", kMonth, nullptr, 0, Deadline());
      ASSERT_TRUE(whole.ok()) << whole.status();
      version = whole->version;
      events = whole->rows.events();
    } else {
      auto whole = store_.SubscriptionMonth("acme", kMonth, 0, Deadline());
      ASSERT_TRUE(whole.ok()) << whole.status();
      version = whole->version;
      events = whole->rows.size();
    }
    pool_.set_query_observer(nullptr);
    ASSERT_TRUE(injected);
    EXPECT_EQ(version, 2);
    EXPECT_EQ(events, 2u) << "the rows of version 2, not the one committed after it was read";
  }
}

TEST_F(MetricsStoreTest, DeltaLoadsDuringConcurrentWritesConvergeOnTheWholeMonth) {
  // Two writers into one month while a reader keeps its partition current by deltas; the
  // reader's partition then equals a whole load. Every delta is read in the snapshot its
  // version was read in, so no row is read twice or missed.
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  auto writer = [&](int w) {
    std::mt19937 rng(w);
    for (int batch = 0; batch < 100 && failures == 0; ++batch) {
      std::vector<engine::UsageEvent> events;
      for (int i = 0; i < 20; ++i) {
        events.push_back(Use(absl::StrCat(w, "-", batch, "-", i), absl::StrCat("c", rng() % 50),
                             absl::Seconds(rng() % 100)));
      }
      if (!ingest_.WriteUsageEvents("acme", events, Deadline()).ok()) ++failures;
    }
  };
  std::thread w1(writer, 1), w2(writer, 2);
  std::optional<engine::UsagePartition> cached;
  int deltas = 0;
  std::thread reader([&] {
    while (!stop) {
      auto load = store_.UsageMonth("acme", kMonth, cached ? &*cached : nullptr,
                                    cached ? cached->version : 0, Deadline());
      if (!load.ok()) {
        ++failures;
        return;
      }
      deltas += load->whole ? 0 : 1;
      load->rows.version = load->version;
      cached = std::move(load->rows);
    }
  });
  w1.join();
  w2.join();
  stop = true;
  reader.join();
  ASSERT_EQ(failures, 0);
  auto last = store_.UsageMonth("acme", kMonth, &*cached, cached->version, Deadline());
  ASSERT_TRUE(last.ok());
  auto whole = store_.UsageMonth("acme", kMonth, nullptr, 0, Deadline());
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->rows.events(), 4000u);
  EXPECT_EQ(Content(last->rows), Content(whole->rows));
  EXPECT_GT(deltas, 0);
}

}  // namespace
}  // namespace saasmetrics::store
