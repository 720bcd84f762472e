#include "server/observability/log.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace saasmetrics::observability {

void LogLine(absl::string_view message) {
  std::string line =
      absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
                   " saasmetrics: ", message, "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace saasmetrics::observability
