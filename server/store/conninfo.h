#pragma once

#include <string>

namespace saasmetrics::store {

// "host:port" (or the socket directory) a libpq connection string points at, filling
// in libpq's environment defaults; for messages like "database at 127.0.0.1:5432 ...".
std::string DescribeTarget(const std::string& conninfo);

// The connection string with connect_timeout set, unless it sets one already.
std::string WithConnectTimeout(const std::string& conninfo, int seconds);

}  // namespace saasmetrics::store
