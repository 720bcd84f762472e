#include "tests/support/subprocess.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace saasmetrics::testing {

Subprocess::Subprocess(std::vector<std::string> argv, std::map<std::string, std::string> env) {
  char tmpl[] = "/tmp/saasmetrics-subprocess.XXXXXX";
  int fd = mkstemp(tmpl);
  log_path_ = tmpl;
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.push_back(*e);
  for (const auto& [k, v] : env) env_strings.push_back(absl::StrCat(k, "=", v));
  // Only async-signal-safe calls between fork and exec: the test process has threads.
  std::vector<char*> args, envp;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  sigset_t none;
  sigemptyset(&none);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  close(fd);
}

Subprocess::~Subprocess() {
  if (running()) {
    Signal(SIGKILL);
    Wait(absl::Seconds(10));
  }
  unlink(log_path_.c_str());
}

std::string Subprocess::Output() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool Subprocess::WaitForOutput(const std::string& text, absl::Duration timeout) const {
  const absl::Time give_up = absl::Now() + timeout;
  while (absl::Now() < give_up && running()) {
    if (absl::StrContains(Output(), text)) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::StrContains(Output(), text);
}

void Subprocess::Signal(int sig) {
  if (pid_ <= 0) return;
  sent_.push_back(sig);
  kill(pid_, sig);
}

bool Subprocess::running() const {
  if (pid_ <= 0 || exit_code_ >= 0) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (WIFSIGNALED(status) &&
      std::find(sent_.begin(), sent_.end(), WTERMSIG(status)) == sent_.end()) {
    const std::string out = Output();
    ADD_FAILURE() << "process " << pid_ << " died of signal " << WTERMSIG(status) << " ("
                  << strsignal(WTERMSIG(status)) << "); the end of its output:\n"
                  << out.substr(out.size() > 4000 ? out.size() - 4000 : 0);
  }
  return false;
}

int Subprocess::Wait(absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  while (running()) {
    if (absl::Now() >= give_up) return -1;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return exit_code_;
}

int LoggedNumber(const Subprocess& p, const std::string& key, absl::Duration timeout) {
  if (!p.WaitForOutput(key + "=", timeout)) return 0;
  std::smatch m;
  const std::string out = p.Output();
  return std::regex_search(out, m, std::regex(key + "=(\\d+)")) ? std::stoi(m[1]) : 0;
}

std::string BinaryPath(const std::string& name) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string dir = n > 0 ? std::string(self, n) : std::string("./x");
  return absl::StrCat(dir.substr(0, dir.rfind('/')), "/", name);
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace saasmetrics::testing
