#include "server/rpc/definition_mapping.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "server/rpc/convert.h"

namespace saasmetrics::rpc {
namespace {

template <typename Message>
std::string Json(Message definition) {
  definition.clear_create_time();
  definition.clear_update_time();
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(definition, &json);
  return json;
}

// Parses a stored document into `out` and sets its id and times.
template <typename Message>
absl::Status Parse(const store::StoredDefinition& stored, const char* noun, Message* out) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // definitions written by a newer version stay readable
  if (!google::protobuf::util::JsonStringToMessage(stored.definition, out, options).ok()) {
    return absl::DataLossError(
        absl::StrCat("stored ", noun, " '", stored.id, "' has an unreadable definition"));
  }
  ToProto(stored.create_time, out->mutable_create_time());
  ToProto(stored.update_time, out->mutable_update_time());
  return absl::OkStatus();
}

}  // namespace

engine::PqlRule FromProto(const v1::PqlRule& rule) {
  engine::PqlRule out;
  out.window_days = rule.window_days();
  for (const v1::PqlCondition& c : rule.conditions()) {
    out.conditions.push_back({static_cast<engine::PqlCondition::Kind>(c.kind()), c.event_type(),
                              c.threshold(), c.weight()});
  }
  if (rule.has_score_threshold()) out.score_threshold = rule.score_threshold().value();
  return out;
}

engine::EngagementModel FromProto(const v1::EngagementModel& model) {
  engine::EngagementModel out;
  out.window_days = model.window_days() == 0 ? 30 : model.window_days();
  for (const v1::EngagementComponent& c : model.components()) {
    out.components.push_back(
        {{c.event_types().begin(), c.event_types().end()},
         static_cast<engine::EngagementComponent::Aggregation>(c.aggregation()),
         c.target(),
         c.weight()});
  }
  return out;
}

std::string DefinitionJson(const v1::PqlRule& rule) {
  v1::PqlRule definition = rule;
  definition.clear_rule_id();
  return Json(definition);
}

std::string DefinitionJson(const v1::EngagementModel& model) {
  v1::EngagementModel definition = model;
  definition.clear_model_id();
  return Json(definition);
}

template <>
absl::StatusOr<v1::PqlRule> FromStored<v1::PqlRule>(const store::StoredDefinition& stored) {
  v1::PqlRule rule;
  if (absl::Status s = Parse(stored, "PQL rule", &rule); !s.ok()) return s;
  rule.set_rule_id(stored.id);
  return rule;
}

template <>
absl::StatusOr<v1::EngagementModel> FromStored<v1::EngagementModel>(
    const store::StoredDefinition& stored) {
  v1::EngagementModel model;
  if (absl::Status s = Parse(stored, "engagement model", &model); !s.ok()) return s;
  model.set_model_id(stored.id);
  return model;
}

}  // namespace saasmetrics::rpc
