#include "server/rpc/paging.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/auth/keys.h"

namespace saasmetrics::rpc {

int PageSize(int asked) { return asked == 0 ? kDefaultPageSize : std::min(asked, kMaxPageSize); }

std::string SealCursor(absl::string_view secret, absl::string_view context, absl::string_view first,
                       absl::string_view second) {
  return auth::SealToken(secret, context, absl::StrCat(first, "|", second));
}

std::optional<std::pair<std::string, std::string>> OpenCursor(absl::string_view secret,
                                                              absl::string_view context,
                                                              absl::string_view token) {
  const std::optional<std::string> payload = auth::OpenToken(secret, context, token);
  if (!payload.has_value()) return std::nullopt;
  return std::pair<std::string, std::string>(absl::StrSplit(*payload, absl::MaxSplits('|', 1)));
}

}  // namespace saasmetrics::rpc
