// Health groups as the query layer computes them (ANALYTICS.md "Health groups"): over the
// cached history and usage index, the policy's model (when there is one) scoring the
// paying customers.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/engine/health.h"
#include "server/query/models.h"
#include "server/query/page.h"
#include "server/query/reader.h"

namespace saasmetrics::query {

// Per period end: customers and MRR per group and the transitions from the previous end.
// `risk`, when given, is the tenant's churn model (its reason churn_risk; every function
// here takes it).
absl::StatusOr<std::vector<engine::HealthPoint>> Health(Reader& reader, const Query& q,
                                                        const engine::HealthPolicy& policy,
                                                        const engine::EngagementModel* model,
                                                        const Context& ctx,
                                                        const RiskModel* risk = nullptr);

// One customer's health at the end of a day, and (for a page) its last usage event.
struct HealthRow {
  std::string customer_id;
  engine::HealthGroup group = engine::HealthGroup::kNone;
  uint8_t reasons = 0;  // engine::HealthReason bits
  int64_t mrr = 0;
  std::optional<double> score;
  std::optional<absl::CivilDay> churn_day;
  std::optional<absl::Time> last_activity;  // within the year before the day's end
};

// How far back a listing looks for a customer's last usage event.
inline constexpr int kLastActivityDays = 365;

// Every customer that has ever paid by the end of `day` (groups and reasons, no activity).
absl::StatusOr<std::vector<HealthRow>> HealthOfCustomers(Reader& reader, const Query& q,
                                                         const engine::HealthPolicy& policy,
                                                         const engine::EngagementModel* model,
                                                         absl::CivilDay day, const Context& ctx,
                                                         const RiskModel* risk = nullptr);

// Per customer of `ids`, its latest usage event up to the end of `day`, within the
// kLastActivityDays before (nullopt: none then).
absl::StatusOr<std::vector<std::optional<absl::Time>>> LastActivity(
    Reader& reader, const Query& q, const std::vector<std::string>& ids, absl::CivilDay day,
    const Context& ctx);

// Health transitions (ANALYTICS.md) on the days of the query's range: at most this many.
inline constexpr int kMaxTransitionDays = 92;

struct TransitionRow {
  absl::CivilDay day;
  std::string customer_id;
  engine::HealthGroup from = engine::HealthGroup::kNone, to = engine::HealthGroup::kNone;
  uint8_t reasons = 0;
  int64_t mrr = 0;
  std::optional<double> score;
};
// Every transition on the days q.start..q.end, by day, then customer id.
absl::StatusOr<std::vector<TransitionRow>> HealthTransitions(Reader& reader, const Query& q,
                                                             const engine::HealthPolicy& policy,
                                                             const engine::EngagementModel* model,
                                                             const Context& ctx,
                                                             const RiskModel* risk = nullptr);

// The health inputs' churn risk on `days` by `risk` (null: none); `out` holds it.
absl::StatusOr<const engine::ChurnRisk*> RiskOn(Reader& reader, const Query& q,
                                                const RiskModel* risk,
                                                const std::vector<absl::CivilDay>& days,
                                                const Context& ctx, engine::ChurnRisk& out);
// One page of them: those into `to` (nullopt: any), after (day, customer id) `after`.
using TransitionPage = PageOf<TransitionRow>;
TransitionPage PageOfTransitions(const std::vector<TransitionRow>& rows,
                                 std::optional<engine::HealthGroup> to,
                                 const std::optional<TransitionRow>& after, int page_size);

enum class HealthOrder { kMrrDesc, kScoreAsc, kCustomerId };

// One page of `rows` in `group` (nullopt: every group but none) in `order`, ties by
// customer id (without a score, a row sorts as −1), after the row last served; the page's
// rows get their last activity (a usage event up to the end of `day`).
struct HealthPage {
  std::vector<HealthRow> rows;
  int64_t total = 0;  // rows in the group, over all pages
  bool more = false;
};
absl::StatusOr<HealthPage> PageOfHealth(Reader& reader, const Query& q,
                                        const std::vector<HealthRow>& rows,
                                        std::optional<engine::HealthGroup> group, HealthOrder order,
                                        const std::optional<HealthRow>& after, int page_size,
                                        absl::CivilDay day, const Context& ctx);

}  // namespace saasmetrics::query
