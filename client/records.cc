#include "client/records.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace saasmetrics::client {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

const Message& Prototype(RecordKind kind) {
  switch (kind) {
    case RecordKind::kSubscriptionEvents:
      return v1::SubscriptionEvent::default_instance();
    case RecordKind::kUsageEvents:
      return v1::UsageEvent::default_instance();
    case RecordKind::kCustomers:
      return v1::Customer::default_instance();
    case RecordKind::kAcquisitionSpend:
      return v1::AcquisitionSpend::default_instance();
  }
  return v1::UsageEvent::default_instance();
}

Message* AddItem(v1::IngestBatch* b, RecordKind kind) {
  switch (kind) {
    case RecordKind::kSubscriptionEvents:
      return b->mutable_subscription_events()->add_events();
    case RecordKind::kUsageEvents:
      return b->mutable_usage_events()->add_events();
    case RecordKind::kCustomers:
      return b->mutable_customers()->add_customers();
    case RecordKind::kAcquisitionSpend:
      return b->mutable_acquisition_spend()->add_spend();
  }
  return nullptr;
}

absl::string_view KindName(RecordKind kind) {
  switch (kind) {
    case RecordKind::kSubscriptionEvents:
      return "subscription-events";
    case RecordKind::kUsageEvents:
      return "usage-events";
    case RecordKind::kCustomers:
      return "customers";
    case RecordKind::kAcquisitionSpend:
      return "spend";
  }
  return "";
}

// Well-known message types that are single values in JSON.
bool IsJsonScalarMessage(const Descriptor* d) {
  return absl::StartsWith(d->full_name(), "google.protobuf.") &&
         d->full_name() != "google.protobuf.Struct";
}

// The CSV columns `kind` accepts, for messages: "event_id", "discount.amount_off",
// "properties.*".
std::vector<std::string> Columns(RecordKind kind) {
  std::vector<std::string> out;
  const Descriptor* d = Prototype(kind).GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->is_map()) {
      out.push_back(absl::StrCat(f->name(), ".KEY"));
    } else if (f->message_type() != nullptr && !IsJsonScalarMessage(f->message_type())) {
      for (int j = 0; j < f->message_type()->field_count(); ++j) {
        out.push_back(absl::StrCat(f->name(), ".", f->message_type()->field(j)->name()));
      }
    } else {
      out.push_back(f->name());
    }
  }
  return out;
}

// Whether `column` names a field of the record, and which.
const FieldDescriptor* ColumnField(const Descriptor* d, absl::string_view column,
                                   std::string* sub) {
  std::pair<std::string, std::string> parts = absl::StrSplit(column, absl::MaxSplits('.', 1));
  const FieldDescriptor* f = d->FindFieldByName(parts.first);
  if (f == nullptr) return nullptr;
  *sub = parts.second;
  const bool dotted = absl::StrContains(column, '.');
  if (f->is_map()) return dotted && !sub->empty() ? f : nullptr;
  if (f->message_type() != nullptr && !IsJsonScalarMessage(f->message_type())) {
    return dotted && f->message_type()->FindFieldByName(*sub) != nullptr ? f : nullptr;
  }
  return dotted ? nullptr : f;
}

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppend(&out, "\\u00",
                          absl::string_view("0123456789abcdef").substr((c >> 4) & 0xf, 1),
                          absl::string_view("0123456789abcdef").substr(c & 0xf, 1));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// A CSV cell as the JSON value of `field`: short enum names get their prefix
// (active → SUBSCRIPTION_STATUS_ACTIVE), a bare date becomes midnight UTC.
std::string CellValue(const FieldDescriptor* field, const std::string& sub,
                      const std::string& cell) {
  const FieldDescriptor* leaf = field;
  if (!field->is_map() && field->message_type() != nullptr &&
      !IsJsonScalarMessage(field->message_type())) {
    leaf = field->message_type()->FindFieldByName(sub);
  }
  if (!field->is_map() && leaf->enum_type() != nullptr &&
      leaf->enum_type()->FindValueByName(cell) == nullptr) {
    std::string prefix = leaf->enum_type()->value(0)->name();
    prefix = prefix.substr(0, prefix.rfind('_') + 1);
    return JsonString(absl::StrCat(prefix, absl::AsciiStrToUpper(cell)));
  }
  if (!field->is_map() && leaf->message_type() != nullptr &&
      leaf->message_type()->full_name() == "google.protobuf.Timestamp" && cell.size() == 10 &&
      cell[4] == '-' && cell[7] == '-') {
    return JsonString(absl::StrCat(cell, "T00:00:00Z"));
  }
  return JsonString(cell);
}

