// Keeps track of whether the database is usable: connects, brings the schema up to
// date, then probes it; on failure retries with capped exponential backoff.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/store/migrator.h"
#include "server/store/pool.h"

namespace saasmetrics::store {

struct SupervisorOptions {
  std::string conninfo;
  MigrateMode migrate = MigrateMode::kAuto;
  std::span<const Migration> migrations;
  absl::Duration probe_interval = absl::Seconds(1);
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  int connect_timeout_seconds = 5;
};

struct DatabaseState {
  bool serving = false;
  int schema_version = 0;
  std::string detail;  // why not serving, or what was done
};

class DatabaseSupervisor {
 public:
  // `on_change` runs on the supervisor's thread on every change of serving state and
  // on every new kind of failure; `pool` is reset when the database comes back.
  DatabaseSupervisor(SupervisorOptions options, ConnectionPool& pool,
                     std::function<void(const DatabaseState&)> on_change);
  ~DatabaseSupervisor();  // stops the thread

  void Start();
  DatabaseState state() const;

 private:
  void Run();
  // One round: connected and current → OK; otherwise the reason.
  absl::Status Check();
  void Report(const absl::Status& status);

  const SupervisorOptions options_;
  ConnectionPool& pool_;
  std::function<void(const DatabaseState&)> on_change_;
  struct Conn;                  // a pqxx connection; database_supervisor.cc
  std::unique_ptr<Conn> conn_;  // only the supervisor thread uses it
  bool was_down_ = false;

  mutable absl::Mutex mu_;
  DatabaseState state_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace saasmetrics::store
