#include "server/store/pool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "server/store/tx.h"
#include "tests/support/test_db.h"

namespace saasmetrics::store {
namespace {

using ::testing::HasSubstr;
using testing::TestDatabase;

absl::Time In(absl::Duration d) { return absl::Now() + d; }

TEST(ConnectionPool, UnreachableDatabaseIsUnavailableAndNamesHostPort) {
  ConnectionPool pool({.conninfo = "postgresql://postgres@127.0.0.1:1/none", .size = 1});
  absl::Status s = pool.Transact(In(absl::Seconds(5)), [](Tx&) { return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("database at 127.0.0.1:1 unreachable"));
  EXPECT_THAT(std::string(s.message()), ::testing::Not(HasSubstr("\n")));
}

// A host that accepts TCP but never answers (a hung server, a half-open network) holds a
// connection attempt for the whole connect_timeout; the call's deadline must bound it.
TEST(ConnectionPool, TheDeadlineBoundsAConnectionAttemptToAHostThatNeverAnswers) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 16), 0);  // the kernel completes handshakes; nobody ever reads
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ConnectionPool pool(
      {.conninfo = absl::StrCat("postgresql://postgres@127.0.0.1:", ntohs(addr.sin_port), "/none"),
       .size = 1,
       .connect_timeout_seconds = 60});
  const absl::Time start = absl::Now();
  absl::Status s = pool.Transact(In(absl::Seconds(2)), [](Tx&) { return absl::OkStatus(); });
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_LT(took, absl::Seconds(4)) << "libpq waits whole seconds, at least two";
  close(fd);
}

// Issue 13, hardening 6: while the supervisor knows the database is unreachable, calls
// fail at once without opening connections; once it answers again they run.
TEST(ConnectionPool, KnownUnreachableFailsAtOnceWithoutConnecting) {
  TestDatabase db;
  ConnectionPool pool({.conninfo = db.conninfo(), .size = 2});
  pool.SetUnreachable("database at 127.0.0.1:5 unreachable: Connection refused");
  const absl::Time start = absl::Now();
  bool ran = false;
  absl::Status s = pool.Transact(In(absl::Seconds(10)), [&](Tx&) {
    ran = true;
    return absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(ran);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(100));
  EXPECT_EQ(pool.stats().open, 0) << "no connection was attempted";
  pool.SetUnreachable("");
  EXPECT_TRUE(pool.Transact(In(absl::Seconds(10)), [](Tx&) { return absl::OkStatus(); }).ok());
}

TEST(ConnectionPool, CommitsOnOkAndRollsBackOnError) {
  TestDatabase db;
  ConnectionPool pool({.conninfo = db.conninfo(), .size = 2});
  ASSERT_TRUE(pool.Transact(In(absl::Seconds(10)),
                            [](Tx& tx) {
                              tx.raw().exec("CREATE TABLE t (x int PRIMARY KEY)");
                              tx.raw().exec("INSERT INTO t VALUES (1)");
                              return absl::OkStatus();
                            })
                  .ok());
  absl::Status failed = pool.Transact(In(absl::Seconds(10)), [](Tx& tx) {
    tx.raw().exec("INSERT INTO t VALUES (2)");
    return absl::FailedPreconditionError("changed my mind");
  });
  EXPECT_EQ(failed.code(), absl::StatusCode::kFailedPrecondition);
  int count = 0;
  ASSERT_TRUE(pool.Transact(In(absl::Seconds(10)),
                            [&](Tx& tx) {
                              count = tx.raw().exec1("SELECT count(*) FROM t")[0].as<int>();
                              return absl::OkStatus();
                            })
                  .ok());
  EXPECT_EQ(count, 1);
}

TEST(ConnectionPool, MapsDatabaseErrorsToCanonicalCodes) {
  TestDatabase db;
  ConnectionPool pool({.conninfo = db.conninfo(), .size = 1});
  auto run = [&](const char* sql) {
    return pool.Transact(In(absl::Seconds(10)), [&](Tx& tx) {
      tx.raw().exec(sql);
      return absl::OkStatus();
    });
  };
  ASSERT_TRUE(run("CREATE TABLE t (x int PRIMARY KEY)").ok());
  ASSERT_TRUE(run("INSERT INTO t VALUES (1)").ok());
  EXPECT_EQ(run("INSERT INTO t VALUES (1)").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(run("SELECT 1/0").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(run("SELEKT").code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(run("SELECT 1").ok()) << "the connection survives statement errors";
}

TEST(ConnectionPool, TheDeadlineBoundsEachStatement) {
  TestDatabase db;
  ConnectionPool pool({.conninfo = db.conninfo(), .size = 1});
  const absl::Time start = absl::Now();
  absl::Status s = pool.Transact(In(absl::Milliseconds(300)), [](Tx& tx) {
    tx.raw().exec("SELECT pg_sleep(10)");
    return absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(ConnectionPool, WaitsForAFreeConnectionOnlyUntilTheDeadline) {
  TestDatabase db;
  ConnectionPool pool({.conninfo = db.conninfo(), .size = 1});
  absl::Notification holding;
  std::thread holder([&] {
    (void)pool.Transact(In(absl::Seconds(10)), [&](Tx& tx) {
      holding.Notify();
      tx.raw().exec("SELECT pg_sleep(1)");
      return absl::OkStatus();
    });
  });
  holding.WaitForNotification();
  absl::Status s = pool.Transact(In(absl::Milliseconds(100)), [](Tx&) { return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(s.message(), HasSubstr("no database connection free"));
  EXPECT_EQ(pool.stats().waits, 1);
  holder.join();
  EXPECT_TRUE(pool.Transact(In(absl::Seconds(10)), [](Tx&) { return absl::OkStatus(); }).ok());
}

TEST(ConnectionPool, ABrokenConnectionIsDroppedAndReplaced) {
  TestDatabase db;
  ConnectionPool pool({.conninfo = db.conninfo(), .size = 1});
  int pid = 0;
  ASSERT_TRUE(pool.Transact(In(absl::Seconds(10)),
                            [&](Tx& tx) {
                              pid = tx.raw().exec1("SELECT pg_backend_pid()")[0].as<int>();
                              return absl::OkStatus();
                            })
                  .ok());
  {
    pqxx::connection admin(db.conninfo());
    pqxx::nontransaction t(admin);
    t.exec("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
  }
  absl::Status lost = pool.Transact(In(absl::Seconds(10)), [](Tx& tx) {
    tx.raw().exec("SELECT 1");
    return absl::OkStatus();
  });
  EXPECT_EQ(lost.code(), absl::StatusCode::kUnavailable) << lost;
  EXPECT_EQ(pool.stats().open, 0);
  EXPECT_TRUE(pool.Transact(In(absl::Seconds(10)),
                            [](Tx& tx) {
                              tx.raw().exec("SELECT 1");
                              return absl::OkStatus();
                            })
                  .ok());
}

TEST(ConnectionPool, ResetDropsIdleConnections) {
  TestDatabase db;
  ConnectionPool pool({.conninfo = db.conninfo(), .size = 2});
  ASSERT_TRUE(pool.Transact(In(absl::Seconds(10)), [](Tx&) { return absl::OkStatus(); }).ok());
  EXPECT_EQ(pool.stats().open, 1);
  pool.Reset();
  EXPECT_EQ(pool.stats().open, 0);
  EXPECT_TRUE(pool.Transact(In(absl::Seconds(10)), [](Tx&) { return absl::OkStatus(); }).ok());
}

}  // namespace
}  // namespace saasmetrics::store
