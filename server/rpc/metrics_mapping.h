// Metric requests' protos → the query layer's types.
#pragma once

#include "saasmetrics/v1/common.pb.h"
#include "server/query/reader.h"

namespace saasmetrics::rpc {

// The query as the client wrote it; the query layer validates it.
query::QuerySpec SpecFrom(const v1::MetricsQuery& q);

}  // namespace saasmetrics::rpc
