#include "server/rpc/metrics_mapping.h"

namespace saasmetrics::rpc {

query::QuerySpec SpecFrom(const v1::MetricsQuery& q) {
  // v1::Interval and engine::Interval share their numbering (DAY = 1 … YEAR = 5).
  return query::QuerySpec{.tenant_id = q.tenant_id(),
                          .start_date = q.start_date(),
                          .end_date = q.end_date(),
                          .interval = static_cast<int>(q.interval()),
                          .filters = {q.filter().begin(), q.filter().end()}};
}

}  // namespace saasmetrics::rpc
