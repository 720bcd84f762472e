// The churn and upsell models: features and labels against a slow reference replaying raw
// events (ANALYTICS.md "Churn risk and upsell propensity"), then training on data where
// churn follows usage: held-out AUC, determinism, sampling, and the errors that say what
// to change.
#include "server/engine/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "server/engine/dates.h"
#include "server/engine/mrr.h"
#include "server/engine/renewals.h"
#include "tests/engine/reference.h"
#include "tests/engine/world.h"

namespace saasmetrics::engine {
namespace {

struct Data {
  std::vector<SubscriptionEvent> subs;
  std::vector<UsageEvent> usage;
  std::vector<SurveyResponse> answers;
};

// Customers that start in the first months, some with usage that fades before they churn,
// pauses, past-due and discounted states, longer terms, survey answers.
Data Random(uint64_t seed, int customers) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> pick(0, 1 << 30);
  Data d;
  const absl::Time start = absl::FromCivil(absl::CivilDay(2024, 1, 1), absl::UTCTimeZone());
  for (int c = 0; c < customers; ++c) {
    const std::string id = absl::StrCat("c", c);
    absl::Time t = start + absl::Hours(pick(rng) % (24 * 120));
    SubscriptionEvent first = Sub(id, t, 100 * (1 + pick(rng) % 20));
    if (pick(rng) % 4 == 0) first.interval_unit = IntervalUnit::kYear;
    if (pick(rng) % 5 == 0) first.discount_bps = 1000;
    d.subs.push_back(first);
    const bool churner = pick(rng) % 3 == 0;
    const absl::Time end = t + absl::Hours(24 * (60 + pick(rng) % 240));
    for (int i = pick(rng) % 4; i > 0; --i) {
      t += absl::Hours(1 + pick(rng) % (24 * 50));
      const int kind = pick(rng) % 5;
      SubscriptionEvent e = Sub(id, t, kind == 4 ? 0 : 100 * (1 + pick(rng) % 30), kind == 3);
      if (kind == 2) e.status = SubscriptionStatus::kPastDue;
      if (kind == 1) e.subscription_id = "second";
      d.subs.push_back(e);
    }
    if (churner) d.subs.push_back(Sub(id, end, 0));
    // Usage: steady for stayers, thinning out before a churner leaves.
    const int events = 20 + pick(rng) % 80;
    for (int i = 0; i < events; ++i) {
      absl::Time at = start + absl::Minutes(pick(rng) % (60 * 24 * 400));
      if (churner && at > end - absl::Hours(24 * 45) && pick(rng) % 4 != 0) continue;
      d.usage.push_back(Use(id, absl::StrCat("t", pick(rng) % 3),
                            pick(rng) % 5 == 0 ? "" : absl::StrCat("u", pick(rng) % 4), at));
    }
    if (pick(rng) % 2 == 0) {
      SurveyResponse r;
      r.customer_id = id;
      r.score = pick(rng) % 11;
      r.time = start + absl::Hours(pick(rng) % (24 * 300));
      r.seq = c;
      d.answers.push_back(r);
    }
  }
  for (size_t i = 0; i < d.subs.size(); ++i) {
    d.subs[i].event_id = absl::StrCat("e", i);
    d.subs[i].seq = static_cast<int64_t>(i);
  }
  return d;
}

struct Setup {
  World w;
  std::vector<const std::vector<LedgerEvent>*> months;
  std::vector<ResponsePoint> responses;
  ModelInputs in;
};

std::unique_ptr<Setup> Prepare(const Data& d, absl::TimeZone tz) {
  auto s = std::make_unique<Setup>();
  s->w = Build(d.usage, d.subs, tz, absl::CivilDay(2025, 12, 31));
  s->months = {&s->w.ledger.events};
  for (const SurveyResponse& r : d.answers) {
    const auto it =
        std::find(s->w.ledger.customer_ids.begin(), s->w.ledger.customer_ids.end(), r.customer_id);
    s->responses.push_back({static_cast<int32_t>(it - s->w.ledger.customer_ids.begin()),
                            absl::ToUnixMicros(r.time), r.seq, r.score});
  }
  s->in.customer_ids = &s->w.ledger.customer_ids;
  s->in.events = &s->months;
  s->in.movements = &s->w.movements;
  s->in.pauses = &s->w.pauses;
  s->in.usage = s->w.inputs(tz);
  s->in.responses = &s->responses;
  return s;
}

// The reference: features of customer `id` at the end of `t`, from the raw events.
std::vector<double> ReferenceFeatures(const Data& d, const std::string& id, absl::CivilDay t,
                                      absl::TimeZone tz) {
  const absl::Time end = DayStart(t + 1, tz);
  const auto mrr_at = [&](absl::CivilDay day) {
    return reference::StateBefore(d.subs, id, DayStart(day + 1, tz)).mrr;
  };
  absl::CivilDay first_paid = t;
  for (absl::CivilDay day(2023, 12, 31); day <= t; ++day) {
    if (mrr_at(day) > 0) {
      first_paid = day;
      break;
    }
  }
  const int64_t mrr = mrr_at(t), earlier = mrr_at(t - 90);
  std::map<std::string, const SubscriptionEvent*> latest;
  for (const SubscriptionEvent& e : d.subs) {
    if (e.customer_id != id || e.effective_at >= end) continue;
    const SubscriptionEvent*& l = latest[e.subscription_id];
    if (l == nullptr || std::tie(e.effective_at, e.seq) > std::tie(l->effective_at, l->seq)) l = &e;
  }
  double subs = 0, long_term = 0, past_due = 0, discount = 0;
  for (const auto& [sub, e] : latest) {
    if (e->status == SubscriptionStatus::kPastDue) past_due = 1;
    if (StateMrr(*e) <= 0) continue;
    subs += 1;
    if (NominalTwelfths({e->interval_unit, e->interval_count}) >= 4380) long_term = 1;
    if (e->discount_bps > 0 || e->discount_amount > 0) discount = 1;
  }
  double last30 = 0, prev30 = 0;
  std::set<std::string> users;
  std::optional<absl::Time> last;
  for (const UsageEvent& u : d.usage) {
    if (u.customer_id != id || u.time >= end) continue;
    if (!last.has_value() || u.time > *last) last = u.time;
    if (u.time >= DayStart(t - 29, tz)) {
      last30 += 1;
      if (!u.user_id.empty()) users.insert(u.user_id);
    } else if (u.time >= DayStart(t - 59, tz)) {
      prev30 += 1;
    }
  }
  const double since =
      last.has_value() ? std::min<int64_t>(365, t - absl::ToCivilDay(*last, tz)) : 365;
  double nps = 0, none = 1;
  const SurveyResponse* answer = nullptr;
  for (const SurveyResponse& r : d.answers) {
    if (r.customer_id == id && r.time < end &&
        (answer == nullptr || std::tie(r.time, r.seq) > std::tie(answer->time, answer->seq))) {
      answer = &r;
    }
  }
  if (answer != nullptr) {
    nps = answer->score;
    none = 0;
  }
  double contraction = 0;
  for (const reference::RefMovement& m : reference::Movements(d.subs, tz, t)) {
    if (m.customer == id && m.day > t - 90 && m.day <= t && m.type == MovementType::kContraction) {
      contraction = 1;
    }
  }
  return {std::log1p(static_cast<double>(t - first_paid)),
          std::log1p(static_cast<double>(mrr) / 100),
          earlier > 0 ? static_cast<double>(mrr) / static_cast<double>(earlier) : 0,
          subs,
          long_term,
          past_due,
          discount,
          std::log1p(since),
          std::log1p(last30),
          (last30 - prev30) / (prev30 + 1),
          static_cast<double>(users.size()),
          nps,
          none,
          contraction};
}

// Churned (MRR 0, nothing paused) at some instant of (t, t + H]: the state after each event.
bool ReferenceChurns(const Data& d, const std::string& id, absl::CivilDay t, int h,
                     absl::TimeZone tz) {
  for (const SubscriptionEvent& e : d.subs) {
    if (e.customer_id != id || e.effective_at < DayStart(t + 1, tz) ||
        e.effective_at >= DayStart(t + h + 1, tz)) {
      continue;
    }
    const reference::CustomerState s =
        reference::StateBefore(d.subs, id, e.effective_at + absl::Nanoseconds(1));
    if (s.mrr == 0 && !s.any_paused) return true;
  }
  return false;
}

std::vector<absl::CivilDay> MonthEnds(absl::CivilMonth from, absl::CivilMonth to) {
  std::vector<absl::CivilDay> out;
  for (absl::CivilMonth m = from; m <= to; ++m) out.push_back(absl::CivilDay(m + 1) - 1);
  return out;
}

TEST(ModelFeatures, MatchTheReferenceOnRandomHistories) {
  for (const char* zone : {"UTC", "America/New_York"}) {
    absl::TimeZone tz;
    ASSERT_TRUE(absl::LoadTimeZone(zone, &tz));
    const Data d = Random(5, 30);
    const auto s = Prepare(d, tz);
    TrainSettings settings;
    settings.month_ends = MonthEnds(absl::CivilMonth(2024, 2), absl::CivilMonth(2024, 9));
    settings.horizon_days = 60;
    settings.as_of = absl::FromCivil(absl::CivilDay(2024, 10, 15), absl::UTCTimeZone());
    const std::vector<LabelledExample> examples = TrainingExamples(s->in, settings);
    // Paying at each month end whose window ended by Oct 15 (Feb … Jul), labels as replayed.
    int64_t want = 0;
    for (const absl::CivilDay t : settings.month_ends) {
      if (t > absl::CivilDay(2024, 7, 31)) continue;
      for (const std::string& id : s->w.ledger.customer_ids) {
        want += reference::StateBefore(d.subs, id, DayStart(t + 1, tz)).mrr > 0 ? 1 : 0;
      }
    }
    ASSERT_EQ(static_cast<int64_t>(examples.size()), want) << zone;
    int positives = 0;
    for (const LabelledExample& e : examples) {
      const std::string& id = s->w.ledger.customer_ids[static_cast<size_t>(e.customer)];
      EXPECT_EQ(e.label, ReferenceChurns(d, id, e.day, 60, tz))
          << zone << " " << id << " " << e.day;
      positives += e.label ? 1 : 0;
    }
    EXPECT_GT(positives, 3);
    // Features of every example of two month ends.
    for (const absl::CivilDay t : {absl::CivilDay(2024, 3, 31), absl::CivilDay(2024, 7, 31)}) {
      std::vector<int32_t> customers;
      for (const LabelledExample& e : examples) {
        if (e.day == t) customers.push_back(e.customer);
      }
      const absl::StatusOr<Design> x = NumericFeaturesAt(s->in, t, customers);
      ASSERT_TRUE(x.ok()) << x.status();
      for (size_t r = 0; r < customers.size(); ++r) {
        const std::string& id = s->w.ledger.customer_ids[static_cast<size_t>(customers[r])];
        const std::vector<double> ref = ReferenceFeatures(d, id, t, tz);
        const std::vector<std::string> names = NumericFeatureNames(false);
        for (size_t c = 0; c < ref.size(); ++c) {
          EXPECT_NEAR(x->row(r)[c], ref[c], 1e-12)
              << zone << " " << id << " " << t << " " << names[c];
        }
      }
    }
  }
}

TEST(ModelTraining, LearnsUsageFromHeldOutDataDeterministically) {
  const absl::TimeZone tz = absl::UTCTimeZone();
  const Data d = Random(9, 400);
  const auto s = Prepare(d, tz);
  TrainSettings settings;
  settings.month_ends = MonthEnds(absl::CivilMonth(2024, 2), absl::CivilMonth(2024, 11));
  settings.horizon_days = 30;
  settings.as_of = absl::FromCivil(absl::CivilDay(2025, 6, 1), absl::UTCTimeZone());
  const absl::StatusOr<Model> m = TrainModel(s->in, settings);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->time_split);  // ten label months
  EXPECT_EQ(m->label_months, 10);
  EXPECT_EQ(m->test_months, 3);
  ASSERT_TRUE(m->evaluation.auc.has_value());
  EXPECT_GT(*m->evaluation.auc, 0.75) << "fading usage foretells churn";
  EXPECT_EQ(m->features.size(), NumericFeatureNames(false).size());
  // Usage carries the signal: more events in the last 30 days, less risk, clearly.
  EXPECT_EQ(m->features[8].name, "log_usage_30d");
  EXPECT_LT(m->features[8].coefficient, -2 * m->features[8].standard_error);
  const absl::StatusOr<Model> again = TrainModel(s->in, settings);
  for (size_t j = 0; j < m->features.size(); ++j) {
    EXPECT_EQ(m->features[j].coefficient, again->features[j].coefficient);
  }
  // Five months: cross-validation by customer, every example predicted once.
  settings.month_ends = MonthEnds(absl::CivilMonth(2024, 4), absl::CivilMonth(2024, 8));
  const absl::StatusOr<Model> cv = TrainModel(s->in, settings);
  ASSERT_TRUE(cv.ok()) << cv.status();
  EXPECT_FALSE(cv->time_split);
  EXPECT_EQ(cv->evaluation.examples, cv->examples);
  // Sampling keeps max_examples, the same ones on every run.
  settings.max_examples = 500;
  const absl::StatusOr<Model> small = TrainModel(s->in, settings);
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->examples, 500);
  EXPECT_GT(small->candidates, 500);
  // Scores: every customer paying at the day, the probability the model's, top factors by
  // contribution.
  const absl::CivilDay day(2024, 12, 31);
  const absl::StatusOr<std::vector<Score>> scores = ScoreCustomers(*m, s->in, day);
  ASSERT_TRUE(scores.ok()) << scores.status();
  std::vector<int32_t> paying;
  for (const Score& sc : *scores) paying.push_back(sc.customer);
  const absl::StatusOr<Design> x = NumericFeaturesAt(s->in, day, paying);
  ASSERT_TRUE(x.ok());
  for (size_t i = 0; i < scores->size(); ++i) {
    const Score& sc = (*scores)[i];
    const std::vector<double> raw(x->row(i), x->row(i) + x->cols);
    EXPECT_DOUBLE_EQ(sc.probability, m->Probability(raw));
    ASSERT_EQ(sc.top.size(), 3u);
    EXPECT_GE(std::abs(sc.contribution[0]), std::abs(sc.contribution[1]));
    EXPECT_GE(std::abs(sc.contribution[1]), std::abs(sc.contribution[2]));
  }
}

