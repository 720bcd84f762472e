// saasctl against a real server: importing the public subscription-periods dataset, and
// the MRR the service reports checked month by month against a direct reading of the
// CSV (MRR at a month's end = the amounts of the periods running then).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/importers.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_db.h"

namespace saasmetrics::testing {
namespace {

using ::testing::HasSubstr;

const std::string kDataset =
    std::string(SAASMETRICS_SOURCE_DIR) + "/deploy/local/subscription_periods.csv";

class SaasctlTest : public ::testing::Test {
 protected:
  SaasctlTest()
      : server_({BinaryPath("saasmetrics"), "--grpc_address=127.0.0.1:0",
                 "--metrics_address=", "--database_url=" + db_.conninfo()}) {
    EXPECT_TRUE(server_.WaitForOutput("health SERVING", absl::Seconds(30))) << server_.Output();
    std::smatch m;
    std::string out = server_.Output();
    std::regex_search(out, m, std::regex("grpc_port=(\\d+)"));
    address_ = "--address=127.0.0.1:" + m[1].str();
    EXPECT_EQ(Run({"tenants", "create", "demo", "--currency=USD"}).first, 0);
  }
  ~SaasctlTest() override {
    server_.Signal(SIGTERM);
    server_.Wait(absl::Seconds(20));
  }

  std::pair<int, std::string> Run(std::vector<std::string> args) {
    args.insert(args.begin(), {BinaryPath("saasctl"), address_});
    Subprocess p(args);
    int code = p.Wait(absl::Seconds(60));
    return {code, p.Output()};
  }

  TestDatabase db_;
  Subprocess server_;
  std::string address_;
};

// Month-end MRR in cents straight from the CSV, for the last day of each month.
std::map<std::string, int64_t> MonthEndMrrFromCsv(int from_year, int to_year) {
  struct Row {
    absl::CivilDay start, end;
    bool ended;
    int64_t cents;
  };
  std::vector<Row> rows;
  std::ifstream in(kDataset);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ',');
    Row r;
    absl::ParseCivilTime(f[2], &r.start);
    r.ended = !f[3].empty();
    if (r.ended) absl::ParseCivilTime(f[3], &r.end);
    client::ParseMinorUnits(f[4], &r.cents);
    rows.push_back(r);
  }
  std::map<std::string, int64_t> out;
  for (absl::CivilMonth m(from_year, 1); m <= absl::CivilMonth(to_year, 12); ++m) {
    const absl::CivilDay last = absl::CivilDay(m + 1) - 1;
    int64_t mrr = 0;
    for (const Row& r : rows) {
      if (r.start <= last && (!r.ended || r.end > last)) mrr += r.cents;
    }
    out[absl::FormatCivilTime(last)] = mrr;
  }
  return out;
}

TEST_F(SaasctlTest, ImportsSubscriptionPeriodsAndReportsTheMrrTheCsvImplies) {
  auto [code, out] = Run({"import", "subscription-periods", kDataset, "--tenant=demo"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("55 customers, 242 subscription events (242 new, 0 already there)"));
  auto [again_code, again] = Run({"import", "subscription-periods", kDataset, "--tenant=demo"});
  EXPECT_EQ(again_code, 0);
  EXPECT_THAT(again, HasSubstr("(0 new, 242 already there)"));

  auto [mrr_code, csv] = Run({"-o", "csv", "metrics", "mrr", "--tenant=demo", "--from=2017-01-01",
                              "--to=2020-12-31", "--interval=month"});
  ASSERT_EQ(mrr_code, 0) << csv;
  const std::map<std::string, int64_t> expected = MonthEndMrrFromCsv(2017, 2020);
  int checked = 0, nonzero = 0;
  for (absl::string_view line : absl::StrSplit(csv, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, ',');
    if (f[0] == "DATE") continue;
    int64_t cents = 0;
    ASSERT_TRUE(client::ParseMinorUnits(f[1], &cents)) << line;
    ASSERT_TRUE(expected.count(f[0])) << f[0];
    EXPECT_EQ(cents, expected.at(f[0])) << "MRR at " << f[0];
    ++checked;
    nonzero += cents > 0;
  }
  EXPECT_EQ(checked, 48);
  EXPECT_GT(nonzero, 20);
}

TEST_F(SaasctlTest, ABadFileNamesItsLineAndColumnAndWritesNothing) {
  char path[] = "/tmp/saasctl-bad-XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  {
    std::ofstream f(path);
    f << "subscription_id,customer_id,start_date,end_date,monthly_amount\n"
      << "1,1,2018-11-01,2019-02-01,50\n"
      << "2,1,2019-04-01,2019-06-01,fifty\n";
  }
  auto [code, out] = Run({"import", "subscription-periods", path, "--tenant=demo"});
  EXPECT_EQ(code, 3) << out;
  EXPECT_THAT(out, HasSubstr(absl::StrCat(path, ":3: column monthly_amount: 'fifty'")));
  EXPECT_EQ(QueryInt(db_.conninfo(), "SELECT count(*) FROM subscription_events"), 0);
  unlink(path);

  auto [missing_code, missing] =
      Run({"metrics", "mrr", "--tenant=ghost", "--from=2019-01-01", "--to=2019-01-31"});
  EXPECT_EQ(missing_code, 4) << missing;
  auto [bad_code, bad] =
      Run({"metrics", "mrr", "--tenant=demo", "--from=2019-02-01", "--to=2019-01-31"});
  EXPECT_EQ(bad_code, 3) << bad;
  EXPECT_THAT(bad, HasSubstr("query.end_date: must not be before start_date"));
}

}  // namespace
}  // namespace saasmetrics::testing
