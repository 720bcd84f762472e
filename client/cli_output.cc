#include "client/cli_output.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/records.h"
#include "server/engine/currency.h"

namespace saasmetrics::cli {

int ExitCodeFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return kExitInvalid;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    case absl::StatusCode::kAlreadyExists:
      return kExitConflict;
    default:
      return kExitError;
  }
}

int Fail(const absl::Status& s) {
  std::cerr << "saasctl: " << absl::StatusCodeToString(s.code()) << ": " << s.message() << "\n";
  return ExitCodeFor(s);
}

std::string Json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

bool PrintJson(const google::protobuf::Message& m, Output output) {
  if (output != Output::kJson) return false;
  std::cout << Json(m);
  return true;
}

void PrintRows(const std::vector<std::vector<std::string>>& rows, Output output) {
  if (output == Output::kCsv) {
    for (const auto& row : rows) {
      std::vector<std::string> cells;
      for (const auto& c : row) cells.push_back(client::CsvCell(c));
      std::cout << absl::StrJoin(cells, ",") << "\n";
    }
    return;
  }
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, row[i], std::string(widths[i] - row[i].size() + 2, ' '));
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  }
}

int MinorDigits(const std::string& currency) {
  const int exponent = engine::CurrencyExponent(currency);  // the server's table
  return exponent < 0 ? 2 : exponent;
}

std::string Money(int64_t minor, int digits) {
  const char* sign = minor < 0 ? "-" : "";
  const uint64_t abs = minor < 0 ? -static_cast<uint64_t>(minor) : static_cast<uint64_t>(minor);
  if (digits == 0) return absl::StrFormat("%s%d", sign, abs);
  uint64_t scale = 1;
  for (int i = 0; i < digits; ++i) scale *= 10;
  return absl::StrFormat("%s%d.%0*d", sign, abs / scale, digits, abs % scale);
}

std::string Thousands(int64_t n) {
  std::string digits = absl::StrCat(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string Ratio(bool has, double value) { return has ? absl::StrFormat("%.4f", value) : "-"; }

std::string Time(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

}  // namespace saasmetrics::cli
