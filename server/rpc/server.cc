#include "server/rpc/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <unistd.h>

#include <atomic>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/auth/authenticator.h"
#include "server/cache/partition_cache.h"
#include "server/observability/collectors.h"
#include "server/observability/log.h"
#include "server/observability/server_metrics.h"
#include "server/query/reader.h"
#include "server/query/refresher.h"
#include "server/query/thread_pool.h"
#include "server/rpc/admin_service.h"
#include "server/rpc/ingest_service.h"
#include "server/rpc/malformed.h"
#include "server/rpc/metrics_service.h"
#include "server/store/all_statements.h"
#include "server/store/database_supervisor.h"
#include "server/store/definition_store.h"
#include "server/store/ingest_store.h"
#include "server/store/key_store.h"
#include "server/store/metrics_store.h"
#include "server/store/pool.h"
#include "server/store/tenant_store.h"

namespace saasmetrics::rpc {
namespace {

// Health service names that follow the database (readiness): "" is the whole server.
const char* const kServiceNames[] = {"", "saasmetrics.v1.AdminService",
                                     "saasmetrics.v1.IngestService",
                                     "saasmetrics.v1.MetricsService"};

constexpr char kLivenessService[] = "liveness";

// Reflection registers itself with every ServerBuilder once its library is loaded; without
// --reflection this option takes it out again (it would describe the API to anyone).
class WithoutReflection : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    std::erase_if(*plugins,
                  [](const auto& p) { return absl::StrContains(p->name(), "reflection"); });
  }
};

// Plain, TLS, or mTLS; certificate files are re-read every --tls_refresh, so a rotated
// certificate (e.g. a renewed Kubernetes Secret) is served without a restart.
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const ServerConfig& c) {
  if (c.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
  const auto refresh = static_cast<unsigned int>(absl::ToInt64Seconds(c.tls_refresh));
  auto provider = c.tls_client_ca_file.empty()
                      ? std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
                            c.tls_key_file, c.tls_cert_file, refresh)
                      : std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
                            c.tls_key_file, c.tls_cert_file, c.tls_client_ca_file, refresh);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!c.tls_client_ca_file.empty()) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace

cache::CacheObserver CacheObserverFrom(observability::ServerMetrics::CacheHooks h) {
  return cache::CacheObserver{h.hit, h.miss, h.eviction, h.loaded, h.size};
}

