// A fresh PostgreSQL database per test, on the server the test run started
// (tests/support/pg_fixture.sh, as the CTest fixture "postgres").
#pragma once

#include <cstdint>
#include <string>

namespace saasmetrics::testing {

// The test run's admin key over every tenant. Every test binary puts it in its
// environment at start (unless already set) as SAASMETRICS_BOOTSTRAP_ADMIN_KEY, which the
// servers it starts accept, and as SAASMETRICS_TOKEN, which the clients and saasctl send.
inline constexpr char kTestAdminToken[] =
    "sm_7e57000000000001_throwaway-test-run-admin-key-not-a-secretxx";

// libpq URL of the fixture server's maintenance database; aborts the test binary with a
// clear message when the fixture is not running.
std::string AdminConninfo();

// The first column of the first row of `sql`, as an integer.
int64_t QueryInt(const std::string& conninfo, const std::string& sql);

class TestDatabase {
 public:
  TestDatabase();   // creates an empty database with a unique name
  ~TestDatabase();  // drops it (terminating leftover connections)
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& conninfo() const { return conninfo_; }

 private:
  std::string name_;
  std::string conninfo_;
};

}  // namespace saasmetrics::testing
