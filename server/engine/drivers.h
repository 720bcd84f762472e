// Retention drivers (ANALYTICS.md "Retention drivers"): per usage event type, the
// retention of the customers who did it early on against those who did not, with lift and
// Fisher's exact test — "what do the customers who stay do early on".
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "server/engine/engagement.h"
#include "server/engine/timeline.h"

namespace saasmetrics::engine {

struct DriverSettings {
  int min_events = 1;      // n: "did e" = at least n events of e …
  int window_days = 14;    // D: … on the D days starting with the new-business day
  int retained_days = 90;  // R: retained = paying or paused at the end of day nb + R
  int min_arm = 30;        // eligible: at least this many customers in each arm
  absl::Time as_of;        // only customers whose day nb + R has ended by then
};

struct RetentionDriver {
  std::string type;
  int64_t did = 0, did_retained = 0;
  int64_t did_not = 0, did_not_retained = 0;
  std::optional<double> retention_did, retention_did_not;  // absent for an empty arm
  std::optional<double> lift;        // absent when an arm is empty or did-not kept nobody
  std::optional<double> difference;  // absent when an arm is empty
  double p_value = 1;                // Fisher's exact, two-sided
  bool eligible = false;             // min_arm customers in each arm
};

struct DriversResult {
  int64_t customers = 0;  // the population: won in the range, retention observable
  int64_t retained = 0;
  std::vector<RetentionDriver> drivers;  // eligible by lift descending, then the rest by type
};

// The customers whose first new-business day is in [first, last] (from `in.movements`, the
// selected customers', and `pauses`); `in` covers the usage of [first, last + D − 1] with
// its ledger link. Every event type with an event in the partitions is a row. INTERNAL
// when the index does not fit the partitions; CANCELLED when `stop` says so.
absl::StatusOr<DriversResult> RetentionDrivers(const EngagementInputs& in,
                                               const std::vector<PauseChange>& pauses,
                                               absl::CivilDay first, absl::CivilDay last,
                                               const DriverSettings& settings,
                                               const std::function<bool()>& stop = nullptr);

}  // namespace saasmetrics::engine
