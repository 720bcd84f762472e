#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "server/store/migrate.h"
#include "tests/support/test_db.h"

namespace saasmetrics::store {
namespace {

using ::testing::HasSubstr;
using testing::TestDatabase;

int64_t CountRows(const std::string& conninfo, const std::string& sql) {
  return testing::QueryInt(conninfo, sql);
}

TEST(Migrate, AppliesEveryEmbeddedMigrationOnceAndRecordsIt) {
  TestDatabase db;
  pqxx::connection conn(db.conninfo());
  auto first = Migrate(conn, MigrateMode::kAuto, EmbeddedMigrations());
  ASSERT_TRUE(first.ok()) << first.status();
  const int n = static_cast<int>(EmbeddedMigrations().size());
  EXPECT_EQ(first->applied_now, n);
  EXPECT_EQ(first->version, EmbeddedMigrations().back().version);
  EXPECT_EQ(CountRows(db.conninfo(), "SELECT count(*) FROM schema_migrations"), n);

  auto second = Migrate(conn, MigrateMode::kAuto, EmbeddedMigrations());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->applied_now, 0);
  EXPECT_EQ(second->version, first->version);
}

TEST(Migrate, UsageIdentitiesMoveToOneKeyAndStayUnique) {
  TestDatabase db;
  pqxx::connection conn(db.conninfo());
  ASSERT_TRUE(Migrate(conn, MigrateMode::kAuto, EmbeddedMigrations().first(1)).ok());
  {
    pqxx::work txn(conn);
    txn.exec(
        "INSERT INTO usage_event_ids VALUES ('acme', 'web', 'e1'), ('acme', 'we', 'be1'), "
        "('acme', 'wéb', 'ü'), ('beta', 'web', 'e1')");
    txn.commit();
  }
  ASSERT_TRUE(Migrate(conn, MigrateMode::kAuto, EmbeddedMigrations()).ok());
  EXPECT_EQ(CountRows(db.conninfo(), "SELECT count(*) FROM usage_event_keys"), 4);
  EXPECT_EQ(CountRows(db.conninfo(),
                      "SELECT count(*) FROM usage_event_keys WHERE key = "
                      "saasmetrics_usage_key('acme', 'wéb', 'ü')"),
            1);
  EXPECT_EQ(CountRows(db.conninfo(),
                      "SELECT count(*) FROM pg_tables WHERE tablename = "
                      "'usage_event_ids'"),
            0);
  // The key keeps identities apart that plain concatenation would merge.
  EXPECT_EQ(CountRows(db.conninfo(),
                      "SELECT (saasmetrics_usage_key('a', 'web', 'e1') <> "
                      "saasmetrics_usage_key('a', 'we', 'be1'))::int"),
            1);
  pqxx::work txn(conn);
  EXPECT_THROW(
      txn.exec("INSERT INTO usage_event_keys VALUES (saasmetrics_usage_key('beta', 'web', 'e1'))"),
      pqxx::unique_violation);
}

TEST(Migrate, ConcurrentStartersApplyEachMigrationOnce) {
  TestDatabase db;
  constexpr int kStarters = 4;
  std::vector<absl::StatusOr<SchemaState>> results(kStarters, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kStarters; ++i) {
    threads.emplace_back([&, i] {
      pqxx::connection conn(db.conninfo());
      results[i] = Migrate(conn, MigrateMode::kAuto, EmbeddedMigrations());
    });
  }
  for (auto& t : threads) t.join();
  int applied = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    applied += r->applied_now;
  }
  const int n = static_cast<int>(EmbeddedMigrations().size());
  EXPECT_EQ(applied, n);
  EXPECT_EQ(CountRows(db.conninfo(), "SELECT count(*) FROM schema_migrations"), n);
}