// What a cell of `field` must look like, for an error message; `fallback` (the
// parser's words) for types without a simpler description.
std::string Expected(const FieldDescriptor* field, const std::string& sub,
                     const std::string& fallback) {
  const FieldDescriptor* leaf = field;
  if (!field->is_map() && field->message_type() != nullptr &&
      !IsJsonScalarMessage(field->message_type())) {
    leaf = field->message_type()->FindFieldByName(sub);
  }
  if (field->is_map()) return absl::StrCat("valid: ", fallback);
  if (leaf->enum_type() != nullptr) {
    std::vector<std::string> names;
    const std::string first = leaf->enum_type()->value(0)->name();
    const size_t prefix = first.rfind('_') + 1;
    for (int i = 1; i < leaf->enum_type()->value_count(); ++i) {
      names.push_back(absl::AsciiStrToLower(leaf->enum_type()->value(i)->name().substr(prefix)));
    }
    return absl::StrCat("one of ", absl::StrJoin(names, ", "));
  }
  if (leaf->message_type() != nullptr) {
    const std::string& type = leaf->message_type()->full_name();
    if (type == "google.protobuf.Timestamp") {
      return "a time: RFC 3339 (2024-01-31T12:00:00Z) or a date (2024-01-31)";
    }
    if (type == "google.protobuf.DoubleValue") return "a number";
  }
  switch (leaf->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return "a whole number";
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return "a number";
    default:
      return absl::StrCat("valid: ", fallback);
  }
}

// "PROBLEM\n{...}\n     ^" from protobuf's JSON parser: the problem line, and the caret's
// 1-based column (0 if none).
std::pair<std::string, int> ParserMessage(absl::string_view message) {
  std::vector<absl::string_view> lines = absl::StrSplit(message, '\n');
  int column = 0;
  if (lines.size() >= 3) {
    size_t caret = lines.back().find('^');
    if (caret != absl::string_view::npos) column = static_cast<int>(caret) + 1;
  }
  return {std::string(lines[0]), column};
}

}  // namespace

absl::StatusOr<RecordKind> ParseRecordKind(absl::string_view name) {
  for (RecordKind k : {RecordKind::kSubscriptionEvents, RecordKind::kUsageEvents,
                       RecordKind::kCustomers, RecordKind::kAcquisitionSpend}) {
    if (name == KindName(k)) return k;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "'", name, "' is not a kind: subscription-events, usage-events, customers or spend"));
}

absl::StatusOr<FileFormat> ParseFileFormat(absl::string_view name) {
  if (name == "csv") return FileFormat::kCsv;
  if (name == "ndjson" || name == "jsonl") return FileFormat::kNdjson;
  return absl::InvalidArgumentError(absl::StrCat("'", name, "' is not a format: csv or ndjson"));
}

absl::StatusOr<FileFormat> FormatFromFileName(absl::string_view path) {
  if (absl::EndsWith(path, ".csv")) return FileFormat::kCsv;
  if (absl::EndsWith(path, ".ndjson") || absl::EndsWith(path, ".jsonl")) {
    return FileFormat::kNdjson;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": cannot tell the format from the name; pass --format=csv|ndjson"));
}

absl::StatusOr<std::vector<std::string>> SplitCsvLine(absl::string_view line, int* bad_column) {
  std::vector<std::string> cells(1);
  bool quoted = false;
  int column = 1;
  size_t quote_start = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cells.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cells.back() += c;
      }
    } else if (c == ',') {
      cells.emplace_back();
      ++column;
    } else if (c == '"' && cells.back().empty()) {
      quoted = true;
      quote_start = i;
    } else {
      cells.back() += c;
    }
  }
  if (quoted) {
    if (bad_column != nullptr) *bad_column = column;
    return absl::InvalidArgumentError(absl::StrCat("the quote at character ", quote_start + 1,
                                                   " is not closed (a cell may not span lines)"));
  }
  return cells;
}

