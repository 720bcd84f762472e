// Internal to the store layer: the pqxx-facing pieces behind pool.h.
#pragma once

#include <memory>
#include <pqxx/pqxx>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "server/store/pool.h"
#include "server/store/statement.h"

namespace saasmetrics::store {

// Connects to `conninfo` (libpq string or URL) within `connect_timeout_seconds`. An
// unreachable server is UNAVAILABLE "database at HOST:PORT unreachable: REASON".
absl::StatusOr<std::unique_ptr<pqxx::connection>> OpenConnection(const std::string& conninfo,
                                                                 int connect_timeout_seconds);

// A transaction handle that runs named statements.
class Tx {
 public:
  Tx(pqxx::work& work, const QueryObserver* observer) : work_(work), observer_(observer) {}

  template <typename... Args>
  pqxx::result Exec(const Statement& statement, Args&&... args) {
    absl::Time start = absl::Now();
    pqxx::result r = work_.exec_prepared(std::string(statement.name), std::forward<Args>(args)...);
    if (observer_ != nullptr && *observer_) (*observer_)(statement.name, absl::Now() - start);
    return r;
  }

  pqxx::work& raw() { return work_; }

 private:
  pqxx::work& work_;
  const QueryObserver* observer_;
};

}  // namespace saasmetrics::store
