#include "server/engine/tenant.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace saasmetrics::engine {
namespace {

// Active ISO 4217 alphabetic codes (list one, 2024), sorted for binary search.
// Fund codes and precious metals (X.. except XAF, XCD, XOF, XPF) are excluded: they
// are not currencies a subscription is billed in.
constexpr absl::string_view kIso4217[] = {
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
    "ZWL"};
static_assert(std::is_sorted(std::begin(kIso4217), std::end(kIso4217)));
static_assert(std::size(kIso4217) < 255, "an index fits in a byte (engine::SubscriptionPartition)");

}  // namespace

bool IsValidResourceId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_or_digit(id.front())) return false;
  return std::all_of(id.begin(), id.end(),
                     [&](char c) { return lower_or_digit(c) || c == '_' || c == '-'; });
}

bool IsIso4217Currency(absl::string_view code) {
  return std::binary_search(std::begin(kIso4217), std::end(kIso4217), code);
}

int Iso4217Index(absl::string_view code) {
  const auto* it = std::lower_bound(std::begin(kIso4217), std::end(kIso4217), code);
  return it != std::end(kIso4217) && *it == code ? static_cast<int>(it - std::begin(kIso4217)) : -1;
}

absl::string_view Iso4217Code(int index) {
  return index >= 0 && index < static_cast<int>(std::size(kIso4217)) ? kIso4217[index]
                                                                     : absl::string_view();
}

bool IsIanaTimeZone(absl::string_view name) {
  // The time-zone library takes any path ("/etc/localtime", "../x", "/proc/self/fd/2": the
  // last blocks reading a pipe) and caches every name it is given, valid or not. So only a
  // name shaped like the tz database's ("Area/Location", letters, digits, _ + -) and naming
  // a file there reaches it.
  constexpr size_t kMaxLength = 64;
  if (name.empty() || name.size() > kMaxLength || !absl::ascii_isalpha(name[0])) return false;
  char previous = '/';
  for (char c : name) {
    const bool part = absl::ascii_isalnum(c) || c == '_' || c == '+' || c == '-';
    if (!part && !(c == '/' && previous != '/')) return false;
    previous = c;
  }
  if (previous == '/') return false;
  if (name != "UTC") {
    const char* dir = std::getenv("TZDIR");
    struct stat st;
    const std::string path = absl::StrCat(dir != nullptr ? dir : "/usr/share/zoneinfo", "/", name);
    if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  }
  absl::TimeZone tz;
  return absl::LoadTimeZone(std::string(name), &tz);
}

void ValidateTenantId(absl::string_view id, absl::string_view field, Violations& out) {
  if (id.empty()) {
    out.push_back({std::string(field), "must not be empty"});
  } else if (!IsValidResourceId(id)) {
    out.push_back({std::string(field),
                   absl::StrCat("'", id, "' must be 1-", kMaxIdLength,
                                " characters of [a-z0-9_-] starting with a letter or digit")});
  }
}

void ValidateTenantSettings(const Tenant& tenant, absl::string_view prefix, Violations& out) {
  auto path = [&](absl::string_view field) { return absl::StrCat(prefix, ".", field); };
  ValidateTenantId(tenant.tenant_id, path("tenant_id"), out);
  if (tenant.display_name.size() > kMaxDisplayNameLength) {
    out.push_back(
        {path("display_name"), absl::StrCat("must be at most ", kMaxDisplayNameLength, " bytes")});
  }
  if (!IsIso4217Currency(tenant.currency)) {
    out.push_back({path("currency"),
                   absl::StrCat("'", tenant.currency, "' is not an ISO 4217 currency code")});
  }
  if (!IsIanaTimeZone(tenant.timezone)) {
    out.push_back(
        {path("timezone"), absl::StrCat("'", tenant.timezone, "' is not an IANA time zone")});
  }
  if (!(tenant.gross_margin > 0.0 && tenant.gross_margin <= 1.0) ||
      !std::isfinite(tenant.gross_margin)) {
    out.push_back(
        {path("gross_margin"), absl::StrCat("must be in (0, 1], got ", tenant.gross_margin)});
  }
  ValidateHealthPolicy(tenant.health_policy, path("health_policy"), out);
}

}  // namespace saasmetrics::engine