// Several days in one pass, or a few customers only: the same scores as one day at a time.
TEST(ModelTraining, ScoresOfSeveralDaysOrAFewCustomersAreTheSame) {
  const absl::TimeZone tz = absl::UTCTimeZone();
  const Data d = Random(9, 120);
  const auto s = Prepare(d, tz);
  TrainSettings settings;
  settings.month_ends = MonthEnds(absl::CivilMonth(2024, 2), absl::CivilMonth(2024, 9));
  settings.horizon_days = 30;
  settings.as_of = absl::FromCivil(absl::CivilDay(2025, 6, 1), absl::UTCTimeZone());
  const absl::StatusOr<Model> m = TrainModel(s->in, settings);
  ASSERT_TRUE(m.ok()) << m.status();
  const std::vector<absl::CivilDay> days = {absl::CivilDay(2024, 10, 3),
                                            absl::CivilDay(2024, 12, 31)};
  std::vector<bool> only(s->w.ledger.customer_ids.size(), false);
  for (size_t c = 0; c < only.size(); c += 3) only[c] = true;
  const auto both = ScoreDays(*m, s->in, days, nullptr);
  const auto few = ScoreDays(*m, s->in, days, &only);
  ASSERT_TRUE(both.ok() && few.ok());
  for (size_t i = 0; i < days.size(); ++i) {
    const absl::StatusOr<std::vector<Score>> one = ScoreCustomers(*m, s->in, days[i]);
    ASSERT_TRUE(one.ok());
    ASSERT_EQ((*both)[i].size(), one->size());
    size_t k = 0;
    for (size_t j = 0; j < one->size(); ++j) {
      EXPECT_EQ((*both)[i][j].customer, (*one)[j].customer);
      EXPECT_EQ((*both)[i][j].probability, (*one)[j].probability);
      if (!only[static_cast<size_t>((*one)[j].customer)]) continue;
      ASSERT_LT(k, (*few)[i].size());
      EXPECT_EQ((*few)[i][k].customer, (*one)[j].customer);
      EXPECT_EQ((*few)[i][k].probability, (*one)[j].probability);
      ++k;
    }
    EXPECT_EQ(k, (*few)[i].size());
  }
}

TEST(ModelTraining, BadSettingsSayWhatToChange) {
  const absl::TimeZone tz = absl::UTCTimeZone();
  const Data d = Random(9, 60);
  const auto s = Prepare(d, tz);
  TrainSettings settings;
  settings.month_ends = MonthEnds(absl::CivilMonth(2024, 6), absl::CivilMonth(2024, 8));
  settings.as_of = absl::FromCivil(absl::CivilDay(2024, 9, 1), absl::UTCTimeZone());
  const absl::StatusOr<Model> late = TrainModel(s->in, settings);  // 90-day windows not over
  EXPECT_EQ(late.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(late.status().message().find("horizon_days"), std::string::npos);
  settings.kind = ModelKind::kUpsell;
  settings.horizon_days = 1;
  settings.month_ends = {absl::CivilDay(2024, 1, 31)};
  settings.as_of = absl::FromCivil(absl::CivilDay(2025, 1, 1), absl::UTCTimeZone());
  const absl::StatusOr<Model> none = TrainModel(s->in, settings);
  if (!none.ok()) {
    EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(none.status().message().find("negative"), std::string::npos) << none.status();
  }
}

}  // namespace
}  // namespace saasmetrics::engine
