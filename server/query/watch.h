// Health transitions as a watch sends them (ANALYTICS.md "Health transitions"): each
// ended day with its transitions and a fingerprint of them, and which days a client that
// holds some days' fingerprints needs again. No gRPC: the stream lives in rpc/.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "server/engine/health.h"
#include "server/query/health.h"

namespace saasmetrics::query {

// The last day that has ended in `tz` at `now` (yesterday, there).
absl::CivilDay LastEndedDay(absl::Time now, absl::TimeZone tz);

struct TransitionDay {
  absl::CivilDay day;
  std::vector<const TransitionRow*> rows;  // by customer id; into the rows given
  std::string fingerprint;                 // TransitionFingerprint of `rows`
};

// Every day of start..end (days without a transition too), with its transitions into `to`
// (nullopt: any). `rows` ordered by day, then customer id, as HealthTransitions gives them.
std::vector<TransitionDay> TransitionDays(const std::vector<TransitionRow>& rows,
                                          std::optional<engine::HealthGroup> to,
                                          absl::CivilDay start, absl::CivilDay end);

// 16 hex digits that change when any of a day's transitions does (its customer, groups,
// reasons, MRR or score): FNV-1a over their fields, the same in every process and release
// of this format, so a client may hold it across reconnections and replicas.
std::string TransitionFingerprint(absl::CivilDay day,
                                  const std::vector<const TransitionRow*>& rows);

// A day the client needs: new to it, or changed since (a revision).
struct DayToSend {
  const TransitionDay* day;
  bool revision;
};
// The days of `days` whose fingerprint differs from what `held` says the client has, in
// day order; a day `held` has is a revision. Updates `held` to what is sent.
std::vector<DayToSend> DaysToSend(const std::vector<TransitionDay>& days,
                                  absl::flat_hash_map<absl::CivilDay, std::string>& held);

}  // namespace saasmetrics::query
