// Survival analysis and the shared tests against published worked examples: the Gehan
// (Freireich et al. 1963) leukemia remission data as Stata and R report them, Fisher's
// tea-tasting table and Wikipedia's worked example, χ² quantiles.
#include "server/engine/survival.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "server/engine/dates.h"
#include "server/engine/stats.h"
#include "tests/engine/reference.h"
#include "tests/engine/world.h"

namespace saasmetrics::engine {
namespace {

std::vector<Lifetime> Treated() {  // 6-MP: weeks of remission, + = censored
  std::vector<Lifetime> out;
  for (int w : {6, 6, 6, 7, 10, 13, 16, 22, 23}) out.push_back({w, true});
  for (int w : {6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35}) out.push_back({w, false});
  return out;
}
std::vector<Lifetime> Control() {  // placebo: every remission ended
  std::vector<Lifetime> out;
  for (int w : {1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23}) {
    out.push_back({w, true});
  }
  return out;
}

TEST(KaplanMeier, GehanTreatedAsStataListsIt) {
  // sts list, by(group): survivor function, Greenwood std. error, log-log 95 % interval.
  struct Row {
    int day;
    double s, se, lo, hi;
  };
  for (const Row& r :
       {Row{6, 0.8571, 0.0764, 0.6197, 0.9516}, Row{7, 0.8067, 0.0869, 0.5631, 0.9228},
        Row{10, 0.7529, 0.0963, 0.5032, 0.8894}, Row{13, 0.6902, 0.1068, 0.4316, 0.8491},
        Row{16, 0.6275, 0.1141, 0.3675, 0.8049}}) {
    const SurvivalPoint p = KaplanMeierAt(Treated(), r.day);
    EXPECT_NEAR(p.survival, r.s, 5e-5) << r.day;
    EXPECT_NEAR(p.standard_error, r.se, 5e-5) << r.day;
    ASSERT_TRUE(p.lower.has_value() && p.upper.has_value());
    EXPECT_NEAR(*p.lower, r.lo, 5e-5) << r.day;
    EXPECT_NEAR(*p.upper, r.hi, 5e-5) << r.day;
  }
  // R's summary(survfit(...)) for the last two event times.
  EXPECT_NEAR(KaplanMeierAt(Treated(), 22).survival, 0.5378, 5e-5);
  EXPECT_NEAR(KaplanMeierAt(Treated(), 22).standard_error, 0.1282, 5e-5);
  EXPECT_NEAR(KaplanMeierAt(Treated(), 23).survival, 0.4482, 5e-5);
  EXPECT_NEAR(KaplanMeierAt(Treated(), 23).standard_error, 0.1346, 5e-5);
  const SurvivalPoint control = KaplanMeierAt(Control(), 1);
  EXPECT_NEAR(control.survival, 0.9048, 5e-5);
  EXPECT_NEAR(control.standard_error, 0.0641, 5e-5);
  EXPECT_NEAR(*control.lower, 0.6700, 5e-5);
  EXPECT_NEAR(*control.upper, 0.9753, 5e-5);
}

TEST(KaplanMeier, MediansPointsAndAbsentIntervals) {
  // Medians: 23 weeks treated, 8 control (the first time S ≤ 0.5).
  EXPECT_EQ(KaplanMeier(Treated(), 5).median_days, 23);
  EXPECT_EQ(KaplanMeier(Control(), 5).median_days, 8);
  const SurvivalCurve c = KaplanMeier(Control(), 5);
  // Points at 5, 10, 15, 20: the longest lifetime is 23.
  ASSERT_EQ(c.points.size(), 4u);
  EXPECT_EQ(c.points[0].day, 5);
  EXPECT_EQ(c.points[0].at_risk, 14);  // lifetimes ≥ 5: 21 − 7
  EXPECT_EQ(c.points[0].churned, 9);   // events on days ≤ 5
  EXPECT_NEAR(c.points[0].survival, 12.0 / 21, 1e-15);
  EXPECT_EQ(c.points[3].day, 20);
  EXPECT_NEAR(c.points[3].survival, 2.0 / 21, 1e-15);
  EXPECT_EQ(c.churned, 21);
  EXPECT_EQ(c.lifetimes, 21);
  // S = 0 at the end: no interval; S = 1 before the first event: none either.
  const SurvivalPoint end = KaplanMeierAt(Control(), 23);
  EXPECT_EQ(end.survival, 0);
  EXPECT_FALSE(end.lower.has_value());
  EXPECT_FALSE(KaplanMeierAt(Treated(), 5).lower.has_value());
  // Exactly one half counts as one half: 2 of 4 churn on day 3.
  EXPECT_EQ(KaplanMeier({{3, true}, {3, true}, {9, false}, {9, false}}).median_days, 3);
  // Nobody churned: no median, S stays 1.
  const SurvivalCurve none = KaplanMeier({{40, false}, {75, false}});
  EXPECT_FALSE(none.median_days.has_value());
  ASSERT_EQ(none.points.size(), 2u);  // 30 and 60
  EXPECT_EQ(none.points[1].survival, 1);
  EXPECT_EQ(none.points[1].at_risk, 1);
  EXPECT_TRUE(KaplanMeier({}).points.empty());
}

TEST(KaplanMeier, WithoutCensoringIsTheEmpiricalSurvival) {
  std::mt19937_64 rng(7);
  std::vector<Lifetime> l;
  for (int i = 0; i < 500; ++i) l.push_back({static_cast<int32_t>(rng() % 400), true});
  const SurvivalCurve c = KaplanMeier(l, 30);
  for (const SurvivalPoint& p : c.points) {
    int64_t beyond = 0;
    for (const Lifetime& x : l) beyond += x.days > p.day ? 1 : 0;
    EXPECT_NEAR(p.survival, static_cast<double>(beyond) / 500, 1e-12) << p.day;
  }
}

TEST(LogRank, GehanAsSurvdiffReportsIt) {
  // R: survdiff(Surv(weeks, relapse) ~ group): observed 21 / 9, expected 10.75 / 19.25,
  // Chisq = 16.8 on 1 degree of freedom, p = 4.17e-05 (Stata: chi2(1) = 16.79).
  const std::optional<LogRank> t = LogRankTest({Control(), Treated()});
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->degrees_of_freedom, 1);
  EXPECT_NEAR(t->observed[0], 21, 1e-12);
  EXPECT_NEAR(t->expected[0], 10.75, 5e-3);
  EXPECT_NEAR(t->expected[1], 19.25, 5e-3);
  EXPECT_NEAR(t->chi_square, 16.79, 5e-3);
  EXPECT_NEAR(t->p_value, 4.17e-05, 5e-7);
  // One group, or one with lifetimes: no test. Empty groups take no part.
  EXPECT_FALSE(LogRankTest({Control()}).has_value());
  EXPECT_FALSE(LogRankTest({Control(), {}}).has_value());
  const std::optional<LogRank> with_empty = LogRankTest({Control(), {}, Treated()});
  ASSERT_TRUE(with_empty.has_value());
  EXPECT_EQ(with_empty->degrees_of_freedom, 1);
  EXPECT_NEAR(with_empty->chi_square, t->chi_square, 1e-9);
  // The same lifetimes in two groups: nothing to tell apart.
  EXPECT_NEAR(LogRankTest({Treated(), Treated()})->chi_square, 0, 1e-12);
}

TEST(LogRank, ThreeGroupsTestTwoDegreesOfFreedomAndAgreeWithPairsOfOne) {
  // Splitting a group in two identical halves adds a degree of freedom, not evidence.
  std::vector<Lifetime> half_a, half_b;
  const std::vector<Lifetime> treated = Treated();
  for (size_t i = 0; i < treated.size(); ++i) (i % 2 == 0 ? half_a : half_b).push_back(treated[i]);
  const std::optional<LogRank> t = LogRankTest({Control(), half_a, half_b});
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->degrees_of_freedom, 2);
  EXPECT_GT(t->chi_square, 15);
  EXPECT_NEAR(t->p_value, ChiSquareSurvival(t->chi_square, 2), 1e-15);
}

