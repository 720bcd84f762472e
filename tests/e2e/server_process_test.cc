// The saasmetrics binary as an operator runs it: flags, start-up against a database
// that is down or empty, health, and shutdown on SIGTERM.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <pqxx/pqxx>
#include <regex>

#include "absl/strings/str_split.h"
#include "client/client.h"
#include "server/store/migrator.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_db.h"

namespace saasmetrics::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

std::vector<std::string> ServerArgs(std::vector<std::string> extra) {
  std::vector<std::string> args = {BinaryPath("saasmetrics"), "--grpc_address=127.0.0.1:0",
                                   "--metrics_address=", "--db_probe_interval=200ms"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// The gRPC port the server logged, or 0.
int GrpcPort(const Subprocess& p) { return LoggedNumber(p, "grpc_port", absl::Seconds(20)); }

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(ServerProcess, ABadFlagValueFailsWithOneLineNamingTheFlag) {
  struct Case {
    std::string flag;
    std::string names;
  };
  const Case cases[] = {
      {"--db_pool_size=0", "--db_pool_size=0: must be between 1 and 1000"},
      {"--worker_threads=-3", "--worker_threads"},
      {"--grpc_address=nonsense", "--grpc_address=nonsense: must be HOST:PORT"},
      {"--migrate=sideways", "migrate"},
      {"--default_deadline=soon", "default_deadline"},
      {"--no_such_flag=1", "no_such_flag"},
      {"--malloc_arenas=-1", "--malloc_arenas=-1: must be between 0 and 1024"},
      {"--malloc_keep_bytes=-1", "--malloc_keep_bytes=-1: must be between 0 and 2 GiB"},
  };
  for (const Case& c : cases) {
    Subprocess p(ServerArgs({c.flag}));
    int code = p.Wait(absl::Seconds(20));
    EXPECT_NE(code, 0) << c.flag;
    EXPECT_NE(code, -1) << c.flag << " did not exit";
    std::string out = p.Output();
    EXPECT_THAT(out, HasSubstr(c.names)) << out;
    EXPECT_THAT(Lines(out), SizeIs(1)) << "more than one line for " << c.flag << ":\n" << out;
  }
}

TEST(ServerProcess, AnUnreachableDatabaseGivesOneClearLineAndNotServing) {
  Subprocess p(ServerArgs({"--database_url=postgresql://postgres@127.0.0.1:1/none"}));
  int port = GrpcPort(p);
  ASSERT_GT(port, 0) << p.Output();
  ASSERT_TRUE(p.WaitForOutput("database at 127.0.0.1:1 unreachable", absl::Seconds(20)))
      << p.Output();
  client::Client c({.address = "127.0.0.1:" + std::to_string(port), .max_attempts = 1});
  auto healthy = c.Healthy();
  ASSERT_TRUE(healthy.ok()) << healthy.status();
  EXPECT_FALSE(*healthy);

  // Retries go on (with backoff) without repeating the same line.
  absl::SleepFor(absl::Seconds(1));
  EXPECT_TRUE(p.running());
  int unreachable_lines = 0;
  for (const auto& line : Lines(p.Output())) {
    if (line.find("unreachable") != std::string::npos) {
      ++unreachable_lines;
      EXPECT_THAT(line, HasSubstr("retrying with backoff, health NOT_SERVING"));
    }
  }
  EXPECT_EQ(unreachable_lines, 1) << p.Output();

  p.Signal(SIGTERM);
  EXPECT_EQ(p.Wait(absl::Seconds(20)), 0) << p.Output();
  EXPECT_THAT(p.Output(), HasSubstr("stopped"));
}

TEST(ServerProcess, TwoServersOnAnEmptyDatabaseBothServeAndMigrateOnce) {
  TestDatabase db;
  Subprocess a(ServerArgs({"--database_url=" + db.conninfo()}));
  Subprocess b(ServerArgs({"--database_url=" + db.conninfo()}));
  for (Subprocess* p : {&a, &b}) {
    int port = GrpcPort(*p);
    ASSERT_GT(port, 0) << p->Output();
    ASSERT_TRUE(p->WaitForOutput("health SERVING", absl::Seconds(30))) << p->Output();
    client::Client c({.address = "127.0.0.1:" + std::to_string(port)});
    auto healthy = c.Healthy();
    ASSERT_TRUE(healthy.ok()) << healthy.status();
    EXPECT_TRUE(*healthy);
  }
  const int n = static_cast<int>(store::EmbeddedMigrations().size());
  pqxx::connection conn(db.conninfo());
  pqxx::read_transaction t(conn);
  EXPECT_EQ(t.exec1("SELECT count(*) FROM schema_migrations")[0].as<int>(), n);
  EXPECT_EQ(t.exec1("SELECT count(DISTINCT version) FROM schema_migrations")[0].as<int>(), n);
  // Exactly one of them applied the migrations.
  std::string both = a.Output() + b.Output();
  EXPECT_THAT(both, HasSubstr("(applied " + std::to_string(n) + " migrations now)"));
  EXPECT_THAT(both, HasSubstr("(applied 0 migrations now)"));

  for (Subprocess* p : {&a, &b}) {
    p->Signal(SIGTERM);
    EXPECT_EQ(p->Wait(absl::Seconds(20)), 0) << p->Output();
  }
}

TEST(ServerProcess, CheckModeStaysNotServingOnAnUnmigratedDatabase) {
  TestDatabase db;
  Subprocess p(ServerArgs({"--database_url=" + db.conninfo(), "--migrate=check"}));
  ASSERT_GT(GrpcPort(p), 0) << p.Output();
  ASSERT_TRUE(p.WaitForOutput("0001_initial_schema.sql is not applied (--migrate=check)",
                              absl::Seconds(20)))
      << p.Output();
  EXPECT_THAT(p.Output(), ::testing::Not(HasSubstr("health SERVING")));
}

TEST(ServerProcess, MigrateOnlyAppliesTheSchemaAndExitsThenCheckModeServes) {
  TestDatabase db;
  const int latest = store::EmbeddedMigrations().back().version;
  Subprocess job(ServerArgs({"--database_url=" + db.conninfo(), "--migrate_only"}));
  ASSERT_EQ(job.Wait(absl::Seconds(30)), 0) << job.Output();
  EXPECT_THAT(job.Output(),
              HasSubstr(absl::StrCat("schema version ", latest, " (applied ",
                                     store::EmbeddedMigrations().size(), " migrations now)")));
  EXPECT_EQ(QueryInt(db.conninfo(), "SELECT max(version) FROM schema_migrations"), latest);

  // Running the job again (a re-deploy) applies nothing and still succeeds.
  Subprocess again(ServerArgs({"--database_url=" + db.conninfo(), "--migrate_only"}));
  ASSERT_EQ(again.Wait(absl::Seconds(30)), 0) << again.Output();
  EXPECT_THAT(again.Output(), HasSubstr("(applied 0 migrations now)"));

  Subprocess server(ServerArgs({"--database_url=" + db.conninfo(), "--migrate=check"}));
  ASSERT_GT(GrpcPort(server), 0) << server.Output();
  EXPECT_TRUE(server.WaitForOutput("health SERVING", absl::Seconds(30))) << server.Output();
}

TEST(ServerProcess, MigrateOnlyFailsWithOneLineWhenTheDatabaseIsUnreachable) {
  Subprocess job(ServerArgs({"--database_url=postgresql://nobody@127.0.0.1:1/none",
                             "--db_connect_timeout=2", "--migrate_only"}));
  EXPECT_EQ(job.Wait(absl::Seconds(30)), 1) << job.Output();
  EXPECT_THAT(job.Output(), HasSubstr("migration failed: UNAVAILABLE: database at 127.0.0.1:1"));
  EXPECT_THAT(Lines(job.Output()), SizeIs(1)) << job.Output();
}

TEST(ServerProcess, DatabaseUrlComesFromTheEnvironmentToo) {
  TestDatabase db;
  Subprocess p(ServerArgs({}), {{"DATABASE_URL", db.conninfo()}});
  ASSERT_GT(GrpcPort(p), 0) << p.Output();
  EXPECT_TRUE(p.WaitForOutput("health SERVING", absl::Seconds(30))) << p.Output();
}

TEST(Saasctl, CreatesAndReadsATenantAgainstARealServer) {
  TestDatabase db;
  Subprocess server(ServerArgs({"--database_url=" + db.conninfo()}));
  int port = GrpcPort(server);
  ASSERT_GT(port, 0);
  ASSERT_TRUE(server.WaitForOutput("health SERVING", absl::Seconds(30)));
  const std::string address = "--address=127.0.0.1:" + std::to_string(port);
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {BinaryPath("saasctl"), address});
    Subprocess p(args);
    int code = p.Wait(absl::Seconds(30));
    return std::make_pair(code, p.Output());
  };
  auto [health_code, health_out] = run({"health"});
  EXPECT_EQ(health_code, 0);
  EXPECT_EQ(health_out, "SERVING\n");

  auto [create_code, create_out] =
      run({"tenants", "create", "acme", "--currency=EUR", "--timezone=Europe/Berlin"});
  EXPECT_EQ(create_code, 0) << create_out;
  auto [get_code, get_out] = run({"-o", "json", "tenants", "get", "acme"});
  EXPECT_EQ(get_code, 0) << get_out;
  EXPECT_THAT(get_out, HasSubstr("\"timezone\": \"Europe/Berlin\""));

  auto [dup_code, dup_out] = run({"tenants", "create", "acme", "--currency=EUR"});
  EXPECT_EQ(dup_code, 6) << dup_out;
  auto [bad_code, bad_out] = run({"tenants", "create", "x", "--currency=EURO"});
  EXPECT_EQ(bad_code, 3) << bad_out;
  EXPECT_THAT(bad_out, HasSubstr("tenant.currency: 'EURO' is not an ISO 4217 currency code"));
  auto [missing_code, missing_out] = run({"tenants", "get", "nobody"});
  EXPECT_EQ(missing_code, 4) << missing_out;

  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(absl::Seconds(20)), 0);
  auto [down_code, down_out] = run({"--timeout=1s", "health"});
  EXPECT_EQ(down_code, 5) << down_out;
  EXPECT_THAT(down_out, HasSubstr("server at 127.0.0.1:" + std::to_string(port)));
}

}  // namespace
}  // namespace saasmetrics::testing
