// A fixed-size pool of PostgreSQL connections and the one way to run a transaction.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/store/statement.h"

namespace saasmetrics::store {

struct PoolOptions {
  std::string conninfo;  // libpq connection string or URL; empty: libpq environment
  int size = 8;
  int connect_timeout_seconds = 5;
  std::vector<Statement> statements;  // prepared (lazily) on every connection
};

// Observes every statement run through a Tx: its name and how long it took.
using QueryObserver = std::function<void(absl::string_view name, absl::Duration elapsed)>;

class Tx;  // tx.h: runs named statements inside ConnectionPool::Transact

struct PoolStats {
  int size = 0;
  int open = 0;
  int in_use = 0;
  int64_t waits = 0;
  absl::Duration wait_time;
};

class ConnectionPool {
 public:
  explicit ConnectionPool(PoolOptions options);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Runs `fn` in one transaction, committed when `fn` returns OK and rolled back
  // otherwise. Waits for a connection at most until `deadline`, and bounds each
  // statement by it. Database errors come back as canonical statuses (pg_error.h).
  absl::Status Transact(absl::Time deadline, absl::FunctionRef<absl::Status(Tx&)> fn);
  // The same as a REPEATABLE READ, READ ONLY transaction: every statement of `fn` reads
  // one snapshot (set in the same round trip as the statement timeout).
  absl::Status Snapshot(absl::Time deadline, absl::FunctionRef<absl::Status(Tx&)> fn);

  // Drops idle connections and marks leased ones to be dropped when returned; called
  // when the database came back after an outage, so no request sees a dead socket.
  void Reset();

  // Set by the database supervisor: non-empty while the database is known unreachable, when
  // Transact fails at once with UNAVAILABLE instead of connecting; empty again once a probe
  // answers.
  void SetUnreachable(std::string why);

  void set_query_observer(QueryObserver observer) { observer_ = std::move(observer); }
  PoolStats stats() const;
  const std::string& target() const { return target_; }

 private:
  // Runs `setup` (SQL ending in "; ", or empty) first in the transaction, with the
  // statement timeout.
  absl::Status Run(absl::Time deadline, absl::string_view setup,
                   absl::FunctionRef<absl::Status(Tx&)> fn);
  struct Conn;  // a pqxx connection; pool.cc
  struct Slot {
    std::unique_ptr<Conn> conn;
    uint64_t generation = 0;
  };
  absl::StatusOr<Slot> Acquire(absl::Time deadline);
  void Release(Slot slot, bool broken);
  absl::StatusOr<std::unique_ptr<Conn>> Connect(absl::Time deadline);

  const PoolOptions options_;
  const std::string target_;
  QueryObserver observer_;

  mutable absl::Mutex mu_;
  std::vector<Slot> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + leased + being connected
  std::string unreachable_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t waits_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration wait_time_ ABSL_GUARDED_BY(mu_);
};

}  // namespace saasmetrics::store
