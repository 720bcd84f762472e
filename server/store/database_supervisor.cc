#include "server/store/database_supervisor.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/store/conninfo.h"
#include "server/store/migrate.h"
#include "server/store/pg_error.h"
#include "server/store/tx.h"

namespace saasmetrics::store {

struct DatabaseSupervisor::Conn {
  std::unique_ptr<pqxx::connection> pq;
};

DatabaseSupervisor::DatabaseSupervisor(SupervisorOptions options, ConnectionPool& pool,
                                       std::function<void(const DatabaseState&)> on_change)
    : options_(std::move(options)), pool_(pool), on_change_(std::move(on_change)) {
  state_.detail = "starting";
}

DatabaseSupervisor::~DatabaseSupervisor() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void DatabaseSupervisor::Start() {
  thread_ = std::thread([this] { Run(); });
}

DatabaseState DatabaseSupervisor::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

absl::Status DatabaseSupervisor::Check() {
  try {
    if (conn_ == nullptr || !conn_->pq->is_open()) {
      conn_.reset();
      absl::StatusOr<std::unique_ptr<pqxx::connection>> conn =
          OpenConnection(options_.conninfo, options_.connect_timeout_seconds);
      if (!conn.ok()) return conn.status();
      conn_ = std::make_unique<Conn>(Conn{std::move(*conn)});
    }
    bool was_serving = state().serving;
    if (!was_serving) {
      absl::StatusOr<SchemaState> schema =
          Migrate(*conn_->pq, options_.migrate, options_.migrations);
      if (!schema.ok()) return schema.status();
      absl::MutexLock lock(&mu_);
      state_.schema_version = schema->version;
      state_.detail = absl::StrCat("database at ", DescribeTarget(options_.conninfo),
                                   " reachable; schema version ", schema->version, " (applied ",
                                   schema->applied_now, " migrations now)");
      return absl::OkStatus();
    }
    pqxx::nontransaction probe(*conn_->pq);
    probe.exec("SELECT 1");
    return absl::OkStatus();
  } catch (...) {
    conn_.reset();
    return CurrentExceptionToStatus();
  }
}

void DatabaseSupervisor::Report(const absl::Status& status) {
  DatabaseState snapshot;
  bool changed;
  {
    absl::MutexLock lock(&mu_);
    std::string detail = status.ok() ? state_.detail : std::string(status.message());
    changed = state_.serving != status.ok() || (!status.ok() && detail != state_.detail);
    state_.serving = status.ok();
    state_.detail = detail;
    snapshot = state_;
  }
  if (status.ok() && was_down_) pool_.Reset();
  was_down_ = !status.ok();
  // While the database cannot be reached, calls fail at once instead of each opening a
  // connection of its own (dozens a second during an outage, and on loopback one may even
  // connect to itself and hold the port PostgreSQL restarts on).
  pool_.SetUnreachable(absl::IsUnavailable(status) ? std::string(status.message()) : "");
  if (changed && on_change_) on_change_(snapshot);
}

void DatabaseSupervisor::Run() {
  absl::Duration backoff = options_.min_backoff;
  while (true) {
    absl::Status status = Check();
    Report(status);
    absl::Duration wait = options_.probe_interval;
    if (status.ok()) {
      backoff = options_.min_backoff;
    } else {
      wait = backoff;
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
    absl::MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping), wait)) return;
  }
}

}  // namespace saasmetrics::store
