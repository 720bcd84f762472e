// Churn risk and upsell propensity (ANALYTICS.md "Churn risk and upsell propensity"):
// training examples at month ends, the features at a day, the label over the horizon,
// one-hot encoding of customer fields, standardisation, the L2 logistic fit, its evaluation
// (a time split or 5-fold cross-validation by customer), and scoring with each customer's
// top factors. Pure and deterministic: the same inputs give bit-identical models.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "server/engine/engagement.h"
#include "server/engine/icp.h"
#include "server/engine/logistic.h"
#include "server/engine/timeline.h"

namespace saasmetrics::engine {

enum class ModelKind : uint8_t { kChurn = 1, kUpsell = 2 };

inline constexpr int kTopFieldValues = 20;  // one-hot columns per field, plus `other`
inline constexpr int kTopFactors = 3;

// One survey answer of a ledger customer.
struct ResponsePoint {
  int32_t customer = 0;  // ledger id
  int64_t at_us = 0;
  int64_t seq = 0;
  int32_t score = 0;
};

// What the features are computed from; every customer is a ledger id.
struct ModelInputs {
  const std::vector<std::string>* customer_ids = nullptr;  // ledger id → external id
  // Every subscription event (any order; MRR in the reporting currency).
  const std::vector<const std::vector<LedgerEvent>*>* events = nullptr;
  const std::vector<Movement>* movements = nullptr;  // the selected customers', by customer, day
  const std::vector<PauseChange>* pauses = nullptr;
  // Usage with its ledger link, covering 365 days (and the engagement window) before the
  // first day asked up to the last.
  EngagementInputs usage;
  const EngagementModel* engagement = nullptr;            // its score is a feature when given
  const std::vector<ResponsePoint>* responses = nullptr;  // any order
  std::vector<std::string> field_names;                   // the one-hot fields, in order
  std::vector<const IcpField*> fields;                    // their columns by ledger id
  double major_unit = 100;  // minor units in a major unit of the reporting currency
};

// The numeric features' names, in order (engagement_score only with an engagement model).
std::vector<std::string> NumericFeatureNames(bool engagement);

// The one-hot encoding: per field, its top values (most training examples, ties by
// value) and then `other`.
struct Encoding {
  std::vector<std::string> fields;
  std::vector<std::vector<std::string>> values;
};

struct TrainSettings {
  ModelKind kind = ModelKind::kChurn;
  std::vector<absl::CivilDay> month_ends;  // the training range's, ascending
  int horizon_days = 90;
  double lambda = 1;
  int64_t max_examples = 500000;
  absl::Time as_of;  // labels only where (t, t + H] has ended by then
};

struct FeatureReport {
  std::string name;
  bool dropped = false;                        // constant over the training rows
  double coefficient = 0, standard_error = 0;  // standardised scale
  double mean = 0, sd = 0;
};

struct Model {
  ModelKind kind = ModelKind::kChurn;
  int horizon_days = 90;
  double lambda = 1;
  bool engagement = false;  // engagement_score is a feature
  Encoding encoding;
  std::vector<FeatureReport> features;  // numeric, then one-hot; dropped ones included
  double intercept = 0, intercept_standard_error = 0;
  // Evaluation: a time split (test on the last ⌈n/4⌉ label months) with ≥ 6 label months,
  // else 5-fold cross-validation by customer, predictions pooled.
  bool time_split = false;
  int64_t label_months = 0, test_months = 0;
  int64_t candidates = 0;               // examples before sampling down to max_examples
  Evaluation evaluation;                // of the held-out predictions
  int64_t examples = 0, positives = 0;  // of the fit on all examples
  // The probability for one customer's raw features (numeric, then one-hot), and its
  // top factors: feature indices by |coefficient × standardised value| descending.
  double Probability(const std::vector<double>& raw, std::vector<int>* top = nullptr) const;
};

// The training examples before sampling: (customer, month end) for customers paying at
// the month end whose label window has ended by as_of, with the label.
struct LabelledExample {
  int32_t customer = 0;  // ledger id
  absl::CivilDay day;
  bool label = false;
};
std::vector<LabelledExample> TrainingExamples(const ModelInputs& in, const TrainSettings& settings);
// The numeric features (NumericFeatureNames' order) of `customers` at the end of `day`.
absl::StatusOr<Design> NumericFeaturesAt(const ModelInputs& in, absl::CivilDay day,
                                         const std::vector<int32_t>& customers,
                                         const std::function<bool()>& stop = nullptr);

// INVALID_ARGUMENT, saying what to change, when no month end has an observable example, or
// none is positive (or all are). CANCELLED when `stop` says so.
absl::StatusOr<Model> TrainModel(const ModelInputs& in, const TrainSettings& settings,
                                 const std::function<bool()>& stop = nullptr);

struct Score {
  int32_t customer = 0;  // ledger id
  double probability = 0;
  std::vector<int> top;              // up to kTopFactors feature indices (Model::features)
  std::vector<double> contribution;  // their coefficient × standardised value
  std::vector<double> value;         // their raw values
};
// Every customer paying at the end of `day`, by ledger id. The inputs' fields must be the
// model's encoding's fields, in order.
absl::StatusOr<std::vector<Score>> ScoreCustomers(const Model& model, const ModelInputs& in,
                                                  absl::CivilDay day,
                                                  const std::function<bool()>& stop = nullptr);

// The same at the end of each of `days` (ascending; one pass over the usage for all of
// them), for the customers `only` marks by ledger id (null: every one), per day.
absl::StatusOr<std::vector<std::vector<Score>>> ScoreDays(
    const Model& model, const ModelInputs& in, const std::vector<absl::CivilDay>& days,
    const std::vector<bool>* only, const std::function<bool()>& stop = nullptr);

}  // namespace saasmetrics::engine
