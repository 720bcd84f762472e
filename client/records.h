// Reading ingest items from files: CSV (a header naming the fields) or NDJSON (one
// proto3-JSON object per line), one record at a time, with errors that name the file,
// line and column. What `saasctl ingest` reads.
#pragma once

#include <cstdint>
#include <istream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "saasmetrics/v1/ingest.pb.h"

namespace saasmetrics::client {

enum class RecordKind {
  kSubscriptionEvents,
  kUsageEvents,
  kCustomers,
  kAcquisitionSpend,
  kSurveyResponses,
  kExchangeRates
};
enum class FileFormat { kCsv, kNdjson };

// "subscription-events", "usage-events", "customers", "spend", "survey-responses",
// "exchange-rates".
absl::StatusOr<RecordKind> ParseRecordKind(absl::string_view name);
// "csv" / "ndjson"; from a file name: *.csv, *.ndjson or *.jsonl.
absl::StatusOr<FileFormat> ParseFileFormat(absl::string_view name);
absl::StatusOr<FileFormat> FormatFromFileName(absl::string_view path);

// One CSV line split into cells (RFC 4180 quoting: "a,b" and "" inside quotes).
// INVALID_ARGUMENT for an unterminated quote, its 1-based column in `bad_column`.
absl::StatusOr<std::vector<std::string>> SplitCsvLine(absl::string_view line,
                                                      int* bad_column = nullptr);

// One CSV cell as SplitCsvLine reads it back: quoted (RFC 4180) when it holds a comma,
// quote or line break. The client's one CSV writer.
std::string CsvCell(absl::string_view cell);

// Records read but not yet parsed: each one's text and line. RecordReader::ReadChunk
// fills it in file order; ParseChunk turns it into items, on any thread.
struct RecordChunk {
  std::vector<std::string> texts;
  std::vector<int> lines;
  int64_t bytes_read = 0;  // the reader's position after the chunk
  void clear() {
    texts.clear();
    lines.clear();
  }
};

class RecordReader {
 public:
  // `path` "-" reads standard input. CSV headers name the proto fields
  // (docs: README "Ingesting files"): nested fields with a dot (discount.amount_off),
  // map entries as properties.KEY / attributes.KEY; enum values may be short
  // (active, month); timestamps RFC 3339 or YYYY-MM-DD (midnight UTC).
  static absl::StatusOr<std::unique_ptr<RecordReader>> Open(const std::string& path,
                                                            FileFormat format, RecordKind kind);
  // Reads `in` (named `name` in errors): text already in memory, or any stream.
  static std::unique_ptr<RecordReader> FromStream(std::unique_ptr<std::istream> in,
                                                  const std::string& name, FileFormat format,
                                                  RecordKind kind);
  ~RecordReader();

  // Appends the next record to `batch` (the repeated field of its kind); false at the end.
  // A bad record is INVALID_ARGUMENT "PATH:LINE:COLUMN: field F: what" and nothing is
  // appended.
  absl::StatusOr<bool> Next(v1::IngestBatch* batch);

  // The same in two steps, so that parsing can run on several threads while one reads:
  // ReadChunk reads the next `max` records' text (a CSV header is read and checked on the
  // way), false when none was left; ParseChunk appends the chunk's items to `batch`, or
  // fails on its first bad record (INVALID_ARGUMENT as above) having appended nothing of
  // it. ParseChunk is const and thread-safe once the header is read.
  absl::StatusOr<bool> ReadChunk(int max, RecordChunk* chunk);
  absl::Status ParseChunk(const RecordChunk& chunk, v1::IngestBatch* batch) const;

  int line() const { return line_; }  // the line of the last record read
  // The 1-based CSV column holding `field` (a top-level field name; for a map or nested
  // message its first column); 0 for NDJSON or a field the header lacks.
  int ColumnOf(absl::string_view field) const;
  int64_t bytes_read() const { return bytes_read_; }
  int64_t total_bytes() const { return total_bytes_; }  // 0 when unknown (stdin)
  const std::string& path() const { return path_; }

 private:
  struct Column;  // how a CSV column sets its field (planned from the header)

  RecordReader();
  absl::Status Error(int line, int column, absl::string_view what) const;
  // The header line: the columns and how each sets its field.
  absl::Status ReadHeader(const std::string& text, int line);
  absl::Status ParseCsv(absl::string_view text, int line, google::protobuf::Message* item) const;
  absl::Status ParseJson(const std::string& text, int line, google::protobuf::Message* item) const;

  std::string path_;
  FileFormat format_ = FileFormat::kCsv;
  RecordKind kind_ = RecordKind::kUsageEvents;
  std::unique_ptr<std::istream> owned_;
  std::istream* in_ = nullptr;
  std::vector<std::string> header_;
  std::vector<Column> columns_;
  int line_ = 0;
  int64_t bytes_read_ = 0;
  int64_t total_bytes_ = 0;
};

// The item of `kind` in `batch` (the repeated field), and the batch's item count.
int BatchSize(const v1::IngestBatch& batch);

}  // namespace saasmetrics::client
