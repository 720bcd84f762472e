// Reads what the metrics engine computes on: subscription events and customers.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/engine/events.h"
#include "server/engine/usage.h"
#include "server/store/ingest_store.h"
#include "server/store/pool.h"

namespace saasmetrics::store {

struct PartitionVersion {
  absl::CivilMonth month;
  int64_t version = 0;
};

// What a tenant's subscription history is derived from: every month of subscription
// events, in month order, and the exchange rates (a version as TenantWide kinds sum it).
struct HistoryVersions {
  std::vector<PartitionVersion> subscription_months;
  int64_t exchange_rates = 0;
};

// One month's rows as of one version, read in one snapshot with that version.
template <typename Rows>
struct MonthLoad {
  Rows rows;
  int64_t version = 0;  // the month's version the rows are exactly (0: never written)
  bool whole = true;    // false: only the rows written after the version asked for
};

class MetricsStore {
 public:
  explicit MetricsStore(ConnectionPool& pool) : pool_(pool) {}

  // The version of every partition of `kind` whose month overlaps [from, until), in month
  // order.
  absl::StatusOr<std::vector<PartitionVersion>> PartitionVersions(const std::string& tenant_id,
                                                                  PartitionKind kind,
                                                                  absl::Time from, absl::Time until,
                                                                  absl::Time deadline);

  // Both in one statement.
  absl::StatusOr<HistoryVersions> HistoryVersionsOf(const std::string& tenant_id,
                                                    absl::Time deadline);

  // The tenant's usage events with time in the UTC month at the month's current version,
  // as a partition built straight from the rows (no intermediate events). Given `base`
  // (the month at version `base_version`), reads only the rows written since and adds
  // them to a copy of it, unless the log of writes no longer says which rows those are
  // (migrations/0004): then, and without `base`, the whole month.
  absl::StatusOr<MonthLoad<engine::UsagePartition>> UsageMonth(const std::string& tenant_id,
                                                               absl::CivilMonth month,
                                                               const engine::UsagePartition* base,
                                                               int64_t base_version,
                                                               absl::Time deadline);

  // The tenant's subscription events with effective_at in the UTC month at the month's
  // current version: all of them, or (after > 0) those written after version `after` when
  // the log of writes still says which they are (`whole` tells which it is).
  absl::StatusOr<MonthLoad<std::vector<engine::SubscriptionEvent>>> SubscriptionMonth(
      const std::string& tenant_id, absl::CivilMonth month, int64_t after, absl::Time deadline);

  // Every customer of the tenant, attributes included.
  absl::StatusOr<std::vector<engine::Customer>> Customers(const std::string& tenant_id,
                                                          absl::Time deadline);

  // Every acquisition spend row of the tenant.
  // One customer's subscription events, by effective_at then ingest order (a profile).
  absl::StatusOr<std::vector<engine::SubscriptionEvent>> CustomerSubscriptionEvents(
      const std::string& tenant_id, const std::string& customer_id, absl::Time deadline);
  // Every survey response of the tenant (comments are not read: NPS does not use them).
  absl::StatusOr<std::vector<engine::SurveyResponse>> SurveyResponses(const std::string& tenant_id,
                                                                      absl::Time deadline);
  absl::StatusOr<std::vector<engine::ExchangeRate>> ExchangeRates(const std::string& tenant_id,
                                                                  absl::Time deadline);
  absl::StatusOr<std::vector<engine::AcquisitionSpend>> Spend(const std::string& tenant_id,
                                                              absl::Time deadline);

  static std::span<const Statement> Statements();

 private:
  ConnectionPool& pool_;
};

}  // namespace saasmetrics::store
