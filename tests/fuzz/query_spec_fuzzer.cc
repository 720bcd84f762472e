// Query and tenant-settings validation: the fields of a metric query (dates, filters)
// and of a tenant (id, currency, time zone, display name), cut from the input at NUL
// bytes. Properties: nothing crashes; an accepted date prints back as itself; an accepted
// filter has a field and values; an accepted time zone is never a path (no leading '/',
// no "..", no "//") and loads; an accepted tenant id is a resource id.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "server/engine/dates.h"
#include "server/engine/filters.h"
#include "server/engine/tenant.h"
#include "tests/fuzz/fuzz_support.h"

using namespace saasmetrics;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> f = absl::StrSplit(input, absl::ByChar('\0'));
  f.resize(std::max<size_t>(f.size(), 5));

  absl::CivilDay day;
  if (engine::ParseIsoDate(f[0], &day)) FUZZ_CHECK(engine::FormatIsoDate(day) == f[0]);

  engine::CustomerFilter filter;
  if (engine::ParseFilter(f[1], &filter).empty()) {
    FUZZ_CHECK(!filter.field.empty());
    FUZZ_CHECK(!filter.values.empty());
  }

  engine::Tenant t;
  t.tenant_id = f[2];
  t.currency = f[3];
  t.timezone = f[4];
  t.display_name = f.size() > 5 ? f[5] : "";
  engine::Violations violations;
  engine::ValidateTenantId(t.tenant_id, "tenant.tenant_id", violations);
  if (violations.empty()) FUZZ_CHECK(engine::IsValidResourceId(t.tenant_id));
  violations.clear();
  engine::ValidateTenantSettings(t, "tenant", violations);
  const bool zone_refused = std::any_of(violations.begin(), violations.end(),
                                        [](const auto& v) { return v.field == "tenant.timezone"; });
  if (!zone_refused) {
    FUZZ_CHECK(!t.timezone.empty() && t.timezone[0] != '/');
    FUZZ_CHECK(!absl::StrContains(t.timezone, "..") && !absl::StrContains(t.timezone, "//"));
    FUZZ_CHECK(t.timezone.size() <= 64);
    absl::TimeZone tz;
    FUZZ_CHECK(absl::LoadTimeZone(t.timezone, &tz));
  }
  return 0;
}