// The Breslow partial log-likelihood and its score, summed over risk sets directly
// (quadratic, obviously right), to check the fit independently.
double SlowLogLik(const std::vector<Lifetime>& l, const std::vector<std::vector<double>>& x,
                  const std::vector<double>& beta, std::vector<double>* score) {
  const size_t n = l.size(), p = x.size();
  const auto eta = [&](size_t i) {
    double s = 0;
    for (size_t j = 0; j < p; ++j) s += beta[j] * x[j][i];
    return s;
  };
  double ll = 0;
  if (score != nullptr) score->assign(p, 0);
  for (size_t i = 0; i < n; ++i) {
    if (!l[i].churned) continue;
    double s0 = 0;
    std::vector<double> s1(p, 0);
    for (size_t k = 0; k < n; ++k) {
      if (l[k].days < l[i].days) continue;
      const double w = std::exp(eta(k));
      s0 += w;
      for (size_t j = 0; j < p; ++j) s1[j] += w * x[j][k];
    }
    ll += eta(i) - std::log(s0);
    if (score != nullptr) {
      for (size_t j = 0; j < p; ++j) (*score)[j] += x[j][i] - s1[j] / s0;
    }
  }
  return ll;
}

TEST(Cox, GehanBreslowAsStcoxReportsIt) {
  // Kleinbaum & Klein, Survival Analysis, ch. 3 (Stata, Breslow ties): Rx (placebo = 1)
  // coefficient 1.509, s.e. 0.410, hazard ratio 4.523, 95 % CI 2.027 to 10.094.
  std::vector<Lifetime> l = Control();
  std::vector<double> rx(l.size(), 1.0);
  for (const Lifetime& t : Treated()) {
    l.push_back(t);
    rx.push_back(0.0);
  }
  const absl::StatusOr<CoxFit> fit = FitCox(l, {rx});
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_NEAR(fit->coefficient[0], 1.509, 5e-4);
  EXPECT_NEAR(fit->standard_error[0], 0.410, 5e-4);
  EXPECT_NEAR(std::exp(fit->coefficient[0]), 4.523, 5e-4);
  EXPECT_NEAR(std::exp(fit->coefficient[0] - kZ95 * fit->standard_error[0]), 2.027, 5e-4);
  EXPECT_NEAR(std::exp(fit->coefficient[0] + kZ95 * fit->standard_error[0]), 10.094, 5e-3);
  std::vector<double> score;
  SlowLogLik(l, {rx}, fit->coefficient, &score);
  EXPECT_LT(std::abs(score[0]), 1e-8);
}