absl::Status ValidateConfig(const ServerConfig& c) {
  auto bad = [](absl::string_view flag, auto value, absl::string_view rule) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", value, ": ", rule));
  };
  if (c.grpc_address.empty() || c.grpc_address.find(':') == std::string::npos) {
    return bad("grpc_address", c.grpc_address, "must be HOST:PORT");
  }
  if (!c.health_address.empty() && c.health_address.find(':') == std::string::npos) {
    return bad("health_address", c.health_address, "must be HOST:PORT, or empty to disable");
  }
  if (!c.metrics_address.empty() && c.metrics_address.find(':') == std::string::npos) {
    return bad("metrics_address", c.metrics_address, "must be HOST:PORT, or empty to disable");
  }
  if (c.db_pool_size < 1 || c.db_pool_size > 1000) {
    return bad("db_pool_size", c.db_pool_size, "must be between 1 and 1000");
  }
  if (c.worker_threads < 1 || c.worker_threads > 1000) {
    return bad("worker_threads", c.worker_threads, "must be between 1 and 1000");
  }
  if (c.ingest_threads < 1 || c.ingest_threads > 1000) {
    return bad("ingest_threads", c.ingest_threads, "must be between 1 and 1000");
  }
  if (c.loader_threads < 0 || c.loader_threads > 1000) {
    return bad("loader_threads", c.loader_threads, "must be between 0 and 1000");
  }
  if (c.max_queued_calls < 1 || c.max_queued_calls > 1000000) {
    return bad("max_queued_calls", c.max_queued_calls, "must be between 1 and 1000000");
  }
  if (c.db_connect_timeout_seconds < 1 || c.db_connect_timeout_seconds > 600) {
    return bad("db_connect_timeout", c.db_connect_timeout_seconds,
               "must be between 1 and 600 seconds");
  }
  if (c.max_batch_items < 1 || c.max_batch_items > 1000000) {
    return bad("max_batch_items", c.max_batch_items, "must be between 1 and 1000000");
  }
  if (c.max_batch_bytes < 1024 || c.max_batch_bytes > (1 << 30)) {
    return bad("max_batch_bytes", c.max_batch_bytes, "must be between 1024 and 1073741824");
  }
  if (c.cache_bytes < 0) return bad("cache_bytes", c.cache_bytes, "must not be negative");
  if (c.query_memory_bytes < 0) {
    return bad("query_memory_bytes", c.query_memory_bytes, "must not be negative");
  }
  if (c.max_watches < 0 || c.max_watches > 1000000) {
    return bad("max_watches", c.max_watches, "must be between 0 and 1000000");
  }
  if (c.watch_min_interval < absl::ZeroDuration() || c.watch_min_interval > absl::Hours(1)) {
    return bad("watch_min_interval", absl::FormatDuration(c.watch_min_interval),
               "must be between 0s and 1h");
  }
  if (c.max_query_days < 1 || c.max_query_days > 36600) {
    return bad("max_query_days", c.max_query_days, "must be between 1 and 36600");
  }
  if (!c.bootstrap_admin_token.empty() && !auth::ParseToken(c.bootstrap_admin_token)) {
    return absl::InvalidArgumentError(
        "--bootstrap_admin_key_file: the file does not hold an API key (sm_<16 hex>_<43 "
        "base64url characters>)");
  }
  if (c.tls_cert_file.empty() != c.tls_key_file.empty()) {
    return bad("tls_cert_file", c.tls_cert_file, "and --tls_key_file go together");
  }
  if (!c.tls_client_ca_file.empty() && c.tls_cert_file.empty()) {
    return bad("tls_client_ca_file", c.tls_client_ca_file,
               "needs --tls_cert_file and --tls_key_file");
  }
  for (const std::string* file : {&c.tls_cert_file, &c.tls_key_file, &c.tls_client_ca_file}) {
    if (!file->empty() && access(file->c_str(), R_OK) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("--tls_*: cannot read ", *file));
    }
  }
  if (c.tls_refresh < absl::Seconds(1)) {
    return bad("tls_refresh", absl::FormatDuration(c.tls_refresh), "must be at least 1s");
  }
  if (c.default_deadline <= absl::ZeroDuration()) {
    return bad("default_deadline", absl::FormatDuration(c.default_deadline), "must be positive");
  }
  if (c.db_probe_interval <= absl::ZeroDuration()) {
    return bad("db_probe_interval", absl::FormatDuration(c.db_probe_interval), "must be positive");
  }
  return absl::OkStatus();
}

struct Server::Impl {
  ServerConfig config;
  observability::ServerMetrics metrics;
  std::shared_ptr<observability::ProcessCollector> process_collector;
  std::shared_ptr<observability::PoolCollector> pool_collector;
  std::unique_ptr<store::ConnectionPool> pool;
  std::unique_ptr<store::TenantStore> tenants;
  std::unique_ptr<store::IngestStore> ingest_store;
  std::unique_ptr<store::MetricsStore> metrics_store;
  std::unique_ptr<store::DefinitionStore> pql_rules, engagement_models, trained_models;
  std::unique_ptr<store::KeyStore> keys;
  std::unique_ptr<auth::Authenticator> authenticator;
  std::unique_ptr<cache::PartitionCache> cache;
  std::unique_ptr<query::ThreadPool> query_pool, ingest_pool, loader_pool;
  // Two long-lived loops, each holding one of its threads while the server lives: the change
  // feed's and the watches' timers'.
  std::unique_ptr<query::ThreadPool> background_pool;
  std::unique_ptr<query::Reader> reader;
  // After the reader and the pools (it uses both), before the ingest service (which tells it).
  std::unique_ptr<query::Refresher> refresher;
  // Which tenants changed, across replicas, and the watches' timers: before the services
  // that use them, so destroyed after them.
  std::unique_ptr<store::ChangeFeed> feed;
  std::unique_ptr<query::Timers> timers;
  std::unique_ptr<AdminService> admin;
  std::unique_ptr<IngestService> ingest;
  std::unique_ptr<MetricsService> metrics_service;
  std::unique_ptr<grpc::Server> server;
  // Plaintext, health only (--health_address): for probes that cannot speak TLS.
  std::unique_ptr<grpc::Server> health_server;
  // Answers any other method UNIMPLEMENTED; a server needs one callback service before
  // gRPC adds its health service.
  grpc::CallbackGenericService health_unimplemented;
  std::unique_ptr<store::DatabaseSupervisor> supervisor;
  int grpc_port = 0;
  int health_port = 0;

