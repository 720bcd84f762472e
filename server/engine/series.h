// Period series from movements: MRR with its movements (GetMrr) and churn and retention
// (GetChurn), per METRICS.md.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "server/engine/periods.h"
#include "server/engine/timeline.h"

namespace saasmetrics::engine {

struct MovementTotals {
  int64_t new_business = 0;
  int64_t expansion = 0;
  int64_t contraction = 0;  // <= 0
  int64_t churn = 0;        // <= 0
  int64_t reactivation = 0;
  int64_t net() const { return new_business + expansion + contraction + churn + reactivation; }
  void Add(const Movement& m, int64_t sign = 1);  // sign -1 takes it away again
  bool operator==(const MovementTotals&) const = default;
};

struct MrrPoint {
  Period period;
  int64_t mrr = 0;     // as of the end of the period
  int64_t paying = 0;  // customers with MRR > 0 at the end
  MovementTotals movements;
  std::optional<int64_t> arpa() const;  // mrr / paying, rounded half away from zero
};

struct MrrSeries {
  int64_t start_mrr = 0;  // at the start of the first period
  int64_t start_paying = 0;
  std::vector<MrrPoint> points;
};

// `movements` as MrrTimeline::Movements returns them (all history up to the last period).
MrrSeries ComputeMrrSeries(const std::vector<Movement>& movements,
                           const std::vector<Period>& periods);

// Movements summed per day, DuckDB-style partial aggregates: an MRR series over any range
// then costs one step per day instead of one per movement.
struct DailyTotals {
  absl::CivilDay first;  // the day of totals[0]
  std::vector<MovementTotals> totals;
  std::vector<int64_t> paying_delta;  // customers starting to pay minus those stopping
  size_t bytes() const {
    return totals.capacity() * sizeof(MovementTotals) + paying_delta.capacity() * sizeof(int64_t);
  }
};
DailyTotals SumByDay(const std::vector<Movement>& movements);
// Adds `m` (sign 1) to the totals or takes it away (-1), widening the days as needed.
void AddToDaily(const Movement& m, int64_t sign, DailyTotals& daily);

// The same series as from the movements the totals were summed from.
MrrSeries ComputeMrrSeries(const DailyTotals& daily, const std::vector<Period>& periods);

struct ChurnPoint {
  Period period;
  int64_t customers_at_start = 0;  // |C(s)|
  int64_t churned = 0;             // of C(s), those with MRR 0 at the end
  int64_t mrr_at_start = 0;        // MRR(s) (equal to the sum over C(s))
  int64_t retained_mrr = 0;        // sum over C(s) of MRR_c(e)
  int64_t floor_mrr = 0;           // sum over C(s) of min(MRR_c(e), MRR_c(s))
  MovementTotals movements;

  std::optional<double> customer_churn_rate() const;
  std::optional<double> gross_mrr_churn_rate() const;
  std::optional<double> net_mrr_churn_rate() const;
  std::optional<double> nrr() const;
  std::optional<double> grr() const;
  std::optional<double> quick_ratio() const;
};

// `pauses` (ordered by customer, then day, as MrrTimeline gives them): a customer paused
// at a period's end is not churned. Without them, every customer at MRR 0 is.
std::vector<ChurnPoint> ComputeChurnSeries(const std::vector<Movement>& movements,
                                           const std::vector<Period>& periods,
                                           const std::vector<PauseChange>* pauses = nullptr);

}  // namespace saasmetrics::engine
