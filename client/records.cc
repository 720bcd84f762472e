#include "client/records.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
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
    case RecordKind::kSurveyResponses:
      return v1::SurveyResponse::default_instance();
    case RecordKind::kExchangeRates:
      return v1::ExchangeRate::default_instance();
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
    case RecordKind::kSurveyResponses:
      return b->mutable_survey_responses()->add_responses();
    case RecordKind::kExchangeRates:
      return b->mutable_exchange_rates()->add_rates();
  }
  return nullptr;
}

// Keeps the first `n` items of `b`.
void TruncateItems(v1::IngestBatch* b, RecordKind kind, int n) {
  auto cut = [n](auto* list) { list->DeleteSubrange(n, list->size() - n); };
  switch (kind) {
    case RecordKind::kSubscriptionEvents:
      return cut(b->mutable_subscription_events()->mutable_events());
    case RecordKind::kUsageEvents:
      return cut(b->mutable_usage_events()->mutable_events());
    case RecordKind::kCustomers:
      return cut(b->mutable_customers()->mutable_customers());
    case RecordKind::kAcquisitionSpend:
      return cut(b->mutable_acquisition_spend()->mutable_spend());
    case RecordKind::kSurveyResponses:
      return cut(b->mutable_survey_responses()->mutable_responses());
    case RecordKind::kExchangeRates:
      return cut(b->mutable_exchange_rates()->mutable_rates());
  }
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
    case RecordKind::kSurveyResponses:
      return "survey-responses";
    case RecordKind::kExchangeRates:
      return "exchange-rates";
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

// The scalar a column sets: the field itself, its nested message's field `sub`
// (discount.amount_off), or a map's value (properties.KEY).
const FieldDescriptor* Leaf(const FieldDescriptor* field, const std::string& sub) {
  if (field->is_map()) return field->message_type()->map_value();
  if (field->message_type() != nullptr && !IsJsonScalarMessage(field->message_type())) {
    return field->message_type()->FindFieldByName(sub);
  }
  return field;
}

// What a cell of `field` must look like, for an error message.
std::string Expected(const FieldDescriptor* field, const std::string& sub) {
  const FieldDescriptor* leaf = Leaf(field, sub);
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
    leaf = leaf->message_type()->FindFieldByName("value");  // a wrapper
    if (leaf == nullptr) return absl::StrCat("a ", type);
  }
  switch (leaf->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return "a whole number in range";
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return "a number";
    case FieldDescriptor::CPPTYPE_BOOL:
      return "true or false";
    default:
      return "valid UTF-8 text";
  }
}

bool ValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + static_cast<size_t>(n) >= s.size()) return false;  // cut short
    for (int k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and beyond U+10FFFF are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// An optional '-' and digits, in range.
template <typename Int>
bool ParseWhole(absl::string_view cell, Int* out) {
  absl::string_view digits = cell;
  if (!digits.empty() && digits[0] == '-') digits.remove_prefix(1);
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit)) {
    return false;
  }
  return absl::SimpleAtoi(cell, out);
}

// RFC 3339, or a bare date as midnight UTC; within google.protobuf.Timestamp's range.
bool ParseTimestamp(absl::string_view cell, int64_t* seconds, int32_t* nanos) {
  absl::Time t;
  std::string error;
  const bool parsed = cell.size() == 10
                          ? absl::ParseTime("%Y-%m-%d", cell, absl::UTCTimeZone(), &t, &error)
                          : absl::ParseTime(absl::RFC3339_full, cell, &t, &error);
  if (!parsed) return false;
  *seconds = absl::ToUnixSeconds(t);
  if (*seconds < -62135596800 || *seconds > 253402300799) return false;  // years 1 to 9999
  *nanos = static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(*seconds)));
  return true;
}

