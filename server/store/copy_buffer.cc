#include "server/store/copy_buffer.h"

#include <charconv>
#include <pqxx/tablewriter>

#include "absl/time/civil_time.h"

// tablewriter is deprecated in favour of stream_to, but it is the one libpqxx 6.4 class
// that passes preformatted COPY data through unchanged.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace saasmetrics::store {
namespace {

void AppendDigits(std::string& out, int64_t value, int width) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0 || n < width);
  while (n > 0) out.push_back(buf[--n]);
}

}  // namespace

void CopyBuffer::Separate() {
  if (row_open_) data_.push_back('\t');
  row_open_ = true;
}

CopyBuffer& CopyBuffer::Text(absl::string_view value) {
  Separate();
  for (char c : value) {
    switch (c) {
      case '\\':
        data_ += "\\\\";
        break;
      case '\t':
        data_ += "\\t";
        break;
      case '\n':
        data_ += "\\n";
        break;
      case '\r':
        data_ += "\\r";
        break;
      default:
        data_.push_back(c);
    }
  }
  return *this;
}

CopyBuffer& CopyBuffer::Bytes(absl::string_view raw) {
  Separate();
  static constexpr char kHex[] = "0123456789abcdef";
  data_ += "\\\\x";  // COPY text escapes the backslash of bytea's \x prefix
  for (unsigned char c : raw) {
    data_.push_back(kHex[c >> 4]);
    data_.push_back(kHex[c & 0xf]);
  }
  return *this;
}

CopyBuffer& CopyBuffer::Raw(absl::string_view value) {
  Separate();
  data_.append(value.data(), value.size());
  return *this;
}

CopyBuffer& CopyBuffer::Int(int64_t value) {
  Separate();
  char buf[24];
  auto end = std::to_chars(buf, buf + sizeof(buf), value).ptr;
  data_.append(buf, end);
  return *this;
}

CopyBuffer& CopyBuffer::Double(double value) {
  Separate();
  char buf[32];
  auto end = std::to_chars(buf, buf + sizeof(buf), value).ptr;
  data_.append(buf, end);
  return *this;
}

CopyBuffer& CopyBuffer::Timestamp(absl::Time t) {
  Separate();
  const absl::CivilSecond s = absl::ToCivilSecond(t, absl::UTCTimeZone());
  const int64_t micros = absl::ToInt64Microseconds(t - absl::FromCivil(s, absl::UTCTimeZone()));
  AppendDigits(data_, s.year(), 4);
  data_.push_back('-');
  AppendDigits(data_, s.month(), 2);
  data_.push_back('-');
  AppendDigits(data_, s.day(), 2);
  data_.push_back(' ');
  AppendDigits(data_, s.hour(), 2);
  data_.push_back(':');
  AppendDigits(data_, s.minute(), 2);
  data_.push_back(':');
  AppendDigits(data_, s.second(), 2);
  data_.push_back('.');
  AppendDigits(data_, micros, 6);
  data_ += "+00";
  return *this;
}

void CopyBuffer::EndRow() {
  data_.push_back('\n');
  row_open_ = false;
}

void CopyBuffer::CopyInto(pqxx::transaction_base& txn, const std::string& table,
                          const std::vector<std::string>& columns) {
  pqxx::tablewriter writer(txn, table, columns.begin(), columns.end());
  if (!data_.empty()) {
    // libpqxx appends the final newline itself.
    if (data_.back() == '\n') data_.pop_back();
    writer.write_raw_line(data_);
  }
  writer.complete();
  data_.clear();
}

}  // namespace saasmetrics::store

#pragma GCC diagnostic pop
