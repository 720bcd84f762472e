// Golden files (tests/golden/*.golden): events + query + expected output, readable by
// anyone who knows METRICS.md. Each pins a definition or an edge case.
//
//   timezone America/New_York
//   range 2024-01-01 2024-03-31 month
//   event <customer> <subscription> <effective_at> <status> <unit>/<count> qty=Q amount=A
//         [bps=B] [off=O] [plan=P]
//   usage <customer> <time> <type> [user=U] [value=V] [n=N]    (N such events)
//   survey <customer> <user|-> <score> <time>      (ingested in file order)
//   model <window days> <aggregation>:<types|*>:<target>:<weight> ...
//         (aggregation count | sum | active_days | distinct_users; types comma-separated)
//   policy [power_at_least=P] [at_risk_below=R] [inactive_days=I] [lost_window_days=L]
//   customer <id> [channel=C] [country=K] [<attribute key>=V ...]     (a customer record)
//   late          (the event and usage lines after it arrive after the first answer)
//   show renewals <unit>/<count> | show cake | show engagement | show health | show nps
//   show transitions      (each day's health transitions as sent before the late lines,
//                          the days again after them, and which days are revised)
//   show icp <top_share> <min_count> <field> ...      (the profile at the range's end)
//         (optional, repeatable: only these sections, instead of the MRR, churn and movement
//          lines; engagement, health and NPS per period end of the range)
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
#include "server/engine/currency.h"
#include "server/engine/dates.h"
#include "server/engine/engagement.h"
#include "server/engine/filters.h"
#include "server/engine/health.h"
#include "server/engine/icp.h"
#include "server/engine/ledger.h"
#include "server/engine/nps.h"
#include "server/engine/renewals.h"
#include "server/engine/series.h"
#include "tests/engine/world.h"

namespace saasmetrics::engine {
namespace {

struct Golden {
  absl::TimeZone tz = absl::UTCTimeZone();
  absl::CivilDay start, end;
  Interval interval = Interval::kMonth;
  std::vector<SubscriptionEvent> events;
  std::vector<std::string> expected;
  std::vector<UsageEvent> usage;
  std::vector<SurveyResponse> surveys;
  std::optional<EngagementModel> model;
  HealthPolicy policy;
  std::optional<Term> renewals;  // show renewals with this min_term
  bool cake = false;             // show MRR by cohort
  std::vector<Customer> customers;
  size_t sent_events = SIZE_MAX, sent_usage = SIZE_MAX;  // before `late`
  bool engagement = false, health = false, nps = false, transitions = false;
  std::optional<std::pair<double, int64_t>> icp;  // top share, min count
  std::vector<std::string> icp_fields;
  std::vector<ExchangeRate> rates;  // into USD, the golden files' reporting currency
  bool Sections() const {
    return renewals.has_value() || cake || engagement || health || nps || transitions ||
           icp.has_value();
  }
};

absl::Time ParseTime(const std::string& s) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, s, &t, &err)) << s << ": " << err;
  return t;
}

double ParseDouble(const std::string& s) {
  double v = 0;
  EXPECT_TRUE(absl::SimpleAtod(s, &v)) << s;
  return v;
}

// "count:login,export:10:2" → a component.
EngagementComponent ParseComponent(const std::string& spec) {
  std::vector<std::string> f = absl::StrSplit(spec, ':');
  EXPECT_EQ(f.size(), 4u) << spec;
  f.resize(4);
  using Agg = EngagementComponent::Aggregation;
  static const std::pair<const char*, Agg> kAggs[] = {{"count", Agg::kCount},
                                                      {"sum", Agg::kValueSum},
                                                      {"active_days", Agg::kActiveDays},
                                                      {"distinct_users", Agg::kDistinctUsers}};
  EngagementComponent c;
  bool known = false;
  for (const auto& [name, a] : kAggs) {
    if (f[0] == name) c.aggregation = a, known = true;
  }
  EXPECT_TRUE(known) << spec;
  if (f[1] != "*") c.event_types = absl::StrSplit(f[1], ',');
  c.target = ParseDouble(f[2]);
  c.weight = ParseDouble(f[3]);
  return c;
}

