// The inputs of METRICS.md: subscription states, usage events, customers, spend.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace saasmetrics::engine {

// Values match saasmetrics.v1.SubscriptionStatus; anything else is invalid input.
enum class SubscriptionStatus : int {
  kUnspecified = 0,
  kActive = 1,
  kPastDue = 2,
  kTrialing = 3,
  kPaused = 4,
  kCanceled = 5,
};

// Values match saasmetrics.v1.IntervalUnit.
enum class IntervalUnit : int { kUnspecified = 0, kDay = 1, kWeek = 2, kMonth = 3, kYear = 4 };

// The most intervals one billing term may span (10000 days is 27 years): ingest refuses
// more, so a term's count fits the cached column's 16 bits.
inline constexpr int32_t kMaxIntervalCount = 10000;
// A stored count in 16 bits (rows written before the bound was checked are clamped).
inline uint16_t ClampedIntervalCount(int32_t count) {
  return static_cast<uint16_t>(count < 0 ? 0 : count > 65535 ? 65535 : count);
}

using StringPairs = std::vector<std::pair<std::string, std::string>>;

// From effective_at on, subscription `subscription_id` is in this state until its
// next event.
struct SubscriptionEvent {
  std::string event_id;
  std::string subscription_id;
  std::string customer_id;
  absl::Time effective_at;
  SubscriptionStatus status = SubscriptionStatus::kUnspecified;
  std::string plan_id;
  int64_t quantity = 0;
  int64_t unit_amount = 0;  // minor units per interval
  std::string currency;
  IntervalUnit interval_unit = IntervalUnit::kUnspecified;
  int32_t interval_count = 0;
  int32_t discount_bps = 0;     // percent off, basis points
  int64_t discount_amount = 0;  // amount off per interval, minor units
  int64_t seq = 0;              // ingest order (from storage): breaks effective_at ties
};

struct UsageEvent {
  std::string id;
  std::string source;
  std::string type;
  std::string customer_id;  // CloudEvents `subject`
  absl::Time time;
  std::string user_id;
  double value = 1;
  StringPairs properties;
};

struct Customer {
  std::string customer_id;
  absl::Time created_at;
  std::string acquisition_channel;
  std::string country;
  StringPairs attributes;
  absl::Time updated_at;
};

// A customer's answer to "how likely are you to recommend us?" (ANALYTICS.md "NPS").
struct SurveyResponse {
  std::string response_id;
  std::string customer_id;
  std::string user_id;  // empty: the customer answered as a whole
  int32_t score = 0;    // 0..10
  absl::Time time;
  std::string comment;
  std::string channel;
  int64_t seq = 0;  // ingest order (the store's): of two at one time, the later is latest
};

struct AcquisitionSpend {
  std::string spend_id;
  std::string channel;
  absl::CivilDay start_date;  // inclusive
  absl::CivilDay end_date;    // inclusive
  int64_t amount = 0;
  std::string currency;
};

}  // namespace saasmetrics::engine
