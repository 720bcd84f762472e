// saasctl: the command-line client of saasmetrics. This file is the command line; the
// commands live in saasctl_*.cc.
#include "client/saasctl.h"

#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/client.h"

namespace {

namespace cli = saasmetrics::cli;
namespace v1 = saasmetrics::v1;
using saasmetrics::client::Client;
using saasmetrics::client::ClientOptions;

void PrintTenants(const std::vector<const v1::Tenant*>& tenants, cli::Output output) {
  std::vector<std::vector<std::string>> rows = {
      {"TENANT", "NAME", "CURRENCY", "TIMEZONE", "GROSS_MARGIN", "CREATED"}};
  for (const v1::Tenant* t : tenants) {
    rows.push_back({t->tenant_id(), t->display_name(), t->currency(), t->timezone(),
                    absl::StrCat(t->gross_margin().value()), cli::Time(t->create_time())});
  }
  cli::PrintRows(rows, output);
}

// A JSON file (or "-": stdin) in the API's mapping of `out`'s message.
absl::Status ReadJson(const std::string& path, google::protobuf::Message* out) {
  std::stringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(path);
    if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
    text << in.rdbuf();
  }
  auto parsed = google::protobuf::util::JsonStringToMessage(text.str(), out);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a ", out->GetDescriptor()->name(),
                                                   ": ", parsed.message().ToString()));
  }
  return absl::OkStatus();
}

void AddSendFlags(CLI::App* cmd, cli::SendFlags* f) {
  cmd->add_option("--batch", f->batch, "Items per batch")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  cmd->add_option("--window", f->window, "Batches in flight at once on each stream")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--streams", f->streams, "Ingest streams sending side by side")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
}

