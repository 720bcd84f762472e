// Shared pieces of the benchmark programs: a server process over a fresh database, and
// peak-RSS reporting.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"
#include "tests/support/test_db.h"

namespace saasmetrics::bench {

struct BenchServer {
  std::unique_ptr<testing::Subprocess> process;
  std::string address;
  pid_t pid = 0;
};

// Starts build/bin/saasmetrics over `conninfo` with `flags` and waits until SERVING.
BenchServer StartServer(const std::string& conninfo, std::vector<std::string> flags = {});

// Peak resident set (VmHWM) of a process, in MiB; "self" for this one.
double PeakRssMiB(const std::string& pid = "self");

// User + system CPU seconds a process has used so far; "self" for this one.
double CpuSeconds(const std::string& pid = "self");

// CPU seconds used so far by every PostgreSQL server process on this machine.
double PostgresCpuSeconds();

}  // namespace saasmetrics::bench