TEST(Migrate, CheckModeRequiresEveryMigration) {
  TestDatabase db;
  pqxx::connection conn(db.conninfo());
  auto pending = Migrate(conn, MigrateMode::kCheck, EmbeddedMigrations());
  EXPECT_EQ(pending.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(pending.status().message(), HasSubstr("0001_initial_schema.sql is not applied"));
  ASSERT_TRUE(Migrate(conn, MigrateMode::kAuto, EmbeddedMigrations()).ok());
  auto current = Migrate(conn, MigrateMode::kCheck, EmbeddedMigrations());
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_EQ(current->applied_now, 0);
}

TEST(Migrate, OffModeTouchesNothing) {
  TestDatabase db;
  pqxx::connection conn(db.conninfo());
  ASSERT_TRUE(Migrate(conn, MigrateMode::kOff, EmbeddedMigrations()).ok());
  EXPECT_EQ(CountRows(db.conninfo(), "SELECT count(*) FROM pg_tables WHERE schemaname='public'"),
            0);
}

TEST(Migrate, AnEditedAppliedMigrationIsRefused) {
  TestDatabase db;
  pqxx::connection conn(db.conninfo());
  const Migration v1[] = {{1, "0001_a.sql", "CREATE TABLE a (x int)"}};
  ASSERT_TRUE(Migrate(conn, MigrateMode::kAuto, v1).ok());
  const Migration edited[] = {{1, "0001_a.sql", "CREATE TABLE a (x bigint)"}};
  for (MigrateMode mode : {MigrateMode::kAuto, MigrateMode::kCheck}) {
    auto r = Migrate(conn, mode, edited);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(r.status().message(), HasSubstr("0001_a.sql was changed after it was applied"));
  }
}

TEST(Migrate, AFailingMigrationLeavesNoTraceAndStopsTheRun) {
  TestDatabase db;
  pqxx::connection conn(db.conninfo());
  const Migration migrations[] = {
      {1, "0001_a.sql", "CREATE TABLE a (x int)"},
      {2, "0002_b.sql", "CREATE TABLE b (x int); SELECT 1/0"},
      {3, "0003_c.sql", "CREATE TABLE c (x int)"},
  };
  auto r = Migrate(conn, MigrateMode::kAuto, migrations);
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("applying migration 0002_b.sql"));
  EXPECT_EQ(CountRows(db.conninfo(), "SELECT max(version) FROM schema_migrations"), 1);
  EXPECT_EQ(CountRows(db.conninfo(),
                      "SELECT count(*) FROM pg_tables WHERE tablename IN "
                      "('b', 'c')"),
            0);
  // The lock was released: a fixed run goes through.
  const Migration fixed[] = {migrations[0], {2, "0002_b.sql", "CREATE TABLE b (x int)"}};
  ASSERT_TRUE(Migrate(conn, MigrateMode::kAuto, fixed).ok());
}

TEST(Schema, MonthPartitionsAreCreatedOnDemand) {
  TestDatabase db;
  pqxx::connection conn(db.conninfo());
  ASSERT_TRUE(Migrate(conn, MigrateMode::kAuto, EmbeddedMigrations()).ok());
  pqxx::work t(conn);
  // No partition yet: an insert for March 2019 fails.
  EXPECT_THROW(
      {
        pqxx::subtransaction sub(t);
        sub.exec(
            "INSERT INTO usage_events (tenant_id, time, source, event_id, type, "
            "customer_id) VALUES ('t', '2019-03-31 23:59:59+00', 's', '1', 'x', 'c')");
      },
      pqxx::sql_error);
  for (int i = 0; i < 2; ++i) {  // idempotent
    t.exec("SELECT saasmetrics_ensure_month_partition('usage_events', '2019-03-05 10:00+00')");
  }
  t.exec(
      "INSERT INTO usage_events (tenant_id, time, source, event_id, type, customer_id) "
      "VALUES ('t', '2019-03-31 23:59:59+00', 's', '1', 'x', 'c')");
  EXPECT_EQ(t.exec1("SELECT count(*) FROM usage_events_y2019m03")[0].as<int>(), 1);
  // The partition is exactly one UTC month.
  EXPECT_THROW(
      {
        pqxx::subtransaction sub(t);
        sub.exec(
            "INSERT INTO usage_events (tenant_id, time, source, event_id, type, "
            "customer_id) VALUES ('t', '2019-04-01 00:00:00+00', 's', '2', 'x', 'c')");
      },
      pqxx::sql_error);
}

TEST(MigrationChecksum, IsStableAndSensitive) {
  EXPECT_EQ(MigrationChecksum("abc"), MigrationChecksum("abc"));
  EXPECT_NE(MigrationChecksum("abc"), MigrationChecksum("abd"));
  EXPECT_EQ(MigrationChecksum("").size(), 16u);
}

}  // namespace
}  // namespace saasmetrics::store
