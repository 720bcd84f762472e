// The ideal-customer profile: worked by hand (ties at the cut by id, a value under
// min_count left out, lift and its order, a customer on several plans), and a brute-force
// reference on random customers.
#include "server/engine/icp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"

namespace saasmetrics::engine {
namespace {

// Ten paying customers; the top 20% are two: c9 (900) and, of the three at 800, c1 (ids
// sort "c1" < "c4" < "c7").
TEST(Icp, WorkedByHand) {
  std::vector<std::pair<std::string, int64_t>> paying;
  IcpField channel{.name = "acquisition_channel"};
  IcpField plan{.name = "plan"};
  for (int i = 0; i < 10; ++i) {
    const int64_t mrr = i == 9 ? 900 : (i == 1 || i == 4 || i == 7) ? 800 : 100 + i;
    paying.emplace_back(absl::StrCat("c", i), mrr);
    channel.AppendOne(i == 9 || i == 1 ? "partner" : i < 5 ? "ads" : "");
    plan.Append(i == 9 ? std::vector<std::string>{"pro", "addon"}
                       : std::vector<std::string>{"basic"});
  }
  const IcpResult r = IdealCustomerProfile(paying, {channel, plan}, 0.2, 2);
  EXPECT_EQ(r.paying, 10);
  EXPECT_EQ(r.top, 2);
  // partner: 2 of 2 top, 2 of 10 all → lift 5; basic: 1/2 vs 9/10 → 0.555…; ads 0/2 vs
  // 3/10 → 0; (none) 0/2 vs 5/10 → 0. pro and addon have 1 customer: under min_count 2.
  std::vector<std::string> order;
  for (const IcpValue& v : r.values) order.push_back(v.field + "=" + v.value);
  EXPECT_EQ(order,
            (std::vector<std::string>{"acquisition_channel=partner", "plan=basic",
                                      "acquisition_channel=(none)", "acquisition_channel=ads"}));
  EXPECT_EQ(r.values[0].top_customers, 2);
  EXPECT_EQ(r.values[0].all_customers, 2);
  EXPECT_DOUBLE_EQ(r.values[0].lift, 5);
  EXPECT_DOUBLE_EQ(r.values[1].top_share, 0.5);
  EXPECT_DOUBLE_EQ(r.values[1].all_share, 0.9);
  // With q = 0.25, ⌈2.5⌉ = 3: c4 joins (before c7 by id).
  const IcpResult three = IdealCustomerProfile(paying, {channel}, 0.25, 1);
  EXPECT_EQ(three.top, 3);
  const auto ads = std::find_if(three.values.begin(), three.values.end(),
                                [](const IcpValue& v) { return v.value == "ads"; });
  ASSERT_NE(ads, three.values.end());
  EXPECT_EQ(ads->top_customers, 1) << "c4, not c7 (ties at the cut go by id)";
  EXPECT_EQ(IdealCustomerProfile({}, {channel}, 0.2, 1).top, 0);
}

TEST(Icp, MatchesBruteForce) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 30; ++round) {
    const int n = 1 + static_cast<int>(rng() % 60);
    std::vector<std::pair<std::string, int64_t>> paying;
    IcpField f{.name = "country"};
    std::vector<std::string> values;
    for (int i = 0; i < n; ++i) {
      paying.emplace_back(absl::StrCat("k", rng() % 1000, "-", i),
                          1 + static_cast<int64_t>(rng() % 5));
      values.push_back(absl::StrCat("v", rng() % 4));
      f.AppendOne(values.back());
    }
    const double q = 0.05 * static_cast<double>(1 + rng() % 20);
    const IcpResult r = IdealCustomerProfile(paying, {f}, q, 3);
    // Brute force: sort everyone, take the first ⌈q·n⌉ (by integer arithmetic on q·100).
    const int64_t k =
        std::max<int64_t>(1, (static_cast<int64_t>(std::lround(q * 100)) * n + 99) / 100);
    std::vector<int> idx(n);
    for (int i = 0; i < n; ++i) idx[i] = i;
    std::sort(idx.begin(), idx.end(), [&](int a, int b) {
      if (paying[a].second != paying[b].second) return paying[a].second > paying[b].second;
      return paying[a].first < paying[b].first;
    });
    ASSERT_EQ(r.top, k) << q << " " << n;
    std::map<std::string, std::pair<int64_t, int64_t>> counts;
    for (int i = 0; i < n; ++i) {
      auto& c = counts[values[idx[i]]];
      ++c.second;
      if (i < k) ++c.first;
    }
    size_t kept = 0;
    for (const auto& [value, c] : counts) {
      if (c.second < 3) continue;
      ++kept;
      const auto it = std::find_if(r.values.begin(), r.values.end(),
                                   [&](const IcpValue& v) { return v.value == value; });
      ASSERT_NE(it, r.values.end()) << value;
      EXPECT_EQ(it->top_customers, c.first) << value;
      EXPECT_EQ(it->all_customers, c.second) << value;
    }
    EXPECT_EQ(r.values.size(), kept);
    for (size_t i = 1; i < r.values.size(); ++i) {
      EXPECT_GE(r.values[i - 1].lift, r.values[i].lift - 1e-12);
    }
  }
}

}  // namespace
}  // namespace saasmetrics::engine
