// The client's file readers (what `saasctl ingest` and the importers read): the input as a
// CSV and as an NDJSON file of each record kind, read to the end or the first error, and
// one line split as CSV. Properties: nothing crashes; the cells of a CSV line that splits,
// written again by the client's CSV writer (CsvCell), split back the same; every error names the
// file and a line at most the number of lines read.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "client/records.h"
#include "tests/fuzz/fuzz_support.h"

using namespace saasmetrics;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);

  const std::string first_line = input.substr(0, input.find('\n'));
  absl::StatusOr<std::vector<std::string>> cells = client::SplitCsvLine(first_line);
  if (cells.ok()) {
    std::vector<std::string> quoted;
    for (const std::string& c : *cells) quoted.push_back(client::CsvCell(c));
    absl::StatusOr<std::vector<std::string>> again =
        client::SplitCsvLine(absl::StrJoin(quoted, ","));
    FUZZ_CHECK(again.ok() && *again == *cells);
  }

  for (client::FileFormat format : {client::FileFormat::kCsv, client::FileFormat::kNdjson}) {
    for (client::RecordKind kind :
         {client::RecordKind::kSubscriptionEvents, client::RecordKind::kUsageEvents,
          client::RecordKind::kCustomers, client::RecordKind::kAcquisitionSpend}) {
      auto reader = client::RecordReader::FromStream(std::make_unique<std::istringstream>(input),
                                                     "fuzz.in", format, kind);
      v1::IngestBatch batch;
      int records = 0;
      while (true) {
        absl::StatusOr<bool> next = reader->Next(&batch);
        if (!next.ok()) {
          FUZZ_CHECK(absl::StartsWith(next.status().message(), "fuzz.in:"));
          break;
        }
        if (!*next) break;
        ++records;
      }
      FUZZ_CHECK(client::BatchSize(batch) == records);
    }
  }
  return 0;
}
