// A deterministic, seeded generator of realistic SaaS data: monthly and annual plans,
// trials, upgrades, downgrades, pauses, churn and reactivation, acquisition channels
// with spend, and usage with power-law activity. Same seed, same data.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/time/civil_time.h"
#include "saasmetrics/v1/ingest.pb.h"

namespace saasmetrics::client {

struct GeneratorOptions {
  uint64_t seed = 1;
  int customers = 1000;
  int months = 12;
  absl::CivilMonth first_month = absl::CivilMonth(2022, 1);
  int64_t usage_events = 100000;
  std::string currency = "USD";  // the tenant's reporting currency
  // Customers in DE bill in EUR and in GB in GBP (unless that is the reporting currency),
  // with a weekly rate table into the reporting currency (its own random stream: the rest
  // of the data is what it is without). Only for reporting currencies the generator knows
  // a value of (USD, EUR, GBP, JPY, CHF, CAD, AUD).
  bool local_currencies = false;
};

struct GeneratedData {
  std::vector<v1::Customer> customers;
  std::vector<v1::SubscriptionEvent> subscription_events;
  std::vector<v1::AcquisitionSpend> spend;
  std::vector<v1::SurveyResponse> survey_responses;  // NPS answers of about a third of them
  std::vector<v1::ExchangeRate> exchange_rates;      // with local_currencies
};

// Customers, subscription events, spend and survey responses. Usage is streamed through `usage` in
// batches (it is the big part), each event's time inside the generated months.
GeneratedData Generate(const GeneratorOptions& options);
void GenerateUsage(const GeneratorOptions& options, const GeneratedData& data, int batch,
                   const std::function<void(std::vector<v1::UsageEvent>&&)>& usage);

}  // namespace saasmetrics::client