// Sets field `f` of `m` from a CSV cell; false when the cell is not a value of its type.
bool SetScalar(Message* m, const FieldDescriptor* f, absl::string_view cell) {
  const google::protobuf::Reflection* r = m->GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      if (!ValidUtf8(cell)) return false;
      r->SetString(m, f, std::string(cell));
      return true;
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v;
      if (!ParseWhole(cell, &v)) return false;
      r->SetInt64(m, f, v);
      return true;
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!ParseWhole(cell, &v)) return false;
      r->SetInt32(m, f, v);
      return true;
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v;
      if (!ParseWhole(cell, &v) || cell[0] == '-') return false;
      r->SetUInt64(m, f, v);
      return true;
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v;
      if (!ParseWhole(cell, &v) || cell[0] == '-') return false;
      r->SetUInt32(m, f, v);
      return true;
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      // Decimal notation only (strtod would also take hex, "inf" and spaces).
      double v;
      if (!std::all_of(
              cell.begin(), cell.end(),
              [](char c) { return absl::ascii_isdigit(c) || absl::StrContains("+-.eE", c); }) ||
          !absl::SimpleAtod(cell, &v) || !std::isfinite(v)) {
        return false;
      }
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
        r->SetDouble(m, f, v);
      } else {
        r->SetFloat(m, f, static_cast<float>(v));
      }
      return true;
    }
    case FieldDescriptor::CPPTYPE_BOOL:
      if (cell != "true" && cell != "false") return false;
      r->SetBool(m, f, cell == "true");
      return true;
    case FieldDescriptor::CPPTYPE_ENUM: {
      // The full name (SUBSCRIPTION_STATUS_ACTIVE) or the short one, any case (active).
      const google::protobuf::EnumDescriptor* e = f->enum_type();
      const google::protobuf::EnumValueDescriptor* v = e->FindValueByName(std::string(cell));
      if (v == nullptr) {
        const std::string& first = e->value(0)->name();
        v = e->FindValueByName(
            absl::StrCat(first.substr(0, first.rfind('_') + 1), absl::AsciiStrToUpper(cell)));
      }
      if (v == nullptr) return false;
      r->SetEnum(m, f, v);
      return true;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const Descriptor* d = f->message_type();
      if (d->full_name() == "google.protobuf.Timestamp") {
        int64_t seconds;
        int32_t nanos;
        if (!ParseTimestamp(cell, &seconds, &nanos)) return false;
        Message* t = r->MutableMessage(m, f);
        t->GetReflection()->SetInt64(t, d->FindFieldByName("seconds"), seconds);
        t->GetReflection()->SetInt32(t, d->FindFieldByName("nanos"), nanos);
        return true;
      }
      const FieldDescriptor* value = d->FindFieldByName("value");  // a wrapper type
      if (!IsJsonScalarMessage(d) || value == nullptr) return false;
      return SetScalar(r->MutableMessage(m, f), value, cell);
    }
  }
  return false;
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
  for (RecordKind k :
       {RecordKind::kSubscriptionEvents, RecordKind::kUsageEvents, RecordKind::kCustomers,
        RecordKind::kAcquisitionSpend, RecordKind::kSurveyResponses, RecordKind::kExchangeRates}) {
    if (name == KindName(k)) return k;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'", name,
                   "' is not a kind: subscription-events, usage-events, customers, spend, "
                   "survey-responses or exchange-rates"));
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

// How a CSV column sets its field, planned once from the header: the field, the scalar
// it sets (itself, a nested message's field, or a map's value) and, for a map, the key.
struct RecordReader::Column {
  std::string name;
  const FieldDescriptor* field = nullptr;
  const FieldDescriptor* leaf = nullptr;
  std::string sub;  // after the dot: the nested field's name or the map key
};

RecordReader::RecordReader() = default;
RecordReader::~RecordReader() = default;

int RecordReader::ColumnOf(absl::string_view field) const {
  for (size_t i = 0; i < header_.size(); ++i) {
    if (header_[i] == field || absl::StartsWith(header_[i], absl::StrCat(field, "."))) {
      return static_cast<int>(i) + 1;
    }
  }
  return 0;
}

absl::Status RecordReader::Error(int line, int column, absl::string_view what) const {
  return absl::InvalidArgumentError(absl::StrCat(path_, ":", line, ":", column, ": ", what));
}

absl::StatusOr<bool> RecordReader::ReadChunk(int max, RecordChunk* chunk) {
  chunk->clear();
  std::string text;
  while (static_cast<int>(chunk->texts.size()) < max && std::getline(*in_, text)) {
    ++line_;
    bytes_read_ += static_cast<int64_t>(text.size()) + 1;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (line_ == 1 && absl::StartsWith(text, "\xEF\xBB\xBF")) text.erase(0, 3);  // UTF-8 BOM
    if (absl::StripAsciiWhitespace(text).empty()) continue;
    if (format_ == FileFormat::kCsv && header_.empty()) {
      if (absl::Status s = ReadHeader(text, line_); !s.ok()) return s;
      continue;
    }
    chunk->texts.push_back(std::move(text));
    chunk->lines.push_back(line_);
  }
  chunk->bytes_read = bytes_read_;
  if (in_->bad()) return absl::DataLossError(absl::StrCat(path_, ": read failed"));
  if (chunk->texts.empty() && format_ == FileFormat::kCsv && header_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": empty file: no CSV header"));
  }
  return !chunk->texts.empty();
}

