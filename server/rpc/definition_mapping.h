// A tenant's definitions (saasmetrics.v1.PqlRule, EngagementModel) ↔ the engine's and the
// stored JSON document (store::DefinitionStore).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "saasmetrics/v1/admin.pb.h"
#include "server/engine/engagement.h"
#include "server/engine/pql.h"
#include "server/store/definition_store.h"

namespace saasmetrics::rpc {

engine::PqlRule FromProto(const v1::PqlRule& rule);
engine::EngagementModel FromProto(const v1::EngagementModel& model);

// The definition as stored: the message without its id and timestamps, as JSON.
std::string DefinitionJson(const v1::PqlRule& rule);
std::string DefinitionJson(const v1::EngagementModel& model);

// The message from its stored row (DATA_LOSS when the document does not parse).
template <typename Message>
absl::StatusOr<Message> FromStored(const store::StoredDefinition& stored);

}  // namespace saasmetrics::rpc
