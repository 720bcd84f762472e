// Each metric as the query layer computes it: what it loads beyond the prepared query
// (usage months, spend, the PQL rule's window), the answer-size budget it checks, and the
// engine call. The RPC layer only validates, maps and calls these.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/engine/cohorts.h"
#include "server/engine/engagement.h"
#include "server/engine/pql.h"
#include "server/engine/renewals.h"
#include "server/engine/series.h"
#include "server/engine/usage.h"
#include "server/query/page.h"
#include "server/query/reader.h"

namespace saasmetrics::query {

engine::MrrSeries Mrr(const Query& q);
// MRR at each period's end per native currency, unconverted, of the selected customers.
std::vector<std::vector<engine::CurrencyMrr>> NativeMrr(const Query& q);

absl::StatusOr<std::vector<int64_t>> ActiveCustomers(Reader& reader, const Query& q,
                                                     const std::vector<std::string>& types,
                                                     const Context& ctx);

absl::StatusOr<std::vector<engine::ActivationPoint>> Activation(
    Reader& reader, const Query& q, const std::vector<std::string>& types, int window_days,
    const Context& ctx);

absl::StatusOr<std::vector<engine::PqlPoint>> PqlCount(Reader& reader, const Query& q,
                                                       const engine::PqlRule& rule,
                                                       int conversion_window_days,
                                                       const Context& ctx);

// The usage months of the trailing windows of `window_days` ending on `first_day` ..
// `last_day`, indexed and linked to the history, and the engine's inputs over them
// (`usage` keeps what they point to; the query's movements say who pays).
absl::StatusOr<engine::EngagementInputs> WindowUsage(Reader& reader, const Query& q,
                                                     int window_days, absl::CivilDay first_day,
                                                     absl::CivilDay last_day, const Context& ctx,
                                                     UsageView& usage);

// The engagement score distribution at each period's end (ANALYTICS.md), over the usage
// months the periods' trailing windows reach, on the cached usage index linked to the
// history; the query's movements say who pays (its filters applied).
absl::StatusOr<std::vector<engine::EngagementPoint>> Engagement(
    Reader& reader, const Query& q, const engine::EngagementModel& model, const Context& ctx);

// Each customer paying at the end of `day`: its score and components.
struct EngagementRow {
  std::string customer_id;
  double score = 0;
  std::span<const double> components;  // in its table's `x`
};
// The rows and the one buffer their components are in (moving the table keeps them
// valid; it is not copied).
struct EngagementTable {
  EngagementTable() = default;
  EngagementTable(EngagementTable&&) = default;
  EngagementTable& operator=(EngagementTable&&) = default;
  std::vector<double> x;
  std::vector<EngagementRow> rows;
};
absl::StatusOr<EngagementTable> EngagementScores(Reader& reader, const Query& q,
                                                 const engine::EngagementModel& model,
                                                 absl::CivilDay day, const Context& ctx);

// One page of scored customers: those with a score in [min, max] that come after `after`
// in `order` (ties by customer id); only the page's worth is put in order.
enum class ScoreOrder { kScoreDesc, kScoreAsc, kCustomerId };
struct ScoreCursor {  // the last row a previous page served
  double score = 0;
  std::string customer_id;
};
using EngagementPage = PageOf<EngagementRow>;
EngagementPage PageOfScores(const std::vector<EngagementRow>& rows, ScoreOrder order,
                            std::optional<double> min, std::optional<double> max,
                            const std::optional<ScoreCursor>& after, int page_size);

// The churn series per group of customers (the cross-tab): per value of a customer field
// ("" is "(none)"), or per plan (a customer in every plan it has an event on), ordered by
// group. RESOURCE_EXHAUSTED when groups × periods exceed the answer budget.
absl::StatusOr<std::vector<std::pair<std::string, std::vector<engine::ChurnPoint>>>> ChurnByGroup(
    const Reader& reader, const Query& q, const std::string& group_by);

// `group_by` empty: one group. RESOURCE_EXHAUSTED when the cells exceed the answer budget.
absl::StatusOr<std::vector<engine::Cohort>> Cohorts(const Reader& reader, const Query& q,
                                                    const std::string& group_by);

// MRR by cohort (the layer cake): from the history's cohort totals when the periods start on
// months and nothing is filtered, else from the (filtered) movements. RESOURCE_EXHAUSTED
// when the layers exceed the answer budget.
absl::StatusOr<std::vector<engine::MrrByCohortPoint>> MrrByCohort(const Reader& reader,
                                                                  const Query& q);

// Renewal rates per period (ANALYTICS.md) over the history's events with their terms, the
// query's filters applied.
absl::StatusOr<std::vector<engine::RenewalPoint>> Renewals(Reader& reader, const Query& q,
                                                           engine::Term min_term,
                                                           const Context& ctx);

absl::StatusOr<std::vector<engine::UnitEconomics>> UnitEconomics(Reader& reader, const Query& q,
                                                                 int churn_window_months,
                                                                 const Context& ctx);

// One page of movements in the query's range, ordered by day then customer id, each with
// the subscriptions whose MRR changed that day (drill-down).
struct MovementRow {
  engine::Movement movement;
  std::string customer_id;
  std::vector<std::string> subscription_ids;  // ordered
};
struct MovementCursor {  // the last row a previous page served
  absl::CivilDay day;
  std::string customer_id;
};
struct MovementPage {
  std::vector<MovementRow> rows;
  bool more = false;  // rows follow the last one
};
MovementPage ListMovements(const Query& q, const std::vector<engine::MovementType>& types,
                           const std::optional<MovementCursor>& after, int page_size);

}  // namespace saasmetrics::query