TEST(Cox, RandomFitsHaveAZeroScoreAndTheHighestLikelihood) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 10; ++round) {
    const size_t n = 60 + rng() % 60;
    std::vector<Lifetime> l;
    std::vector<std::vector<double>> x(3, std::vector<double>(n));
    std::uniform_real_distribution<double> u(0, 1);
    for (size_t i = 0; i < n; ++i) {
      x[0][i] = u(rng) < 0.4 ? 1 : 0;
      x[1][i] = std::floor(u(rng) * 500) / 10;  // "MRR" with ties
      x[2][i] = u(rng) < 0.3 ? 1 : 0;
      const double rate = 0.01 * std::exp(0.8 * x[0][i] - 0.02 * x[1][i]);
      const int32_t days = static_cast<int32_t>(-std::log(1 - u(rng)) / rate) % 300;
      l.push_back({days, u(rng) < 0.8});
    }
    l[0].churned = true;
    const absl::StatusOr<CoxFit> fit = FitCox(l, x);
    ASSERT_TRUE(fit.ok()) << fit.status();
    std::vector<double> score;
    const double best = SlowLogLik(l, x, fit->coefficient, &score);
    EXPECT_NEAR(best, fit->log_likelihood, 1e-8 * std::abs(best));
    for (const double s : score) EXPECT_LT(std::abs(s), 1e-7) << round;
    for (size_t j = 0; j < 3; ++j) {
      for (const double h : {-1e-3, 1e-3}) {
        std::vector<double> b = fit->coefficient;
        b[j] += h;
        EXPECT_LT(SlowLogLik(l, x, b, nullptr), best) << round << " " << j;
      }
    }
  }
}

