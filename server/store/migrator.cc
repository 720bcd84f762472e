#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/engine/status_macros.h"
#include "server/store/migrate.h"
#include "server/store/pg_error.h"
#include "server/store/tx.h"

namespace saasmetrics::store {
namespace {

// pg_advisory_lock key: "saasmigr" in ASCII.
constexpr int64_t kMigrationLockKey = 0x736161736d696772;

constexpr absl::string_view kCreateTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version     integer PRIMARY KEY,
  name        text NOT NULL,
  checksum    text NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT now()
))sql";

struct Applied {
  std::string name;
  std::string checksum;
};
using AppliedMap = std::map<int, Applied>;

absl::StatusOr<AppliedMap> ReadApplied(pqxx::connection& conn) {
  try {
    pqxx::read_transaction txn(conn);
    AppliedMap out;
    if (txn.exec1("SELECT to_regclass('schema_migrations') IS NULL")[0].as<bool>()) return out;
    for (const auto& row : txn.exec("SELECT version, name, checksum FROM schema_migrations")) {
      out[row[0].as<int>()] = Applied{row[1].as<std::string>(), row[2].as<std::string>()};
    }
    return out;
  } catch (...) {
    return CurrentExceptionToStatus();
  }
}

absl::Status VerifyChecksums(const AppliedMap& applied, std::span<const Migration> migrations) {
  for (const Migration& m : migrations) {
    auto it = applied.find(m.version);
    if (it != applied.end() && it->second.checksum != MigrationChecksum(m.sql)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "migration ", m.name, " was changed after it was applied (checksum ", it->second.checksum,
          " in schema_migrations, ", MigrationChecksum(m.sql), " now)"));
    }
  }
  return absl::OkStatus();
}

absl::Status ApplyOne(pqxx::connection& conn, const Migration& m) {
  try {
    pqxx::work txn(conn);
    txn.exec(std::string(m.sql));
    txn.exec_params("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    m.version, std::string(m.name), MigrationChecksum(m.sql));
    txn.commit();
    return absl::OkStatus();
  } catch (...) {
    absl::Status s = CurrentExceptionToStatus();
    return absl::Status(s.code(), absl::StrCat("applying migration ", m.name, ": ", s.message()));
  }
}

absl::StatusOr<SchemaState> ApplyPending(pqxx::connection& conn,
                                         std::span<const Migration> migrations) {
  try {
    pqxx::work txn(conn);
    txn.exec(std::string(kCreateTable));
    txn.commit();
  } catch (...) {
    return CurrentExceptionToStatus();
  }
  ASSIGN_OR_RETURN(AppliedMap applied, ReadApplied(conn));
  RETURN_IF_ERROR(VerifyChecksums(applied, migrations));
  SchemaState state;
  for (const Migration& m : migrations) {
    if (applied.count(m.version)) continue;
    RETURN_IF_ERROR(ApplyOne(conn, m));
    ++state.applied_now;
  }
  ASSIGN_OR_RETURN(applied, ReadApplied(conn));
  state.version = applied.empty() ? 0 : applied.rbegin()->first;
  return state;
}

absl::Status LockOrUnlock(pqxx::connection& conn, bool lock) {
  try {
    pqxx::nontransaction txn(conn);
    txn.exec_params(lock ? "SELECT pg_advisory_lock($1)" : "SELECT pg_advisory_unlock($1)",
                    kMigrationLockKey);
    return absl::OkStatus();
  } catch (...) {
    return CurrentExceptionToStatus();
  }
}

}  // namespace

std::string MigrationChecksum(absl::string_view sql) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : sql) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return absl::StrFormat("%016x", h);
}

absl::StatusOr<SchemaState> Migrate(pqxx::connection& conn, MigrateMode mode,
                                    std::span<const Migration> migrations) {
  if (mode == MigrateMode::kOff) return SchemaState{};
  if (mode == MigrateMode::kCheck) {
    ASSIGN_OR_RETURN(AppliedMap applied, ReadApplied(conn));
    RETURN_IF_ERROR(VerifyChecksums(applied, migrations));
    for (const Migration& m : migrations) {
      if (!applied.count(m.version)) {
        return absl::FailedPreconditionError(
            absl::StrCat("migration ", m.name, " is not applied (--migrate=check)"));
      }
    }
    return SchemaState{applied.empty() ? 0 : applied.rbegin()->first, 0};
  }
  RETURN_IF_ERROR(LockOrUnlock(conn, true));
  absl::StatusOr<SchemaState> state = ApplyPending(conn, migrations);
  // A broken connection released the session lock with it; otherwise release it now.
  absl::Status unlocked = LockOrUnlock(conn, false);
  if (!state.ok()) return state.status();
  RETURN_IF_ERROR(unlocked);
  return state;
}

absl::StatusOr<SchemaState> MigrateDatabase(const std::string& conninfo, MigrateMode mode,
                                            int connect_timeout_seconds) {
  ASSIGN_OR_RETURN(std::unique_ptr<pqxx::connection> conn,
                   OpenConnection(conninfo, connect_timeout_seconds));
  return Migrate(*conn, mode, EmbeddedMigrations());
}

}  // namespace saasmetrics::store
