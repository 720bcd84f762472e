// The engine against the replaying reference on thousands of random histories: several
// subscriptions per customer, pauses, trials, discounts, annual/weekly/daily plans,
// same-day changes, exact ties, out-of-order arrival, DST time zones.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "server/engine/cohorts.h"
#include "server/engine/ledger.h"
#include "server/engine/partition.h"
#include "server/engine/series.h"
#include "tests/engine/reference.h"

namespace saasmetrics::engine {
namespace {

const absl::CivilDay kBase(2024, 2, 20);  // spans both DST starts (US Mar 10, EU Mar 31)
constexpr int kSpanDays = 60;

std::vector<SubscriptionEvent> RandomHistory(std::mt19937_64& rng, absl::TimeZone tz) {
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  std::vector<SubscriptionEvent> events;
  const int customers = 1 + pick(5);
  for (int c = 0; c < customers; ++c) {
    const int subs = 1 + pick(3);
    for (int s = 0; s < subs; ++s) {
      const int n = 1 + pick(6);
      for (int k = 0; k < n; ++k) {
        SubscriptionEvent e;
        e.event_id = absl::StrCat("e", events.size());
        e.customer_id = absl::StrCat("c", c);
        e.subscription_id = absl::StrCat("s", s);
        const absl::CivilDay day = kBase + pick(kSpanDays);
        static const int kSeconds[] = {0,    1800,  7199,
                                       9000, 43200, 86399};  // 02:30 is skipped in US DST
        absl::Time at =
            tz.At(absl::CivilSecond(day) + kSeconds[pick(6)]).pre + absl::Microseconds(pick(3));
        if (!events.empty() && pick(5) == 0) at = events.back().effective_at;  // exact tie
        e.effective_at = at;
        static const SubscriptionStatus kStatuses[] = {
            SubscriptionStatus::kActive,   SubscriptionStatus::kActive,
            SubscriptionStatus::kActive,   SubscriptionStatus::kPastDue,
            SubscriptionStatus::kTrialing, SubscriptionStatus::kPaused,
            SubscriptionStatus::kPaused,   SubscriptionStatus::kCanceled};
        e.status = kStatuses[pick(8)];
        e.plan_id = pick(2) ? "pro" : "basic";
        static const IntervalUnit kUnits[] = {IntervalUnit::kMonth, IntervalUnit::kMonth,
                                              IntervalUnit::kYear, IntervalUnit::kWeek,
                                              IntervalUnit::kDay};
        e.interval_unit = kUnits[pick(5)];
        e.interval_count = 1 + pick(3);
        e.quantity = pick(6);
        static const int64_t kAmounts[] = {0, 999, 4900, 12345, 100001};
        e.unit_amount = kAmounts[pick(5)];
        const int discount = pick(5);
        if (discount == 0) e.discount_bps = pick(10001);
        if (discount == 1)
          e.discount_amount = pick(static_cast<int>(e.unit_amount * e.quantity + 1));
        e.currency = "USD";
        e.seq = static_cast<int64_t>(events.size());  // ingest order
        events.push_back(e);
      }
    }
  }
  std::shuffle(events.begin(), events.end(), rng);  // arrival order is not time order
  return events;
}

struct Case {
  std::string tz;
  Interval interval;
};

class EngineVsReference : public ::testing::TestWithParam<Case> {};

TEST_P(EngineVsReference, MovementsAndSeriesMatchOnRandomHistories) {
  absl::TimeZone tz;
  ASSERT_TRUE(absl::LoadTimeZone(GetParam().tz, &tz));
  std::mt19937_64 rng(20241123 + static_cast<int>(GetParam().interval));
  for (int round = 0; round < 400; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    const std::vector<SubscriptionEvent> events = RandomHistory(rng, tz);
    const absl::CivilDay start = kBase + static_cast<int>(rng() % 20);
    const absl::CivilDay end = start + 20 + static_cast<int>(rng() % 45);
    const std::vector<Period> periods = CutPeriods(start, end, GetParam().interval);

    Ledger ledger = BuildLedger(events);
    MrrTimeline timeline =
        MrrTimeline::Build(ledger.events, static_cast<int32_t>(ledger.customer_ids.size()));
    std::vector<PauseChange> pauses;
    const std::vector<Movement> movements = timeline.Movements(tz, end, nullptr, &pauses);

    // Movements, one by one.
    std::vector<reference::RefMovement> expected = reference::Movements(events, tz, end);
    std::vector<std::tuple<std::string, absl::CivilDay, MovementType, int64_t>> got, want;
    for (const Movement& m : movements) {
      got.emplace_back(ledger.customer_ids[m.customer], m.day, m.type, m.amount);
    }
    for (const auto& m : expected) want.emplace_back(m.customer, m.day, m.type, m.amount);
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    ASSERT_EQ(got, want);

    // The same ledger through per-month cached partitions gives the same movements.
    {
      std::map<absl::CivilMonth, std::vector<SubscriptionEvent>> by_month;
      for (const auto& e : events) {
        by_month[absl::ToCivilMonth(e.effective_at, absl::UTCTimeZone())].push_back(e);
      }
      std::vector<std::shared_ptr<const SubscriptionPartition>> parts;
      for (const auto& [month, es] : by_month) {
        parts.push_back(
            std::make_shared<const SubscriptionPartition>(BuildSubscriptionPartition(month, es)));
      }
      std::shuffle(parts.begin(), parts.end(), rng);
      Ledger merged = MergePartitions(parts, absl::ToUnixMicros(DayStart(end + 1, tz)));
      MrrTimeline t2 =
          MrrTimeline::Build(merged.events, static_cast<int32_t>(merged.customer_ids.size()));
      std::vector<std::tuple<std::string, absl::CivilDay, MovementType, int64_t>> via_parts;
      for (const Movement& m : t2.Movements(tz, end)) {
        via_parts.emplace_back(merged.customer_ids[m.customer], m.day, m.type, m.amount);
      }
      std::sort(via_parts.begin(), via_parts.end());
      ASSERT_EQ(via_parts.size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_EQ(via_parts[i], want[i])
            << "movement " << i << ": " << std::get<0>(want[i]) << " " << std::get<1>(want[i])
            << " vs " << std::get<0>(via_parts[i]) << " " << std::get<1>(via_parts[i]) << " amount "
            << std::get<3>(via_parts[i]) << " want " << std::get<3>(want[i]);
      }
    }

    // Cohorts: membership by the reference's new-business day, retention from replayed
    // month-end MRR.
    {
      std::map<int, std::pair<int64_t, std::vector<std::pair<int64_t, int64_t>>>> ref_cohorts;
      for (const auto& m : expected) {
        if (m.type != MovementType::kNewBusiness || m.day < start) continue;
        int k = 0;
        while (periods[k].last < m.day) ++k;
        auto& [size, cells] = ref_cohorts[k];
        ++size;
        cells.resize(periods.size() - k);
        for (size_t p = k; p < periods.size(); ++p) {
          const int64_t at_end =
              reference::StateBefore(events, m.customer, DayStart(periods[p].last + 1, tz)).mrr;
          cells[p - k].first += at_end > 0;
          cells[p - k].second += at_end;
        }
      }
      const std::vector<Cohort> cohorts = ComputeCohorts(movements, periods, {});
      ASSERT_EQ(cohorts.size(), ref_cohorts.size());
      for (const Cohort& c : cohorts) {
        const auto& [size, cells] = ref_cohorts.at(c.period);
        EXPECT_EQ(c.customers, size);
        ASSERT_EQ(c.cells.size(), cells.size());
        EXPECT_EQ(c.initial_mrr, cells[0].second);
        for (size_t j = 0; j < cells.size(); ++j) {
          EXPECT_EQ(c.cells[j].paying, cells[j].first);
          EXPECT_EQ(c.cells[j].mrr, cells[j].second);
        }
      }
    }

    // MRR by cohort: each customer's replayed MRR at each period end, in the layer of the
    // period of its reference new-business day; from the movements for any periods, and from
    // the cohort totals for periods starting on months.
    for (const std::vector<Period>& cut :
         {periods, CutPeriods(absl::CivilDay(absl::CivilMonth(start)), end, GetParam().interval)}) {
      std::vector<std::vector<int64_t>> want_cake(cut.size());
      for (size_t p = 0; p < cut.size(); ++p) want_cake[p].assign(p + 2, 0);  // earlier, layers
      for (const auto& m : expected) {
        if (m.type != MovementType::kNewBusiness || m.day > end) continue;
        int k = -1;
        if (m.day >= cut.front().first) {
          k = 0;
          while (cut[k].last < m.day) ++k;
        }
        for (size_t p = 0; p < cut.size(); ++p) {
          if (k > static_cast<int>(p)) continue;
          want_cake[p][k + 1] +=
              reference::StateBefore(events, m.customer, DayStart(cut[p].last + 1, tz)).mrr;
        }
      }
      auto as_rows = [](const std::vector<MrrByCohortPoint>& points) {
        std::vector<std::vector<int64_t>> rows;
        for (const MrrByCohortPoint& point : points) {
          std::vector<int64_t> row = {point.earlier_mrr};
          row.insert(row.end(), point.layers.begin(), point.layers.end());
          rows.push_back(row);
          int64_t sum = 0;
          for (int64_t v : row) sum += v;
          EXPECT_EQ(point.mrr, sum);
          EXPECT_EQ(point.existing_mrr, sum - point.layers.back());
        }
        return rows;
      };
      EXPECT_EQ(as_rows(ComputeMrrByCohort(movements, cut)), want_cake);
      if (PeriodsStartOnMonths(cut)) {
        EXPECT_EQ(as_rows(ComputeMrrByCohort(SumByCohortDay(movements), cut)), want_cake);
      }
    }

    // Series.
    const MrrSeries mrr = ComputeMrrSeries(movements, periods);
    {  // From per-day totals (what an unfiltered warm query uses): the same series.
      const MrrSeries daily = ComputeMrrSeries(SumByDay(movements), periods);
      EXPECT_EQ(daily.start_mrr, mrr.start_mrr);
      EXPECT_EQ(daily.start_paying, mrr.start_paying);
      ASSERT_EQ(daily.points.size(), mrr.points.size());
      for (size_t i = 0; i < mrr.points.size(); ++i) {
        EXPECT_EQ(daily.points[i].mrr, mrr.points[i].mrr);
        EXPECT_EQ(daily.points[i].paying, mrr.points[i].paying);
        EXPECT_EQ(daily.points[i].movements, mrr.points[i].movements);
      }
    }
    const std::vector<ChurnPoint> churn = ComputeChurnSeries(movements, periods, &pauses);
    const std::vector<reference::RefPeriod> ref = reference::Series(events, tz, periods);
    ASSERT_EQ(mrr.points.size(), ref.size());
    EXPECT_EQ(mrr.start_mrr, ref.front().mrr_start);
    int64_t previous_end = mrr.start_mrr;
    for (size_t p = 0; p < ref.size(); ++p) {
      SCOPED_TRACE(absl::StrCat("period ", p));
      EXPECT_EQ(mrr.points[p].mrr, ref[p].mrr_end);
      EXPECT_EQ(mrr.points[p].paying, ref[p].paying_end);
      EXPECT_EQ(mrr.points[p].movements, ref[p].movements);
      // The movement invariant, to the minor unit.
      EXPECT_EQ(previous_end + mrr.points[p].movements.net(), mrr.points[p].mrr);
      previous_end = mrr.points[p].mrr;
      EXPECT_EQ(churn[p].customers_at_start, ref[p].customers_at_start);
      EXPECT_EQ(churn[p].churned, ref[p].churned);
      EXPECT_EQ(churn[p].mrr_at_start, ref[p].mrr_start);
      EXPECT_EQ(churn[p].retained_mrr, ref[p].retained);
      EXPECT_EQ(churn[p].floor_mrr, ref[p].floor);
      EXPECT_EQ(churn[p].movements, ref[p].movements);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    ZonesAndIntervals, EngineVsReference,
    ::testing::Values(Case{"America/New_York", Interval::kDay},
                      Case{"America/New_York", Interval::kWeek},
                      Case{"Europe/Berlin", Interval::kMonth}, Case{"UTC", Interval::kMonth},
                      Case{"Asia/Kolkata", Interval::kQuarter},
                      Case{"Australia/Lord_Howe", Interval::kWeek}),
    [](const auto& info) {
      std::string name = absl::StrCat(info.param.tz, "_", static_cast<int>(info.param.interval));
      std::replace_if(
          name.begin(), name.end(), [](char c) { return !std::isalnum(c); }, '_');
      return name;
    });

TEST(SubscriptionPartition, CostsAtMost64BytesPerEvent) {
  std::vector<SubscriptionEvent> events;
  for (int i = 0; i < 200000; ++i) {
    SubscriptionEvent e;
    e.customer_id = absl::StrCat("customer_", i % 40000, "_with_a_realistic_id");
    e.subscription_id = absl::StrCat("sub_", i % 60000, "_", i % 40000);
    e.effective_at = absl::FromUnixSeconds(1704067200 + i);
    e.status = SubscriptionStatus::kActive;
    e.plan_id = absl::StrCat("plan_", i % 7);
    e.quantity = 1;
    e.unit_amount = 4900;
    e.interval_unit = IntervalUnit::kMonth;
    e.interval_count = 1;
    e.seq = i;
    events.push_back(e);
  }
  const SubscriptionPartition p = BuildSubscriptionPartition(absl::CivilMonth(2024, 1), events);
  const double per_event = static_cast<double>(p.bytes()) / static_cast<double>(p.events());
  EXPECT_LE(per_event, 64.0) << per_event;
  EXPECT_GE(per_event, 37.0) << "bytes() must count the columns honestly";
}

TEST(SubscriptionPartition, ABaseExtendedWithAddedEventsEqualsAPartitionBuiltFromAll) {
  std::mt19937_64 rng(21);
  auto content = [](const SubscriptionPartition& p) {
    std::vector<std::tuple<int64_t, int64_t, int64_t, std::string, std::string, std::string, bool>>
        out;
    for (size_t i = 0; i < p.events(); ++i) {
      const int32_t s = p.subscription[i];
      out.emplace_back(
          p.at_us[i], p.seq[i], p.mrr[i], std::string(p.customers[p.subscription_customer[s]]),
          std::string(p.subscriptions[s]), p.plan[i] < 0 ? "" : std::string(p.plans[p.plan[i]]),
          (p.state[i] & kStatePaused) != 0);
    }
    return out;
  };
  const absl::Time from = absl::FromCivil(absl::CivilDay(2024, 3, 1), absl::UTCTimeZone());
  for (int round = 0; round < 30; ++round) {
    std::vector<SubscriptionEvent> all;
    const int n = 1 + static_cast<int>(rng() % 120);
    for (int i = 0; i < n; ++i) {
      SubscriptionEvent e;
      e.customer_id = absl::StrCat("c", rng() % 9);
      e.subscription_id = absl::StrCat("s", rng() % 3);
      // Few distinct instants: ties are ordered by seq, whichever side they come from.
      e.effective_at = from + absl::Hours(static_cast<int64_t>(rng() % 4));
      e.seq = static_cast<int64_t>(rng() % 1000000) * 200 + i;  // unique, in no order
      e.status = rng() % 4 == 0 ? SubscriptionStatus::kPaused : SubscriptionStatus::kActive;
      e.plan_id = rng() % 5 == 0 ? "" : absl::StrCat("plan_", rng() % 4);
      e.quantity = 1 + static_cast<int64_t>(rng() % 3);
      e.unit_amount = 1000 + static_cast<int64_t>(rng() % 5000);
      e.interval_unit = IntervalUnit::kMonth;
      e.interval_count = 1;
      all.push_back(e);
    }
    const size_t split = rng() % (all.size() + 1);
    if (round % 3 == 0) {
      for (size_t i = split; i < all.size(); ++i) all[i].customer_id += "-new";
    }
    const std::vector<SubscriptionEvent> base_events(all.begin(), all.begin() + split);
    const std::vector<SubscriptionEvent> added(all.begin() + split, all.end());
    const SubscriptionPartition base =
        BuildSubscriptionPartition(absl::CivilMonth(2024, 3), base_events);
    const SubscriptionPartition extended = ExtendSubscriptionPartition(base, added);
    EXPECT_EQ(content(extended),
              content(BuildSubscriptionPartition(absl::CivilMonth(2024, 3), all)))
        << "round " << round << ", split " << split;
    EXPECT_EQ(extended.subscriptions.size(), extended.subscription_customer.size());
  }
}

}  // namespace
}  // namespace saasmetrics::engine
