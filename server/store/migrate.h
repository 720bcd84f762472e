// Internal to the store layer: runs migrations over a pqxx connection.
#pragma once

#include <pqxx/pqxx>
#include <span>

#include "absl/status/statusor.h"
#include "server/store/migrator.h"

namespace saasmetrics::store {

// kAuto: under a session advisory lock (so replicas starting together apply each
// migration once), applies every pending migration, each in its own transaction, and
// records it in schema_migrations. kCheck: applies nothing; FAILED_PRECONDITION unless
// every migration is applied. kOff: nothing. Both verify the checksums of applied
// migrations: an edited, already-applied file is FAILED_PRECONDITION.
absl::StatusOr<SchemaState> Migrate(pqxx::connection& conn, MigrateMode mode,
                                    std::span<const Migration> migrations);

}  // namespace saasmetrics::store
