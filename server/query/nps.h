// NPS as the query layer computes it (ANALYTICS.md "NPS"): the tenant's survey responses
// (cached by version) over the query's periods, its filters applied, optionally per group.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "server/engine/health.h"
#include "server/engine/nps.h"
#include "server/query/models.h"
#include "server/query/reader.h"

namespace saasmetrics::query {

struct NpsAnswer {
  std::vector<engine::NpsPoint> all;  // every respondent the filters keep
  // With a group_by, per group (ordered): a customer field's value ("(none)" when empty),
  // a plan, or a health group at each period's end.
  std::vector<std::pair<std::string, std::vector<engine::NpsPoint>>> groups;
};

// `group_by`: "", "plan", "health" or a customer field (the query was prepared with the
// customers for a field). For "health", `policy` and `model` (null: none) place customers.
// RESOURCE_EXHAUSTED when groups × periods exceed the answer budget.
absl::StatusOr<NpsAnswer> Nps(Reader& reader, const Query& q, const std::string& group_by,
                              const engine::HealthPolicy& policy,
                              const engine::EngagementModel* model, const Context& ctx,
                              const RiskModel* risk = nullptr);  // health groups' churn model

}  // namespace saasmetrics::query
