// saasmetrics server: parses flags into a ServerConfig, starts the server, and shuts it
// down gracefully on SIGINT/SIGTERM.
#include <malloc.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "server/observability/log.h"
#include "server/rpc/server.h"
#include "server/store/migrator.h"

namespace saasmetrics::store {

bool AbslParseFlag(absl::string_view text, MigrateMode* mode, std::string* error) {
  if (text == "auto")
    *mode = MigrateMode::kAuto;
  else if (text == "check")
    *mode = MigrateMode::kCheck;
  else if (text == "off")
    *mode = MigrateMode::kOff;
  else {
    *error = "must be one of auto, check, off";
    return false;
  }
  return true;
}

std::string AbslUnparseFlag(MigrateMode mode) {
  switch (mode) {
    case MigrateMode::kAuto:
      return "auto";
    case MigrateMode::kCheck:
      return "check";
    case MigrateMode::kOff:
      return "off";
  }
  return "auto";
}

}  // namespace saasmetrics::store

namespace {
const saasmetrics::rpc::ServerConfig kDefaults;
}  // namespace

ABSL_FLAG(std::string, grpc_address, kDefaults.grpc_address, "gRPC listen address HOST:PORT.");
ABSL_FLAG(std::string, health_address, "",
          "HOST:PORT of a plaintext listener serving only gRPC health checks (the same "
          "statuses as the main port), for probes that cannot speak TLS such as Kubernetes "
          "gRPC probes; empty: none.");
ABSL_FLAG(std::string, metrics_address, kDefaults.metrics_address,
          "Prometheus /metrics listen address HOST:PORT; empty disables it.");
ABSL_FLAG(std::string, database_url, "",
          "PostgreSQL connection string or URL. Default: $DATABASE_URL, else the libpq "
          "environment (PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD).");
ABSL_FLAG(saasmetrics::store::MigrateMode, migrate, kDefaults.migrate,
          "Schema migrations at start: auto (apply pending), check (require current), off.");
ABSL_FLAG(bool, migrate_only, false,
          "Apply pending schema migrations, print the schema version and exit (non-zero on "
          "failure), without serving; for a deploy's migration step. Then run the servers "
          "with --migrate=check.");
ABSL_FLAG(int, db_pool_size, kDefaults.db_pool_size, "PostgreSQL connections in the pool.");
ABSL_FLAG(int, db_connect_timeout, kDefaults.db_connect_timeout_seconds,
          "Seconds to wait for a PostgreSQL connection to open.");
ABSL_FLAG(int, worker_threads, kDefaults.worker_threads,
          "Threads that run query and admin handlers.");
ABSL_FLAG(int, ingest_threads, kDefaults.ingest_threads,
          "Threads that run ingest batches (a pool of their own, so ingest and queries do not "
          "starve each other).");
ABSL_FLAG(int, loader_threads, kDefaults.loader_threads,
          "Threads that load missing partitions for queries, shared by all of them.");
ABSL_FLAG(int, max_queued_calls, kDefaults.max_queued_calls,
          "Calls that may wait for a thread, per pool; more are refused with "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, max_batch_items, kDefaults.max_batch_items,
          "Most items one ingest batch may carry; more is RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, max_batch_bytes, kDefaults.max_batch_bytes,
          "Largest request message in bytes; larger is RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, cache_bytes, kDefaults.cache_bytes,
          "Byte budget of the partition cache; least recently used partitions are evicted.");
ABSL_FLAG(int64_t, query_memory_bytes, kDefaults.query_memory_bytes,
          "What the queries in flight may build beyond what the cache holds (partitions "
          "loaded on a miss, derived snapshots); a query that alone needs more is "
          "RESOURCE_EXHAUSTED, others wait for memory within their deadline. 0: no limit.");
