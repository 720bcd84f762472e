#include "server/store/tenant_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/store/migrate.h"
#include "tests/support/test_db.h"

namespace saasmetrics::store {
namespace {

using ::testing::HasSubstr;

class TenantStoreTest : public ::testing::Test {
 protected:
  TenantStoreTest()
      : pool_({.conninfo = db_.conninfo(),
               .size = 2,
               .statements = {TenantStore::Statements().begin(), TenantStore::Statements().end()}}),
        store_(pool_) {
    pqxx::connection conn(db_.conninfo());
    auto migrated = Migrate(conn, MigrateMode::kAuto, EmbeddedMigrations());
    EXPECT_TRUE(migrated.ok()) << migrated.status();
  }
  absl::Time deadline() const { return absl::Now() + absl::Seconds(10); }

  testing::TestDatabase db_;
  ConnectionPool pool_;
  TenantStore store_;
};

engine::Tenant Acme() {
  return {.tenant_id = "acme",
          .display_name = "Acme Inc.",
          .currency = "EUR",
          .timezone = "Europe/Berlin",
          .gross_margin = 0.75};
}

TEST_F(TenantStoreTest, CreateThenGetRoundTrips) {
  auto created = store_.Create(Acme(), deadline());
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->tenant_id, "acme");
  EXPECT_GT(created->create_time, absl::Now() - absl::Minutes(1));
  auto got = store_.Get("acme", deadline());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->display_name, "Acme Inc.");
  EXPECT_EQ(got->currency, "EUR");
  EXPECT_EQ(got->timezone, "Europe/Berlin");
  EXPECT_DOUBLE_EQ(got->gross_margin, 0.75);
  EXPECT_EQ(got->create_time, created->create_time);
}

TEST_F(TenantStoreTest, DuplicateIdIsAlreadyExistsAndKeepsTheOriginal) {
  ASSERT_TRUE(store_.Create(Acme(), deadline()).ok());
  engine::Tenant other = Acme();
  other.currency = "USD";
  auto again = store_.Create(other, deadline());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.status().message(), HasSubstr("tenant 'acme' already exists"));
  EXPECT_EQ(store_.Get("acme", deadline())->currency, "EUR");
}

TEST_F(TenantStoreTest, UnknownTenantIsNotFound) {
  EXPECT_EQ(store_.Get("nobody", deadline()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_.Update({.tenant_id = "nobody", .timezone = "UTC"}, deadline()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(TenantStoreTest, ListPagesInIdOrder) {
  for (const char* id : {"c", "a", "e", "b", "d"}) {
    engine::Tenant t = Acme();
    t.tenant_id = id;
    ASSERT_TRUE(store_.Create(t, deadline()).ok());
  }
  std::vector<std::string> seen;
  std::string after;
  int pages = 0;
  while (true) {
    auto page = store_.List(2, after, deadline());
    ASSERT_TRUE(page.ok()) << page.status();
    ++pages;
    for (const auto& t : page->tenants) seen.push_back(t.tenant_id);
    if (!page->more) break;
    after = page->tenants.back().tenant_id;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(pages, 3);
}

TEST_F(TenantStoreTest, UpdateChangesOnlyWhatIsGiven) {
  auto created = store_.Create(Acme(), deadline());
  ASSERT_TRUE(created.ok());
  auto updated = store_.Update({.tenant_id = "acme", .gross_margin = 0.5}, deadline());
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_DOUBLE_EQ(updated->gross_margin, 0.5);
  EXPECT_EQ(updated->timezone, "Europe/Berlin");
  EXPECT_EQ(updated->display_name, "Acme Inc.");
  EXPECT_GE(updated->update_time, created->update_time);
}

TEST_F(TenantStoreTest, TheDatabaseRejectsAMarginOutOfRange) {
  engine::Tenant t = Acme();
  t.gross_margin = 1.5;  // validation upstream missed it: the CHECK constraint holds
  EXPECT_FALSE(store_.Create(t, deadline()).ok());
  EXPECT_EQ(store_.Get("acme", deadline()).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace saasmetrics::store