TEST(Cox, WithoutEventsOrWithCollinearColumnsSaysWhy) {
  const absl::StatusOr<CoxFit> none = FitCox({{5, false}, {9, false}}, {{1, 0}});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(none.status().message().find("needs events"), std::string::npos);
  const std::vector<double> a = {1, 0, 1, 0, 1}, twice = {2, 0, 2, 0, 2};
  const absl::StatusOr<CoxFit> collinear =
      FitCox({{1, true}, {2, true}, {3, false}, {4, true}, {5, false}}, {a, twice});
  EXPECT_EQ(collinear.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(collinear.status().message().find("collinear"), std::string::npos);
  const absl::StatusOr<CoxFit> constant = FitCox({{1, true}, {2, false}}, {{3, 3}});
  EXPECT_EQ(constant.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(constant.status().message().find("columns 0"), std::string::npos);
}

// Lifetimes against the reference replaying raw events at every day's end: customers that
// start, pause, cancel while paused, churn and return on random days, in a zone with DST.
TEST(Lifetimes, MatchTheReferenceOnRandomHistories) {
  std::mt19937_64 rng(20261202);
  for (const char* zone : {"UTC", "America/New_York"}) {
    absl::TimeZone tz;
    ASSERT_TRUE(absl::LoadTimeZone(zone, &tz));
    for (int round = 0; round < 8; ++round) {
      std::uniform_int_distribution<int> pick(0, 1 << 30);
      std::vector<SubscriptionEvent> subs;
      const absl::Time start = absl::FromCivil(absl::CivilDay(2024, 1, 1), absl::UTCTimeZone());
      for (int c = 0; c < 25; ++c) {
        const std::string id = absl::StrCat("c", c);
        absl::Time t = start + absl::Hours(pick(rng) % (24 * 90));
        subs.push_back(Sub(id, t, 100 * (1 + pick(rng) % 9)));
        for (int i = pick(rng) % 6; i > 0; --i) {
          t += absl::Hours(1 + pick(rng) % (24 * 40));
          const int kind = pick(rng) % 4;
          subs.push_back(Sub(id, t, kind == 1 ? 300 : 0, /*paused=*/kind == 2));
        }
      }
      for (size_t i = 0; i < subs.size(); ++i) {
        subs[i].event_id = absl::StrCat("e", i);
        subs[i].seq = static_cast<int64_t>(i);
      }
      const absl::CivilDay first(2024, 1, 20), last(2024, 5, 31);
      const World w = Build({}, subs, tz, absl::CivilDay(2024, 12, 31));
      std::map<std::string, std::pair<absl::CivilDay, Lifetime>> got;
      for (const CustomerLifetime& l : LifetimesOf(w.movements, w.pauses, first, last)) {
        got[w.ledger.customer_ids[l.customer]] = {l.start, l.lifetime};
      }
      std::map<std::string, std::pair<absl::CivilDay, Lifetime>> want;
      for (int c = 0; c < 25; ++c) {
        const std::string id = absl::StrCat("c", c);
        std::optional<absl::CivilDay> began;
        for (absl::CivilDay d(2023, 12, 31); d <= last; ++d) {
          const reference::CustomerState s = reference::StateBefore(subs, id, DayStart(d + 1, tz));
          if (!began.has_value()) {
            if (s.mrr > 0) began = d;
            if (began.has_value() && (d < first)) break;  // won before the range
            continue;
          }
          if (s.mrr == 0 && !s.any_paused) {
            want[id] = {*began, {static_cast<int32_t>(d - *began), true}};
            break;
          }
        }
        if (began.has_value() && *began >= first && !want.contains(id)) {
          want[id] = {*began, {static_cast<int32_t>(last - *began), false}};
        }
      }
      ASSERT_EQ(got.size(), want.size()) << zone << " " << round;
      for (const auto& [id, w_l] : want) {
        ASSERT_TRUE(got.contains(id)) << id;
        EXPECT_EQ(got[id].first, w_l.first) << id;
        EXPECT_EQ(got[id].second.days, w_l.second.days) << zone << " " << round << " " << id;
        EXPECT_EQ(got[id].second.churned, w_l.second.churned) << zone << " " << round << " " << id;
      }
    }
  }
}

TEST(Stats, FisherExactAsPublished) {
  // Fisher's lady tasting tea: 3 of 4 right, two-sided p = 34/70.
  EXPECT_NEAR(FisherExactTwoSided(3, 1, 1, 3), 34.0 / 70, 1e-12);
  // Wikipedia, "Fisher's exact test": [[1, 9], [11, 3]], two-sided p = 0.002759.
  EXPECT_NEAR(FisherExactTwoSided(1, 9, 11, 3), 0.002759, 5e-7);
  EXPECT_NEAR(FisherExactTwoSided(0, 5, 5, 0), 2.0 / 252, 1e-15);
  EXPECT_NEAR(FisherExactTwoSided(5, 5, 5, 5), 1, 1e-12);
  EXPECT_EQ(FisherExactTwoSided(0, 0, 0, 0), 1);
  EXPECT_NEAR(FisherExactTwoSided(1, 9, 11, 3), FisherExactTwoSided(3, 11, 9, 1), 1e-15);
}

TEST(Stats, ChiSquareTails) {
  EXPECT_NEAR(ChiSquareSurvival(3.841458820694124, 1), 0.05, 1e-12);
  EXPECT_NEAR(ChiSquareSurvival(5.991464547107979, 2), 0.05, 1e-12);
  EXPECT_NEAR(ChiSquareSurvival(11.07049769351635, 5), 0.05, 1e-12);
  EXPECT_EQ(ChiSquareSurvival(0, 3), 1);
}

}  // namespace
}  // namespace saasmetrics::engine
