#include "server/engine/stats.h"

#include <algorithm>
#include <cmath>
#include <unsupported/Eigen/SpecialFunctions>

namespace saasmetrics::engine {

double ChiSquareSurvival(double x, int df) {
  if (!(x > 0) || df <= 0) return 1;
  return Eigen::numext::igammac(0.5 * df, 0.5 * x);
}

double FisherExactTwoSided(int64_t a, int64_t b, int64_t c, int64_t d) {
  const int64_t row1 = a + b, col1 = a + c, n = a + b + c + d;
  if (n == 0) return 1;
  // log P(X = x) for X hypergeometric: C(col1, x) C(n − col1, row1 − x) / C(n, row1).
  const auto log_choose = [](int64_t m, int64_t k) {
    return std::lgamma(static_cast<double>(m) + 1) - std::lgamma(static_cast<double>(k) + 1) -
           std::lgamma(static_cast<double>(m - k) + 1);
  };
  const double log_total = log_choose(n, row1);
  const auto log_p = [&](int64_t x) {
    return log_choose(col1, x) + log_choose(n - col1, row1 - x) - log_total;
  };
  const int64_t lo = std::max<int64_t>(0, row1 + col1 - n), hi = std::min(row1, col1);
  const double observed = log_p(a);
  const double bound = observed + std::log1p(1e-7);
  double p = 0;
  for (int64_t x = lo; x <= hi; ++x) {
    const double l = log_p(x);
    if (l <= bound) p += std::exp(l);
  }
  return std::min(1.0, p);
}

}  // namespace saasmetrics::engine
