// Predictive analytics (ANALYTICS.md "Predictive models") over the query's data.
// Survival of the customers won in a range: their lifetimes from the query's movements and
// pauses, Kaplan–Meier curves per group, the log-rank test, and a Cox model over customer
// fields and the first MRR. Retention drivers: per usage event type, the retention of the
// customers who did it early on against those who did not.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/engine/drivers.h"
#include "server/engine/health.h"
#include "server/engine/model.h"
#include "server/engine/survival.h"
#include "server/query/page.h"
#include "server/query/reader.h"

namespace saasmetrics::query {

inline constexpr int kMaxCoxFields = 5;
inline constexpr int kMaxCoxValues = 50;       // values of the Cox fields in all
inline constexpr int kMaxLogRankGroups = 200;  // beyond: the curves without the test

struct SurvivalGroup {
  std::string group;  // "" when not grouped
  engine::SurvivalCurve curve;
  double expected_churned = 0;  // under the log-rank test's equality
};

struct HazardTerm {
  std::string field;  // a customer field, or "first_mrr"
  std::string value;
  bool reference = false;
  int64_t customers = 0, churned = 0;
  std::optional<double> coefficient, standard_error;  // absent: reference or no estimate
};

struct SurvivalAnswer {
  std::vector<SurvivalGroup> groups;  // by group (UTF-8 bytes)
  std::optional<engine::LogRank> log_rank;
  std::vector<HazardTerm> cox;  // empty without a Cox model
  int64_t cox_customers = 0;
};

// `q` spans the new-business days of the population and was prepared with the customer
// records when `group_by` or `cox_fields` name a customer field (validated by the
// caller). `cox` asks for the Cox model: a value of a field whose customers never churned
// has no finite estimate, so those customers leave the fit (the model's limit) and the
// value is absent; a field whose reference never churned is left out. INVALID_ARGUMENT
// when the Cox fields have more than kMaxCoxValues values among the customers, or their
// columns are collinear there; RESOURCE_EXHAUSTED when the curves exceed the answer budget.
absl::StatusOr<SurvivalAnswer> Survival(Reader& reader, const Query& q, const std::string& group_by,
                                        bool cox, const std::vector<std::string>& cox_fields,
                                        const Context& ctx);

// The retention drivers of the customers whose new business falls in the query's range
// (its filters applied), reading the usage of [start, end + window_days − 1].
absl::StatusOr<engine::DriversResult> RetentionDrivers(Reader& reader, const Query& q,
                                                       const engine::DriverSettings& settings,
                                                       const Context& ctx);

// The month ends of the query's range (start ≤ e ≤ end), ascending.
std::vector<absl::CivilDay> MonthEndsOf(const Query& q);

// Trains a churn or upsell model on the query (prepared with the customer records when
// `fields` are named; validated by the caller) at the month ends `settings` names, with the
// engagement score of `engagement` (nullable) as a feature.
absl::StatusOr<engine::Model> Train(Reader& reader, const Query& q,
                                    const engine::TrainSettings& settings,
                                    const std::vector<std::string>& fields,
                                    const engine::EngagementModel* engagement, const Context& ctx);

// The model's scores of every customer paying at the end of the query's day (its filters
// applied), by ledger id.
struct ScoredCustomer {
  std::string customer_id;
  engine::Score score;
};
// One page of scores: probability at least `min`, in `order` (ties by customer id), after
// the (probability, customer id) served last.
enum class ModelScoreOrder { kProbabilityDesc, kProbabilityAsc, kCustomerId };
PageOf<ScoredCustomer> PageOfModelScores(const std::vector<ScoredCustomer>& rows,
                                         ModelScoreOrder order, double min,
                                         const std::optional<std::pair<double, std::string>>& after,
                                         int page_size);
absl::StatusOr<std::vector<ScoredCustomer>> Scores(Reader& reader, const Query& q,
                                                   const engine::Model& model,
                                                   const engine::EngagementModel* engagement,
                                                   const Context& ctx);

// The tenant's latest trained churn model as health groups use it (ANALYTICS.md "Health
// groups": churn risk ≥ the policy's risk_at_least puts a paying customer at risk), with
// the engagement model it was trained with (its score is a feature).
struct RiskModel {
  engine::Model model;
  std::optional<engine::EngagementModel> engagement;
  double threshold = 0.5;
};
// Who is at risk by it at the end of each of `days` (ascending, distinct): one pass of
// the features over all of them. `q` was prepared with the customer records when the model
// encodes fields.
absl::StatusOr<engine::ChurnRisk> ChurnRiskOn(Reader& reader, const Query& q, const RiskModel& risk,
                                              const std::vector<absl::CivilDay>& days,
                                              const Context& ctx);

// One customer's score by `model` at the end of the query's day (nullopt: not paying then).
absl::StatusOr<std::optional<engine::Score>> ScoreOne(Reader& reader, const Query& q,
                                                      const engine::Model& model,
                                                      const engine::EngagementModel* engagement,
                                                      int32_t customer, const Context& ctx);

}  // namespace saasmetrics::query