std::string Score(std::optional<double> s) {
  return s.has_value() ? absl::StrFormat("%.4f", *s) : "-";
}

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
  e.effective_at = ParseTime(f.at(3));
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
    if (kv.first == "currency") {
      e.currency = kv.second;
      continue;
    }
    EXPECT_TRUE(absl::SimpleAtoi(kv.second, &v)) << f[i];
    if (kv.first == "qty") e.quantity = v;
    if (kv.first == "amount") e.unit_amount = v;
    if (kv.first == "bps") e.discount_bps = static_cast<int32_t>(v);
    if (kv.first == "off") e.discount_amount = v;
  }
  if (e.currency.empty()) e.currency = "USD";
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
    } else if (f[0] == "show" && f.at(1) == "engagement") {
      g.engagement = true;
    } else if (f[0] == "show" && f.at(1) == "health") {
      g.health = true;
    } else if (f[0] == "show" && f.at(1) == "nps") {
      g.nps = true;
    } else if (f[0] == "show" && f.at(1) == "transitions") {
      g.transitions = true;
    } else if (f[0] == "show" && f.at(1) == "icp") {
      int64_t min_count = 0;
      EXPECT_TRUE(absl::SimpleAtoi(f.at(3), &min_count)) << line;
      g.icp.emplace(ParseDouble(f.at(2)), min_count);
      g.icp_fields.assign(f.begin() + 4, f.end());
    } else if (f[0] == "late") {
      g.sent_events = g.events.size();
      g.sent_usage = g.usage.size();
    } else if (f[0] == "customer") {
      Customer& c = g.customers.emplace_back();
      c.customer_id = f.at(1);
      for (size_t i = 2; i < f.size(); ++i) {
        std::pair<std::string, std::string> kv = absl::StrSplit(f[i], '=');
        if (kv.first == "channel") {
          c.acquisition_channel = kv.second;
        } else if (kv.first == "country") {
          c.country = kv.second;
        } else {
          c.attributes.emplace_back(kv.first, kv.second);
        }
      }
    } else if (f[0] == "event") {
      g.events.push_back(ParseEvent(f, static_cast<int64_t>(g.events.size())));
    } else if (f[0] == "rate") {  // rate DATE CURRENCY VALUE: one unit in USD
      ExchangeRate& r = g.rates.emplace_back();
      EXPECT_TRUE(ParseIsoDate(f.at(1), &r.date)) << line;
      r.currency = f.at(2);
      std::optional<Decimal> rate = ParseRate(f.at(3));
      EXPECT_TRUE(rate.has_value()) << line;
      if (rate.has_value()) r.rate = *rate;
    } else if (f[0] == "usage") {
      UsageEvent u = Use(f.at(1), f.at(3), "", ParseTime(f.at(2)));
      int n = 1;
      for (size_t i = 4; i < f.size(); ++i) {
        std::pair<std::string, std::string> kv = absl::StrSplit(f[i], '=');
        if (kv.first == "user") {
          u.user_id = kv.second;
        } else if (kv.first == "value") {
          u.value = ParseDouble(kv.second);
        } else if (kv.first == "n") {
          EXPECT_TRUE(absl::SimpleAtoi(kv.second, &n)) << line;
        } else {
          ADD_FAILURE() << path << ": unknown usage field: " << f[i];
        }
      }
      g.usage.insert(g.usage.end(), n, u);
    } else if (f[0] == "survey") {
      SurveyResponse& r = g.surveys.emplace_back();
      r.seq = static_cast<int64_t>(g.surveys.size());
      r.response_id = absl::StrCat("r", r.seq);
      r.customer_id = f.at(1);
      r.user_id = f.at(2) == "-" ? "" : f.at(2);
      EXPECT_TRUE(absl::SimpleAtoi(f.at(3), &r.score)) << line;
      r.time = ParseTime(f.at(4));
    } else if (f[0] == "model") {
      EngagementModel& m = g.model.emplace();
      EXPECT_TRUE(absl::SimpleAtoi(f.at(1), &m.window_days)) << line;
      for (size_t i = 2; i < f.size(); ++i) m.components.push_back(ParseComponent(f[i]));
      Violations violations;
      ValidateEngagementModel(m, "model", violations);
      EXPECT_TRUE(violations.empty()) << path << ": the model is invalid";
    } else if (f[0] == "policy") {
      for (size_t i = 1; i < f.size(); ++i) {
        std::pair<std::string, std::string> kv = absl::StrSplit(f[i], '=');
        if (kv.first == "power_at_least") {
          g.policy.power_at_least = ParseDouble(kv.second);
        } else if (kv.first == "at_risk_below") {
          g.policy.at_risk_below = ParseDouble(kv.second);
        } else if (kv.first == "inactive_days") {
          EXPECT_TRUE(absl::SimpleAtoi(kv.second, &g.policy.inactive_days));
        } else if (kv.first == "lost_window_days") {
          EXPECT_TRUE(absl::SimpleAtoi(kv.second, &g.policy.lost_window_days));
        } else {
          ADD_FAILURE() << path << ": unknown policy field: " << f[i];
        }
      }
    } else if (f[0] == "expect:") {
      expecting = true;
    } else {
      ADD_FAILURE() << path << ": unknown line: " << line;
    }
  }
  return g;
}

