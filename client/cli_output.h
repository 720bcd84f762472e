// What saasctl's commands share: exit codes, error reporting and output as an aligned
// table, CSV or JSON.
#pragma once

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace saasmetrics::cli {

// Exit codes, documented in --help.
constexpr int kExitOk = 0;
constexpr int kExitError = 1;        // anything else
constexpr int kExitUsage = 2;        // bad command line
constexpr int kExitInvalid = 3;      // invalid input: a bad file or a rejected request
constexpr int kExitNotFound = 4;     // unknown tenant, resource or file
constexpr int kExitUnavailable = 5;  // server or its database unreachable
constexpr int kExitConflict = 6;     // already exists

int ExitCodeFor(const absl::Status& s);
// Prints "saasctl: CODE: message" to stderr; the exit code for it.
int Fail(const absl::Status& s);

enum class Output { kTable, kCsv, kJson };

std::string Json(const google::protobuf::Message& m);
// Rows (the first is the header) as columns aligned to their widest cell, or CSV.
void PrintRows(const std::vector<std::vector<std::string>>& rows, Output output);
// Prints `m` as JSON when asked; true if it did.
bool PrintJson(const google::protobuf::Message& m, Output output);

// ISO 4217 minor-unit digits: 2 for most, 0 for JPY, KRW, …, 3 for BHD, KWD, ….
int MinorDigits(
    const std::string& currency);  // ISO 4217 exponent (engine::CurrencyExponent), 2 if unknown
// Minor units as a decimal amount in the currency's digits ("-1234.50", "1234" for JPY).
std::string Money(int64_t minor, int digits = 2);
// "1234567" → "1,234,567".
std::string Thousands(int64_t n);
// A ratio with four decimals, or "-" when absent.
std::string Ratio(bool has, double value);
// An instant as RFC 3339 in UTC, to the second ("2024-01-31T12:00:00Z").
std::string Time(const google::protobuf::Timestamp& t);

}  // namespace saasmetrics::cli
