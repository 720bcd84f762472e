#include "server/engine/icp.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <tuple>

namespace saasmetrics::engine {

IcpResult IdealCustomerProfile(const std::vector<std::pair<std::string, int64_t>>& paying,
                               const std::vector<IcpField>& fields, double q, int64_t min_count) {
  IcpResult out;
  out.paying = static_cast<int64_t>(paying.size());
  if (paying.empty()) return out;
  // ⌈q·n⌉, at least 1; the tolerance keeps 0.2 × 10 at 2 whatever the binary 0.2 is.
  const double n = static_cast<double>(paying.size());
  out.top = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(q * n - 1e-9)), 1, out.paying);
  std::vector<uint32_t> order(paying.size());
  std::iota(order.begin(), order.end(), 0);
  std::nth_element(order.begin(), order.begin() + (out.top - 1), order.end(),
                   [&](uint32_t a, uint32_t b) {
                     return std::tie(paying[b].second, paying[a].first) <
                            std::tie(paying[a].second, paying[b].first);
                   });
  std::vector<bool> in_top(paying.size(), false);
  for (int64_t i = 0; i < out.top; ++i) in_top[order[i]] = true;
  for (const IcpField& f : fields) {
    std::map<std::string, std::pair<int64_t, int64_t>> counts;  // value → (top, all)
    for (size_t i = 0; i < paying.size(); ++i) {
      for (const std::string& v : f.values[i]) {
        auto& c = counts[v.empty() ? std::string("(none)") : v];
        ++c.second;
        if (in_top[i]) ++c.first;
      }
    }
    for (const auto& [value, c] : counts) {
      if (c.second < min_count) continue;
      IcpValue& v = out.values.emplace_back();
      v.field = f.name;
      v.value = value;
      v.top_customers = c.first;
      v.all_customers = c.second;
      v.top_share = static_cast<double>(c.first) / static_cast<double>(out.top);
      v.all_share = static_cast<double>(c.second) / n;
      v.lift = v.top_share / v.all_share;
    }
  }
  // Lift compared exactly: with the same top and n, a's lift exceeds b's when
  // top_a × all_b > top_b × all_a (counts are far below 2^31, so the products fit).
  std::sort(out.values.begin(), out.values.end(), [](const IcpValue& a, const IcpValue& b) {
    const int64_t left = a.top_customers * b.all_customers;
    const int64_t right = b.top_customers * a.all_customers;
    if (left != right) return left > right;
    return std::tie(a.field, a.value) < std::tie(b.field, b.value);
  });
  return out;
}

}  // namespace saasmetrics::engine
