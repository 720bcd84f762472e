// Cohort retention and unit economics (METRICS.md "Cohorts", "Unit economics").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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

struct SpendRow {
  std::string channel;
  absl::CivilDay start, end;  // inclusive
  int64_t amount = 0;
};

// Spend of `rows` falling in `period`, each row spread evenly over its days and
// rounded half away from zero to the minor unit.
int64_t SpendIn(const std::vector<SpendRow>& rows, const Period& period,
                const std::string* channel = nullptr);

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
