// Importers for public datasets: file rows → ingest batches, validated whole before
// anything is sent, so a bad file writes nothing.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
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

// "12.5" → 1250 for two minor digits, exactly; false if not a non-negative decimal.
bool ParseMinorUnits(const std::string& text, int64_t* out);

}  // namespace saasmetrics::client
