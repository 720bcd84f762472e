// saasmetrics.v1.PqlRule ↔ the engine's rule and the stored JSON definition.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "saasmetrics/v1/admin.pb.h"
#include "server/engine/pql.h"
#include "server/store/pql_rule_store.h"

namespace saasmetrics::rpc {

engine::PqlRule FromProto(const v1::PqlRule& rule);
// The rule's definition as stored: the message without its id and timestamps, as JSON.
std::string DefinitionJson(const v1::PqlRule& rule);
absl::StatusOr<v1::PqlRule> FromStored(const store::StoredPqlRule& stored);

}  // namespace saasmetrics::rpc
