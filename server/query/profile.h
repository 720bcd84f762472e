// One customer's profile (ANALYTICS.md "Segmented churn and the customer profile"): its
// record, subscriptions and MRR, first paid day, movements, engagement score now and at
// the 6 month ends before, health group and reasons, last usage event, latest NPS answer.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "server/engine/health.h"
#include "server/engine/icp.h"
#include "server/query/models.h"
#include "server/query/reader.h"

namespace saasmetrics::query {

struct SubscriptionNow {
  engine::SubscriptionEvent state;  // its latest event up to the end of the day
  int64_t mrr = 0;
};

struct CustomerProfile {
  std::string customer_id;
  std::optional<engine::Customer> record;      // absent: never upserted
  std::vector<SubscriptionNow> subscriptions;  // by subscription id
  int64_t mrr = 0;
  std::optional<absl::CivilDay> first_paid_day;
  std::vector<engine::Movement> movements;  // up to the day, by day
  // The score at the day and at each of the 6 month ends before its month, oldest first
  // (with a model, for a customer that has a subscription).
  std::vector<std::pair<absl::CivilDay, double>> scores;
  engine::CustomerHealth health;  // group kNone for a customer that never paid
  std::optional<absl::Time> last_activity;
  std::optional<engine::SurveyResponse> latest_response;
  // By the tenant's latest churn and upsell models (when trained and paying at the day).
  struct ModelScore {
    std::string model_id;
    double probability = 0;
    std::vector<std::string> features;  // the top factors: names, raw values, contributions
    std::vector<double> values, contributions;
  };
  std::optional<ModelScore> churn_risk, upsell;
};

// The trained models a profile shows (null: none trained); `churn` also sets the health
// group's churn_risk reason.
struct ProfileModels {
  const RiskModel* churn = nullptr;
  std::string churn_id;
  const RiskModel* upsell = nullptr;
  std::string upsell_id;
};

// NOT_FOUND when the tenant knows no such customer (no record, no subscription event).
// `q` is prepared for the one day (its end), with the customer records.
absl::StatusOr<CustomerProfile> Profile(Reader& reader, const Query& q,
                                        const std::string& customer_id,
                                        const engine::HealthPolicy& policy,
                                        const engine::EngagementModel* model, const Context& ctx,
                                        const ProfileModels& models = {});

// The ideal-customer profile at the end of the query's day: the customers paying then
// (its filters applied), the top `top_share` of them by MRR, and each value of `fields`
// (acquisition_channel, country, plan, attributes.<key>; validated by the caller), read
// from the reader's cached field columns. `q` is prepared with the customer records.
absl::StatusOr<engine::IcpResult> IdealCustomers(Reader& reader, const Query& q,
                                                 const std::vector<std::string>& fields,
                                                 double top_share, int64_t min_count,
                                                 const Context& ctx);

}  // namespace saasmetrics::query
