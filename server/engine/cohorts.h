// Cohort retention and unit economics (METRICS.md "Cohorts", "Unit economics").
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/engine/currency.h"
#include "server/engine/events.h"
#include "server/engine/periods.h"
#include "server/engine/series.h"
#include "server/engine/timeline.h"

namespace saasmetrics::engine {

struct CohortCell {
  int offset = 0;      // j
  int64_t paying = 0;  // cohort customers with MRR > 0 at the end of period k+j
  int64_t mrr = 0;     // cohort MRR at the end of period k+j
};

struct Cohort {
  int period = 0;     // k: index into the query's periods
  std::string group;  // value of the group-by field ("" without grouping)
  int64_t customers = 0;
  int64_t initial_mrr = 0;        // cohort MRR at the end of period k
  std::vector<CohortCell> cells;  // j = 0 .. last period of the query

  std::optional<double> logo_retention(const CohortCell& c) const;
  std::optional<double> mrr_retention(const CohortCell& c) const;
};

// Cohort k: customers whose new-business movement falls in period k. `group_of[c]` is
// the group of dense customer c (empty vector: no grouping). Ordered by period, group.
std::vector<Cohort> ComputeCohorts(const std::vector<Movement>& movements,
                                   const std::vector<Period>& periods,
                                   const std::vector<std::string>& group_of);

// MRR by cohort, the "layer cake" (ANALYTICS.md): at each period end, the MRR of each
// cohort k ≤ p (customers whose new-business movement falls in period k; a cohort whose
// customers all left stays a layer of 0), of the customers won before the first period,
// and the part from customers won before the period itself.
struct MrrByCohortPoint {
  Period period;
  int64_t mrr = 0;              // MRR at the period's end (the layers' sum)
  int64_t earlier_mrr = 0;      // customers whose new business is before the first period
  std::vector<int64_t> layers;  // [k] for cohorts k = 0 .. this period
  int64_t existing_mrr = 0;     // customers whose new business is before this period
  std::optional<double> existing_share() const;  // existing ÷ MRR; absent at MRR 0
};

// From the movements (ordered by customer, then day), for any periods.
std::vector<MrrByCohortPoint> ComputeMrrByCohort(const std::vector<Movement>& movements,
                                                 const std::vector<Period>& periods);

// Movements summed per (cohort month, day), the cohort month being the month of the
// customer's new-business movement: with periods that begin on months' first days, the
// layer cake then costs a step per cohort month and day, not one per movement.
struct CohortDailyTotals {
  absl::CivilMonth first_month;
  // [month - first_month][day - the month's first day]: the net MRR change that day of the
  // customers won that month (a customer's movements never precede its new business).
  std::vector<std::vector<int64_t>> net;
  size_t bytes() const;
};
CohortDailyTotals SumByCohortDay(const std::vector<Movement>& movements);
// Adds (sign 1) or takes away (-1) one customer's movements (by day); nothing for a
// customer without new business.
void AddCustomerToCohorts(std::span<const Movement> movements, int64_t sign,
                          CohortDailyTotals& totals);
// True when every period begins on a month's first day (what the totals can answer).
bool PeriodsStartOnMonths(const std::vector<Period>& periods);
// The same answer as from the movements, for periods that PeriodsStartOnMonths.
std::vector<MrrByCohortPoint> ComputeMrrByCohort(const CohortDailyTotals& totals,
                                                 const std::vector<Period>& periods);

struct SpendRow {
  std::string channel;
  absl::CivilDay start, end;  // inclusive
  int64_t amount = 0;         // minor units of its currency
  // In another currency than the reporting one: the rate of each day of the row, as runs
  // of days at one rate (each from its day to the next run's; the first on or before
  // `start`, from RateTable::Runs), and the reporting exponent minus the row's. Empty: the
  // reporting currency.
  std::vector<RateRun> rates;
  int shift = 0;
};

// Spend of `rows` falling in `period`, each row spread evenly over its days (each day's
// share converted at that day's rate) and rounded half away from zero to the minor unit
// once per row. `rows` must have passed CheckSpendRow.
int64_t SpendIn(const std::vector<SpendRow>& rows, const Period& period,
                const std::string* channel = nullptr);
// OUT_OF_RANGE when the row's converted total could overflow what SpendIn sums.
absl::Status CheckSpendRow(const SpendRow& row);

struct UnitEconomics {
  Period period;
  int64_t new_customers = 0;
  int64_t new_business_mrr = 0;
  std::optional<int64_t> asp;
  std::optional<int64_t> arpa;
  std::optional<int64_t> ltv;
  int64_t spend = 0;
  std::optional<int64_t> cac;
  std::optional<double> ltv_to_cac;
  std::optional<double> cac_payback_months;
  struct Channel {
    std::string channel;
    int64_t spend = 0;
    int64_t new_customers = 0;
    std::optional<int64_t> cac;
  };
  std::vector<Channel> channels;
};

// `channel_of[c]`: acquisition channel of dense customer c. LTV's churn is the mean
// customer churn rate of the `churn_window_months` complete calendar months before the
// month of each period's first day (months without paying customers at their start
// are left out of the mean); absent when that mean is 0 or undefined. LTV, LTV/CAC and
// payback are computed from the exact totals (MRR ÷ paying customers, spend ÷ new
// customers, …) and rounded once; ARPA, ASP and CAC are reported rounded. `pauses` as for
// ComputeChurnSeries.
std::vector<UnitEconomics> ComputeUnitEconomics(const std::vector<Movement>& movements,
                                                const std::vector<Period>& periods,
                                                const std::vector<std::string>& channel_of,
                                                const std::vector<SpendRow>& spend,
                                                double gross_margin, int churn_window_months,
                                                const std::vector<PauseChange>* pauses = nullptr);

}  // namespace saasmetrics::engine
