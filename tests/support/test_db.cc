#include "tests/support/test_db.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace saasmetrics::testing {
namespace {

struct TestRunKey {
  TestRunKey() {
    setenv("SAASMETRICS_BOOTSTRAP_ADMIN_KEY", kTestAdminToken, /*overwrite=*/0);
    setenv("SAASMETRICS_TOKEN", kTestAdminToken, /*overwrite=*/0);
  }
} test_run_key;

}  // namespace

std::string AdminConninfo() {
  const char* file = std::getenv("SAASMETRICS_TEST_PG_FILE");
  std::ifstream in(file == nullptr ? "" : file);
  std::string url;
  if (!std::getline(in, url) || url.empty()) {
    std::fprintf(stderr,
                 "No test PostgreSQL: $SAASMETRICS_TEST_PG_FILE (%s) is unreadable. Run the tests "
                 "through ctest, whose 'postgres' fixture starts one.\n",
                 file == nullptr ? "unset" : file);
    std::abort();
  }
  return std::string(absl::StripAsciiWhitespace(url));
}

int64_t QueryInt(const std::string& conninfo, const std::string& sql) {
  pqxx::connection conn(conninfo);
  pqxx::read_transaction t(conn);
  return t.exec1(sql)[0].as<int64_t>();
}

TestDatabase::TestDatabase() {
  static std::atomic<int> counter{0};
  name_ = absl::StrCat("t_", getpid(), "_", absl::ToUnixMicros(absl::Now()) % 1000000000, "_",
                       counter++);
  std::string admin = AdminConninfo();
  pqxx::connection conn(admin);
  pqxx::nontransaction txn(conn);
  txn.exec(absl::StrCat("CREATE DATABASE ", name_));
  conninfo_ = admin.substr(0, admin.rfind('/') + 1) + name_;
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection conn(AdminConninfo());
    pqxx::nontransaction txn(conn);
    txn.exec(absl::StrCat("DROP DATABASE IF EXISTS ", name_, " WITH (FORCE)"));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dropping test database %s: %s\n", name_.c_str(), e.what());
  }
}

}  // namespace saasmetrics::testing
