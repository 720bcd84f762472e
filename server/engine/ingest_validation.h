// The rules every ingested item obeys (what the API promises in ingest.proto).
#pragma once

#include <vector>

#include "absl/time/time.h"
#include "server/engine/currency.h"
#include "server/engine/events.h"
#include "server/engine/field_violation.h"

namespace saasmetrics::engine {

// The largest amount one item may carry: a subscription's unit_amount × quantity per
// interval, or one spend row. With a day interval a subscription's MRR is then at most
// ~3.0e12 minor units, so three million of them, or ten million spend rows, still sum
// inside int64 — no total the engine forms can overflow.
inline constexpr int64_t kMaxAmount = 100'000'000'000;
// The longest a spend row may run, in days.
inline constexpr int kMaxSpendDays = 3660;

struct IngestLimits {
  int max_items = 10000;     // per batch
  int max_id_bytes = 256;    // ids, names, types, channels
  int max_map_entries = 64;  // properties, attributes
  int max_key_bytes = 128;
  int max_value_bytes = 1024;
};

struct IngestRules {
  std::string currency;  // the tenant's reporting currency
  absl::Time now;        // timestamps may be at most a day past it
  IngestLimits limits;
};

// The earliest instant accepted (1990-01-01T00:00:00Z).
absl::Time EarliestAcceptedTime();

// Append one violation per broken rule; `field` is the list's name ("events").
void ValidateSubscriptionEvents(const std::vector<SubscriptionEvent>& events,
                                const IngestRules& rules, Violations& out);
void ValidateUsageEvents(const std::vector<UsageEvent>& events, const IngestRules& rules,
                         Violations& out);
void ValidateCustomers(const std::vector<Customer>& customers, const IngestRules& rules,
                       Violations& out);
void ValidateSpend(const std::vector<AcquisitionSpend>& spend, const IngestRules& rules,
                   Violations& out);
// A comment is at most kMaxCommentBytes of UTF-8 (the transport checked the encoding).
inline constexpr int kMaxCommentBytes = 4000;
void ValidateSurveyResponses(const std::vector<SurveyResponse>& responses, const IngestRules& rules,
                             Violations& out);

// Rates into the reporting currency (their texts were parsed by the caller: ParseRate).
void ValidateExchangeRates(const std::vector<ExchangeRate>& rates, const IngestRules& rules,
                           Violations& out);

}  // namespace saasmetrics::engine
