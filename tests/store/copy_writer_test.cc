#include "server/store/copy_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

#include "absl/strings/str_cat.h"
#include "tests/support/test_db.h"

namespace saasmetrics::store {
namespace {

using ::testing::HasSubstr;
using testing::TestDatabase;

constexpr char kTable[] =
    "CREATE TABLE t (i2 smallint, i4 int, i8 bigint, f8 double precision, s text, b bytea, "
    "j jsonb, ts timestamptz, d date)";

class CopyWriterTest : public ::testing::Test {
 protected:
  CopyWriterTest() : conn_(db_.conninfo()) {
    pqxx::work txn(conn_);
    txn.exec(kTable);
    txn.exec("CREATE TABLE keyed (k text PRIMARY KEY)");
    txn.commit();
  }

  int64_t Count(const std::string& table) {
    pqxx::work txn(conn_);  // also proves the connection is usable again
    return txn.exec1("SELECT count(*) FROM " + table)[0].as<int64_t>();
  }

  TestDatabase db_;
  pqxx::connection conn_;
};

struct Row {
  int16_t i2;
  int32_t i4;
  int64_t i8;
  double f8;
  std::string s, b, j;
  absl::Time ts;
  absl::CivilDay d;
};

TEST_F(CopyWriterTest, EveryTypeRoundTripsExactly) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  const std::vector<Row> rows = {
      {std::numeric_limits<int16_t>::min(), std::numeric_limits<int32_t>::min(),
       std::numeric_limits<int64_t>::min(), 0.1, "tab\there\nnew line \\ back\"slash'",
       std::string("\0\xff\x01zero", 7), R"({"k": "v\n\"q\"", "n": "é"})",
       absl::FromCivil(absl::CivilSecond(1969, 12, 31, 23, 59, 59), utc) - absl::Microseconds(1),
       absl::CivilDay(1999, 12, 31)},
      {std::numeric_limits<int16_t>::max(), std::numeric_limits<int32_t>::max(),
       std::numeric_limits<int64_t>::max(), -2.5e-300, "", "", "{}",
       absl::FromCivil(absl::CivilSecond(2000, 1, 1, 0, 0, 0), utc), absl::CivilDay(2000, 1, 1)},
      {0, -7, 1234567890123, 1.7976931348623157e308, "ünïcødé ✓ 日本", "x", "[1, 2.5]",
       absl::FromCivil(absl::CivilSecond(2045, 6, 30, 12, 34, 56), utc) +
           absl::Microseconds(789012),
       absl::CivilDay(2024, 2, 29)},
  };
  {
    pqxx::work txn(conn_);
    CopyWriter copy(txn, "t", {"i2", "i4", "i8", "f8", "s", "b", "j", "ts", "d"});
    for (const Row& r : rows) {
      copy.Int2(r.i2).Int4(r.i4).Int8(r.i8).Float8(r.f8).Text(r.s).Bytea(r.b).Jsonb(r.j);
      copy.TimestampTz(r.ts).Date(r.d).EndRow();
    }
    copy.Complete();
    txn.commit();
  }
  pqxx::work txn(conn_);
  pqxx::result got = txn.exec(
      "SELECT i2, i4, i8, f8, s, encode(b, 'hex'), j::text, "
      "(EXTRACT(EPOCH FROM ts) * 1000000)::bigint, d::text FROM t ORDER BY i2");
  ASSERT_EQ(got.size(), rows.size());
  std::vector<Row> sorted = rows;
  std::sort(sorted.begin(), sorted.end(), [](const Row& a, const Row& b) { return a.i2 < b.i2; });
  for (size_t i = 0; i < sorted.size(); ++i) {
    const Row& want = sorted[i];
    SCOPED_TRACE(i);
    EXPECT_EQ(got[i][0].as<int>(), want.i2);
    EXPECT_EQ(got[i][1].as<int32_t>(), want.i4);
    EXPECT_EQ(got[i][2].as<int64_t>(), want.i8);
    EXPECT_EQ(got[i][3].as<double>(), want.f8);
    EXPECT_EQ(got[i][4].as<std::string>(), want.s);
    std::string hex;
    for (unsigned char c : want.b) hex += absl::StrCat(absl::Hex(c, absl::kZeroPad2));
    EXPECT_EQ(got[i][5].as<std::string>(), hex);
    EXPECT_EQ(got[i][7].as<int64_t>(), absl::ToUnixMicros(want.ts));
    EXPECT_EQ(got[i][8].as<std::string>(), absl::FormatCivilTime(want.d));
  }
  // jsonb normalizes; compare what PostgreSQL makes of the same text.
  for (size_t i = 0; i < sorted.size(); ++i) {
    EXPECT_EQ(got[i][6].as<std::string>(),
              txn.exec_params1("SELECT $1::jsonb::text", sorted[i].j)[0].as<std::string>());
  }
  EXPECT_EQ(got[0][6].as<std::string>(), R"({"k": "v\n\"q\"", "n": "é"})");
}

TEST_F(CopyWriterTest, StreamsManyChunks) {
  constexpr int kRows = 100000;  // ~5 MB: dozens of 64 KiB chunks
  {
    pqxx::work txn(conn_);
    CopyWriter copy(txn, "t", {"i8", "s"});
    for (int i = 0; i < kRows; ++i) copy.Int8(i).Text(absl::StrCat("row number ", i)).EndRow();
    copy.Complete();
    txn.commit();
  }
  pqxx::work txn(conn_);
  pqxx::row r = txn.exec1("SELECT count(*), sum(i8), count(DISTINCT s) FROM t");
  EXPECT_EQ(r[0].as<int64_t>(), kRows);
  EXPECT_EQ(r[1].as<int64_t>(), int64_t{kRows} * (kRows - 1) / 2);
  EXPECT_EQ(r[2].as<int64_t>(), kRows);
}

