#include "client/importers.h"

#include <fstream>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "client/records.h"

namespace saasmetrics::client {
namespace {

bool ParseDay(const std::string& text, absl::Time* out) {
  absl::CivilDay day;
  if (!absl::ParseCivilTime(text, &day) || text.size() != 10) return false;
  *out = absl::FromCivil(day, absl::UTCTimeZone());
  return true;
}

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  out->set_seconds(absl::ToUnixSeconds(t));
}

// A dataset's CSV read line by line (CRLF tolerated); Bad() names file, line and column.
class CsvLines {
 public:
  explicit CsvLines(const std::string& path) : path_(path), in_(path) {}
  absl::Status Opened() const {
    return in_ ? absl::OkStatus() : absl::NotFoundError(absl::StrCat(path_, ": cannot open"));
  }
  bool Next(std::string* line) {
    if (!std::getline(in_, *line)) return false;
    ++line_;
    if (!line->empty() && line->back() == '\r') line->pop_back();
    return true;
  }
  int line() const { return line_; }
  // The line's cells by the one CSV reader of the client (RFC 4180 quotes, as `saasctl
  // ingest` reads them).
  absl::StatusOr<std::vector<std::string>> Cells(const std::string& line) const {
    int column = 0;
    absl::StatusOr<std::vector<std::string>> cells = SplitCsvLine(line, &column);
    if (!cells.ok()) return Bad(absl::StrCat(column), cells.status().message());
    return cells;
  }
  absl::Status Bad(absl::string_view column, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ":", line_, ": column ", column, ": ", what));
  }

 private:
  std::string path_;
  std::ifstream in_;
  int line_ = 0;
};

// One customer's single-seat monthly subscription changing to `status` at `at`.
struct MonthlyPlan {
  std::string subscription_id, customer_id, plan_id, currency;
  int64_t amount = 0;  // minor units per month
};

void AddMonthlyEvent(const MonthlyPlan& plan, std::string event_id, absl::Time at,
                     v1::SubscriptionStatus status, Import* out) {
  v1::SubscriptionEvent& e = out->events.emplace_back();
  e.set_event_id(std::move(event_id));
  e.set_subscription_id(plan.subscription_id);
  e.set_customer_id(plan.customer_id);
  SetTime(at, e.mutable_effective_at());
  e.set_status(status);
  e.set_plan_id(plan.plan_id);
  e.set_quantity(1);
  e.set_unit_amount(plan.amount);
  e.set_currency(plan.currency);
  e.set_interval_unit(v1::INTERVAL_UNIT_MONTH);
  e.set_interval_count(1);
}

}  // namespace

bool ParseMinorUnits(const std::string& text, int64_t* out) {
  const std::vector<std::string> parts = absl::StrSplit(text, '.');
  if (parts.size() > 2 || parts[0].empty() || (parts.size() == 2 && parts[1].size() > 2)) {
    return false;
  }
  for (const auto& p : parts) {
    for (char c : p) {
      if (c < '0' || c > '9') return false;
    }
  }
  int64_t whole = 0, fraction = 0;
  if (!absl::SimpleAtoi(parts[0], &whole)) return false;
  if (parts.size() == 2 && !parts[1].empty()) {
    if (!absl::SimpleAtoi(parts[1], &fraction)) return false;
    if (parts[1].size() == 1) fraction *= 10;
  }
  *out = whole * 100 + fraction;
  return true;
}

absl::StatusOr<Import> ImportSubscriptionPeriods(const std::string& path,
                                                 const std::string& currency) {
  CsvLines csv(path);
  if (absl::Status opened = csv.Opened(); !opened.ok()) return opened;
  std::string line;
  Import out;
  std::map<std::string, absl::Time> first_start;
  while (csv.Next(&line)) {
    if (csv.line() == 1) {
      if (line != "subscription_id,customer_id,start_date,end_date,monthly_amount") {
        return csv.Bad("(header)",
                       "expected subscription_id,customer_id,start_date,end_date,monthly_amount");
      }
      continue;
    }
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    absl::StatusOr<std::vector<std::string>> cells = csv.Cells(line);
    if (!cells.ok()) return cells.status();
    const std::vector<std::string>& f = *cells;
    if (f.size() != 5) return csv.Bad("(row)", absl::StrCat("expected 5 fields, got ", f.size()));
    if (f[0].empty()) return csv.Bad("subscription_id", "empty");
    if (f[1].empty()) return csv.Bad("customer_id", "empty");
    absl::Time start, end;
    if (!ParseDay(f[2], &start))
      return csv.Bad("start_date", absl::StrCat("'", f[2], "' is not YYYY-MM-DD"));
    const bool ended = !f[3].empty();
    if (ended && !ParseDay(f[3], &end))
      return csv.Bad("end_date", absl::StrCat("'", f[3], "' is not YYYY-MM-DD"));
    if (ended && end <= start) return csv.Bad("end_date", "must be after start_date");
    int64_t amount = 0;
    if (!ParseMinorUnits(f[4], &amount)) {
      return csv.Bad("monthly_amount",
                     absl::StrCat("'", f[4], "' is not an amount like 50 or 49.99"));
    }
    const MonthlyPlan monthly{f[0], f[1], "monthly", currency, amount};
    const std::string prefix = absl::StrCat("subscription-periods-", f[0], "-");
    AddMonthlyEvent(monthly, prefix + "start", start, v1::SUBSCRIPTION_STATUS_ACTIVE, &out);
    if (ended)
      AddMonthlyEvent(monthly, prefix + "end", end, v1::SUBSCRIPTION_STATUS_CANCELED, &out);
    auto [it, added] = first_start.try_emplace(f[1], start);
    if (!added && start < it->second) it->second = start;
  }
  for (const auto& [customer, created] : first_start) {
    v1::Customer& c = out.customers.emplace_back();
    c.set_customer_id(customer);
    SetTime(created, c.mutable_created_at());
    SetTime(created, c.mutable_updated_at());
  }
  return out;
}

