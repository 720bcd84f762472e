// Importers for public datasets: file rows → ingest batches, validated whole before
// anything is sent, so a bad file writes nothing.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "saasmetrics/v1/ingest.pb.h"

namespace saasmetrics::client {

struct Import {
  std::vector<v1::Customer> customers;
  std::vector<v1::SubscriptionEvent> events;
};

// dbt's subscription_periods.csv: subscription_id, customer_id, start_date (inclusive),
// end_date (exclusive, empty while running), monthly_amount (decimal currency units).
// Each row is a monthly subscription active from start_date and canceled at end_date;
// each customer is created at its first start. INVALID_ARGUMENT "FILE:LINE: column
// NAME: ..." for the first bad cell.
absl::StatusOr<Import> ImportSubscriptionPeriods(const std::string& path,
                                                 const std::string& currency);

// IBM's Telco customer churn snapshot (telco_customer_churn.csv), one row per customer,
// read relative to `snapshot`, the last day of the snapshot's month M:
// - tenure t (completed months) → a monthly subscription starting on the first day of
//   month M - t (t = 0: started on the first day of M);
// - MonthlyCharges (USD) → its MRR; Contract → its plan;
// - Churn = Yes → canceled on the first day of M (t = 0: on `snapshot`), so month M
//   holds every churn;
// - Contract, PaymentMethod and InternetService → customer attributes.
// Errors as for ImportSubscriptionPeriods.
absl::StatusOr<Import> ImportTelco(const std::string& path, const std::string& currency,
                                   absl::CivilDay snapshot);

// "12.5" → 1250 for two minor digits, exactly; false if not a non-negative decimal.
bool ParseMinorUnits(const std::string& text, int64_t* out);

}  // namespace saasmetrics::client