absl::StatusOr<std::unique_ptr<RecordReader>> RecordReader::Open(const std::string& path,
                                                                 FileFormat format,
                                                                 RecordKind kind) {
  std::unique_ptr<RecordReader> r(new RecordReader());
  r->path_ = path == "-" ? "(stdin)" : path;
  r->format_ = format;
  r->kind_ = kind;
  if (path == "-") {
    r->in_ = &std::cin;
  } else {
    auto file = std::make_unique<std::ifstream>(path, std::ios::binary);
    if (!*file) {
      return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
    }
    std::error_code ec;
    r->total_bytes_ = static_cast<int64_t>(std::filesystem::file_size(path, ec));
    if (ec) r->total_bytes_ = 0;
    r->owned_ = std::move(file);
    r->in_ = r->owned_.get();
  }
  return r;
}

std::unique_ptr<RecordReader> RecordReader::FromStream(std::unique_ptr<std::istream> in,
                                                       const std::string& name, FileFormat format,
                                                       RecordKind kind) {
  std::unique_ptr<RecordReader> r(new RecordReader());
  r->path_ = name;
  r->format_ = format;
  r->kind_ = kind;
  r->owned_ = std::move(in);
  r->in_ = r->owned_.get();
  return r;
}

std::string CsvCell(absl::string_view cell) {
  if (cell.find_first_of(",\"\n\r") == absl::string_view::npos) return std::string(cell);
  std::string out = "\"";
  for (char c : cell) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

RecordReader::~RecordReader() = default;

int RecordReader::ColumnOf(absl::string_view field) const {
  for (size_t i = 0; i < header_.size(); ++i) {
    if (header_[i] == field || absl::StartsWith(header_[i], absl::StrCat(field, "."))) {
      return static_cast<int>(i) + 1;
    }
  }
  return 0;
}

absl::Status RecordReader::Error(int column, absl::string_view what) const {
  return absl::InvalidArgumentError(absl::StrCat(path_, ":", line_, ":", column, ": ", what));
}

absl::StatusOr<bool> RecordReader::Next(v1::IngestBatch* batch) {
  std::string text;
  while (std::getline(*in_, text)) {
    ++line_;
    bytes_read_ += static_cast<int64_t>(text.size()) + 1;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (line_ == 1 && absl::StartsWith(text, "\xEF\xBB\xBF")) text.erase(0, 3);  // UTF-8 BOM
    if (absl::StripAsciiWhitespace(text).empty()) continue;
    std::unique_ptr<Message> item(Prototype(kind_).New());
    absl::StatusOr<bool> got =
        format_ == FileFormat::kCsv ? NextCsv(text, item.get()) : NextJson(text, item.get());
    if (!got.ok()) return got.status();
    if (!*got) continue;  // the header
    AddItem(batch, kind_)->CopyFrom(*item);
    return true;
  }
  if (in_->bad()) return absl::DataLossError(absl::StrCat(path_, ": read failed"));
  if (format_ == FileFormat::kCsv && header_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": empty file: no CSV header"));
  }
  return false;
}

