// saasctl: the command-line client of saasmetrics.
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/client.h"

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
  app.add_option("--output,-o", output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
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