void AddMetricsFlags(CLI::App* cmd, cli::MetricsFlags* f, bool interval) {
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

// `saasctl keys create|list|revoke`.
int RunKeys(Client& client, const CLI::App* create, const CLI::App* list, const std::string& tenant,
            const std::vector<std::string>& roles, const std::string& name,
            const std::string& key_id, cli::Output output) {
  auto print = [&](const v1::ApiKey& k) {
    std::vector<std::string> names;
    for (int r : k.roles()) names.push_back(absl::AsciiStrToLower(v1::Role_Name(r).substr(5)));
    std::cout << k.key_id() << "  tenant=" << (k.tenant_id().empty() ? "*" : k.tenant_id())
              << "  roles=" << absl::StrJoin(names, ",") << "  name=" << k.name()
              << (k.has_revoke_time() ? "  REVOKED" : "") << "\n";
  };
  if (create->parsed()) {
    v1::CreateApiKeyRequest req;
    req.set_tenant_id(tenant);
    req.set_name(name);
    for (const std::string& r : roles) {
      req.add_roles(r == "read" ? v1::ROLE_READ : r == "ingest" ? v1::ROLE_INGEST : v1::ROLE_ADMIN);
    }
    absl::StatusOr<v1::CreateApiKeyResponse> created = client.CreateApiKey(req);
    if (!created.ok()) return cli::Fail(created.status());
    if (cli::PrintJson(*created, output)) return cli::kExitOk;
    print(created->key());
    std::cerr << "The token is shown this once; store it now:\n";
    std::cout << created->token() << "\n";
    return cli::kExitOk;
  }
  if (list->parsed()) {
    v1::ListApiKeysRequest req;
    req.set_tenant_id(tenant);
    absl::StatusOr<v1::ListApiKeysResponse> keys = client.ListApiKeys(req);
    if (!keys.ok()) return cli::Fail(keys.status());
    if (cli::PrintJson(*keys, output)) return cli::kExitOk;
    for (const v1::ApiKey& k : keys->keys()) print(k);
    return cli::kExitOk;
  }
  v1::RevokeApiKeyRequest req;
  req.set_key_id(key_id);
  req.set_tenant_id(tenant);
  absl::StatusOr<v1::ApiKey> revoked = client.RevokeApiKey(req);
  if (!revoked.ok()) return cli::Fail(revoked.status());
  if (!cli::PrintJson(*revoked, output)) print(*revoked);
  return cli::kExitOk;
}

int main(int argc, char** argv) {
  CLI::App app{
      "saasctl: command-line client of the saasmetrics service.\n"
      "Exit codes: 0 ok, 1 error, 2 usage, 3 invalid input (a bad file or a rejected "
      "request), 4 not found, 5 server unavailable, 6 already exists."};
  app.require_subcommand(1);
  ClientOptions options;
  std::string timeout = "10s";
  std::string output_name = "table";
  app.add_option("--address", options.address, "Server HOST:PORT")
      ->envname("SAASMETRICS_ADDRESS")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
      ->capture_default_str();
  app.add_option("--timeout", timeout,
                 "Deadline per call attempt, e.g. 10s (models train: 10m unless given)")
      ->capture_default_str();
  app.add_option("--output,-o", output_name, "table, json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
  app.add_flag("--tls", options.tls, "Use TLS");
  app.add_option("--tls_ca_file", options.tls_ca_file, "PEM roots for TLS");
  app.add_option("--tls_cert_file", options.tls_cert_file, "PEM client certificate (mTLS)");
  app.add_option("--tls_key_file", options.tls_key_file, "PEM client key (mTLS)");
  app.add_option("--token", options.bearer_token,
                 "API key (prefer $SAASMETRICS_TOKEN or --token_file: a command line is visible "
                 "to every process)")
      ->envname("SAASMETRICS_TOKEN");
  std::string token_file;
  app.add_option("--token_file", token_file, "File whose first line is the API key")
      ->envname("SAASMETRICS_TOKEN_FILE")
      ->check(CLI::ExistingFile);
  bool quiet = false;
  app.add_flag("--quiet,-q", quiet, "No progress line, even on a terminal");

  auto* health = app.add_subcommand("health", "Check the server's gRPC health");
  std::string health_service;
  health->add_option("--service", health_service,
                     "Service name; empty: the whole server; 'liveness': the process");
  auto* watch = health->add_subcommand(
      "watch",
      "Customers whose health group changed, as each day ends in the tenant's zone, and "
      "revisions of days already shown when late data changes them; resumes through server "
      "restarts. Ctrl-C to stop.");
  cli::WatchFlags wf;
  watch->add_option("--tenant", wf.tenant, "Tenant id")->required()->envname("SAASMETRICS_TENANT");
  watch->add_option("--from", wf.from,
                    "First day shown, YYYY-MM-DD, at most 92 days back (default: yesterday)");
  watch->add_option("--until", wf.until, "Stop once this day has been shown (default: never)");
  watch->add_option("--group", wf.group, "Only moves into power, normal, at_risk, lost or none")
      ->check(CLI::IsMember({"power", "normal", "at_risk", "lost", "none"}));
  watch->add_option("--filter", wf.filters,
                    "field=value[,value...]; field: acquisition_channel, country, plan, "
                    "attributes.<key> (repeatable)");

  auto* keys = app.add_subcommand("keys", "Manage API keys (an admin key is needed)");
  keys->require_subcommand(1);
  std::string key_tenant, key_name, key_id;
  std::vector<std::string> key_roles;
  auto* key_create = keys->add_subcommand("create", "Create a key; prints its token once");
  key_create->add_option("--tenant", key_tenant, "Tenant the key is for (empty: every tenant)");
  key_create->add_option("--roles", key_roles, "read, ingest, admin")
      ->delimiter(',')
      ->required()
      ->check(CLI::IsMember({"read", "ingest", "admin"}));
  key_create->add_option("--name", key_name, "What the key is for");
  auto* key_list = keys->add_subcommand("list", "List keys (never their secrets)");
  key_list->add_option("--tenant", key_tenant, "Only this tenant's keys");
  auto* key_revoke = keys->add_subcommand("revoke", "Revoke a key");
  key_revoke->add_option("key_id", key_id, "The key's id")->required();
  key_revoke->add_option("--tenant", key_tenant, "The key's tenant (empty: every tenant)");

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
  // The health policy: the flags given change it, the rest of it stays.
  std::optional<std::string> health_model;
  std::optional<double> power_at_least, at_risk_below, risk_at_least;
  std::optional<int> inactive_days, lost_window_days;
  update->add_option("--health_model", health_model,
                     "Health policy: engagement model id ('' for the tenant's first)");
  update->add_option("--power_at_least", power_at_least, "Health policy: power score (0-100)");
  update->add_option("--at_risk_below", at_risk_below, "Health policy: at-risk score (0-100)");
  update->add_option("--inactive_days", inactive_days, "Health policy: days without usage");
  update->add_option("--lost_window_days", lost_window_days, "Health policy: days a churn is lost");
  update->add_option("--risk_at_least", risk_at_least, "Health policy: churn risk (0-1)");
  auto* list = tenants->add_subcommand("list", "List tenants");

  auto* rules = app.add_subcommand("pql-rules", "Manage product-qualified-lead rules");
  rules->require_subcommand(1);
  std::string rules_tenant, rule_file;
  auto* rule_create = rules->add_subcommand("create", "Create a rule from a JSON PqlRule");
  rule_create->add_option("--tenant", rules_tenant, "Tenant id")->required();
  rule_create->add_option("file", rule_file, "JSON file (the API's PqlRule), or - for stdin")
      ->required();
  auto* rule_list = rules->add_subcommand("list", "List a tenant's rules");
  rule_list->add_option("--tenant", rules_tenant, "Tenant id")->required();

  auto* customer = app.add_subcommand(
      "customer", "One customer's profile: subscriptions, MRR, movements, scores, health, NPS");
  std::string customer_tenant, customer_id, customer_date;
  customer->add_option("id", customer_id, "Customer id")->required();
  customer->add_option("--tenant", customer_tenant, "Tenant id")->required();
  customer->add_option("--date", customer_date, "As of the end of this day (default today)");

  auto* models = app.add_subcommand("engagement-models", "Manage engagement models");
  models->require_subcommand(1);
  std::string models_tenant, model_file;
  auto* model_create =
      models->add_subcommand("create", "Create a model from a JSON EngagementModel");
  model_create->add_option("--tenant", models_tenant, "Tenant id")->required();
  model_create
      ->add_option("file", model_file, "JSON file (the API's EngagementModel), or - for stdin")
      ->required();
  auto* model_list = models->add_subcommand("list", "List a tenant's models");
  model_list->add_option("--tenant", models_tenant, "Tenant id")->required();

  auto* trained = app.add_subcommand(
      "models", "Churn-risk and upsell models: train, print, score (ANALYTICS.md \"Churn risk\")");
  trained->require_subcommand(1);
  cli::ModelFlags mod;
  auto* train = trained->add_subcommand(
      "train", "Fit a model on the month ends --from..--to, evaluate it, store it as --id");
  train->add_option("--tenant", mod.tenant, "Tenant id")->required();
  train->add_option("--id", mod.id, "Model id ([a-z0-9_-]); an existing one is replaced")
      ->required();
  train->add_option("--kind", mod.kind, "churn (default) or upsell")
      ->check(CLI::IsMember({"churn", "upsell"}));
  train->add_option("--from", mod.from, "First day of the training range (YYYY-MM-DD)")->required();
  train->add_option("--to", mod.to, "Last day of the training range")->required();
  train->add_option("--horizon_days", mod.horizon_days,
                    "The label window after each month end (90)");
  train->add_option("--lambda", mod.lambda, "L2 penalty (1)");
  train->add_option("--field", mod.fields,
                    "A customer field to one-hot encode (acquisition_channel, country, plan, "
                    "attributes.KEY; repeatable)");
  train->add_option("--filter", mod.filters, "Customer filter field=value[,value]");
  train->add_option("--max_examples", mod.max_examples, "Most examples (500000)");
  auto* model_get =
      trained->add_subcommand("get", "Print a stored model: evaluation, coefficients");
  model_get->add_option("--tenant", mod.tenant, "Tenant id")->required();
  model_get->add_option("--id", mod.id, "Model id")->required();
  auto* trained_list = trained->add_subcommand("list", "A tenant's trained models");
  trained_list->add_option("--tenant", mod.tenant, "Tenant id")->required();
  auto* trained_delete = trained->add_subcommand("delete", "Delete a trained model (admin key)");
  trained_delete->add_option("--tenant", mod.tenant, "Tenant id")->required();
  trained_delete->add_option("--id", mod.id, "Model id")->required();
  auto* scores_cmd =
      trained->add_subcommand("scores", "Each paying customer's probability and top three factors");
  scores_cmd->add_option("--tenant", mod.tenant, "Tenant id")->required();
  scores_cmd->add_option("--id", mod.id, "Model id")->required();
  scores_cmd->add_option("--to", mod.to, "Customers paying at the end of this day")->required();
  scores_cmd->add_option("--filter", mod.filters, "Customer filter field=value[,value]");
  scores_cmd
      ->add_option("--order", mod.order,
                   "probability_desc (default), probability_asc or customer_id")
      ->check(CLI::IsMember({"probability_desc", "probability_asc", "customer_id"}));
  scores_cmd->add_option("--min_probability", mod.min_probability, "Only at least this");
  scores_cmd->add_option("--limit", mod.limit, "At most this many rows (all)");

  auto* ingest = app.add_subcommand(
      "ingest",
      "Ingest items of one kind from CSV or NDJSON files (or - for stdin) in batches; safe "
      "to re-run: items already stored are skipped. CSV headers name the API's fields "
      "(nested: discount.amount_off; maps: properties.KEY, attributes.KEY; enums may be "
      "short: active, month; times RFC 3339 or YYYY-MM-DD). NDJSON: the API's JSON.");
  cli::IngestFlags ingest_flags;
  ingest
      ->add_option("kind", ingest_flags.kind,
                   "subscription-events, usage-events, customers, spend, survey-responses or "
                   "exchange-rates (date,currency,rate: one unit of currency in the tenant's)")
      ->required()
      ->check(CLI::IsMember({"subscription-events", "usage-events", "customers", "spend",
                             "survey-responses", "exchange-rates"}));
  ingest->add_option("files", ingest_flags.files, "Files (.csv, .ndjson/.jsonl) or -")->required();
  ingest->add_option("--tenant", ingest_flags.tenant, "Tenant id")
      ->required()
      ->envname("SAASMETRICS_TENANT");
  ingest->add_option("--format", ingest_flags.format, "csv or ndjson (default: from the name)")
      ->check(CLI::IsMember({"csv", "ndjson"}));
  AddSendFlags(ingest, &ingest_flags.send);
  ingest_flags.parse_threads =
      static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
  ingest
      ->add_option("--parse_threads", ingest_flags.parse_threads,
                   "Batches parsed at once (default: one per core, at most 8)")
      ->check(CLI::Range(1, 64));

  auto* import = app.add_subcommand("import", "Import a public dataset (safe to re-run)");
  import->require_subcommand(1);
  cli::ImportFlags import_flags;
  auto* periods = import->add_subcommand(
      "subscription-periods",
      "dbt's subscription_periods.csv (subscription_id,customer_id,start_date,end_date,"
      "monthly_amount)");
  auto* telco = import->add_subcommand(
      "telco",
      "IBM's Telco churn snapshot: tenure → start date before --snapshot, Churn=Yes → "
      "canceled in the snapshot's month, MonthlyCharges → MRR, Contract/PaymentMethod/"
      "InternetService → customer attributes");
  for (CLI::App* cmd : {periods, telco}) {
    cmd->add_option("file", import_flags.file, "CSV file")->required()->check(CLI::ExistingFile);
    cmd->add_option("--tenant", import_flags.tenant, "Tenant id")->required();
    AddSendFlags(cmd, &import_flags.send);
  }
  telco->add_option("--snapshot", import_flags.snapshot, "The snapshot's date (its month is M)")
      ->capture_default_str();

  auto* generate = app.add_subcommand(
      "generate",
      "Load the deterministic demo generator's data (customers, plans, upgrades, "
      "downgrades, pauses, trials, churn, reactivation, channels with spend, power-law "
      "usage) into a tenant; same seed, same data; safe to re-run");
  cli::GenerateFlags gen;
  generate->add_option("--tenant", gen.tenant, "Tenant id")->required();
  generate->add_option("--seed", gen.seed, "Random seed")->capture_default_str();
  generate->add_option("--customers", gen.customers, "Customers")
      ->check(CLI::Range(1, 10000000))
      ->capture_default_str();
  generate->add_option("--months", gen.months, "Months of history")
      ->check(CLI::Range(1, 240))
      ->capture_default_str();
  generate->add_option("--first_month", gen.first_month, "First month, YYYY-MM")
      ->capture_default_str();
  generate->add_option("--usage", gen.usage, "Usage events")
      ->check(CLI::Range(int64_t{0}, int64_t{1'000'000'000}))
      ->capture_default_str();
  generate->add_flag("--local_currencies", gen.local_currencies,
                     "Bill customers in DE in EUR and in GB in GBP (unless the tenant reports in "
                     "it), with a weekly exchange-rate table");
  AddSendFlags(generate, &gen.send);

  auto* metrics = app.add_subcommand("metrics", "Query metrics");
  metrics->require_subcommand(1);
  cli::MetricsFlags mf;
  auto* mrr = metrics->add_subcommand("mrr", "MRR, ARR, customers, ARPA and movements");
  AddMetricsFlags(mrr, &mf, true);
  mrr->add_flag("--by_currency", mf.by_currency,
                "Also MRR per billing currency, unconverted (a column each, in its own units)");
  auto* churn = metrics->add_subcommand("churn", "Customer and MRR churn, NRR, GRR, quick ratio");
  AddMetricsFlags(churn, &mf, true);
  churn->add_option("--group_by", mf.group_by,
                    "One series per acquisition_channel, country, plan or attributes.<key>");
  auto* economics = metrics->add_subcommand(
      "unit-economics", "ASP, ARPA, LTV, CAC, LTV/CAC and payback, overall and per channel");
  AddMetricsFlags(economics, &mf, true);
  economics->add_option("--ltv_window", mf.ltv_window_months,
                        "Months of churn the LTV averages (default: the server's)");
  auto* cohorts = metrics->add_subcommand("cohorts", "Cohort retention: logo retention by period");
  AddMetricsFlags(cohorts, &mf, true);
  cohorts->add_option("--group_by", mf.group_by,
                      "acquisition_channel, country, plan or attributes.<key>");
  auto* active = metrics->add_subcommand("active", "Active customers (DAU/WAU/MAU by interval)");
  AddMetricsFlags(active, &mf, true);
  active->add_option("--event_type", mf.event_types, "Event types that count (repeatable)");
  auto* pql = metrics->add_subcommand("pql", "Product-qualified leads and their conversion");
  AddMetricsFlags(pql, &mf, true);
  pql->add_option("--rule", mf.rule, "PQL rule id")->required();
  pql->add_option("--conversion_window", mf.window_days, "Days to convert (default 30)");
  auto* activation = metrics->add_subcommand("activation", "Activation of new customers");
  AddMetricsFlags(activation, &mf, true);
  activation->add_option("--event_type", mf.event_types, "Activation event types (repeatable)")
      ->required();
  activation->add_option("--window", mf.window_days, "Days after signup (default 14)");
  auto* engagement = metrics->add_subcommand(
      "engagement", "Engagement score distribution of paying customers (an engagement model)");
  AddMetricsFlags(engagement, &mf, true);
  engagement->add_option("--model", mf.model, "Engagement model id")->required();
  auto* scores = metrics->add_subcommand(
      "engagement-scores", "Each paying customer's engagement score at the end of --to");
  AddMetricsFlags(scores, &mf, false);
  scores->get_option("--from")->required(false)->description(
      "Ignored: customers are scored at --to");
  scores->add_option("--model", mf.model, "Engagement model id")->required();
  scores->add_option("--order", mf.order, "score_desc (default), score_asc or customer_id")
      ->check(CLI::IsMember({"score_desc", "score_asc", "customer_id"}));
  scores->add_option("--min_score", mf.min_score, "Only scores at least this");
  scores->add_option("--max_score", mf.max_score, "Only scores at most this");
  auto* nps = metrics->add_subcommand(
      "nps", "Net promoter score from survey responses: promoters, passives, detractors");
  AddMetricsFlags(nps, &mf, true);
  nps->add_option("--group_by", mf.group_by,
                  "One series per acquisition_channel, country, plan, attributes.<key> or "
                  "health (the health group at each period's end)");
  auto* icp = metrics->add_subcommand(
      "icp", "Ideal-customer profile: field values over-represented among the top customers");
  AddMetricsFlags(icp, &mf, false);
  icp->get_option("--from")->required(false)->description("Ignored: customers as of --to");
  icp->add_option("--field", mf.fields, "acquisition_channel, country, plan, attributes.KEY")
      ->required();
  icp->add_option("--top_share", mf.top_share, "Share of paying customers at the top (0.2)");
  icp->add_option("--min_count", mf.min_count, "Least paying customers a value needs (10)");
  auto* survival = metrics->add_subcommand(
      "survival",
      "Kaplan–Meier survival of the customers won --from..--to, by group, with the log-rank "
      "test and Cox hazard ratios");
  AddMetricsFlags(survival, &mf, false);
  survival->get_option("--from")->description(
      "First new-business day of the population (lifetimes are censored at --to)");
  survival->add_option("--group_by", mf.group_by,
                       "One curve per acquisition_channel, country, plan or attributes.<key>");
  survival->add_flag("--cox", mf.cox, "Fit a Cox model over --cox_field and the first MRR");
  survival->add_option("--cox_field", mf.cox_fields,
                       "A customer field for the Cox model (repeatable, at most 5)");
  auto* drivers = metrics->add_subcommand(
      "retention-drivers",
      "Per usage event type: retention of the customers won --from..--to who did it early on, "
      "against those who did not (lift, Fisher's p)");
  AddMetricsFlags(drivers, &mf, false);
  drivers->add_option("--min_events", mf.min_events, "Events of the type that count as did (1)");
  drivers->add_option("--window_days", mf.window_days,
                      "Days from the new-business day in which they count (14)");
  drivers->add_option("--retained_days", mf.retained_days,
                      "Retained: paying or paused at the end of this day after it (90)");
  auto* cake = metrics->add_subcommand(
      "mrr-by-cohort", "MRR by cohort (the layer cake) and the share from existing customers");
  AddMetricsFlags(cake, &mf, true);
  auto* renewals = metrics->add_subcommand(
      "renewals", "Renewal rates by count and amount, of subscriptions and of customers");
  AddMetricsFlags(renewals, &mf, true);
  renewals
      ->add_option("--min_term", mf.min_term,
                   "Shortest term counted: a count and d, w, m or y (default 1y)")
      ->check(CLI::Validator(
          [](std::string& v) {
            return v.size() >= 2 && std::string("dwmy").find(v.back()) != std::string::npos &&
                           std::all_of(v.begin(), v.end() - 1,
                                       [](char c) { return c >= '0' && c <= '9'; })
                       ? std::string()
                       : "must be a count and d, w, m or y (3m, 1y)";
          },
          "TERM"));
  auto* health_groups = metrics->add_subcommand(
      "health", "Customers and MRR per health group, and the moves between groups");
  AddMetricsFlags(health_groups, &mf, true);
  auto* health_customers = metrics->add_subcommand(
      "health-customers", "Customers by health group at the end of --to, with their reasons");
  AddMetricsFlags(health_customers, &mf, false);
  health_customers->get_option("--from")->required(false)->description(
      "Ignored: groups are as of the end of --to");
  health_customers->add_option("--group", mf.group, "power, normal, at_risk, lost or none")
      ->check(CLI::IsMember({"power", "normal", "at_risk", "lost", "none"}));
  health_customers->add_option("--order", mf.order, "mrr_desc (default), score_asc or customer_id")
      ->check(CLI::IsMember({"mrr_desc", "score_asc", "customer_id"}));
  auto* transitions = metrics->add_subcommand(
      "health-transitions", "Customers whose health group changed, day by day (at most 92 days)");
  AddMetricsFlags(transitions, &mf, false);
  transitions
      ->add_option("--group", mf.group, "Only moves into power, normal, at_risk, lost or none")
      ->check(CLI::IsMember({"power", "normal", "at_risk", "lost", "none"}));
  auto* movements = metrics->add_subcommand("movements", "Every MRR movement, per customer");
  AddMetricsFlags(movements, &mf, false);
  movements->add_option("--type", mf.types,
                        "new_business, expansion, contraction, churn, reactivation (repeatable)");

  auto* load = app.add_subcommand(
      "load",
      "Load test: concurrent clients run usage ingest (source saasctl-load) and metric "
      "queries against a tenant for a while; prints throughput and latency percentiles. "
      "Use a scratch tenant: the events stay.");
  cli::LoadFlags lf;
  load->add_option("--tenant", lf.tenant, "Tenant id")->required();
  load->add_option("--clients", lf.clients, "Concurrent clients")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  load->add_option("--duration", lf.duration, "How long, e.g. 30s")->capture_default_str();
  load->add_option("--ingest_share", lf.ingest_share, "Share of calls that ingest")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  load->add_option("--batch", lf.batch, "Usage events per ingest call")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? cli::kExitOk : cli::kExitUsage;
  }
  // Training reads every month end of a range: minutes on a large tenant, not seconds.
  if (train->parsed() && app.get_option("--timeout")->count() == 0) timeout = "10m";
  if (!absl::ParseDuration(timeout, &options.timeout) || options.timeout <= absl::ZeroDuration()) {
    std::cerr << "saasctl: --timeout=" << timeout << ": not a positive duration like 10s\n";
    return cli::kExitUsage;
  }
  const cli::Output output = output_name == "json"  ? cli::Output::kJson
                             : output_name == "csv" ? cli::Output::kCsv
                                                    : cli::Output::kTable;
  const bool progress = !quiet && isatty(STDERR_FILENO);
  ingest_flags.send.progress = import_flags.send.progress = gen.send.progress = progress;
  if (options.bearer_token.empty() && !token_file.empty()) {
    std::ifstream in(token_file);
    std::getline(in, options.bearer_token);
  }
  Client client(options);

  if (keys->parsed())
    return RunKeys(client, key_create, key_list, key_tenant, key_roles, key_name, key_id, output);

  if (watch->parsed()) return cli::RunHealthWatch(client, wf, output);
  if (health->parsed()) {
    absl::StatusOr<bool> ok = client.Healthy(health_service);
    if (!ok.ok()) return cli::Fail(ok.status());
    std::cout << (*ok ? "SERVING" : "NOT_SERVING") << "\n";
    return *ok ? cli::kExitOk : cli::kExitUnavailable;
  }
  if (create->parsed() || update->parsed()) {
    tenant.set_tenant_id(id);
    tenant.set_display_name(name);
    tenant.set_currency(currency);
    tenant.set_timezone(timezone);
    if (margin != 0) tenant.mutable_gross_margin()->set_value(margin);
  }
  if (update->parsed() && (health_model || power_at_least || at_risk_below || inactive_days ||
                           lost_window_days || risk_at_least)) {
    // An update replaces the whole policy: start from the current one.
    absl::StatusOr<v1::Tenant> current = client.GetTenant(id);
    if (!current.ok()) return cli::Fail(current.status());
    v1::HealthPolicy* h = tenant.mutable_health_policy();
    *h = current->health_policy();
    if (health_model) h->set_engagement_model_id(*health_model);
    if (power_at_least) h->mutable_power_at_least()->set_value(*power_at_least);
    if (at_risk_below) h->mutable_at_risk_below()->set_value(*at_risk_below);
    if (inactive_days) h->set_inactive_days(*inactive_days);
    if (lost_window_days) h->set_lost_window_days(*lost_window_days);
    if (risk_at_least) h->mutable_risk_at_least()->set_value(*risk_at_least);
  }
  absl::StatusOr<v1::Tenant> one;
  if (create->parsed()) one = client.CreateTenant(tenant);
  if (update->parsed()) one = client.UpdateTenant(tenant);
  if (get->parsed()) one = client.GetTenant(id);
  if (create->parsed() || update->parsed() || get->parsed()) {
    if (!one.ok()) return cli::Fail(one.status());
    if (!cli::PrintJson(*one, output)) PrintTenants({&*one}, output);
    return cli::kExitOk;
  }
  if (list->parsed()) {
    v1::ListTenantsResponse all;
    std::string token;
    do {
      auto page = client.ListTenants(1000, token);
      if (!page.ok()) return cli::Fail(page.status());
      for (const auto& t : page->tenants()) *all.add_tenants() = t;
      token = page->next_page_token();
    } while (!token.empty());
    if (cli::PrintJson(all, output)) return cli::kExitOk;
    std::vector<const v1::Tenant*> ptrs;
    for (const auto& t : all.tenants()) ptrs.push_back(&t);
    PrintTenants(ptrs, output);
    return cli::kExitOk;
  }
  if (rule_create->parsed()) {
    v1::CreatePqlRuleRequest req;
    req.set_tenant_id(rules_tenant);
    if (absl::Status s = ReadJson(rule_file, req.mutable_rule()); !s.ok()) return cli::Fail(s);
    auto rule = client.CreatePqlRule(req);
    if (!rule.ok()) return cli::Fail(rule.status());
    std::cout << cli::Json(*rule);
    return cli::kExitOk;
  }
  if (rule_list->parsed()) {
    v1::ListPqlRulesRequest req;
    req.set_tenant_id(rules_tenant);
    auto r = client.ListPqlRules(req);
    if (!r.ok()) return cli::Fail(r.status());
    if (cli::PrintJson(*r, output)) return cli::kExitOk;
    std::vector<std::vector<std::string>> rows = {{"RULE", "NAME", "WINDOW_DAYS", "CONDITIONS"}};
    for (const auto& rule : r->rules()) {
      rows.push_back({rule.rule_id(), rule.name(), absl::StrCat(rule.window_days()),
                      absl::StrCat(rule.conditions_size())});
    }
    cli::PrintRows(rows, output);
    return cli::kExitOk;
  }
  if (model_create->parsed()) {
    v1::CreateEngagementModelRequest req;
    req.set_tenant_id(models_tenant);
    if (absl::Status s = ReadJson(model_file, req.mutable_model()); !s.ok()) return cli::Fail(s);
    auto model = client.CreateEngagementModel(req);
    if (!model.ok()) return cli::Fail(model.status());
    std::cout << cli::Json(*model);
    return cli::kExitOk;
  }
  if (train->parsed()) return cli::RunModelTrain(client, mod, output);
  if (model_get->parsed()) return cli::RunModelGet(client, mod, output);
  if (scores_cmd->parsed()) return cli::RunModelScores(client, mod, output);
  if (trained_list->parsed()) return cli::RunModelList(client, mod, output);
  if (trained_delete->parsed()) return cli::RunModelDelete(client, mod);
  if (customer->parsed()) {
    return cli::RunCustomer(client, customer_tenant, customer_id, customer_date, output);
  }
  if (model_list->parsed()) {
    v1::ListEngagementModelsRequest req;
    req.set_tenant_id(models_tenant);
    auto r = client.ListEngagementModels(req);
    if (!r.ok()) return cli::Fail(r.status());
    if (cli::PrintJson(*r, output)) return cli::kExitOk;
    std::vector<std::vector<std::string>> rows = {{"MODEL", "NAME", "WINDOW_DAYS", "COMPONENTS"}};
    for (const auto& m : r->models()) {
      std::vector<std::string> parts;
      for (const auto& c : m.components()) {
        parts.push_back(c.name().empty() ? absl::StrJoin(c.event_types(), "|") : c.name());
      }
      rows.push_back({m.model_id(), m.name(),
                      absl::StrCat(m.window_days() == 0 ? 30 : m.window_days()),
                      absl::StrJoin(parts, ", ")});
    }
    cli::PrintRows(rows, output);
    return cli::kExitOk;
  }
  if (ingest->parsed()) return cli::RunIngest(client, ingest_flags);
  if (periods->parsed() || telco->parsed()) {
    import_flags.dataset = telco->parsed() ? "telco" : "subscription-periods";
    return cli::RunImport(client, import_flags);
  }
  if (generate->parsed()) return cli::RunGenerate(client, gen);
  for (auto [cmd, metric] : std::initializer_list<std::pair<CLI::App*, const char*>>{
           {mrr, "mrr"},
           {churn, "churn"},
           {economics, "unit-economics"},
           {cohorts, "cohorts"},
           {active, "active"},
           {pql, "pql"},
           {engagement, "engagement"},
           {scores, "engagement-scores"},
           {health_groups, "health"},
           {nps, "nps"},
           {icp, "icp"},
           {survival, "survival"},
           {drivers, "retention-drivers"},
           {renewals, "renewals"},
           {cake, "mrr-by-cohort"},
           {health_customers, "health-customers"},
           {transitions, "health-transitions"},
           {activation, "activation"},
           {movements, "movements"}}) {
    if (cmd->parsed()) return cli::RunMetrics(client, metric, mf, output);
  }
  if (load->parsed()) return cli::RunLoad(options, lf, output);
  return cli::kExitUsage;
}