TEST_F(CopyWriterTest, ARowWithTheWrongNumberOfValuesIsRefusedAndNothingIsStored) {
  {
    pqxx::work txn(conn_);
    CopyWriter copy(txn, "t", {"i8", "s"});
    copy.Int8(1).Text("ok").EndRow();
    copy.Int8(2);
    EXPECT_THROW(copy.EndRow(), std::logic_error);
  }
  EXPECT_EQ(Count("t"), 0);
}

TEST_F(CopyWriterTest, AnAbandonedCopyStoresNothingAndLeavesTheConnectionUsable) {
  {
    pqxx::work txn(conn_);
    CopyWriter copy(txn, "t", {"i8"});
    for (int i = 0; i < 50000; ++i) copy.Int8(i).EndRow();  // some chunks already sent
  }
  EXPECT_EQ(Count("t"), 0);
}

TEST_F(CopyWriterTest, ADuplicateKeyIsAUniqueViolation) {
  {
    pqxx::work txn(conn_);
    txn.exec("INSERT INTO keyed VALUES ('k5')");
    txn.commit();
  }
  pqxx::work txn(conn_);
  CopyWriter copy(txn, "keyed", {"k"});
  for (int i = 0; i < 10; ++i) copy.Text(absl::StrCat("k", i)).EndRow();
  try {
    copy.Complete();
    FAIL() << "expected a unique violation";
  } catch (const pqxx::unique_violation& e) {
    EXPECT_EQ(e.sqlstate(), "23505");
    EXPECT_THAT(e.what(), HasSubstr("keyed_pkey"));
  }
  txn.abort();
  EXPECT_EQ(Count("keyed"), 1);
}

TEST_F(CopyWriterTest, ADuplicateKeyFoundWhileStreamingIsAUniqueViolation) {
  // The server reports the violation while later chunks are still being sent.
  pqxx::work txn(conn_);
  CopyWriter copy(txn, "keyed", {"k"});
  EXPECT_THROW(
      {
        for (int i = 0; i < 200000; ++i) copy.Text(absl::StrCat("k", i % 1000)).EndRow();
        copy.Complete();
      },
      pqxx::unique_violation);
  txn.abort();
  EXPECT_EQ(Count("keyed"), 0);
}

TEST_F(CopyWriterTest, ALostConnectionIsABrokenConnection) {
  pqxx::work txn(conn_);
  const int pid = conn_.backendpid();
  CopyWriter copy(txn, "t", {"i8"});
  for (int i = 0; i < 20000; ++i) copy.Int8(i).EndRow();
  pqxx::connection admin(db_.conninfo());
  pqxx::nontransaction(admin).exec(absl::StrCat("SELECT pg_terminate_backend(", pid, ")"));
  EXPECT_THROW(
      {
        for (int i = 0; i < 2000000; ++i) copy.Int8(i).EndRow();
        copy.Complete();
      },
      pqxx::broken_connection);
}

TEST_F(CopyWriterTest, TheStatementTimeoutCancelsACopy) {
  {
    pqxx::work txn(conn_);
    txn.exec(
        "CREATE FUNCTION slow() RETURNS bool LANGUAGE plpgsql AS "
        "'BEGIN PERFORM pg_sleep(0.02); RETURN true; END'");
    txn.exec("CREATE TABLE slow_rows (i bigint CHECK (slow()))");
    txn.commit();
  }
  pqxx::work txn(conn_);
  txn.exec("SET LOCAL statement_timeout = 200");
  CopyWriter copy(txn, "slow_rows", {"i"});
  for (int i = 0; i < 100; ++i) copy.Int8(i).EndRow();  // 2 s of checks
  try {
    copy.Complete();
    FAIL() << "expected a cancellation";
  } catch (const pqxx::sql_error& e) {
    EXPECT_EQ(e.sqlstate(), "57014") << e.what();  // query_canceled: DEADLINE_EXCEEDED
  }
  txn.abort();
  EXPECT_EQ(Count("slow_rows"), 0);
}

TEST_F(CopyWriterTest, BadValuesAreDataExceptions) {
  struct Case {
    const char* name;
    std::function<void(CopyWriter&)> row;
    const char* sqlstate;
  } cases[] = {
      {"int8 into an int4 column", [](CopyWriter& c) { c.Int8(1); }, "22P03"},
      {"invalid UTF-8", [](CopyWriter& c) { c.Text("\xc3("); }, "22021"},
      {"a zero byte in text", [](CopyWriter& c) { c.Text(std::string("a\0b", 3)); }, "22021"},
      {"invalid JSON", [](CopyWriter& c) { c.Jsonb("{"); }, "22P02"},
  };
  const char* columns[] = {"i4", "s", "s", "j"};
  for (size_t i = 0; i < std::size(cases); ++i) {
    SCOPED_TRACE(cases[i].name);
    pqxx::work txn(conn_);
    CopyWriter copy(txn, "t", {columns[i]});
    cases[i].row(copy);
    copy.EndRow();
    try {
      copy.Complete();
      ADD_FAILURE() << "accepted";
    } catch (const pqxx::sql_error& e) {
      EXPECT_EQ(e.sqlstate(), cases[i].sqlstate) << e.what();
    }
  }
  EXPECT_EQ(Count("t"), 0);
}

}  // namespace
}  // namespace saasmetrics::store
