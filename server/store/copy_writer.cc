#include "server/store/copy_writer.h"

#include <libpq-fe.h>
#include <poll.h>

#include <bit>
#include <cstring>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace saasmetrics::store {
namespace {

constexpr size_t kChunk = 64 << 10;
// PostgreSQL's binary COPY header: signature, flags, header extension length.
constexpr char kHeader[] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
constexpr int64_t kPostgresEpochMicros = 946684800LL * 1000000;  // 2000-01-01 UTC
const absl::CivilDay kPostgresEpochDay(2000, 1, 1);

// libpqxx 6.4 hands a transaction's libpq connection to large objects only; a subclass
// may ask for it the same way.
class RawConnection : public pqxx::largeobject {
 public:
  static PGconn* Of(const pqxx::dbtransaction& txn) { return raw_connection(txn); }
};

// The pqxx exception libpqxx itself raises for this SQLSTATE (as far as the store's
// error mapping, pg_error.cc, tells them apart).
[[noreturn]] void ThrowServerError(const std::string& message, const std::string& state,
                                   const std::string& query) {
  if (state == "23505") throw pqxx::unique_violation(message, query, state.c_str());
  if (state == "40001") throw pqxx::serialization_failure(message);
  if (state == "40P01") throw pqxx::deadlock_detected(message);
  if (state.rfind("40", 0) == 0) throw pqxx::transaction_rollback(message);
  if (state.rfind("08", 0) == 0) throw pqxx::broken_connection(message);
  throw pqxx::sql_error(message, query, state.empty() ? nullptr : state.c_str());
}

// Reads the results of a finished (or refused) COPY; throws the first error.
void DrainResults(PGconn* conn, const std::string& query) {
  std::string message, state;
  bool failed = false;
  while (PGresult* r = PQgetResult(conn)) {
    const ExecStatusType status = PQresultStatus(r);
    if (status == PGRES_COPY_IN) {  // still copying: only after a refused chunk
      PQputCopyEnd(conn, "copy abandoned");
    } else if (status != PGRES_COMMAND_OK && !failed) {
      failed = true;
      message = PQresultErrorMessage(r);
      const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
      state = s != nullptr ? s : "";
    }
    PQclear(r);
  }
  if (PQstatus(conn) == CONNECTION_BAD) {
    throw pqxx::broken_connection(failed ? message : std::string(PQerrorMessage(conn)));
  }
  if (failed) ThrowServerError(message, state, query);
}

}  // namespace

CopyWriter::CopyWriter(pqxx::dbtransaction& txn, absl::string_view table,
                       std::initializer_list<absl::string_view> columns)
    : conn_(RawConnection::Of(txn)),
      query_(absl::StrCat("COPY ", table, " (", absl::StrJoin(columns, ", "),
                          ") FROM STDIN (FORMAT binary)")),
      columns_(static_cast<int>(columns.size())) {
  buffer_.reserve(kChunk + 4096);
  buffer_.append(kHeader, sizeof kHeader - 1);
  txn.exec(query_);
}

CopyWriter::~CopyWriter() {
  if (!open_) return;
  try {
    if (PQputCopyEnd(conn_, "COPY cancelled by the client") == 1) DrainResults(conn_, query_);
  } catch (...) {  // the cancellation's own error is the expected outcome
  }
}

void CopyWriter::Append(const void* data, size_t size) {
  buffer_.append(static_cast<const char*>(data), size);
}

void CopyWriter::AppendBigEndian(uint64_t value, int bytes) {
  char out[8];
  for (int i = bytes - 1; i >= 0; --i, value >>= 8) out[i] = static_cast<char>(value & 0xff);
  Append(out, bytes);
}

void CopyWriter::BeginValue(uint32_t size) {
  if (row_values_ < 0) {
    AppendBigEndian(static_cast<uint16_t>(columns_), 2);
    row_values_ = 0;
  }
  ++row_values_;
  AppendBigEndian(size, 4);
}

CopyWriter& CopyWriter::Fixed(uint64_t bits, int bytes) {
  BeginValue(bytes);
  AppendBigEndian(bits, bytes);
  return *this;
}

CopyWriter& CopyWriter::Int2(int16_t value) { return Fixed(static_cast<uint16_t>(value), 2); }
CopyWriter& CopyWriter::Int4(int32_t value) { return Fixed(static_cast<uint32_t>(value), 4); }
CopyWriter& CopyWriter::Int8(int64_t value) { return Fixed(static_cast<uint64_t>(value), 8); }
CopyWriter& CopyWriter::Float8(double value) { return Fixed(std::bit_cast<uint64_t>(value), 8); }

CopyWriter& CopyWriter::Text(absl::string_view utf8) {
  BeginValue(static_cast<uint32_t>(utf8.size()));
  Append(utf8.data(), utf8.size());
  return *this;
}

CopyWriter& CopyWriter::Bytea(absl::string_view bytes) { return Text(bytes); }

CopyWriter& CopyWriter::Jsonb(absl::string_view json) {
  BeginValue(static_cast<uint32_t>(json.size() + 1));
  buffer_.push_back('\1');  // jsonb's binary format version
  Append(json.data(), json.size());
  return *this;
}

CopyWriter& CopyWriter::TimestampTz(absl::Time t) {
  return Int8(absl::ToUnixMicros(t) - kPostgresEpochMicros);  // int8 on the wire
}

CopyWriter& CopyWriter::Date(absl::CivilDay day) {
  return Int4(static_cast<int32_t>(day - kPostgresEpochDay));  // int4 on the wire
}

void CopyWriter::EndRow() {
  if (row_values_ != columns_) {
    throw std::logic_error(absl::StrCat("COPY row has ", std::max(row_values_, 0), " values for ",
                                        columns_, " columns"));
  }
  row_values_ = -1;
  if (buffer_.size() >= kChunk) Flush();
}

void CopyWriter::Flush() {
  if (buffer_.empty()) return;
  int sent;
  while ((sent = PQputCopyData(conn_, buffer_.data(), static_cast<int>(buffer_.size()))) == 0) {
    pollfd fd{PQsocket(conn_), POLLOUT, 0};  // a non-blocking connection's full buffer
    poll(&fd, 1, 100);
  }
  if (sent < 0) Fail();
  buffer_.clear();
}

void CopyWriter::Fail() {
  // libpq refuses data once PostgreSQL has reported an error (or the connection is
  // gone); the error itself is in the pending result.
  open_ = false;
  const std::string reason = PQerrorMessage(conn_);
  DrainResults(conn_, query_);
  throw pqxx::broken_connection(reason);
}

void CopyWriter::Complete() {
  if (row_values_ >= 0) throw std::logic_error("COPY completed inside a row");
  AppendBigEndian(0xffff, 2);  // file trailer
  Flush();
  open_ = false;
  if (PQputCopyEnd(conn_, nullptr) != 1) {
    const std::string reason = PQerrorMessage(conn_);
    DrainResults(conn_, query_);
    throw pqxx::broken_connection(reason);
  }
  DrainResults(conn_, query_);
}

}  // namespace saasmetrics::store
