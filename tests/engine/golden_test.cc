// Golden files (tests/golden/*.golden): events + query + expected output, readable by
// anyone who knows METRICS.md. Each pins a definition or an edge case.
//
//   timezone America/New_York
//   range 2024-01-01 2024-03-31 month
//   event <customer> <subscription> <effective_at> <status> <unit>/<count> qty=Q amount=A
//         [bps=B] [off=O] [plan=P]
//   show renewals <unit>/<count> | show cake     (optional: only these sections, instead of
//                                                  the MRR, churn and movement lines)
//   expect:
//   <the output lines below; a movement line ends with the drill-down's subscriptions>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/engine/cohorts.h"
#include "server/engine/dates.h"
#include "server/engine/ledger.h"
#include "server/engine/renewals.h"
#include "server/engine/series.h"

namespace saasmetrics::engine {
namespace {

struct Golden {
  absl::TimeZone tz = absl::UTCTimeZone();
  absl::CivilDay start, end;
  Interval interval = Interval::kMonth;
  std::vector<SubscriptionEvent> events;
  std::vector<std::string> expected;
  std::optional<Term> renewals;  // show renewals with this min_term
  bool cake = false;             // show MRR by cohort
};

const char* TypeName(MovementType t) {
  switch (t) {
    case MovementType::kNewBusiness:
      return "new_business";
    case MovementType::kExpansion:
      return "expansion";
    case MovementType::kContraction:
      return "contraction";
    case MovementType::kChurn:
      return "churn";
    case MovementType::kReactivation:
      return "reactivation";
  }
  return "?";
}

std::string Rate(std::optional<double> r) {
  return r.has_value() ? absl::StrFormat("%.4f", *r) : "-";
}

SubscriptionEvent ParseEvent(const std::vector<std::string>& f, int64_t seq) {
  SubscriptionEvent e;
  e.customer_id = f.at(1);
  e.subscription_id = f.at(2);
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, f.at(3), &e.effective_at, &err)) << f.at(3);
  static const std::pair<const char*, SubscriptionStatus> kStatus[] = {
      {"active", SubscriptionStatus::kActive},
      {"past_due", SubscriptionStatus::kPastDue},
      {"trialing", SubscriptionStatus::kTrialing},
      {"paused", SubscriptionStatus::kPaused},
      {"canceled", SubscriptionStatus::kCanceled}};
  for (const auto& [name, s] : kStatus) {
    if (f.at(4) == name) e.status = s;
  }
  std::vector<std::string> unit = absl::StrSplit(f.at(5), '/');
  static const std::pair<const char*, IntervalUnit> kUnits[] = {{"day", IntervalUnit::kDay},
                                                                {"week", IntervalUnit::kWeek},
                                                                {"month", IntervalUnit::kMonth},
                                                                {"year", IntervalUnit::kYear}};
  for (const auto& [name, u] : kUnits) {
    if (unit.at(0) == name) e.interval_unit = u;
  }
  EXPECT_TRUE(absl::SimpleAtoi(unit.at(1), &e.interval_count));
  for (size_t i = 6; i < f.size(); ++i) {
    std::pair<std::string, std::string> kv = absl::StrSplit(f[i], '=');
    int64_t v = 0;
    if (kv.first == "plan") {
      e.plan_id = kv.second;
      continue;
    }
    EXPECT_TRUE(absl::SimpleAtoi(kv.second, &v)) << f[i];
    if (kv.first == "qty") e.quantity = v;
    if (kv.first == "amount") e.unit_amount = v;
    if (kv.first == "bps") e.discount_bps = static_cast<int32_t>(v);
    if (kv.first == "off") e.discount_amount = v;
  }
  e.currency = "USD";
  e.seq = seq;
  return e;
}

Golden Parse(const std::string& path) {
  Golden g;
  std::ifstream in(path);
  std::string line;
  bool expecting = false;
  while (std::getline(in, line)) {
    absl::string_view l = absl::StripAsciiWhitespace(line);
    if (expecting) {
      if (!l.empty()) g.expected.emplace_back(l);
      continue;
    }
    if (l.empty() || l[0] == '#') continue;
    std::vector<std::string> f = absl::StrSplit(l, ' ', absl::SkipEmpty());
    if (f[0] == "timezone") {
      EXPECT_TRUE(absl::LoadTimeZone(f.at(1), &g.tz));
    } else if (f[0] == "range") {
      EXPECT_TRUE(ParseIsoDate(f.at(1), &g.start));
      EXPECT_TRUE(ParseIsoDate(f.at(2), &g.end));
      static const std::pair<const char*, Interval> kIntervals[] = {{"day", Interval::kDay},
                                                                    {"week", Interval::kWeek},
                                                                    {"month", Interval::kMonth},
                                                                    {"quarter", Interval::kQuarter},
                                                                    {"year", Interval::kYear}};
      for (const auto& [name, i] : kIntervals) {
        if (f.at(3) == name) g.interval = i;
      }
    } else if (f[0] == "show" && f.at(1) == "cake") {
      g.cake = true;
    } else if (f[0] == "show" && f.at(1) == "renewals") {
      SubscriptionEvent term = ParseEvent({"", "", "", "1970-01-01T00:00:00Z", "", f.at(2)}, 0);
      g.renewals = Term{term.interval_unit, term.interval_count};
    } else if (f[0] == "event") {
      g.events.push_back(ParseEvent(f, static_cast<int64_t>(g.events.size())));
    } else if (f[0] == "expect:") {
      expecting = true;
    } else {
      ADD_FAILURE() << path << ": unknown line: " << line;
    }
  }
  return g;
}

