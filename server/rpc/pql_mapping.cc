#include "server/rpc/pql_mapping.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "server/rpc/convert.h"

namespace saasmetrics::rpc {

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

std::string DefinitionJson(const v1::PqlRule& rule) {
  v1::PqlRule definition = rule;
  definition.clear_rule_id();
  definition.clear_create_time();
  definition.clear_update_time();
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(definition, &json);
  return json;
}

absl::StatusOr<v1::PqlRule> FromStored(const store::StoredPqlRule& stored) {
  v1::PqlRule rule;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // rules written by a newer version stay readable
  if (!google::protobuf::util::JsonStringToMessage(stored.definition, &rule, options).ok()) {
    return absl::DataLossError(
        absl::StrCat("stored PQL rule '", stored.rule_id, "' has an unreadable definition"));
  }
  rule.set_rule_id(stored.rule_id);
  ToProto(stored.create_time, rule.mutable_create_time());
  ToProto(stored.update_time, rule.mutable_update_time());
  return rule;
}

}  // namespace saasmetrics::rpc