// Engagement (each paying customer's score and aggregates, then the distribution) and health
// (each customer that ever paid, then the counts, MRR and moves) at each period end.
void RenderUsageSections(const Golden& g, const std::vector<Period>& periods,
                         std::vector<std::string>& out) {
  const World w = Build(g.usage, g.events, g.tz, g.end);
  const EngagementInputs inputs = w.inputs(g.tz);
  const EngagementModel* model = g.model.has_value() ? &*g.model : nullptr;
  auto id = [&](int32_t customer) { return w.ledger.customer_ids[customer]; };
  if (g.engagement) {
    EXPECT_NE(model, nullptr) << "show engagement needs a model";
    if (model == nullptr) return;
    for (const Period& p : periods) {
      auto scores = ScoresAt(*model, inputs, p.last);
      EXPECT_TRUE(scores.ok()) << scores.status();
      if (!scores.ok()) return;
      std::map<std::string, std::string> lines;
      for (const CustomerEngagement& c : *scores) {
        lines[id(c.customer)] = absl::StrCat(
            "score=", Score(c.score), " x=", absl::StrJoin(c.x, ",", [](std::string* s, double x) {
              absl::StrAppend(s, x);
            }));
      }
      for (const auto& [customer, line] : lines) {
        out.push_back(absl::StrCat("engagement ", FormatIsoDate(p.last), " ", customer, " ", line));
      }
    }
    auto series = EngagementSeries(*model, inputs, periods);
    EXPECT_TRUE(series.ok()) << series.status();
    for (const EngagementPoint& p : series.value_or(std::vector<EngagementPoint>{})) {
      out.push_back(
          absl::StrCat("distribution ", FormatIsoDate(p.period.last), " customers=", p.customers,
                       " mean=", Score(p.mean), " p10=", Score(p.p10), " p25=", Score(p.p25),
                       " p50=", Score(p.p50), " p75=", Score(p.p75), " p90=", Score(p.p90)));
    }
  }
  if (!g.health) return;
  const HealthInputs in{inputs, &w.pauses};
  std::vector<absl::CivilDay> days;
  for (const Period& p : periods) days.push_back(p.last);
  auto health = HealthAt(g.policy, model, in, days);
  EXPECT_TRUE(health.ok()) << health.status();
  if (!health.ok()) return;
  for (size_t i = 0; i < days.size(); ++i) {
    std::map<std::string, std::string> lines;
    for (const CustomerHealth& h : (*health)[i]) {
      const std::vector<absl::string_view> reasons = HealthReasonNames(h.reasons);
      lines[id(h.customer)] =
          absl::StrCat(HealthGroupName(h.group),
                       " reasons=", reasons.empty() ? "-" : absl::StrJoin(reasons, ","),
                       " mrr=", h.mrr, " score=", Score(h.score),
                       " churn_day=", h.churn_day.has_value() ? FormatIsoDate(*h.churn_day) : "-");
    }
    for (const auto& [customer, line] : lines) {
      out.push_back(absl::StrCat("health ", FormatIsoDate(days[i]), " ", customer, " ", line));
    }
  }
  auto series = HealthSeries(g.policy, model, in, periods);
  EXPECT_TRUE(series.ok()) << series.status();
  static constexpr HealthGroup kOrder[] = {HealthGroup::kPower, HealthGroup::kNormal,
                                           HealthGroup::kAtRisk, HealthGroup::kLost,
                                           HealthGroup::kNone};
  for (const HealthPoint& p : series.value_or(std::vector<HealthPoint>{})) {
    std::string line = absl::StrCat("groups ", FormatIsoDate(p.period.last));
    for (HealthGroup group : kOrder) {
      const int k = static_cast<int>(group);
      absl::StrAppend(&line, " ", HealthGroupName(group), "=", p.customers[k], "/", p.mrr[k]);
    }
    absl::StrAppend(&line, " | moved");
    for (HealthGroup from : kOrder) {
      for (HealthGroup to : kOrder) {
        const int64_t n = p.moved[static_cast<int>(from)][static_cast<int>(to)];
        if (n != 0) {
          absl::StrAppend(&line, " ", HealthGroupName(from), ">", HealthGroupName(to), "=", n);
        }
      }
    }
    out.push_back(line);
  }
}