  // Sets `name`'s health on every server that answers health checks.
  void SetHealth(const std::string& name, bool serving) {
    for (grpc::Server* s : {server.get(), health_server.get()}) {
      if (s != nullptr) s->GetHealthCheckService()->SetServingStatus(name, serving);
    }
  }
  std::atomic<bool> serving{false};
  // Last, so it stops scraping before anything it reads is destroyed.
  std::unique_ptr<prometheus::Exposer> exposer;

  void SetServing(const store::DatabaseState& state) {
    serving = state.serving;
    metrics.SetDatabaseUp(state.serving);
    if (state.serving) metrics.SetSchemaVersion(state.schema_version);
    for (const char* name : kServiceNames) SetHealth(name, state.serving);
    observability::LogLine(state.serving ? absl::StrCat(state.detail, "; health SERVING")
                                         : absl::StrCat(state.detail,
                                                        "; retrying with backoff, health "
                                                        "NOT_SERVING"));
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  Shutdown(absl::ZeroDuration());
  impl_->supervisor.reset();
  // Each runs what is queued (finishing those calls), then joins.
  impl_->ingest_pool.reset();
  impl_->query_pool.reset();
  impl_->loader_pool.reset();
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerConfig& config) {
  if (absl::Status s = ValidateConfig(config); !s.ok()) return s;
  if (!auth::InitCrypto()) return absl::InternalError("libsodium could not be initialized");
  auto impl = std::make_unique<Impl>();
  Impl& m = *impl;
  m.config = config;
  if (!config.metrics_address.empty()) {
    auto exposer = observability::StartExposer(config.metrics_address, m.metrics.registry());
    if (!exposer.ok()) return exposer.status();
    m.exposer = std::move(*exposer);
  }
  m.pool = std::make_unique<store::ConnectionPool>(store::PoolOptions{
      .conninfo = config.database_url,
      .size = config.db_pool_size,
      .connect_timeout_seconds = config.db_connect_timeout_seconds,
      .statements = store::AllStatements(),
  });
  m.pool->set_query_observer([metrics = &m.metrics](absl::string_view name, absl::Duration d) {
    metrics->QueryDone(name, d);
  });
  if (m.exposer != nullptr) {
    m.process_collector = std::make_shared<observability::ProcessCollector>();
    m.pool_collector = std::make_shared<observability::PoolCollector>([pool = m.pool.get()] {
      const store::PoolStats s = pool->stats();
      return observability::PoolSnapshot{.size = s.size,
                                         .open = s.open,
                                         .in_use = s.in_use,
                                         .waits = s.waits,
                                         .wait_seconds = absl::ToDoubleSeconds(s.wait_time)};
    });
    m.exposer->RegisterCollectable(m.process_collector);
    m.exposer->RegisterCollectable(m.pool_collector);
  }
  m.tenants = std::make_unique<store::TenantStore>(*m.pool);
  m.ingest_store = std::make_unique<store::IngestStore>(*m.pool);
  m.metrics_store = std::make_unique<store::MetricsStore>(*m.pool);
  m.pql_rules = std::make_unique<store::DefinitionStore>(*m.pool, store::kPqlRules);
  m.engagement_models = std::make_unique<store::DefinitionStore>(*m.pool, store::kEngagementModels);
  m.trained_models = std::make_unique<store::DefinitionStore>(*m.pool, store::kTrainedModels);
  const size_t queue = static_cast<size_t>(config.max_queued_calls);
  m.query_pool = std::make_unique<query::ThreadPool>(config.worker_threads, queue);
  m.ingest_pool = std::make_unique<query::ThreadPool>(config.ingest_threads, queue);
  m.loader_pool = std::make_unique<query::ThreadPool>(config.loader_threads, queue);
  m.background_pool = std::make_unique<query::ThreadPool>(2, 2);
  m.keys = std::make_unique<store::KeyStore>(*m.pool);
  m.authenticator = std::make_unique<auth::Authenticator>(
      auth::AuthOptions{.bootstrap_token = config.bootstrap_admin_token}, *m.keys);
  const HandlerEnv query_env{m.query_pool.get(), "query", &m.metrics, config.default_deadline,
                             m.authenticator.get()};
  const HandlerEnv ingest_env{m.ingest_pool.get(), "ingest", &m.metrics, config.default_deadline,
                              m.authenticator.get()};
  const std::string page_secret =
      config.page_token_secret.empty() ? auth::RandomSecret() : config.page_token_secret;
  m.admin = std::make_unique<AdminService>(query_env, *m.tenants, *m.pql_rules,
                                           *m.engagement_models, *m.keys, page_secret);
  m.cache = std::make_unique<cache::PartitionCache>(static_cast<size_t>(config.cache_bytes),
                                                    CacheObserverFrom(m.metrics.CacheHooksFor()));
  m.reader = std::make_unique<query::Reader>(
      query::ReaderLimits{.max_query_days = config.max_query_days,
                          .query_memory_bytes = config.query_memory_bytes},
      *m.tenants, *m.metrics_store, *m.cache, *m.loader_pool);
  m.refresher = std::make_unique<query::Refresher>(*m.reader, *m.loader_pool);
  m.feed = std::make_unique<store::ChangeFeed>(store::ChangeFeedOptions{
      .conninfo = config.database_url,
      .connect_timeout_seconds = config.db_connect_timeout_seconds,
      .max_backoff = config.db_max_backoff,
      .log = [](absl::string_view line) { observability::LogLine(line); }});
  m.timers = std::make_unique<query::Timers>();
  if (!m.timers->Start(*m.background_pool)) return absl::InternalError("cannot start the timers");
  m.admin->set_change_feed(m.feed.get());
  m.ingest = std::make_unique<IngestService>(
      ingest_env, engine::IngestLimits{.max_items = config.max_batch_items}, *m.tenants,
      *m.ingest_store, m.refresher.get(), m.feed.get());
  m.metrics_service = std::make_unique<MetricsService>(
      query_env, *m.reader, *m.pql_rules, *m.engagement_models, *m.trained_models, page_secret);
  m.metrics_service->set_watch_options({.feed = m.feed.get(),
                                        .timers = m.timers.get(),
                                        .max_watches = config.max_watches,
                                        .min_interval = config.watch_min_interval});

  grpc::EnableDefaultHealthCheckService(true);
  if (config.reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(config.max_batch_bytes);
  if (!config.reflection) builder.SetOption(std::make_unique<WithoutReflection>());
  builder.AddListeningPort(config.grpc_address, ServerCredentials(config), &m.grpc_port);
  builder.RegisterService(m.admin.get());
  builder.RegisterService(m.ingest.get());
  builder.RegisterService(m.metrics_service.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<MalformedRequestInterceptorFactory>(&m.metrics));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  m.server = builder.BuildAndStart();
  if (m.server == nullptr || m.grpc_port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--grpc_address=", config.grpc_address, ": cannot listen"));
  }
  if (!config.health_address.empty()) {
    grpc::ServerBuilder health;
    health.SetOption(std::make_unique<WithoutReflection>());
    health.RegisterCallbackGenericService(&m.health_unimplemented);
    health.AddListeningPort(config.health_address, grpc::InsecureServerCredentials(),
                            &m.health_port);
    m.health_server = health.BuildAndStart();
    if (m.health_server == nullptr || m.health_port == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--health_address=", config.health_address, ": cannot listen"));
    }
  }
  for (const char* name : kServiceNames) m.SetHealth(name, false);
  // Liveness: SERVING while the process serves gRPC at all, whatever the database does,
  // so a liveness probe does not restart every replica during a database outage.
  m.SetHealth(kLivenessService, true);
  m.supervisor = std::make_unique<store::DatabaseSupervisor>(
      store::SupervisorOptions{
          .conninfo = config.database_url,
          .migrate = config.migrate,
          .migrations = store::EmbeddedMigrations(),
          .probe_interval = config.db_probe_interval,
          .max_backoff = config.db_max_backoff,
          .connect_timeout_seconds = config.db_connect_timeout_seconds,
      },
      *m.pool, [impl = &m](const store::DatabaseState& s) { impl->SetServing(s); });
  m.supervisor->Start();
  if (!m.feed->Start([pool = m.background_pool.get()](std::function<void()> task) {
        return pool->TrySubmit(std::move(task));
      })) {
    return absl::InternalError("cannot start the change feed");
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::grpc_port() const { return impl_->grpc_port; }

int Server::metrics_port() const {
  if (impl_->exposer == nullptr) return 0;
  auto ports = impl_->exposer->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

bool Server::serving() const { return impl_->serving; }

int64_t Server::watch_rounds() const { return impl_->metrics.watch_rounds(); }

int Server::health_port() const { return impl_->health_port; }

void Server::Shutdown(absl::Duration grace) {
  if (impl_->health_server != nullptr) {
    // Probes see the process going: NOT_SERVING, then the port closes.
    impl_->health_server->GetHealthCheckService()->Shutdown();
  }
  impl_->server->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
  if (impl_->health_server != nullptr) impl_->health_server->Shutdown();
}

void Server::Wait() {
  impl_->server->Wait();
  if (impl_->health_server != nullptr) impl_->health_server->Wait();
}

}  // namespace saasmetrics::rpc
