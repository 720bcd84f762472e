#include "tests/bench/bench_support.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace saasmetrics::bench {

BenchServer StartServer(const std::string& conninfo, std::vector<std::string> flags) {
  std::vector<std::string> args = {testing::BinaryPath("saasmetrics"), "--grpc_address=127.0.0.1:0",
                                   "--metrics_address=", "--database_url=" + conninfo};
  args.insert(args.end(), flags.begin(), flags.end());
  BenchServer s;
  s.process = std::make_unique<testing::Subprocess>(args);
  if (!s.process->WaitForOutput("health SERVING", absl::Seconds(60))) {
    fprintf(stderr, "server did not start:\n%s\n", s.process->Output().c_str());
    std::exit(1);
  }
  std::smatch m;
  std::string out = s.process->Output();
  std::regex_search(out, m, std::regex("grpc_port=(\\d+)"));
  s.address = absl::StrCat("127.0.0.1:", m[1].str());
  s.pid = s.process->pid();
  return s;
}

double PeakRssMiB(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

double CpuSeconds(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the ")" that ends the command name: utime and stime are 12th and 13th.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 1; i <= 13 && rest >> field; ++i) {
    if (i >= 12) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double PostgresCpuSeconds() {
  double total = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string pid = entry.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream comm(entry.path() / "comm");
    std::string name;
    if (std::getline(comm, name) && (name == "postgres" || name.rfind("postgres:", 0) == 0)) {
      total += CpuSeconds(pid);
    }
  }
  return total;
}

}  // namespace saasmetrics::bench
