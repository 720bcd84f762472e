#include "server/engine/icp.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>

namespace saasmetrics::engine {

namespace {

int32_t Intern(IcpField& f, absl::string_view value) {
  if (value.empty()) value = "(none)";
  auto [it, added] = f.index.try_emplace(value, static_cast<int32_t>(f.names.size()));
  if (added) f.names.emplace_back(value);
  return it->second;
}

}  // namespace

void IcpField::Append(std::initializer_list<absl::string_view> values) {
  for (absl::string_view v : values) ids.push_back(Intern(*this, v));
  begin.push_back(static_cast<uint32_t>(ids.size()));
}

void IcpField::Append(const std::vector<std::string>& values) {
  for (const std::string& v : values) ids.push_back(Intern(*this, v));
  begin.push_back(static_cast<uint32_t>(ids.size()));
}

void IcpField::AppendOne(absl::string_view value) {
  ids.push_back(Intern(*this, value));
  begin.push_back(static_cast<uint32_t>(ids.size()));
}

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
    std::vector<std::pair<int64_t, int64_t>> counts(f.names.size());  // value id → (top, all)
    for (size_t i = 0; i < paying.size(); ++i) {
      for (uint32_t j = f.begin[i]; j < f.begin[i + 1]; ++j) {
        auto& c = counts[static_cast<size_t>(f.ids[j])];
        ++c.second;
        if (in_top[i]) ++c.first;
      }
    }
    for (size_t id = 0; id < counts.size(); ++id) {
      const auto& c = counts[id];
      if (c.second < min_count || c.second == 0) continue;
      IcpValue& v = out.values.emplace_back();
      v.field = f.name;
      v.value = f.names[id];
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
