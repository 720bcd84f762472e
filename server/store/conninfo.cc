#include "server/store/conninfo.h"

#include <libpq-fe.h>

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace saasmetrics::store {
namespace {

// Parsed options of `conninfo`, over libpq's defaults (PGHOST, PGPORT, ...).
std::map<std::string, std::string> EffectiveOptions(const std::string& conninfo) {
  std::map<std::string, std::string> out;
  if (PQconninfoOption* defaults = PQconndefaults()) {
    for (PQconninfoOption* o = defaults; o->keyword != nullptr; ++o) {
      if (o->val != nullptr) out[o->keyword] = o->val;
    }
    PQconninfoFree(defaults);
  }
  char* error = nullptr;
  if (PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &error)) {
    for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
      if (o->val != nullptr && o->val[0] != '\0') out[o->keyword] = o->val;
    }
    PQconninfoFree(parsed);
  }
  if (error != nullptr) PQfreemem(error);
  return out;
}

}  // namespace

std::string DescribeTarget(const std::string& conninfo) {
  auto options = EffectiveOptions(conninfo);
  std::string host = options["hostaddr"].empty() ? options["host"] : options["hostaddr"];
  if (host.empty()) host = "/var/run/postgresql";
  std::string port = options["port"].empty() ? "5432" : options["port"];
  return absl::StrCat(host, ":", port);
}

std::string WithConnectTimeout(const std::string& conninfo, int seconds) {
  if (absl::StrContains(conninfo, "connect_timeout")) return conninfo;
  if (absl::StartsWith(conninfo, "postgres://") || absl::StartsWith(conninfo, "postgresql://")) {
    return absl::StrCat(conninfo, absl::StrContains(conninfo, "?") ? "&" : "?",
                        "connect_timeout=", seconds);
  }
  return absl::StrCat(conninfo, conninfo.empty() ? "" : " ", "connect_timeout=", seconds);
}

}  // namespace saasmetrics::store