ABSL_FLAG(int, max_watches, kDefaults.max_watches,
          "WatchHealthTransitions streams this replica holds at once; more are refused with "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(absl::Duration, watch_min_interval, kDefaults.watch_min_interval,
          "Least time between two computations of one watch: writes arriving faster are "
          "coalesced into the next.");
ABSL_FLAG(int, max_query_days, kDefaults.max_query_days,
          "Longest date range a metric query may span.");
ABSL_FLAG(absl::Duration, default_deadline, kDefaults.default_deadline,
          "Deadline applied to calls that set none.");
ABSL_FLAG(absl::Duration, db_probe_interval, kDefaults.db_probe_interval,
          "How often the database is probed for health.");
ABSL_FLAG(int, malloc_arenas, 2,
          "Memory arenas the C library's allocator may create (0: its default, 8 per core). "
          "Each thread that allocates otherwise gets an arena of its own that keeps what it "
          "freed, so a burst of partition loads on many threads raises the resident set "
          "well past --cache_bytes.");
ABSL_FLAG(int64_t, malloc_keep_bytes, int64_t{256} << 20,
          "Freed memory each allocator arena keeps for reuse rather than handing back to the "
          "kernel (0: the C library's defaults). Building a snapshot allocates tens of MB; "
          "memory the kernel must fault in afresh costs more than the work itself on some "
          "hosts (40 MB: 110 ms fresh, 1 ms reused, measured on the benchmark machine). "
          "Blocks over 32 MiB are always mapped and unmapped directly.");
ABSL_FLAG(std::string, bootstrap_admin_key_file, "",
          "File holding an admin API key over every tenant (sm_<id>_<secret>), e.g. from a "
          "Kubernetes Secret; else $SAASMETRICS_BOOTSTRAP_ADMIN_KEY. Never pass the key itself "
          "on the command line: every process can read it in /proc.");
ABSL_FLAG(std::string, tls_cert_file, "", "PEM certificate chain to serve gRPC over TLS.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file.");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA bundle: clients must present a certificate it signed (mTLS).");
ABSL_FLAG(absl::Duration, tls_refresh, absl::Minutes(1),
          "How often the TLS files are re-read (rotation without a restart).");
ABSL_FLAG(bool, reflection, false,
          "Serve gRPC server reflection (it describes the whole API to any caller).");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "On SIGTERM, how long in-flight calls may take before they are cancelled.");

