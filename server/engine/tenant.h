// Tenant settings and the rules they obey.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/engine/field_violation.h"
#include "server/engine/health.h"

namespace saasmetrics::engine {

struct Tenant {
  std::string tenant_id;
  std::string display_name;
  std::string currency;          // ISO 4217
  std::string timezone = "UTC";  // IANA
  double gross_margin = 1.0;     // (0, 1]
  HealthPolicy health_policy;
  absl::Time create_time;
  absl::Time update_time;
};

inline constexpr int kMaxIdLength = 63;
inline constexpr int kMaxDisplayNameLength = 200;

// Resource ids (tenants, PQL rules): 1-63 of [a-z0-9_-], starting with [a-z0-9].
bool IsValidResourceId(absl::string_view id);
// ISO 4217 alphabetic code of an active currency, upper case ("USD").
bool IsIso4217Currency(absl::string_view code);
// Its position among those codes (fewer than 255), or -1; and back ("" when out of range).
int Iso4217Index(absl::string_view code);
absl::string_view Iso4217Code(int index);
// A zone the IANA database knows ("Europe/Berlin", "UTC").
bool IsIanaTimeZone(absl::string_view name);

// Appends a violation for each rule `tenant` breaks; `prefix` is its path ("tenant").
void ValidateTenantId(absl::string_view id, absl::string_view field, Violations& out);
void ValidateTenantSettings(const Tenant& tenant, absl::string_view prefix, Violations& out);

}  // namespace saasmetrics::engine
