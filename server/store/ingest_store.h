// Durable, idempotent writes of validated batches: one transaction per batch, COPY into
// a staging table, one set-based insert per table, partition versions bumped in the
// same transaction.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/engine/currency.h"
#include "server/engine/events.h"
#include "server/store/pool.h"

namespace saasmetrics::store {

// Kinds of cached partitions, as stored in partition_versions.kind.
enum class PartitionKind : int {
  kSubscriptionEvents = 1,
  kUsageEvents = 2,
  kCustomers = 3,
  kAcquisitionSpend = 4,
  kSurveyResponses = 5,
  kExchangeRates = 6,
};

// The name saasmetrics_ensure_month_partition() (migrations/0001) gives the monthly
// partition of `table` holding `month`: "usage_events_y2024m03".
std::string MonthPartitionName(absl::string_view table, absl::CivilMonth month);

struct IngestCounts {
  int64_t accepted = 0;    // stored (customers: inserted or updated) by this batch
  int64_t duplicates = 0;  // identity already present (customers: not newer), skipped
};

class IngestStore {
 public:
  explicit IngestStore(ConnectionPool& pool) : pool_(pool) {}

  absl::StatusOr<IngestCounts> WriteSubscriptionEvents(
      const std::string& tenant_id, const std::vector<engine::SubscriptionEvent>& events,
      absl::Time deadline);
  absl::StatusOr<IngestCounts> WriteUsageEvents(const std::string& tenant_id,
                                                const std::vector<engine::UsageEvent>& events,
                                                absl::Time deadline);
  // Last write by updated_at wins; an equal or older updated_at changes nothing.
  absl::StatusOr<IngestCounts> UpsertCustomers(const std::string& tenant_id,
                                               const std::vector<engine::Customer>& customers,
                                               absl::Time deadline);
  absl::StatusOr<IngestCounts> WriteSpend(const std::string& tenant_id,
                                          const std::vector<engine::AcquisitionSpend>& spend,
                                          absl::Time deadline);
  // Rates replace a stored rate of the same (currency, date) when they differ from it.
  absl::StatusOr<IngestCounts> WriteExchangeRates(const std::string& tenant_id,
                                                  const std::vector<engine::ExchangeRate>& rates,
                                                  absl::Time deadline);
  absl::StatusOr<IngestCounts> WriteSurveyResponses(
      const std::string& tenant_id, const std::vector<engine::SurveyResponse>& responses,
      absl::Time deadline);

  static std::span<const Statement> Statements();

 private:
  // Creates the monthly partitions of `table` for `months`, each in its own short
  // transaction (DDL must not hold locks for a whole batch).
  absl::Status EnsureMonths(const std::string& table, const std::vector<absl::CivilMonth>& months,
                            absl::Time deadline);
  // The common case of a batch of new events: COPY identities and events straight into
  // their tables. ALREADY_EXISTS when any identity is stored already (nothing written).
  // `keys`: the events' identity keys, sorted (SortedUsageKeys).
  absl::StatusOr<IngestCounts> CopyNewUsageEvents(const std::string& tenant_id,
                                                  const std::vector<engine::UsageEvent>& events,
                                                  const std::vector<absl::string_view>& keys,
                                                  const std::vector<absl::CivilMonth>& months,
                                                  absl::Time deadline);
  // Which of `keys` (usage identity keys) are stored already: one index probe when the
  // first is new (the common case), else all of them looked up at once.
  enum class Stored { kFirstIsNew, kSome, kAll };
  absl::StatusOr<Stored> UsageKeysStored(const std::vector<absl::string_view>& keys,
                                         absl::Time deadline);
  // Runs a batch transaction, retrying it when PostgreSQL aborted it (deadlock).
  absl::StatusOr<IngestCounts> Write(absl::Time deadline, size_t items,
                                     absl::FunctionRef<absl::StatusOr<int64_t>(Tx&)> write);

  ConnectionPool& pool_;
  absl::Mutex mu_;
  absl::flat_hash_set<std::string> known_partitions_ ABSL_GUARDED_BY(mu_);
};

// RFC 8259 JSON object of the pairs ({"k":"v",...}), for jsonb columns.
std::string JsonObject(const engine::StringPairs& pairs);

}  // namespace saasmetrics::store