absl::StatusOr<bool> RecordReader::NextCsv(const std::string& text, Message* item) {
  int bad_column = 0;
  absl::StatusOr<std::vector<std::string>> cells = SplitCsvLine(text, &bad_column);
  if (!cells.ok()) return Error(bad_column, cells.status().message());
  const Descriptor* d = item->GetDescriptor();
  if (header_.empty()) {  // the header line names the columns
    std::set<std::string> seen;
    for (size_t i = 0; i < cells->size(); ++i) {
      const std::string name(absl::StripAsciiWhitespace((*cells)[i]));
      std::string sub;
      if (ColumnField(d, name, &sub) == nullptr) {
        return Error(static_cast<int>(i) + 1,
                     absl::StrCat("unknown column '", name, "' for ", KindName(kind_),
                                  "; columns: ", absl::StrJoin(Columns(kind_), ", ")));
      }
      if (!seen.insert(name).second) {
        return Error(static_cast<int>(i) + 1, absl::StrCat("column '", name, "' repeats"));
      }
      header_.push_back(name);
    }
    return false;
  }
  if (cells->size() != header_.size()) {
    return Error(
        static_cast<int>(std::min(cells->size(), header_.size())) + 1,
        absl::StrCat("expected ", header_.size(), " cells as in the header, got ", cells->size()));
  }
  // Cells → one proto3-JSON object; nested and map columns grouped under their field.
  auto to_json = [&](const std::vector<size_t>& columns) {
    std::map<std::string, std::vector<std::string>> nested;
    std::vector<std::string> members;
    for (size_t i : columns) {
      const std::string& cell = (*cells)[i];
      if (cell.empty()) continue;
      std::string sub;
      const FieldDescriptor* f = ColumnField(d, header_[i], &sub);
      const std::string value = CellValue(f, sub, cell);
      if (sub.empty()) {
        members.push_back(absl::StrCat(JsonString(f->name()), ":", value));
      } else {
        nested[f->name()].push_back(absl::StrCat(JsonString(sub), ":", value));
      }
    }
    for (const auto& [name, inner] : nested) {
      members.push_back(absl::StrCat(JsonString(name), ":{", absl::StrJoin(inner, ","), "}"));
    }
    return absl::StrCat("{", absl::StrJoin(members, ","), "}");
  };
  std::vector<size_t> all(header_.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  if (google::protobuf::util::JsonStringToMessage(to_json(all), item).ok()) return true;
  // Find the cell at fault: the first that does not parse on its own.
  for (size_t i : all) {
    if ((*cells)[i].empty()) continue;
    std::unique_ptr<Message> scratch(item->New());
    auto status = google::protobuf::util::JsonStringToMessage(to_json({i}), scratch.get());
    if (!status.ok()) {
      std::string sub;
      const FieldDescriptor* f = ColumnField(d, header_[i], &sub);
      return Error(
          static_cast<int>(i) + 1,
          absl::StrCat("column ", header_[i], ": '", (*cells)[i], "' is not ",
                       Expected(f, sub, ParserMessage(status.message().ToString()).first)));
    }
  }
  return Error(1, "the row does not form a valid record");
}

absl::StatusOr<bool> RecordReader::NextJson(const std::string& text, Message* item) {
  auto status = google::protobuf::util::JsonStringToMessage(text, item);
  if (status.ok()) return true;
  google::protobuf::Struct object;
  auto syntax = google::protobuf::util::JsonStringToMessage(text, &object);
  if (!syntax.ok()) {
    auto [what, column] = ParserMessage(syntax.message().ToString());
    return Error(std::max(column, 1), absl::StrCat("not a JSON object: ", what));
  }
  // Find the member at fault: the first in the line that does not parse on its own.
  int best_column = 0;
  std::string best;
  for (const auto& [key, value] : object.fields()) {
    google::protobuf::Struct one;
    (*one.mutable_fields())[key] = value;
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(one, &json);
    std::unique_ptr<Message> scratch(item->New());
    auto member = google::protobuf::util::JsonStringToMessage(json, scratch.get());
    if (member.ok()) continue;
    const size_t at = text.find(JsonString(key));
    const int column = at == std::string::npos ? 1 : static_cast<int>(at) + 1;
    if (best_column == 0 || column < best_column) {
      best_column = column;
      const bool unknown = item->GetDescriptor()->FindFieldByName(key) == nullptr &&
                           item->GetDescriptor()->FindFieldByLowercaseName(key) == nullptr &&
                           item->GetDescriptor()->FindFieldByCamelcaseName(key) == nullptr;
      best = unknown ? absl::StrCat("field ", key, ": unknown for ", KindName(kind_),
                                    "; fields: ", absl::StrJoin(Columns(kind_), ", "))
                     : absl::StrCat("field ", key, ": ",
                                    ParserMessage(member.message().ToString()).first);
    }
  }
  if (best_column == 0) return Error(1, ParserMessage(status.message().ToString()).first);
  return Error(best_column, best);
}

int BatchSize(const v1::IngestBatch& batch) {
  switch (batch.items_case()) {
    case v1::IngestBatch::kSubscriptionEvents:
      return batch.subscription_events().events_size();
    case v1::IngestBatch::kUsageEvents:
      return batch.usage_events().events_size();
    case v1::IngestBatch::kCustomers:
      return batch.customers().customers_size();
    case v1::IngestBatch::kAcquisitionSpend:
      return batch.acquisition_spend().spend_size();
    default:
      return 0;
  }
}

}  // namespace saasmetrics::client
