// Applies the numbered SQL files of migrations/ (embedded at build time) in order.
#pragma once

#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace saasmetrics::store {

struct Migration {
  int version;             // NNNN of NNNN_name.sql
  absl::string_view name;  // the file name
  absl::string_view sql;
};

// The migrations compiled into this binary, ordered by version.
std::span<const Migration> EmbeddedMigrations();

enum class MigrateMode { kAuto, kCheck, kOff };

struct SchemaState {
  int version = 0;      // highest applied version
  int applied_now = 0;  // migrations this call applied
};

// Connects to `conninfo` and runs the migrations compiled into this binary in `mode`
// (see migrate.h); what `saasmetrics --migrate_only` (a Kubernetes migration Job) runs.
// An unreachable database is UNAVAILABLE; an edited or missing migration
// FAILED_PRECONDITION.
absl::StatusOr<SchemaState> MigrateDatabase(const std::string& conninfo, MigrateMode mode,
                                            int connect_timeout_seconds);

// FNV-1a 64 of the migration text, hex; what schema_migrations records.
std::string MigrationChecksum(absl::string_view sql);

}  // namespace saasmetrics::store
