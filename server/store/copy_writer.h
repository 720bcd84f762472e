// Internal to the store layer: COPY ... FROM STDIN in PostgreSQL's binary format, streamed
// to the server in 64 KiB chunks while the rows are built.
//
// Why not pqxx::stream_to or tablewriter (libpqxx 6.4): both speak the text format, which
// PostgreSQL parses field by field (timestamps are the dearest), and they copy every line
// once more on its way to libpq. Measured on the ingest benchmark, that formatting, copying
// and the page faults of the large buffers it took were most of the server's CPU. Binary
// values need no escaping and no parsing; chunks keep the buffer small and reused, and let
// PostgreSQL work on the first rows while the last are being built.
//
// Each value's method names its column's PostgreSQL type; binary input requires the exact
// type (an int4 column takes Int4, not Int8). A row must have one value per column.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <pqxx/pqxx>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace saasmetrics::store {

class CopyWriter {
 public:
  // Starts `COPY table (columns) FROM STDIN (FORMAT binary)` in `txn`. Until Complete()
  // returns (or this is destroyed) `txn` must run nothing else.
  CopyWriter(pqxx::dbtransaction& txn, absl::string_view table,
             std::initializer_list<absl::string_view> columns);
  // An unfinished COPY is cancelled: nothing it sent is stored and `txn` is usable again
  // (its transaction is then aborted, as after any failed statement).
  ~CopyWriter();
  CopyWriter(const CopyWriter&) = delete;
  CopyWriter& operator=(const CopyWriter&) = delete;

  CopyWriter& Int2(int16_t value);
  CopyWriter& Int4(int32_t value);
  CopyWriter& Int8(int64_t value);
  CopyWriter& Float8(double value);
  CopyWriter& Text(absl::string_view utf8);  // text or varchar
  CopyWriter& Bytea(absl::string_view bytes);
  CopyWriter& Jsonb(absl::string_view json);  // a JSON document's text
  CopyWriter& TimestampTz(absl::Time t);      // microsecond precision (truncated)
  CopyWriter& Date(absl::CivilDay day);
  void EndRow();  // throws std::logic_error unless the row has one value per column

  // Ends the COPY and waits for PostgreSQL's verdict: a rejected COPY throws the pqxx
  // exception its SQLSTATE maps to (pqxx::unique_violation for 23505, ...).
  void Complete();

 private:
  CopyWriter& Fixed(uint64_t bits, int bytes);  // a fixed-width value, big-endian
  void BeginValue(uint32_t size);
  void Append(const void* data, size_t size);
  void AppendBigEndian(uint64_t value, int bytes);
  void Flush();
  [[noreturn]] void Fail();  // after libpq refused data: throws the server's error

  pqxx::internal::pq::PGconn* conn_;
  const std::string query_;
  const int columns_;
  int row_values_ = -1;  // values in the open row; -1 outside a row
  bool open_ = true;     // the COPY is in progress
  std::string buffer_;
};

}  // namespace saasmetrics::store
