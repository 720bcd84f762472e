// saasctl: the command-line client of saasmetrics.
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/importers.h"

namespace {

using saasmetrics::client::Client;
using saasmetrics::client::ClientOptions;
namespace v1 = saasmetrics::v1;

// Exit codes, documented in --help.
constexpr int kExitOk = 0;
constexpr int kExitError = 1;        // anything else
constexpr int kExitUsage = 2;        // bad command line
constexpr int kExitInvalid = 3;      // the server rejected the input
constexpr int kExitNotFound = 4;     // unknown tenant or resource
constexpr int kExitUnavailable = 5;  // server or its database unreachable
constexpr int kExitConflict = 6;     // already exists

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

std::string Time(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

// Prints rows as columns aligned to their widest cell.
void PrintTable(const std::vector<std::vector<std::string>>& rows) {
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

void PrintTenants(const std::vector<const v1::Tenant*>& tenants) {
  std::vector<std::vector<std::string>> rows = {
      {"TENANT", "NAME", "CURRENCY", "TIMEZONE", "GROSS_MARGIN", "CREATED"}};
  for (const v1::Tenant* t : tenants) {
    rows.push_back({t->tenant_id(), t->display_name(), t->currency(), t->timezone(),
                    absl::StrCat(t->gross_margin().value()), Time(t->create_time())});
  }
  PrintTable(rows);
}

// Minor units as a decimal amount ("-1234.50").
std::string Money(int64_t minor) {
  const char* sign = minor < 0 ? "-" : "";
  const uint64_t abs = minor < 0 ? -static_cast<uint64_t>(minor) : static_cast<uint64_t>(minor);
  return absl::StrFormat("%s%d.%02d", sign, abs / 100, abs % 100);
}

std::string Rate(bool has, double value) { return has ? absl::StrFormat("%.4f", value) : "-"; }

// Prints rows as an aligned table, or CSV.
void PrintRows(const std::vector<std::vector<std::string>>& rows, bool csv) {
  if (!csv) {
    PrintTable(rows);
    return;
  }
  for (const auto& row : rows) std::cout << absl::StrJoin(row, ",") << "\n";
}

struct MetricsFlags {
  std::string tenant, from, to, interval = "month";
  std::vector<std::string> filters;
};

v1::MetricsQuery ToQuery(const MetricsFlags& f) {
  v1::MetricsQuery q;
  q.set_tenant_id(f.tenant);
  q.set_start_date(f.from);
  q.set_end_date(f.to);
  v1::Interval interval = v1::INTERVAL_UNSPECIFIED;
  v1::Interval_Parse("INTERVAL_" + absl::AsciiStrToUpper(f.interval), &interval);
  q.set_interval(interval);
  for (const auto& filter : f.filters) q.add_filter(filter);
  return q;
}

void AddMetricsFlags(CLI::App* cmd, MetricsFlags* f, bool interval) {
  cmd->add_option("--tenant", f->tenant, "Tenant id")->required()->envname("SAASMETRICS_TENANT");
  cmd->add_option("--from", f->from, "First day, YYYY-MM-DD")->required();
  cmd->add_option("--to", f->to, "Last day, YYYY-MM-DD")->required();
  if (interval) {
    cmd->add_option("--interval", f->interval, "day, week, month, quarter or year")
        ->check(CLI::IsMember({"day", "week", "month", "quarter", "year"}))
        ->capture_default_str();
  }
  cmd->add_option("--filter", f->filters,
                  "field=value[,value...]; field: acquisition_channel, country, plan, "
                  "attributes.<key> (repeatable)");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "saasctl: command-line client of the saasmetrics service.\n"
      "Exit codes: 0 ok, 1 error, 2 usage, 3 invalid input, 4 not found, 5 server "
      "unavailable, 6 already exists."};
  app.require_subcommand(1);
  ClientOptions options;
  std::string timeout = "10s";
  std::string output = "table";
  app.add_option("--address", options.address, "Server HOST:PORT")
      ->envname("SAASMETRICS_ADDRESS")
      ->capture_default_str();
  app.add_option("--timeout", timeout, "Deadline per call attempt, e.g. 10s")
      ->capture_default_str();
  app.add_option("--output,-o", output, "table, json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
  app.add_flag("--tls", options.tls, "Use TLS");
  app.add_option("--tls_ca_file", options.tls_ca_file, "PEM roots for TLS");
  app.add_option("--token", options.bearer_token, "Bearer token")->envname("SAASMETRICS_TOKEN");

  auto* health = app.add_subcommand("health", "Check the server's gRPC health");
  std::string health_service;
  health->add_option("--service", health_service, "Service name; empty: the whole server");

  auto* tenants = app.add_subcommand("tenants", "Manage tenants");
  tenants->require_subcommand(1);
  v1::Tenant tenant;
  std::string id, name, currency, timezone;
  double margin = 0;
  auto* create = tenants->add_subcommand("create", "Create a tenant");
  create->add_option("id", id, "Tenant id: [a-z0-9][a-z0-9_-]{0,62}")->required();
  create->add_option("--currency", currency, "ISO 4217 reporting currency")->required();
  create->add_option("--timezone", timezone, "IANA time zone (default UTC)");
  create->add_option("--name", name, "Display name");
  create->add_option("--gross_margin", margin, "Gross margin in (0, 1] (default 1)");
  auto* get = tenants->add_subcommand("get", "Show a tenant");
  get->add_option("id", id, "Tenant id")->required();
  auto* update = tenants->add_subcommand("update", "Change a tenant's settings");
  update->add_option("id", id, "Tenant id")->required();
  update->add_option("--timezone", timezone, "IANA time zone");
  update->add_option("--name", name, "Display name");
  update->add_option("--gross_margin", margin, "Gross margin in (0, 1]");
  auto* list = tenants->add_subcommand("list", "List tenants");

  auto* import = app.add_subcommand("import", "Import a public dataset");
  import->require_subcommand(1);
  std::string import_tenant, import_file;
  auto* periods = import->add_subcommand(
      "subscription-periods",
      "dbt's subscription_periods.csv (subscription_id,customer_id,start_date,end_date,"
      "monthly_amount); safe to re-run");
  periods->add_option("file", import_file, "CSV file")->required()->check(CLI::ExistingFile);
  periods->add_option("--tenant", import_tenant, "Tenant id")->required();

  auto* metrics = app.add_subcommand("metrics", "Query metrics");
  metrics->require_subcommand(1);
  MetricsFlags mf;
  auto* mrr = metrics->add_subcommand("mrr", "MRR, ARR, customers, ARPA and movements");
  AddMetricsFlags(mrr, &mf, true);
  auto* churn = metrics->add_subcommand("churn", "Customer and MRR churn, NRR, GRR, quick ratio");
  AddMetricsFlags(churn, &mf, true);
  auto* movements = metrics->add_subcommand("movements", "Every MRR movement, per customer");
  AddMetricsFlags(movements, &mf, false);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (!absl::ParseDuration(timeout, &options.timeout) || options.timeout <= absl::ZeroDuration()) {
    std::cerr << "saasctl: --timeout=" << timeout << ": not a positive duration like 10s\n";
    return kExitUsage;
  }
  Client client(options);
  const bool json = output == "json";

  if (health->parsed()) {
    absl::StatusOr<bool> ok = client.Healthy(health_service);
    if (!ok.ok()) return Fail(ok.status());
    std::cout << (*ok ? "SERVING" : "NOT_SERVING") << "\n";
    return *ok ? kExitOk : kExitUnavailable;
  }
  if (create->parsed() || update->parsed()) {
    tenant.set_tenant_id(id);
    tenant.set_display_name(name);
    tenant.set_currency(currency);
    tenant.set_timezone(timezone);
    if (margin != 0) tenant.mutable_gross_margin()->set_value(margin);
  }
  absl::StatusOr<v1::Tenant> one;
  if (create->parsed()) one = client.CreateTenant(tenant);
  if (update->parsed()) one = client.UpdateTenant(tenant);
  if (get->parsed()) one = client.GetTenant(id);
  if (create->parsed() || update->parsed() || get->parsed()) {
    if (!one.ok()) return Fail(one.status());
    if (json)
      std::cout << Json(*one);
    else
      PrintTenants({&*one});
    return kExitOk;
  }
  if (periods->parsed()) {
    absl::StatusOr<v1::Tenant> tenant = client.GetTenant(import_tenant);
    if (!tenant.ok()) return Fail(tenant.status());
    absl::StatusOr<saasmetrics::client::Import> data =
        saasmetrics::client::ImportSubscriptionPeriods(import_file, tenant->currency());
    if (!data.ok()) return Fail(data.status());
    constexpr int kBatch = 1000;
    int64_t accepted = 0, duplicates = 0;
    for (size_t i = 0; i < data->customers.size(); i += kBatch) {
      v1::UpsertCustomersRequest req;
      req.set_tenant_id(import_tenant);
      for (size_t j = i; j < std::min(data->customers.size(), i + kBatch); ++j) {
        *req.add_customers() = data->customers[j];
      }
      auto r = client.UpsertCustomers(req);
      if (!r.ok()) return Fail(r.status());
    }
    for (size_t i = 0; i < data->events.size(); i += kBatch) {
      v1::IngestSubscriptionEventsRequest req;
      req.set_tenant_id(import_tenant);
      for (size_t j = i; j < std::min(data->events.size(), i + kBatch); ++j) {
        *req.add_events() = data->events[j];
      }
      auto r = client.IngestSubscriptionEvents(req);
      if (!r.ok()) return Fail(r.status());
      accepted += r->accepted();
      duplicates += r->duplicates();
    }
    std::cout << "imported " << import_file << ": " << data->customers.size() << " customers, "
              << data->events.size() << " subscription events (" << accepted << " new, "
              << duplicates << " already there)\n";
    return kExitOk;
  }
  if (mrr->parsed()) {
    v1::GetMrrRequest req;
    *req.mutable_query() = ToQuery(mf);
    auto r = client.GetMrr(req);
    if (!r.ok()) return Fail(r.status());
    if (json) {
      std::cout << Json(*r);
      return kExitOk;
    }
    std::vector<std::vector<std::string>> rows = {{"DATE", "MRR", "ARR", "CUSTOMERS", "ARPA", "NEW",
                                                   "EXPANSION", "CONTRACTION", "CHURN",
                                                   "REACTIVATION"}};
    for (const auto& e : r->entries()) {
      rows.push_back({e.date(), Money(e.mrr()), Money(e.arr()), absl::StrCat(e.customers()),
                      e.has_arpa() ? Money(e.arpa().value()) : "-", Money(e.new_business()),
                      Money(e.expansion()), Money(e.contraction()), Money(e.churn()),
                      Money(e.reactivation())});
    }
    PrintRows(rows, output == "csv");
    return kExitOk;
  }
  if (churn->parsed()) {
    v1::GetChurnRequest req;
    *req.mutable_query() = ToQuery(mf);
    auto r = client.GetChurn(req);
    if (!r.ok()) return Fail(r.status());
    if (json) {
      std::cout << Json(*r);
      return kExitOk;
    }
    std::vector<std::vector<std::string>> rows = {{"DATE", "AT_START", "CHURNED", "CUSTOMER_CHURN",
                                                   "GROSS_MRR_CHURN", "NET_MRR_CHURN", "NRR", "GRR",
                                                   "QUICK_RATIO"}};
    for (const auto& e : r->entries()) {
      rows.push_back({e.date(), absl::StrCat(e.customers_at_start()),
                      absl::StrCat(e.churned_customers()),
                      Rate(e.has_customer_churn_rate(), e.customer_churn_rate().value()),
                      Rate(e.has_gross_mrr_churn_rate(), e.gross_mrr_churn_rate().value()),
                      Rate(e.has_net_mrr_churn_rate(), e.net_mrr_churn_rate().value()),
                      Rate(e.has_nrr(), e.nrr().value()), Rate(e.has_grr(), e.grr().value()),
                      Rate(e.has_quick_ratio(), e.quick_ratio().value())});
    }
    PrintRows(rows, output == "csv");
    return kExitOk;
  }
  if (movements->parsed()) {
    v1::ListMovementsRequest req;
    *req.mutable_query() = ToQuery(mf);
    req.mutable_query()->set_interval(v1::INTERVAL_UNSPECIFIED);
    req.set_page_size(1000);
    v1::ListMovementsResponse all;
    do {
      auto r = client.ListMovements(req);
      if (!r.ok()) return Fail(r.status());
      for (const auto& m : r->movements()) *all.add_movements() = m;
      req.set_page_token(r->next_page_token());
    } while (!req.page_token().empty());
    if (json) {
      std::cout << Json(all);
      return kExitOk;
    }
    std::vector<std::vector<std::string>> rows = {
        {"DATE", "CUSTOMER", "TYPE", "AMOUNT", "MRR_BEFORE", "MRR_AFTER", "SUBSCRIPTIONS"}};
    for (const auto& m : all.movements()) {
      std::string type = v1::MovementType_Name(m.type()).substr(14);  // drop MOVEMENT_TYPE_
      rows.push_back({m.date(), m.customer_id(), absl::AsciiStrToLower(type), Money(m.amount()),
                      Money(m.mrr_before()), Money(m.mrr_after()),
                      absl::StrJoin(m.subscription_ids(), " ")});
    }
    PrintRows(rows, output == "csv");
    return kExitOk;
  }
  if (list->parsed()) {
    std::vector<v1::Tenant> all;
    std::string token;
    do {
      auto page = client.ListTenants(1000, token);
      if (!page.ok()) return Fail(page.status());
      for (const auto& t : page->tenants()) all.push_back(t);
      token = page->next_page_token();
    } while (!token.empty());
    if (json) {
      v1::ListTenantsResponse resp;
      for (auto& t : all) *resp.add_tenants() = t;
      std::cout << Json(resp);
    } else {
      std::vector<const v1::Tenant*> ptrs;
      for (const auto& t : all) ptrs.push_back(&t);
      PrintTenants(ptrs);
    }
    return kExitOk;
  }
  return kExitUsage;
}
