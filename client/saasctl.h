// saasctl's commands, each a function of the client and its parsed flags; saasctl.cc
// holds the command line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "client/cli_output.h"
#include "client/client.h"

namespace saasmetrics::cli {

struct SendFlags {
  int batch = 1000;  // items per batch
  int window = 4;    // batches in flight on each stream
  int streams = 2;   // StreamIngest streams, so the server stores batches side by side
  bool progress = false;
};

// ingest KIND FILE...: CSV or NDJSON files (or "-") of one kind.
struct IngestFlags {
  std::string tenant, kind, format;
  std::vector<std::string> files;
  SendFlags send;
  int parse_threads = 2;  // batches parsed at once while one thread reads
};
int RunIngest(client::Client& client, const IngestFlags& flags);

// import subscription-periods|telco FILE.
struct ImportFlags {
  std::string tenant, dataset, file;
  std::string snapshot = "2024-12-31";  // telco
  SendFlags send;
};
int RunImport(client::Client& client, const ImportFlags& flags);

// generate: the seeded demo generator's data into a tenant.
struct GenerateFlags {
  std::string tenant;
  uint64_t seed = 1;
  int customers = 1000;
  int months = 24;
  std::string first_month = "2023-01";
  int64_t usage = 100000;
  bool local_currencies = false;  // DE customers in EUR, GB in GBP, with rates
  SendFlags send;
};
int RunGenerate(client::Client& client, const GenerateFlags& flags);

// metrics KIND: one metric as a table, CSV or JSON.
struct MetricsFlags {
  std::string tenant, from, to, interval = "month";
  std::vector<std::string> filters;
  std::string group_by;                  // cohorts
  std::vector<std::string> event_types;  // active, activation
  std::string rule;                      // pql
  int window_days = 0;                   // pql conversion window, activation window
  int ltv_window_months = 0;             // unit-economics
  std::vector<std::string> types;        // movements
  std::string model;                     // engagement, engagement-scores
  std::string order;                     // engagement-scores: score_desc, score_asc, customer_id
  std::optional<double> min_score, max_score;  // engagement-scores
  std::string group;                           // health-customers: power, normal, at_risk, …
  std::vector<std::string> fields;             // icp
  std::optional<double> top_share;             // icp
  int min_count = 0;                           // icp
  std::string min_term;                        // renewals: <count><d|w|m|y>, "1y" default
  bool by_currency = false;                    // mrr: MRR per billing currency, unconverted
  bool cox = false;                            // survival: fit a Cox model
  std::vector<std::string> cox_fields;         // survival: its customer fields
  int min_events = 0, retained_days = 0;       // retention-drivers (window: window_days)
};
int RunMetrics(client::Client& client, const std::string& metric, const MetricsFlags& flags,
               Output output);
// health watch: each ended day's health transitions as they come, revisions marked;
// reconnects through restarts. Stops after the day `until` (empty: never).
struct WatchFlags {
  std::string tenant, from, until, group;
  std::vector<std::string> filters;
};
int RunHealthWatch(client::Client& client, const WatchFlags& flags, Output output);
// customer: one customer's profile as of the end of `date` (empty: today).
int RunCustomer(client::Client& client, const std::string& tenant, const std::string& customer,
                const std::string& date, Output output);

// models train | get | scores: churn and upsell models (ANALYTICS.md "Churn risk").
struct ModelFlags {
  std::string tenant, id;
  std::string kind = "churn";  // train: churn or upsell
  std::string from, to;        // train: the range; scores: --to is the day
  int horizon_days = 0;
  std::optional<double> lambda;
  std::vector<std::string> fields, filters;
  int64_t max_examples = 0;
  std::string order;  // scores: probability_desc (default), probability_asc, customer_id
  std::optional<double> min_probability;
  int limit = 0;  // scores: at most this many rows (0: all)
};
int RunModelTrain(client::Client& client, const ModelFlags& flags, Output output);
int RunModelGet(client::Client& client, const ModelFlags& flags, Output output);
int RunModelScores(client::Client& client, const ModelFlags& flags, Output output);
int RunModelList(client::Client& client, const ModelFlags& flags, Output output);
int RunModelDelete(client::Client& client, const ModelFlags& flags);

// load: a mix of ingest and queries from concurrent clients for a bounded time.
struct LoadFlags {
  std::string tenant;
  int clients = 8;
  std::string duration = "30s";
  double ingest_share = 0.2;  // of operations
  int batch = 100;            // usage events per ingest call
};
int RunLoad(const client::ClientOptions& options, const LoadFlags& flags, Output output);

}  // namespace saasmetrics::cli
