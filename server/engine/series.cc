#include "server/engine/series.h"

#include <algorithm>

#include "server/engine/mrr.h"

namespace saasmetrics::engine {
namespace {

std::optional<double> Ratio(double num, double den) {
  if (den == 0) return std::nullopt;
  return num / den;
}

// Index of the period containing `day`, or -1 before the first, periods.size() after.
int64_t PeriodIndex(const std::vector<Period>& periods, absl::CivilDay day) {
  if (day < periods.front().first) return -1;
  auto it = std::upper_bound(periods.begin(), periods.end(), day,
                             [](absl::CivilDay d, const Period& p) { return d < p.first; });
  return (it - periods.begin()) - 1 + (day > periods.back().last ? 1 : 0);
}

}  // namespace

void MovementTotals::Add(const Movement& m, int64_t sign) {
  const int64_t amount = sign * m.amount;
  switch (m.type) {
    case MovementType::kNewBusiness:
      new_business += amount;
      break;
    case MovementType::kExpansion:
      expansion += amount;
      break;
    case MovementType::kContraction:
      contraction += amount;
      break;
    case MovementType::kChurn:
      churn += amount;
      break;
    case MovementType::kReactivation:
      reactivation += amount;
      break;
  }
}

std::optional<int64_t> MrrPoint::arpa() const {
  if (paying == 0) return std::nullopt;
  return DivideRoundHalfAway(mrr, paying);
}

MrrSeries ComputeMrrSeries(const std::vector<Movement>& movements,
                           const std::vector<Period>& periods) {
  MrrSeries out;
  out.points.resize(periods.size());
  for (size_t i = 0; i < periods.size(); ++i) out.points[i].period = periods[i];
  if (periods.empty()) return out;
  std::vector<int64_t> paying_delta(periods.size(), 0);
  for (const Movement& m : movements) {
    const int64_t p = PeriodIndex(periods, m.day);
    if (p >= static_cast<int64_t>(periods.size())) continue;
    const int paying = (m.after > 0) - (m.before > 0);
    if (p < 0) {
      out.start_mrr += m.amount;
      out.start_paying += paying;
    } else {
      out.points[p].movements.Add(m);
      paying_delta[p] += paying;
    }
  }
  int64_t mrr = out.start_mrr, paying = out.start_paying;
  for (size_t i = 0; i < periods.size(); ++i) {
    mrr += out.points[i].movements.net();
    paying += paying_delta[i];
    out.points[i].mrr = mrr;
    out.points[i].paying = paying;
  }
  return out;
}

DailyTotals SumByDay(const std::vector<Movement>& movements) {
  DailyTotals out;
  if (movements.empty()) return out;
  absl::CivilDay first = movements.front().day, last = first;
  for (const Movement& m : movements) {
    first = std::min(first, m.day);
    last = std::max(last, m.day);
  }
  out.first = first;
  out.totals.resize(static_cast<size_t>(last - first) + 1);
  out.paying_delta.resize(out.totals.size());
  for (const Movement& m : movements) {
    const size_t d = static_cast<size_t>(m.day - first);
    out.totals[d].Add(m);
    out.paying_delta[d] += (m.after > 0) - (m.before > 0);
  }
  return out;
}

void AddToDaily(const Movement& m, int64_t sign, DailyTotals& daily) {
  if (daily.totals.empty()) {
    daily.first = m.day;
    daily.totals.resize(1);
    daily.paying_delta.resize(1);
  } else if (m.day < daily.first) {
    const size_t grow = static_cast<size_t>(daily.first - m.day);
    daily.totals.insert(daily.totals.begin(), grow, MovementTotals{});
    daily.paying_delta.insert(daily.paying_delta.begin(), grow, 0);
    daily.first = m.day;
  } else if (m.day - daily.first >= static_cast<int64_t>(daily.totals.size())) {
    daily.totals.resize(static_cast<size_t>(m.day - daily.first) + 1);
    daily.paying_delta.resize(daily.totals.size());
  }
  const size_t d = static_cast<size_t>(m.day - daily.first);
  daily.totals[d].Add(m, sign);
  daily.paying_delta[d] += sign * ((m.after > 0) - (m.before > 0));
}

MrrSeries ComputeMrrSeries(const DailyTotals& daily, const std::vector<Period>& periods) {
  MrrSeries out;
  out.points.resize(periods.size());
  for (size_t i = 0; i < periods.size(); ++i) out.points[i].period = periods[i];
  if (periods.empty()) return out;
  size_t p = 0;
  for (size_t d = 0; d < daily.totals.size(); ++d) {
    const absl::CivilDay day = daily.first + static_cast<int64_t>(d);
    const MovementTotals& t = daily.totals[d];
    if (day < periods.front().first) {
      out.start_mrr += t.net();
      out.start_paying += daily.paying_delta[d];
      continue;
    }
    while (p < periods.size() && periods[p].last < day) ++p;
    if (p == periods.size()) break;
    MovementTotals& into = out.points[p].movements;
    into.new_business += t.new_business;
    into.expansion += t.expansion;
    into.contraction += t.contraction;
    into.churn += t.churn;
    into.reactivation += t.reactivation;
    out.points[p].paying += daily.paying_delta[d];  // the period's delta, for now
  }
  int64_t mrr = out.start_mrr, paying = out.start_paying;
  for (MrrPoint& point : out.points) {
    mrr += point.movements.net();
    paying += point.paying;
    point.mrr = mrr;
    point.paying = paying;
  }
  return out;
}

std::vector<ChurnPoint> ComputeChurnSeries(const std::vector<Movement>& movements,
                                           const std::vector<Period>& periods,
                                           const std::vector<PauseChange>* pauses) {
  static const std::vector<PauseChange> kNone;
  const std::vector<PauseChange>& pause = pauses == nullptr ? kNone : *pauses;
  size_t k = 0;  // into `pause`, which is ordered by customer like `movements`
  std::vector<ChurnPoint> out(periods.size());
  for (size_t i = 0; i < periods.size(); ++i) out[i].period = periods[i];
  if (periods.empty()) return out;
  // Walk each customer's movements (grouped by customer, by day) against the periods,
  // knowing its MRR at every period boundary.
  for (size_t i = 0; i < movements.size();) {
    const int32_t customer = movements[i].customer;
    size_t end = i;
    while (end < movements.size() && movements[end].customer == customer) ++end;
    int64_t mrr = 0;
    size_t j = i;
    while (k < pause.size() && pause[k].customer < customer) ++k;
    size_t pk = k;
    bool paused = false;
    for (size_t p = 0; p < periods.size(); ++p) {
      for (; j < end && movements[j].day < periods[p].first; ++j) mrr = movements[j].after;
      const int64_t at_start = mrr;
      for (; j < end && movements[j].day <= periods[p].last; ++j) {
        out[p].movements.Add(movements[j]);
        mrr = movements[j].after;
      }
      for (;
           pk < pause.size() && pause[pk].customer == customer && pause[pk].day <= periods[p].last;
           ++pk) {
        paused = pause[pk].paused;
      }
      if (at_start > 0) {
        ChurnPoint& c = out[p];
        ++c.customers_at_start;
        c.churned += mrr == 0 && !paused;
        c.mrr_at_start += at_start;
        c.retained_mrr += mrr;
        c.floor_mrr += std::min(mrr, at_start);
      }
    }
    i = end;
  }
  return out;
}

std::optional<double> ChurnPoint::customer_churn_rate() const {
  return Ratio(static_cast<double>(churned), static_cast<double>(customers_at_start));
}
std::optional<double> ChurnPoint::gross_mrr_churn_rate() const {
  return Ratio(static_cast<double>(-movements.churn - movements.contraction),
               static_cast<double>(mrr_at_start));
}
std::optional<double> ChurnPoint::net_mrr_churn_rate() const {
  return Ratio(static_cast<double>(-movements.churn - movements.contraction - movements.expansion -
                                   movements.reactivation),
               static_cast<double>(mrr_at_start));
}
std::optional<double> ChurnPoint::nrr() const {
  return Ratio(static_cast<double>(retained_mrr), static_cast<double>(mrr_at_start));
}
std::optional<double> ChurnPoint::grr() const {
  return Ratio(static_cast<double>(floor_mrr), static_cast<double>(mrr_at_start));
}
std::optional<double> ChurnPoint::quick_ratio() const {
  return Ratio(
      static_cast<double>(movements.new_business + movements.expansion + movements.reactivation),
      static_cast<double>(-movements.churn - movements.contraction));
}

}  // namespace saasmetrics::engine
