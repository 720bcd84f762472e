// Wires the layers into a running gRPC server. main.cc and the in-process test server
// both build the service through this, so tests run exactly what ships.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/store/migrator.h"

namespace saasmetrics::rpc {

struct ServerConfig {
  std::string grpc_address = "0.0.0.0:50051";
  std::string metrics_address = "0.0.0.0:9464";  // empty: no metrics endpoint
  // A plaintext listener serving only grpc.health.v1 (the same statuses), for probes that
  // cannot speak TLS (Kubernetes gRPC probes); empty: none.
  std::string health_address;
  std::string database_url;  // empty: libpq environment (PGHOST, ...)
  store::MigrateMode migrate = store::MigrateMode::kAuto;
  int db_pool_size = 8;
  int db_connect_timeout_seconds = 5;
  int worker_threads = 8;      // threads running query and admin handlers
  int ingest_threads = 4;      // threads running ingest batches: ingest and queries never wait
                               // for each other's threads
  int loader_threads = 4;      // threads loading missing partitions for queries
  int max_queued_calls = 256;  // calls waiting for a thread, per pool, before shedding
  absl::Duration default_deadline = absl::Seconds(30);
  absl::Duration db_probe_interval = absl::Seconds(1);
  absl::Duration db_max_backoff = absl::Seconds(5);
  int max_batch_items = 10000;
  int max_batch_bytes = 16 << 20;  // largest request message
  int max_query_days = 3700;       // longest metric query range
  int max_watches = 1000;          // WatchHealthTransitions streams open at once
  absl::Duration watch_min_interval = absl::Seconds(2);  // between two rounds of one watch
  int64_t cache_bytes = int64_t{1} << 30;                // partition cache budget
  // What queries in flight may build beyond the cache (query::MemoryBudget); 0: no limit.
  int64_t query_memory_bytes = int64_t{1} << 30;
  // An admin key over every tenant ("sm_<id>_<secret>"), from a file or the environment,
  // never the command line; empty: only stored keys authenticate.
  std::string bootstrap_admin_token;
  // Seals page tokens; empty: a random one per process (tokens then work only on the
  // replica that issued them, until it restarts).
  std::string page_token_secret;
  bool reflection = false;  // gRPC server reflection (describes the API to anyone)
  // TLS: PEM certificate chain and key (both or neither); with a client CA, clients must
  // present a certificate it signed (mTLS). The files are watched and reloaded.
  std::string tls_cert_file, tls_key_file, tls_client_ca_file;
  absl::Duration tls_refresh = absl::Minutes(1);
};

// INVALID_ARGUMENT whose message starts with the offending flag ("--db_pool_size ...").
absl::Status ValidateConfig(const ServerConfig& config);

class Server {
 public:
  // Binds the ports and starts serving; health is NOT_SERVING until the database is
  // reachable and the schema current, which happens in the background.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerConfig& config);
  ~Server();

  int grpc_port() const;
  int health_port() const;   // 0 without --health_address
  int metrics_port() const;  // 0 without a metrics endpoint
  bool serving() const;
  // Computations run by health watches so far (saasmetrics_watch_rounds_total).
  int64_t watch_rounds() const;

  // Stops accepting calls, lets in-flight ones finish within `grace`, then cancels them.
  void Shutdown(absl::Duration grace);
  void Wait();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace saasmetrics::rpc