std::vector<std::string> Render(const Golden& g) {
  Ledger ledger = BuildLedger(g.events);
  MrrTimeline timeline =
      MrrTimeline::Build(ledger.events, static_cast<int32_t>(ledger.customer_ids.size()));
  std::vector<PauseChange> pauses;
  const std::vector<Movement> movements = timeline.Movements(g.tz, g.end, nullptr, &pauses);
  const std::vector<Period> periods = CutPeriods(g.start, g.end, g.interval);
  std::vector<std::string> out;
  if (g.renewals.has_value() || g.cake) {
    auto counts = [](const RenewalCounts& c) {
      return absl::StrCat("up=", c.up, " renewed=", c.renewed, " mrr_up=", c.mrr_up,
                          " mrr_renewed=", c.mrr_renewed);
    };
    if (g.renewals.has_value()) {
      for (const RenewalPoint& p :
           ComputeRenewals(ledger.events, periods, g.tz, {.min_term = *g.renewals})) {
        out.push_back(absl::StrCat("renewals ", FormatIsoDate(p.period.last), " subscriptions ",
                                   counts(p.subscriptions), " | customers ", counts(p.customers)));
      }
    }
    if (g.cake) {
      const std::vector<MrrByCohortPoint> cake = ComputeMrrByCohort(movements, periods);
      for (const MrrByCohortPoint& p : cake) {
        out.push_back(absl::StrCat("cake ", FormatIsoDate(p.period.last), " mrr=", p.mrr,
                                   " earlier=", p.earlier_mrr, " existing=", p.existing_mrr,
                                   " share=", Rate(p.existing_share()),
                                   " layers=", absl::StrJoin(p.layers, ",")));
      }
      if (PeriodsStartOnMonths(periods)) {  // the cohort totals agree
        const std::vector<MrrByCohortPoint> totals =
            ComputeMrrByCohort(SumByCohortDay(movements), periods);
        for (size_t i = 0; i < cake.size(); ++i) EXPECT_EQ(totals[i].layers, cake[i].layers);
      }
    }
    return out;
  }
  const MrrSeries mrr = ComputeMrrSeries(movements, periods);
  const std::vector<ChurnPoint> churn = ComputeChurnSeries(movements, periods, &pauses);
  out.push_back(absl::StrCat("start mrr=", mrr.start_mrr, " customers=", mrr.start_paying));
  for (const MrrPoint& p : mrr.points) {
    const MovementTotals& m = p.movements;
    out.push_back(absl::StrCat(
        "mrr ", FormatIsoDate(p.period.last), " mrr=", p.mrr, " arr=", 12 * p.mrr,
        " customers=", p.paying, " arpa=", p.arpa() ? absl::StrCat(*p.arpa()) : "-",
        " | new=", m.new_business, " expansion=", m.expansion, " contraction=", m.contraction,
        " churn=", m.churn, " reactivation=", m.reactivation));
  }
  for (const ChurnPoint& c : churn) {
    out.push_back(absl::StrCat(
        "churn ", FormatIsoDate(c.period.last), " at_start=", c.customers_at_start,
        " churned=", c.churned, " | customer=", Rate(c.customer_churn_rate()),
        " gross=", Rate(c.gross_mrr_churn_rate()), " net=", Rate(c.net_mrr_churn_rate()),
        " nrr=", Rate(c.nrr()), " grr=", Rate(c.grr()), " quick=", Rate(c.quick_ratio())));
  }
  for (const Movement& m : movements) {
    if (m.day < g.start) continue;
    std::vector<LedgerEvent> events;
    for (const LedgerEvent& e : ledger.events) {
      if (e.customer == m.customer) events.push_back(e);
    }
    std::vector<std::string> subs;
    for (int32_t s : ChangedSubscriptions(events, m.day, g.tz)) {
      subs.push_back(ledger.subscription_ids[s]);
    }
    std::sort(subs.begin(), subs.end());
    out.push_back(absl::StrCat("movement ", FormatIsoDate(m.day), " ",
                               ledger.customer_ids[m.customer], " ", TypeName(m.type), " ",
                               m.amount > 0 ? "+" : "", m.amount, " [", absl::StrJoin(subs, ","),
                               "]"));
  }
  return out;
}

TEST(Golden, EveryFileMatches) {
  const std::filesystem::path dir = std::filesystem::path(SAASMETRICS_SOURCE_DIR) / "tests/golden";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".golden") continue;
    ++files;
    SCOPED_TRACE(entry.path().filename().string());
    const Golden g = Parse(entry.path());
    const std::vector<std::string> actual = Render(g);
    EXPECT_EQ(absl::StrJoin(actual, "\n"), absl::StrJoin(g.expected, "\n"))
        << "actual output of " << entry.path().filename() << ":\n"
        << absl::StrJoin(actual, "\n");
  }
  EXPECT_GE(files, 8);
}

}  // namespace
}  // namespace saasmetrics::engine