absl::Status RecordReader::ParseChunk(const RecordChunk& chunk, v1::IngestBatch* batch) const {
  const int before = BatchSize(*batch);
  for (size_t i = 0; i < chunk.texts.size(); ++i) {
    Message* item = AddItem(batch, kind_);
    absl::Status s = format_ == FileFormat::kCsv ? ParseCsv(chunk.texts[i], chunk.lines[i], item)
                                                 : ParseJson(chunk.texts[i], chunk.lines[i], item);
    if (!s.ok()) {
      TruncateItems(batch, kind_, before);  // nothing of the chunk stays
      return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> RecordReader::Next(v1::IngestBatch* batch) {
  RecordChunk chunk;
  absl::StatusOr<bool> more = ReadChunk(1, &chunk);
  if (!more.ok() || !*more) return more;
  if (absl::Status s = ParseChunk(chunk, batch); !s.ok()) return s;
  return true;
}

absl::Status RecordReader::ReadHeader(const std::string& text, int line) {
  int bad_column = 0;
  absl::StatusOr<std::vector<std::string>> cells = SplitCsvLine(text, &bad_column);
  if (!cells.ok()) return Error(line, bad_column, cells.status().message());
  const Descriptor* d = Prototype(kind_).GetDescriptor();
  std::set<std::string> seen;
  for (size_t i = 0; i < cells->size(); ++i) {
    Column c;
    c.name = std::string(absl::StripAsciiWhitespace((*cells)[i]));
    c.field = ColumnField(d, c.name, &c.sub);
    if (c.field == nullptr) {
      return Error(line, static_cast<int>(i) + 1,
                   absl::StrCat("unknown column '", c.name, "' for ", KindName(kind_),
                                "; columns: ", absl::StrJoin(Columns(kind_), ", ")));
    }
    if (!seen.insert(c.name).second) {
      return Error(line, static_cast<int>(i) + 1, absl::StrCat("column '", c.name, "' repeats"));
    }
    c.leaf = Leaf(c.field, c.sub);
    header_.push_back(c.name);
    columns_.push_back(std::move(c));
  }
  return absl::OkStatus();
}

// Each non-empty cell straight into its field (no JSON in between).
absl::Status RecordReader::ParseCsv(absl::string_view text, int line, Message* item) const {
  // Most lines quote nothing: their cells are views of the line, no copies.
  std::vector<absl::string_view> cells;
  std::vector<std::string> unquoted;
  if (text.find('"') == absl::string_view::npos) {
    cells = absl::StrSplit(text, ',');
  } else {
    int bad_column = 0;
    absl::StatusOr<std::vector<std::string>> split = SplitCsvLine(text, &bad_column);
    if (!split.ok()) return Error(line, bad_column, split.status().message());
    unquoted = std::move(*split);
    cells.assign(unquoted.begin(), unquoted.end());
  }
  if (cells.size() != columns_.size()) {
    return Error(
        line, static_cast<int>(std::min(cells.size(), columns_.size())) + 1,
        absl::StrCat("expected ", columns_.size(), " cells as in the header, got ", cells.size()));
  }
  const google::protobuf::Reflection* r = item->GetReflection();
  for (size_t i = 0; i < columns_.size(); ++i) {
    const absl::string_view cell = cells[i];
    if (cell.empty()) continue;
    const Column& c = columns_[i];
    bool ok;
    if (c.field->is_map()) {
      Message* entry = r->AddMessage(item, c.field);
      const Descriptor* e = entry->GetDescriptor();
      entry->GetReflection()->SetString(entry, e->map_key(), c.sub);
      ok = SetScalar(entry, e->map_value(), cell);
    } else if (c.leaf != c.field) {  // a nested message's field
      Message* nested = r->MutableMessage(item, c.field);
      if (const google::protobuf::OneofDescriptor* oneof = c.leaf->containing_oneof();
          oneof != nullptr && nested->GetReflection()->HasOneof(*nested, oneof)) {
        const FieldDescriptor* set =
            nested->GetReflection()->GetOneofFieldDescriptor(*nested, oneof);
        return Error(line, static_cast<int>(i) + 1,
                     absl::StrCat("column ", c.name, ": only one of the ", c.field->name(), ".",
                                  oneof->name(), " fields may be set, and ", c.field->name(), ".",
                                  set->name(), " is"));
      }
      ok = SetScalar(nested, c.leaf, cell);
    } else {
      ok = SetScalar(item, c.field, cell);
    }
    if (!ok) {
      return Error(
          line, static_cast<int>(i) + 1,
          absl::StrCat("column ", c.name, ": '", cell, "' is not ", Expected(c.field, c.sub)));
    }
  }
  return absl::OkStatus();
}

absl::Status RecordReader::ParseJson(const std::string& text, int line, Message* item) const {
  auto status = google::protobuf::util::JsonStringToMessage(text, item);
  if (status.ok()) return absl::OkStatus();
  google::protobuf::Struct object;
  auto syntax = google::protobuf::util::JsonStringToMessage(text, &object);
  if (!syntax.ok()) {
    auto [what, column] = ParserMessage(syntax.message().ToString());
    return Error(line, std::max(column, 1), absl::StrCat("not a JSON object: ", what));
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
  if (best_column == 0) return Error(line, 1, ParserMessage(status.message().ToString()).first);
  return Error(line, best_column, best);
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
    case v1::IngestBatch::kSurveyResponses:
      return batch.survey_responses().responses_size();
    case v1::IngestBatch::kExchangeRates:
      return batch.exchange_rates().rates_size();
    default:
      return 0;
  }
}

}  // namespace saasmetrics::client
