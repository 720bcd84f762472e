// NPS (ANALYTICS.md "NPS"): a worked example with each edge the definition names (the
// latest response per respondent, a customer answering as a whole, ties by ingest order,
// absent with no respondent), groups, and a brute-force reference on random responses.
#include "server/engine/nps.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "server/engine/dates.h"

namespace saasmetrics::engine {
namespace {

absl::Time At(int m, int d, int h = 12) {
  return absl::FromCivil(absl::CivilSecond(2024, m, d, h, 0, 0), absl::UTCTimeZone());
}

SurveyResponse R(const std::string& customer, const std::string& user, int score, absl::Time t,
                 int64_t seq) {
  SurveyResponse r;
  r.response_id = absl::StrCat("r", seq);
  r.customer_id = customer;
  r.user_id = user;
  r.score = score;
  r.time = t;
  r.seq = seq;
  return r;
}

const std::vector<Period> kTwoMonths = {{absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 1, 31)},
                                        {absl::CivilDay(2024, 2, 1), absl::CivilDay(2024, 2, 29)}};

std::vector<NpsPoint> All(const std::vector<SurveyResponse>& responses,
                          const std::vector<Period>& periods = kTwoMonths,
                          absl::TimeZone tz = absl::UTCTimeZone()) {
  auto groups = NpsByGroup(
      responses, periods, tz,
      [](const SurveyResponse&, size_t) { return std::vector<std::string>{""}; }, nullptr, "");
  return groups.at("");
}

// January: a's user u1 answers 3 then 10 (the latest counts: promoter), u2 answers 8
// (passive); b answers as a whole 2 and, at the very same instant, 9 ingested later
// (promoter); c answers 6 (detractor). Four respondents (a/u1, a/u2, b, c):
// NPS = 100 × (2 − 1) ÷ 4 = 25. February: nobody answers: absent.
TEST(Nps, WorkedExample) {
  const std::vector<SurveyResponse> responses = {
      R("a", "u1", 3, At(1, 3), 1), R("a", "u1", 10, At(1, 20), 2), R("a", "u2", 8, At(1, 5), 3),
      R("b", "", 9, At(1, 9), 5),   R("b", "", 2, At(1, 9), 4),     R("c", "", 6, At(1, 30), 6),
      R("c", "", 10, At(3, 1), 7),  // after the range
  };
  const std::vector<NpsPoint> points = All(responses);
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].respondents, 4);
  EXPECT_EQ(points[0].promoters, 2);
  EXPECT_EQ(points[0].passives, 1);
  EXPECT_EQ(points[0].detractors, 1);
  EXPECT_EQ(points[0].nps, 25);
  EXPECT_EQ(points[1].respondents, 0);
  EXPECT_FALSE(points[1].nps.has_value()) << "no respondent: absent, not 0";
  // A quarter: the latest of a's u1 is still 10; c's latest in Q1 is March's 10.
  const std::vector<Period> quarter = {{absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 3, 31)}};
  const NpsPoint q = All(responses, quarter)[0];
  EXPECT_EQ(q.respondents, 4);
  EXPECT_EQ(q.promoters, 3);
  EXPECT_EQ(q.detractors, 0);
  EXPECT_EQ(q.nps, 75);
}

// The published definition's arithmetic: 60 promoters, 25 passives, 15 detractors of 100
// respondents is an NPS of 45.
TEST(Nps, PublishedArithmetic) {
  std::vector<SurveyResponse> responses;
  for (int i = 0; i < 100; ++i) {
    const int score = i < 60 ? 9 + i % 2 : i < 85 ? 7 + i % 2 : i % 7;
    responses.push_back(R(absl::StrCat("c", i), "", score, At(1, 1 + i % 28), i));
  }
  const NpsPoint p = All(responses)[0];
  EXPECT_EQ(p.promoters, 60);
  EXPECT_EQ(p.passives, 25);
  EXPECT_EQ(p.detractors, 15);
  EXPECT_DOUBLE_EQ(*p.nps, 45);
}

// Groups: a respondent counts in every group it is given, none drops it; a group appears
// with a series over every period once any period has a respondent in it.
TEST(Nps, Groups) {
  const std::vector<SurveyResponse> responses = {
      R("a", "", 10, At(1, 3), 1), R("b", "", 0, At(2, 3), 2), R("x", "", 10, At(2, 4), 3)};
  auto groups = NpsByGroup(responses, kTwoMonths, absl::UTCTimeZone(),
                           [](const SurveyResponse& r, size_t) -> std::vector<std::string> {
                             if (r.customer_id == "x") return {};
                             if (r.customer_id == "a") return {"pro", "basic"};
                             return {"basic"};
                           });
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups.at("pro")[0].nps, 100);
  EXPECT_EQ(groups.at("pro")[1].respondents, 0);
  EXPECT_EQ(groups.at("basic")[0].promoters, 1);
  EXPECT_EQ(groups.at("basic")[1].detractors, 1);
  EXPECT_EQ(groups.at("basic")[1].nps, -100);
}

// Random responses in a DST zone against brute force: for each period and respondent,
// the response with the greatest (time, seq) inside the period's local days.
TEST(Nps, MatchesBruteForceOnRandomResponses) {
  absl::TimeZone tz;
  ASSERT_TRUE(absl::LoadTimeZone("America/New_York", &tz));
  std::mt19937_64 rng(7);
  for (int round = 0; round < 20; ++round) {
    std::vector<SurveyResponse> responses;
    for (int i = 0; i < 200; ++i) {
      responses.push_back(R(absl::StrCat("c", rng() % 15),
                            rng() % 3 == 0 ? "" : absl::StrCat("u", rng() % 3),
                            static_cast<int>(rng() % 11),
                            At(1, 1) + absl::Hours(static_cast<int64_t>(rng() % (24 * 120))),
                            static_cast<int64_t>(i)));
    }
    const std::vector<Period> periods =
        CutPeriods(absl::CivilDay(2024, 1, 1), absl::CivilDay(2024, 4, 30), Interval::kWeek);
    const std::vector<NpsPoint> got = All(responses, periods, tz);
    for (size_t p = 0; p < periods.size(); ++p) {
      std::map<std::pair<std::string, std::string>, const SurveyResponse*> latest;
      for (const SurveyResponse& r : responses) {
        if (r.time < DayStart(periods[p].first, tz) ||
            r.time >= DayStart(periods[p].last + 1, tz)) {
          continue;
        }
        const SurveyResponse*& cur = latest[{r.customer_id, r.user_id}];
        if (cur == nullptr || std::tie(r.time, r.seq) >= std::tie(cur->time, cur->seq)) cur = &r;
      }
      int64_t promoters = 0, detractors = 0;
      for (const auto& [key, r] : latest) {
        promoters += r->score >= 9;
        detractors += r->score <= 6;
      }
      EXPECT_EQ(got[p].respondents, static_cast<int64_t>(latest.size())) << p;
      EXPECT_EQ(got[p].promoters, promoters) << p;
      EXPECT_EQ(got[p].detractors, detractors) << p;
    }
  }
}

}  // namespace
}  // namespace saasmetrics::engine
