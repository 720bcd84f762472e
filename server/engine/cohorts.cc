#include "server/engine/cohorts.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "server/engine/mrr.h"

namespace saasmetrics::engine {
namespace {

// Each customer's MRR at the end of every period, from its movements (all history).
// Calls visit(customer, mrr_at_end_of_each_period, index of its new-business period or -1).
template <typename Visit>
void ForEachCustomer(const std::vector<Movement>& movements, const std::vector<Period>& periods,
                     Visit visit) {
  std::vector<int64_t> at_end(periods.size());
  for (size_t i = 0; i < movements.size();) {
    const int32_t customer = movements[i].customer;
    size_t end = i;
    while (end < movements.size() && movements[end].customer == customer) ++end;
    int64_t mrr = 0;
    int joined = -1;
    size_t j = i;
    for (size_t p = 0; p < periods.size(); ++p) {
      for (; j < end && movements[j].day <= periods[p].last; ++j) {
        mrr = movements[j].after;
        if (movements[j].type == MovementType::kNewBusiness &&
            movements[j].day >= periods[p].first) {
          joined = static_cast<int>(p);
        }
      }
      at_end[p] = mrr;
    }
    visit(customer, at_end, joined);
    i = end;
  }
}

std::optional<double> Ratio(double num, double den) {
  if (den == 0) return std::nullopt;
  return num / den;
}

}  // namespace

std::optional<double> Cohort::logo_retention(const CohortCell& c) const {
  return Ratio(static_cast<double>(c.paying), static_cast<double>(customers));
}
std::optional<double> Cohort::mrr_retention(const CohortCell& c) const {
  return Ratio(static_cast<double>(c.mrr), static_cast<double>(initial_mrr));
}

std::vector<Cohort> ComputeCohorts(const std::vector<Movement>& movements,
                                   const std::vector<Period>& periods,
                                   const std::vector<std::string>& group_of) {
  std::map<std::pair<int, std::string>, Cohort> cohorts;
  ForEachCustomer(movements, periods, [&](int32_t c, const std::vector<int64_t>& at_end, int k) {
    if (k < 0) return;
    const std::string group = group_of.empty() ? std::string() : group_of[c];
    Cohort& cohort = cohorts[{k, group}];
    if (cohort.customers == 0) {
      cohort.period = k;
      cohort.group = group;
      for (size_t p = k; p < periods.size(); ++p) {
        cohort.cells.push_back({static_cast<int>(p) - k, 0, 0});
      }
    }
    ++cohort.customers;
    cohort.initial_mrr += at_end[k];
    for (CohortCell& cell : cohort.cells) {
      const int64_t mrr = at_end[k + cell.offset];
      cell.paying += mrr > 0;
      cell.mrr += mrr;
    }
  });
  std::vector<Cohort> out;
  for (auto& [key, cohort] : cohorts) out.push_back(std::move(cohort));
  return out;
}

std::optional<double> MrrByCohortPoint::existing_share() const {
  return Ratio(static_cast<double>(existing_mrr), static_cast<double>(mrr));
}

namespace {

std::vector<MrrByCohortPoint> EmptyCake(const std::vector<Period>& periods) {
  std::vector<MrrByCohortPoint> out(periods.size());
  for (size_t p = 0; p < periods.size(); ++p) {
    out[p].period = periods[p];
    out[p].layers.assign(p + 1, 0);
  }
  return out;
}

// Sums the layers into each point's MRR and existing MRR.
void TotalCake(std::vector<MrrByCohortPoint>& points) {
  for (size_t p = 0; p < points.size(); ++p) {
    MrrByCohortPoint& point = points[p];
    point.existing_mrr = point.earlier_mrr;
    for (size_t k = 0; k < p; ++k) point.existing_mrr += point.layers[k];
    point.mrr = point.existing_mrr + point.layers[p];
  }
}

}  // namespace

std::vector<MrrByCohortPoint> ComputeMrrByCohort(const std::vector<Movement>& movements,
                                                 const std::vector<Period>& periods) {
  std::vector<MrrByCohortPoint> out = EmptyCake(periods);
  ForEachCustomer(movements, periods, [&](int32_t, const std::vector<int64_t>& at_end, int k) {
    for (size_t p = 0; p < periods.size(); ++p) {
      // Before its new business a customer pays nothing: k > p adds 0 wherever it goes.
      if (k < 0) {
        out[p].earlier_mrr += at_end[p];
      } else if (static_cast<size_t>(k) <= p) {
        out[p].layers[k] += at_end[p];
      }
    }
  });
  TotalCake(out);
  return out;
}

size_t CohortDailyTotals::bytes() const {
  size_t b = net.capacity() * sizeof(net[0]);
  for (const auto& row : net) b += row.capacity() * sizeof(int64_t);
  return b;
}

CohortDailyTotals SumByCohortDay(const std::vector<Movement>& movements) {
  CohortDailyTotals out;
  for (size_t i = 0; i < movements.size();) {
    size_t end = i;
    while (end < movements.size() && movements[end].customer == movements[i].customer) ++end;
    AddCustomerToCohorts(std::span<const Movement>(movements.data() + i, end - i), 1, out);
    i = end;
  }
  return out;
}

void AddCustomerToCohorts(std::span<const Movement> movements, int64_t sign,
                          CohortDailyTotals& totals) {
  const auto won = std::find_if(movements.begin(), movements.end(), [](const Movement& m) {
    return m.type == MovementType::kNewBusiness;
  });
  if (won == movements.end()) return;
  const absl::CivilMonth month(won->day);
  if (totals.net.empty()) {
    totals.first_month = month;
    totals.net.resize(1);
  } else if (month < totals.first_month) {
    totals.net.insert(totals.net.begin(), static_cast<size_t>(totals.first_month - month), {});
    totals.first_month = month;
  }
  const size_t row = static_cast<size_t>(month - totals.first_month);
  if (row >= totals.net.size()) totals.net.resize(row + 1);
  std::vector<int64_t>& net = totals.net[row];
  const absl::CivilDay first(month);
  for (const Movement& m : movements) {
    const size_t d = static_cast<size_t>(m.day - first);  // never before its new business
    if (d >= net.size()) net.resize(d + 1);
    net[d] += sign * m.amount;
  }
}

bool PeriodsStartOnMonths(const std::vector<Period>& periods) {
  return std::all_of(periods.begin(), periods.end(),
                     [](const Period& p) { return p.first.day() == 1; });
}

std::vector<MrrByCohortPoint> ComputeMrrByCohort(const CohortDailyTotals& totals,
                                                 const std::vector<Period>& periods) {
  std::vector<MrrByCohortPoint> out = EmptyCake(periods);
  if (periods.empty()) return out;
  for (size_t row = 0; row < totals.net.size(); ++row) {
    const absl::CivilMonth month = totals.first_month + static_cast<int64_t>(row);
    const absl::CivilDay first(month);
    // The month's cohort: the period holding its first day (-1: before the first period).
    int k = -1;
    if (first >= periods.front().first) {
      k = static_cast<int>(
              std::upper_bound(periods.begin(), periods.end(), first,
                               [](absl::CivilDay d, const Period& p) { return d < p.first; }) -
              periods.begin()) -
          1;
    }
    const std::vector<int64_t>& net = totals.net[row];
    int64_t mrr = 0;
    size_t d = 0;
    for (size_t p = 0; p < periods.size(); ++p) {
      if (periods[p].last < first) continue;  // the cohort has not been won yet
      const size_t upto = std::min(net.size(), static_cast<size_t>(periods[p].last - first) + 1);
      for (; d < upto; ++d) mrr += net[d];
      if (k < 0) {
        out[p].earlier_mrr += mrr;
      } else {
        out[p].layers[k] += mrr;  // k ≤ p: its first day is on or before this period's end
      }
    }
  }
  TotalCake(out);
  return out;
}

namespace {

__int128 Pow10(int n) {
  __int128 p = 1;
  for (int i = 0; i < n; ++i) p *= 10;
  return p;
}

// Row `r`'s spend over its days [first, last] as an exact fraction in reporting minor
// units: numerator ÷ denominator. nullopt when the numerator overflows.
std::optional<std::pair<__int128, __int128>> SpendFraction(const SpendRow& r, absl::CivilDay first,
                                                           absl::CivilDay last) {
  const int64_t days = r.end - r.start + 1;
  if (r.rates.empty()) {
    return std::make_pair(static_cast<__int128>(r.amount) * (last - first + 1),
                          static_cast<__int128>(days));
  }
  // Σ over the runs overlapping [first, last] of amount × their days × rate, the rates
  // brought to one scale (the largest among them).
  struct Piece {
    int64_t days;
    Decimal rate;
  };
  std::vector<Piece> pieces;
  int scale = 0;
  for (size_t i = 0; i < r.rates.size(); ++i) {
    const absl::CivilDay from = std::max(first, r.rates[i].from);
    const absl::CivilDay to =
        i + 1 < r.rates.size() ? std::min(last, r.rates[i + 1].from - 1) : last;
    if (to < from) continue;
    pieces.push_back({to - from + 1, r.rates[i].rate});
    scale = std::max(scale, r.rates[i].rate.scale);
  }
  __int128 numerator = 0;
  for (const Piece& p : pieces) {
    __int128 term;
    if (__builtin_mul_overflow(static_cast<__int128>(r.amount) * p.days,
                               static_cast<__int128>(p.rate.mantissa) * Pow10(scale - p.rate.scale),
                               &term) ||
        __builtin_add_overflow(numerator, term, &numerator)) {
      return std::nullopt;
    }
  }
  __int128 denominator = days * Pow10(scale);
  if (r.shift >= 0) {
    if (__builtin_mul_overflow(numerator, Pow10(r.shift), &numerator)) return std::nullopt;
  } else {
    denominator *= Pow10(-r.shift);  // ≤ 3660 · 10^21
  }
  return std::make_pair(numerator, denominator);
}

// What one converted row may come to: its amount's bound (kMaxAmount) times a thousand, so
// that ten thousand such rows in one period still sum inside int64.
constexpr __int128 kMaxConvertedSpend = __int128{100'000'000'000} * 1000;

}  // namespace

absl::Status CheckSpendRow(const SpendRow& row) {
  std::optional<std::pair<__int128, __int128>> whole = SpendFraction(row, row.start, row.end);
  if (!whole.has_value() || whole->first / whole->second > kMaxConvertedSpend) {
    return absl::OutOfRangeError(absl::StrCat(
        "spend of ", row.amount, " on channel '", row.channel, "' from ",
        absl::FormatCivilTime(row.start), " converts to more than the reporting currency holds"));
  }
  return absl::OkStatus();
}

int64_t SpendIn(const std::vector<SpendRow>& rows, const Period& period,
                const std::string* channel) {
  int64_t total = 0;
  for (const SpendRow& r : rows) {
    if (channel != nullptr && r.channel != *channel) continue;
    const absl::CivilDay first = std::max(r.start, period.first);
    const absl::CivilDay last = std::min(r.end, period.last);
    if (last < first) continue;
    // A sub-range's numerator is at most the whole row's, which CheckSpendRow bounded.
    const auto [numerator, denominator] = *SpendFraction(r, first, last);
    total += DivideRoundHalfAway(numerator, denominator);
  }
  return total;
}

std::vector<UnitEconomics> ComputeUnitEconomics(const std::vector<Movement>& movements,
                                                const std::vector<Period>& periods,
                                                const std::vector<std::string>& channel_of,
                                                const std::vector<SpendRow>& spend,
                                                double gross_margin, int churn_window_months,
                                                const std::vector<PauseChange>* pauses) {
  std::vector<UnitEconomics> out(periods.size());
  const MrrSeries mrr = ComputeMrrSeries(movements, periods);
  std::set<std::string> channels;
  for (const SpendRow& r : spend) channels.insert(r.channel);
  std::vector<std::map<std::string, int64_t>> new_by_channel(periods.size());
  for (size_t p = 0; p < periods.size(); ++p) out[p].period = periods[p];
  for (const Movement& m : movements) {
    if (m.type != MovementType::kNewBusiness) continue;
    for (size_t p = 0; p < periods.size(); ++p) {
      if (m.day < periods[p].first || m.day > periods[p].last) continue;
      ++out[p].new_customers;
      out[p].new_business_mrr += m.amount;
      const std::string& channel = channel_of.empty() ? std::string() : channel_of[m.customer];
      ++new_by_channel[p][channel];
      channels.insert(channel);
    }
  }
  channels.erase("");
  for (size_t p = 0; p < periods.size(); ++p) {
    UnitEconomics& u = out[p];
    if (u.new_customers > 0) u.asp = DivideRoundHalfAway(u.new_business_mrr, u.new_customers);
    u.arpa = mrr.points[p].arpa();
    // Mean monthly customer churn over the window before this period's month.
    const absl::CivilMonth month(periods[p].first);
    std::vector<Period> window;
    for (int i = churn_window_months; i >= 1; --i) {
      const absl::CivilMonth m = month - i;
      window.push_back({absl::CivilDay(m), absl::CivilDay(m + 1) - 1});
    }
    // Exact quotients in long double (64-bit mantissa: every int64 total is exact), each
    // derived value rounded once at the end.
    long double churn_sum = 0;
    int defined = 0;
    for (const ChurnPoint& c : ComputeChurnSeries(movements, window, pauses)) {
      if (c.customers_at_start > 0) {
        churn_sum += static_cast<long double>(c.churned) / c.customers_at_start;
        ++defined;
      }
    }
    const long double mean_churn = defined == 0 ? 0 : churn_sum / defined;
    const MrrPoint& at_end = mrr.points[p];
    std::optional<long double> ltv;
    if (at_end.paying > 0 && mean_churn > 0) {
      ltv = static_cast<long double>(at_end.mrr) / at_end.paying * gross_margin / mean_churn;
      u.ltv = static_cast<int64_t>(std::llroundl(*ltv));
    }
    u.spend = SpendIn(spend, periods[p]);
    if (u.new_customers > 0) u.cac = DivideRoundHalfAway(u.spend, u.new_customers);
    if (ltv.has_value() && u.new_customers > 0 && u.spend > 0) {
      const long double cac = static_cast<long double>(u.spend) / u.new_customers;
      u.ltv_to_cac = static_cast<double>(*ltv / cac);
    }
    if (u.new_customers > 0 && u.new_business_mrr > 0) {
      // CAC ÷ (ASP × margin) = (spend ÷ n) ÷ (new-business MRR ÷ n × margin).
      u.cac_payback_months =
          static_cast<double>(static_cast<long double>(u.spend) /
                              (u.new_business_mrr * static_cast<long double>(gross_margin)));
    }
    for (const std::string& channel : channels) {
      UnitEconomics::Channel c;
      c.channel = channel;
      c.spend = SpendIn(spend, periods[p], &channel);
      auto it = new_by_channel[p].find(channel);
      c.new_customers = it == new_by_channel[p].end() ? 0 : it->second;
      if (c.new_customers > 0) c.cac = DivideRoundHalfAway(c.spend, c.new_customers);
      u.channels.push_back(std::move(c));
    }
  }
  return out;
}

}  // namespace saasmetrics::engine