// The health transitions of each day of the range as a watch sends them (before the late
// lines), the days again with everything, and the days a watch sends again (revisions).
void RenderTransitions(const Golden& g, std::vector<std::string>& out) {
  auto days = [&](size_t events, size_t usage) {
    const std::vector<SubscriptionEvent> e(g.events.begin(),
                                           g.events.begin() + std::min(events, g.events.size()));
    const std::vector<UsageEvent> u(g.usage.begin(),
                                    g.usage.begin() + std::min(usage, g.usage.size()));
    const World w = Build(u, e, g.tz, g.end);
    const HealthInputs in{w.inputs(g.tz), &w.pauses};
    auto moves =
        HealthTransitions(g.policy, g.model.has_value() ? &*g.model : nullptr, in, g.start, g.end);
    EXPECT_TRUE(moves.ok()) << moves.status();
    std::map<absl::CivilDay, std::vector<std::string>> by_day;
    for (const HealthTransition& t : moves.value_or(std::vector<HealthTransition>{})) {
      const std::vector<absl::string_view> reasons = HealthReasonNames(t.reasons);
      by_day[t.day].push_back(
          absl::StrCat(FormatIsoDate(t.day), " ", w.ledger.customer_ids[t.customer], " ",
                       HealthGroupName(t.from), ">", HealthGroupName(t.to),
                       " reasons=", reasons.empty() ? "-" : absl::StrJoin(reasons, ","),
                       " mrr=", t.mrr, " score=", Score(t.score)));
    }
    for (auto& [day, lines] : by_day) std::sort(lines.begin(), lines.end());
    return by_day;
  };
  const auto sent = days(g.sent_events, g.sent_usage);
  const auto now = days(SIZE_MAX, SIZE_MAX);
  for (const auto& [day, lines] : sent) {
    for (const std::string& l : lines) out.push_back("sent " + l);
  }
  for (const auto& [day, lines] : now) {
    for (const std::string& l : lines) out.push_back("now " + l);
  }
  static const std::vector<std::string> kNone;
  for (absl::CivilDay d = g.start; d <= g.end; ++d) {
    const auto a = sent.find(d), b = now.find(d);
    if ((a == sent.end() ? kNone : a->second) != (b == now.end() ? kNone : b->second)) {
      out.push_back(absl::StrCat("revision ", FormatIsoDate(d)));
    }
  }
}

