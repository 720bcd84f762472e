// L2-regularised logistic regression and its evaluation (ANALYTICS.md "Churn risk and
// upsell propensity"): standardisation, Newton's method to a unique optimum, inverse-Hessian
// standard errors, ROC AUC, Brier score, log loss and calibration. Deterministic: one
// thread, a fixed order of summation.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"

namespace saasmetrics::engine {

// Row-major examples × features.
struct Design {
  size_t rows = 0, cols = 0;
  std::vector<double> x;  // rows × cols
  const double* row(size_t r) const { return x.data() + r * cols; }
};

// Each column's mean and population standard deviation over the rows; a column whose
// deviation is 0 is constant and is dropped (`kept` false).
struct Standardization {
  std::vector<double> mean, sd;
  std::vector<bool> kept;
  size_t KeptCount() const;
  // The kept columns of `d`, standardised.
  Design Apply(const Design& d) const;
  // One row (all columns) → its kept standardised values.
  void ApplyRow(const double* row, std::vector<double>& out) const;
};
Standardization Standardize(const Design& d);

struct LogisticFit {
  double intercept = 0;
  std::vector<double> coefficient;  // per column of the design it was fitted on
  double intercept_standard_error = 0;
  std::vector<double> standard_error;  // √ diagonal of the inverse penalised Hessian
  int iterations = 0;
  double Probability(const double* row) const;
};

// Minimises −Σ log-likelihood + (λ/2) Σ β_j² (the intercept unpenalised) by Newton's method,
// each step halved until the objective does not rise, until the gradient's largest element
// is below 1e-9 (or no step improves, at the optimum to rounding). λ > 0 makes the
// objective strictly convex: the fit is unique. INVALID_ARGUMENT without rows or with one
// class only and λ = 0; CANCELLED when `stop` says so (polled each iteration).
absl::StatusOr<LogisticFit> FitLogistic(const Design& x, const std::vector<uint8_t>& y,
                                        double lambda, const std::function<bool()>& stop = nullptr);

// Probability of the positive class against the truth.
struct CalibrationBin {
  double lower = 0, upper = 0;  // [lower, upper); the last bin includes 1
  int64_t examples = 0, positives = 0;
  std::optional<double> mean_predicted, observed;  // absent when empty
};
struct Evaluation {
  int64_t examples = 0, positives = 0;
  std::optional<double> auc;                // absent without both classes; ties count ½
  double brier = 0, log_loss = 0;           // log loss with p clipped to [1e-15, 1 − 1e-15]
  std::vector<CalibrationBin> calibration;  // ten fixed-width bins
};
Evaluation Evaluate(const std::vector<double>& p, const std::vector<uint8_t>& y);

}  // namespace saasmetrics::engine
