// Internal to the store layer: COPY text-format rows built in one buffer and sent in
// one call. libpqxx 6.4's stream_to formats and escapes field by field through
// temporary strings; for ingest that was most of the server's CPU.
#pragma once

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace saasmetrics::store {

class CopyBuffer {
 public:
  CopyBuffer& Text(absl::string_view value);  // escaped for COPY text format
  CopyBuffer& Int(int64_t value);
  CopyBuffer& Double(double value);          // shortest exact round-trip form
  CopyBuffer& Timestamp(absl::Time t);       // "YYYY-MM-DD HH:MM:SS.ffffff+00"
  CopyBuffer& Raw(absl::string_view value);  // already valid and escaped
  CopyBuffer& Bytes(absl::string_view raw);  // a bytea value, hex format
  void EndRow();

  bool empty() const { return data_.empty(); }
  // Appends the rows to `table` (columns in the order the fields were added).
  void CopyInto(pqxx::transaction_base& txn, const std::string& table,
                const std::vector<std::string>& columns);

 private:
  void Separate();
  std::string data_;
  bool row_open_ = false;
};

}  // namespace saasmetrics::store
