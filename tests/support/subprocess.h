// A child process with its stderr and stdout captured to a file, for end-to-end tests.
// A child that dies of a signal the test did not send it (a crash: SIGSEGV, SIGABRT, …)
// fails the running test with the signal's name and the end of its output, so a dead
// server never reads as a timeout.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace saasmetrics::testing {

class Subprocess {
 public:
  // Starts `argv` with `env` added to the environment.
  explicit Subprocess(std::vector<std::string> argv, std::map<std::string, std::string> env = {});
  ~Subprocess();  // SIGKILLs it if still running

  // Everything it printed so far (stdout and stderr interleaved).
  std::string Output() const;
  // Waits until Output() contains `text`; false on timeout or exit first.
  bool WaitForOutput(const std::string& text, absl::Duration timeout) const;
  void Signal(int sig);
  // Waits for exit; returns the exit code, 128+signal if killed, -1 on timeout.
  int Wait(absl::Duration timeout);
  bool running() const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  mutable int exit_code_ = -1;
  std::vector<int> sent_;  // signals the test sent: their deaths are expected
  std::string log_path_;
};

// The number the process logged as "<key>=N" (e.g. grpc_port), waiting up to `timeout`
// for it; 0 if it never did.
int LoggedNumber(const Subprocess& p, const std::string& key, absl::Duration timeout);

// A loopback port nobody listens on right now, for programs that can't be told to pick
// one, or that must come back on the same port after a restart.
int FreePort();

// Absolute path of a built binary: they all live next to the test binaries (build/bin).
std::string BinaryPath(const std::string& name);

}  // namespace saasmetrics::testing