int main(int argc, char** argv) {
  // Signals go to a dedicated thread (sigwait), so block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::SetProgramUsageMessage("saasmetrics gRPC service. Flags: --helpfull.");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::fprintf(stderr, "saasmetrics: unexpected argument '%s' (flags are --name=value)\n",
                 rest[1]);
    return 2;
  }

  saasmetrics::rpc::ServerConfig config;
  config.grpc_address = absl::GetFlag(FLAGS_grpc_address);
  config.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  config.health_address = absl::GetFlag(FLAGS_health_address);
  config.database_url = absl::GetFlag(FLAGS_database_url);
  if (config.database_url.empty()) {
    if (const char* env = std::getenv("DATABASE_URL")) config.database_url = env;
  }
  config.migrate = absl::GetFlag(FLAGS_migrate);
  config.db_pool_size = absl::GetFlag(FLAGS_db_pool_size);
  config.db_connect_timeout_seconds = absl::GetFlag(FLAGS_db_connect_timeout);
  config.worker_threads = absl::GetFlag(FLAGS_worker_threads);
  config.ingest_threads = absl::GetFlag(FLAGS_ingest_threads);
  config.loader_threads = absl::GetFlag(FLAGS_loader_threads);
  config.max_queued_calls = absl::GetFlag(FLAGS_max_queued_calls);
  config.default_deadline = absl::GetFlag(FLAGS_default_deadline);
  config.max_batch_items = absl::GetFlag(FLAGS_max_batch_items);
  config.max_batch_bytes = absl::GetFlag(FLAGS_max_batch_bytes);
  config.max_query_days = absl::GetFlag(FLAGS_max_query_days);
  config.max_watches = absl::GetFlag(FLAGS_max_watches);
  config.watch_min_interval = absl::GetFlag(FLAGS_watch_min_interval);
  config.cache_bytes = absl::GetFlag(FLAGS_cache_bytes);
  config.query_memory_bytes = absl::GetFlag(FLAGS_query_memory_bytes);
  config.db_probe_interval = absl::GetFlag(FLAGS_db_probe_interval);
  config.reflection = absl::GetFlag(FLAGS_reflection);
  // Replicas behind one balancer share it, so a page token works on any of them.
  if (const char* secret = std::getenv("SAASMETRICS_PAGE_TOKEN_SECRET")) {
    config.page_token_secret = secret;
  }
  config.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  config.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  config.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  config.tls_refresh = absl::GetFlag(FLAGS_tls_refresh);
  if (const std::string file = absl::GetFlag(FLAGS_bootstrap_admin_key_file); !file.empty()) {
    std::ifstream in(file);
    if (!in || !std::getline(in, config.bootstrap_admin_token)) {
      std::fprintf(stderr, "saasmetrics: --bootstrap_admin_key_file=%s: cannot read it\n",
                   file.c_str());
      return 2;
    }
  } else if (const char* env = std::getenv("SAASMETRICS_BOOTSTRAP_ADMIN_KEY")) {
    config.bootstrap_admin_token = env;
  }
  const absl::Duration grace = absl::GetFlag(FLAGS_shutdown_grace);
  // Before any other thread starts: arenas are created on a thread's first allocation.
  if (const int arenas = absl::GetFlag(FLAGS_malloc_arenas); arenas < 0 || arenas > 1024) {
    std::fprintf(stderr, "saasmetrics: --malloc_arenas=%d: must be between 0 and 1024\n", arenas);
    return 2;
  } else if (arenas > 0) {
    mallopt(M_ARENA_MAX, arenas);
  }
  if (const int64_t keep = absl::GetFlag(FLAGS_malloc_keep_bytes);
      keep < 0 || keep > (int64_t{1} << 31) - 1) {
    std::fprintf(stderr, "saasmetrics: --malloc_keep_bytes=%lld: must be between 0 and 2 GiB\n",
                 static_cast<long long>(keep));
    return 2;
  } else if (keep > 0) {
    // Blocks up to glibc's largest mmap threshold come from the arenas (and are reused);
    // each arena's top is trimmed only past `keep`.
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, static_cast<int>(keep));
    mallopt(M_TOP_PAD, 16 << 20);
  }

  if (absl::GetFlag(FLAGS_migrate_only)) {
    absl::StatusOr<saasmetrics::store::SchemaState> schema = saasmetrics::store::MigrateDatabase(
        config.database_url, saasmetrics::store::MigrateMode::kAuto,
        config.db_connect_timeout_seconds);
    if (!schema.ok()) {
      std::fprintf(stderr, "saasmetrics: migration failed: %s\n",
                   schema.status().ToString().c_str());
      return 1;
    }
    saasmetrics::observability::LogLine(absl::StrCat(
        "schema version ", schema->version, " (applied ", schema->applied_now, " migrations now)"));
    return 0;
  }

  auto server = saasmetrics::rpc::Server::Start(config);
  if (!server.ok()) {
    std::fprintf(stderr, "saasmetrics: %s\n", std::string(server.status().message()).c_str());
    return 2;
  }
  saasmetrics::observability::LogLine(absl::StrCat(
      "listening grpc_port=", (*server)->grpc_port(), " metrics_port=", (*server)->metrics_port(),
      (*server)->health_port() > 0 ? absl::StrCat(" health_port=", (*server)->health_port()) : ""));

  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    saasmetrics::observability::LogLine(absl::StrCat(sig == SIGTERM ? "SIGTERM" : "SIGINT",
                                                     ": draining in-flight calls for up to ",
                                                     absl::FormatDuration(grace)));
    (*server)->Shutdown(grace);
  });
  (*server)->Wait();
  signal_thread.join();
  server->reset();
  saasmetrics::observability::LogLine("stopped");
  return 0;
}
