#include "server/store/pool.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/store/conninfo.h"
#include "server/store/pg_error.h"
#include "server/store/tx.h"

namespace saasmetrics::store {

struct ConnectionPool::Conn {
  std::unique_ptr<pqxx::connection> pq;
};

ConnectionPool::ConnectionPool(PoolOptions options)
    : options_(std::move(options)), target_(DescribeTarget(options_.conninfo)) {}

ConnectionPool::~ConnectionPool() = default;

absl::StatusOr<std::unique_ptr<pqxx::connection>> OpenConnection(const std::string& conninfo,
                                                                 int connect_timeout_seconds) {
  try {
    return std::make_unique<pqxx::connection>(
        WithConnectTimeout(conninfo, connect_timeout_seconds));
  } catch (const pqxx::broken_connection& e) {
    // libpq: 'connection to server at "h" (h), port p failed: REASON\n\tIs the server...'
    absl::string_view what = e.what();
    absl::string_view reason = what.substr(0, what.find('\n'));
    if (auto p = reason.rfind("failed: "); p != absl::string_view::npos)
      reason.remove_prefix(p + 8);
    return absl::UnavailableError(
        absl::StrCat("database at ", DescribeTarget(conninfo), " unreachable: ", reason));
  } catch (...) {
    return CurrentExceptionToStatus();
  }
}

absl::StatusOr<std::unique_ptr<ConnectionPool::Conn>> ConnectionPool::Connect(absl::Time deadline) {
  // A call's deadline bounds its connection attempt too (libpq counts whole seconds and
  // waits at least two), so an unreachable host can't hold a call past its deadline.
  const int64_t remaining =
      absl::ToInt64Seconds(absl::Ceil(deadline - absl::Now(), absl::Seconds(1)));
  const int timeout = static_cast<int>(
      std::clamp<int64_t>(remaining, 1, std::max(1, options_.connect_timeout_seconds)));
  absl::StatusOr<std::unique_ptr<pqxx::connection>> pq = OpenConnection(options_.conninfo, timeout);
  if (!pq.ok()) return pq.status();
  try {
    for (const Statement& s : options_.statements) {
      (*pq)->prepare(std::string(s.name), std::string(s.sql));
    }
  } catch (...) {
    return CurrentExceptionToStatus();
  }
  return std::make_unique<Conn>(Conn{std::move(*pq)});
}

void ConnectionPool::SetUnreachable(std::string why) {
  absl::MutexLock lock(&mu_);
  unreachable_ = std::move(why);
}

absl::StatusOr<ConnectionPool::Slot> ConnectionPool::Acquire(absl::Time deadline) {
  uint64_t generation;
  {
    absl::MutexLock lock(&mu_);
    if (!unreachable_.empty()) return absl::UnavailableError(unreachable_);
    auto available = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < options_.size;
    };
    if (!available()) {
      absl::Time start = absl::Now();
      ++waits_;
      bool ok = mu_.AwaitWithDeadline(absl::Condition(&available), deadline);
      wait_time_ += absl::Now() - start;
      if (!ok) {
        return absl::DeadlineExceededError(absl::StrCat(
            "no database connection free before the deadline (pool size ", options_.size, ")"));
      }
    }
    if (!idle_.empty()) {
      Slot slot = std::move(idle_.back());
      idle_.pop_back();
      return slot;
    }
    ++open_;  // reserve the place while connecting outside the lock
    generation = generation_;
  }
  absl::StatusOr<std::unique_ptr<Conn>> conn = Connect(deadline);
  if (!conn.ok()) {
    absl::MutexLock lock(&mu_);
    --open_;
    return conn.status();
  }
  return Slot{std::move(*conn), generation};
}

void ConnectionPool::Release(Slot slot, bool broken) {
  absl::MutexLock lock(&mu_);
  if (broken || slot.generation != generation_ || !slot.conn->pq->is_open()) {
    --open_;
    return;  // the connection closes outside no lock worth holding: it is already dead
  }
  idle_.push_back(std::move(slot));
}

void ConnectionPool::Reset() {
  std::vector<Slot> dropped;
  {
    absl::MutexLock lock(&mu_);
    ++generation_;
    open_ -= static_cast<int>(idle_.size());
    dropped.swap(idle_);
  }
}

absl::Status ConnectionPool::Transact(absl::Time deadline,
                                      absl::FunctionRef<absl::Status(Tx&)> fn) {
  return Run(deadline, "", fn);
}

absl::Status ConnectionPool::Snapshot(absl::Time deadline,
                                      absl::FunctionRef<absl::Status(Tx&)> fn) {
  return Run(deadline, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY; ", fn);
}

absl::Status ConnectionPool::Run(absl::Time deadline, absl::string_view setup,
                                 absl::FunctionRef<absl::Status(Tx&)> fn) {
  if (deadline <= absl::Now()) return absl::DeadlineExceededError("deadline passed before start");
  absl::StatusOr<Slot> slot = Acquire(deadline);
  if (!slot.ok()) return slot.status();
  absl::Status status;
  try {
    pqxx::work work(*slot->conn->pq);
    if (deadline != absl::InfiniteFuture()) {
      int64_t ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(deadline - absl::Now()));
      work.exec(absl::StrCat(setup, "SET LOCAL statement_timeout = ", ms));
    } else if (!setup.empty()) {
      work.exec(std::string(setup));
    }
    Tx tx(work, &observer_);
    status = fn(tx);
    if (status.ok()) work.commit();
  } catch (...) {
    status = CurrentExceptionToStatus();
  }
  Release(std::move(*slot), absl::IsUnavailable(status));
  return status;
}

PoolStats ConnectionPool::stats() const {
  absl::MutexLock lock(&mu_);
  return PoolStats{options_.size, open_, open_ - static_cast<int>(idle_.size()), waits_,
                   wait_time_};
}

}  // namespace saasmetrics::store
