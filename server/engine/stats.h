// Statistics the analytics share: tests and distributions (Eigen's special functions
// underneath). Pure and deterministic.
#pragma once

#include <cstdint>

namespace saasmetrics::engine {

// P(χ² with `df` degrees of freedom ≥ x): the regularized upper incomplete gamma
// Q(df / 2, x / 2). 1 for x ≤ 0.
double ChiSquareSurvival(double x, int df);

// Fisher's exact test on the 2 × 2 table [[a, b], [c, d]], two-sided: the sum of the
// probabilities (hypergeometric, margins fixed) of every table no more likely than the
// observed one, with a relative tolerance of 1e-7 as R's fisher.test uses.
double FisherExactTwoSided(int64_t a, int64_t b, int64_t c, int64_t d);

}  // namespace saasmetrics::engine