// The ideal-customer profile at the range's end, as the query layer assembles it: the
// customers paying then, each field's values from the records (plan from the ledger).
void RenderIcp(const Golden& g, std::vector<std::string>& out) {
  const Ledger ledger = BuildLedger(g.events);
  const std::vector<Movement> movements =
      MrrTimeline::Build(ledger.events, static_cast<int32_t>(ledger.customer_ids.size()))
          .Movements(g.tz, g.end);
  std::map<int32_t, int64_t> mrr;  // by ledger id, at the end of the range
  for (const Movement& m : movements) {
    if (m.day <= g.end) mrr[m.customer] = m.after;
  }
  std::vector<std::pair<std::string, int64_t>> paying;
  std::vector<int32_t> ids;
  for (const auto& [c, amount] : mrr) {
    if (amount <= 0) continue;
    paying.emplace_back(ledger.customer_ids[c], amount);
    ids.push_back(c);
  }
  std::vector<IcpField> fields;
  for (const std::string& name : g.icp_fields) {
    IcpField& f = fields.emplace_back();
    f.name = name;
    const FieldReader read(name);
    for (const int32_t c : ids) {
      if (name == "plan") {
        f.Append(ledger.customer_plans[c]);
        continue;
      }
      absl::string_view value;
      for (const Customer& r : g.customers) {
        if (r.customer_id == ledger.customer_ids[c]) value = read(r);
      }
      f.AppendOne(value);
    }
  }
  const IcpResult r = IdealCustomerProfile(paying, fields, g.icp->first, g.icp->second);
  out.push_back(absl::StrCat("icp ", FormatIsoDate(g.end), " paying=", r.paying, " top=", r.top));
  for (const IcpValue& v : r.values) {
    out.push_back(absl::StrFormat(
        "value %s=%s top=%d all=%d top_share=%.4f all_share=%.4f lift=%.4f", v.field, v.value,
        v.top_customers, v.all_customers, v.top_share, v.all_share, v.lift));
  }
}

std::vector<std::string> Render(const Golden& g) {
  Ledger ledger = BuildLedger(g.events);
  // METRICS.md "Currencies": each state's MRR in USD at the rate of its day in the zone
  // (what the history does, query::Conversion); a missing rate is the whole answer.
  const RateTable rates("USD", g.rates);
  for (size_t i = 0; i < g.events.size(); ++i) {
    LedgerEvent& e = ledger.events[i];  // BuildLedger keeps the events' order
    if (e.mrr == 0) continue;
    absl::StatusOr<int64_t> usd = rates.Convert(e.mrr, g.events[i].currency,
                                                absl::ToCivilDay(g.events[i].effective_at, g.tz));
    if (!usd.ok()) return {absl::StrCat("error ", usd.status().ToString())};
    e.mrr = *usd;
  }
  MrrTimeline timeline =
      MrrTimeline::Build(ledger.events, static_cast<int32_t>(ledger.customer_ids.size()));
  std::vector<PauseChange> pauses;
  const std::vector<Movement> movements = timeline.Movements(g.tz, g.end, nullptr, &pauses);
  const std::vector<Period> periods = CutPeriods(g.start, g.end, g.interval);
  std::vector<std::string> out;
  if (g.Sections()) {
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
    if (g.engagement || g.health) RenderUsageSections(g, periods, out);
    if (g.transitions) RenderTransitions(g, out);
    if (g.icp.has_value()) RenderIcp(g, out);
    if (g.nps) {
      const auto groups = NpsByGroup(
          g.surveys, periods, g.tz,
          [](const SurveyResponse&, size_t) { return std::vector<std::string>{"all"}; }, nullptr,
          "all");
      for (const NpsPoint& p : groups.at("all")) {
        out.push_back(absl::StrCat("nps ", FormatIsoDate(p.period.last),
                                   " respondents=", p.respondents, " promoters=", p.promoters,
                                   " passives=", p.passives, " detractors=", p.detractors,
                                   " nps=", Score(p.nps)));
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
