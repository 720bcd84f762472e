// Paged listings (ListTenants, ListMovements, ListEngagementScores): page sizes and page
// tokens. A token carries the keys of the last row served, sealed for the tenant and the
// query (auth::SealToken): it cannot be forged, nor used for another query.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace saasmetrics::rpc {

inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxPageSize = 1000;
inline constexpr char kNotOurToken[] = "is not a token this service issued for this query";

// A page size as asked: 0 is the default; at most the maximum.
int PageSize(int asked);

// A token for the row keyed (first, second), for `context`.
std::string SealCursor(absl::string_view secret, absl::string_view context, absl::string_view first,
                       absl::string_view second);
// The keys of a token SealCursor issued for `context`; nullopt for any other.
std::optional<std::pair<std::string, std::string>> OpenCursor(absl::string_view secret,
                                                              absl::string_view context,
                                                              absl::string_view token);

}  // namespace saasmetrics::rpc
