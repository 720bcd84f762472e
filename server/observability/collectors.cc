#include "server/observability/collectors.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace saasmetrics::observability {
namespace {

prometheus::MetricFamily One(std::string name, std::string help, prometheus::MetricType type,
                             double value) {
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return prometheus::MetricFamily{std::move(name), std::move(help), type, {m}};
}

prometheus::MetricFamily Gauge(std::string name, std::string help, double value) {
  return One(std::move(name), std::move(help), prometheus::MetricType::Gauge, value);
}

prometheus::MetricFamily Counter(std::string name, std::string help, double value) {
  return One(std::move(name), std::move(help), prometheus::MetricType::Counter, value);
}

int CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the descriptor opendir itself holds
}

// Seconds since the epoch at which the machine booted (/proc/stat "btime").
double BootTime() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime") {
      in >> value;
      return value;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

}  // namespace

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  // /proc/self/stat: fields after the parenthesised command name, which may hold spaces.
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = stat.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(stat.substr(close + 2));
    std::vector<std::string> f;  // f[0] is field 3 (state)
    for (std::string s; fields >> s;) f.push_back(s);
    if (f.size() >= 22) {
      const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
      const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
      const double utime = std::stod(f[11]), stime = std::stod(f[12]);
      out.push_back(Counter("process_cpu_seconds_total",
                            "Total user and system CPU time spent in seconds.",
                            (utime + stime) / ticks));
      out.push_back(
          Gauge("process_threads", "Number of OS threads in the process.", std::stod(f[17])));
      out.push_back(Gauge("process_start_time_seconds",
                          "Start time of the process since unix epoch in seconds.",
                          BootTime() + std::stod(f[19]) / ticks));
      out.push_back(
          Gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", std::stod(f[20])));
      out.push_back(Gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                          std::stod(f[21]) * page));
    }
  }
  if (int fds = CountOpenFds(); fds >= 0) {
    out.push_back(Gauge("process_open_fds", "Number of open file descriptors.", fds));
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    out.push_back(Gauge("process_max_fds", "Maximum number of open file descriptors.",
                        static_cast<double>(limit.rlim_cur)));
  }
  return out;
}

std::vector<prometheus::MetricFamily> PoolCollector::Collect() const {
  const PoolSnapshot s = read_();
  return {
      Gauge("saasmetrics_db_pool_max_connections", "Configured size of the connection pool.",
            s.size),
      Gauge("saasmetrics_db_pool_open_connections",
            "Open PostgreSQL connections (idle, in use or connecting).", s.open),
      Gauge("saasmetrics_db_pool_in_use_connections",
            "Connections leased to a running transaction.", s.in_use),
      Gauge("saasmetrics_db_pool_idle_connections", "Open connections waiting for work.",
            s.open - s.in_use),
      Counter("saasmetrics_db_pool_waits_total",
              "Transactions that had to wait for a free connection.", static_cast<double>(s.waits)),
      Counter("saasmetrics_db_pool_wait_seconds_total",
              "Total time transactions waited for a free connection.", s.wait_seconds),
  };
}

}  // namespace saasmetrics::observability