absl::StatusOr<Import> ImportTelco(const std::string& path, const std::string& currency,
                                   absl::CivilDay snapshot) {
  CsvLines csv(path);
  if (absl::Status opened = csv.Opened(); !opened.ok()) return opened;
  std::string line;
  const absl::CivilMonth month(snapshot);
  const absl::TimeZone utc = absl::UTCTimeZone();
  Import out;
  std::map<std::string, int> col;
  const char* const kNeeded[] = {"customerID",      "tenure",         "Contract", "PaymentMethod",
                                 "InternetService", "MonthlyCharges", "Churn"};
  std::set<std::string> seen;
  while (csv.Next(&line)) {
    absl::StatusOr<std::vector<std::string>> cells = csv.Cells(line);
    if (!cells.ok()) return cells.status();
    const std::vector<std::string>& f = *cells;
    if (csv.line() == 1) {
      for (size_t i = 0; i < f.size(); ++i) col[f[i]] = static_cast<int>(i);
      for (const char* name : kNeeded) {
        if (!col.count(name)) return csv.Bad("(header)", absl::StrCat("no column ", name));
      }
      continue;
    }
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    if (f.size() != col.size()) {
      return csv.Bad("(row)", absl::StrCat("expected ", col.size(), " fields, got ", f.size()));
    }
    auto cell = [&](const char* name) -> const std::string& { return f[col[name]]; };
    const std::string& id = cell("customerID");
    if (id.empty()) return csv.Bad("customerID", "empty");
    if (!seen.insert(id).second) return csv.Bad("customerID", absl::StrCat("'", id, "' repeats"));
    int tenure = 0;
    if (!absl::SimpleAtoi(cell("tenure"), &tenure) || tenure < 0 || tenure > 1200) {
      return csv.Bad("tenure", absl::StrCat("'", cell("tenure"), "' is not a number of months"));
    }
    int64_t amount = 0;
    if (!ParseMinorUnits(cell("MonthlyCharges"), &amount)) {
      return csv.Bad("MonthlyCharges",
                     absl::StrCat("'", cell("MonthlyCharges"), "' is not an amount like 29.85"));
    }
    const std::string& churn = cell("Churn");
    if (churn != "Yes" && churn != "No") {
      return csv.Bad("Churn", absl::StrCat("'", churn, "' is not Yes or No"));
    }
    const absl::Time start = absl::FromCivil(month - tenure, utc);
    std::string plan = absl::AsciiStrToLower(cell("Contract"));
    absl::StrReplaceAll({{" ", "-"}}, &plan);

    v1::Customer& c = out.customers.emplace_back();
    c.set_customer_id(id);
    SetTime(start, c.mutable_created_at());
    SetTime(start, c.mutable_updated_at());
    (*c.mutable_attributes())["contract"] = cell("Contract");
    (*c.mutable_attributes())["payment_method"] = cell("PaymentMethod");
    (*c.mutable_attributes())["internet_service"] = cell("InternetService");

    const MonthlyPlan monthly{absl::StrCat("telco-", id), id, plan, currency, amount};
    const std::string prefix = absl::StrCat("telco-", id, "-");
    AddMonthlyEvent(monthly, prefix + "start", start, v1::SUBSCRIPTION_STATUS_ACTIVE, &out);
    if (churn == "Yes") {
      AddMonthlyEvent(monthly, prefix + "cancel",
                      tenure == 0 ? absl::FromCivil(snapshot, utc) : absl::FromCivil(month, utc),
                      v1::SUBSCRIPTION_STATUS_CANCELED, &out);
    }
  }
  if (csv.line() == 0) return absl::InvalidArgumentError(absl::StrCat(path, ": empty file"));
  return out;
}

}  // namespace saasmetrics::client
