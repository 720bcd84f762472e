// saasctl against a real server: importing the public subscription-periods dataset, and
// the MRR the service reports checked month by month against a direct reading of the
// CSV (MRR at a month's end = the amounts of the periods running then).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "client/importers.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_file.h"
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

// The CSV cells of `out` (saasctl -o csv), keyed by the first column, for `column`.
std::map<std::string, std::string> CsvColumn(const std::string& out, const std::string& column) {
  std::map<std::string, std::string> result;
  int index = -1;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, ',');
    if (index < 0) {
      for (size_t i = 0; i < f.size(); ++i) {
        if (f[i] == column) index = static_cast<int>(i);
      }
      continue;
    }
    if (index < static_cast<int>(f.size())) result[f[0]] = f[index];
  }
  return result;
}

TEST_F(SaasctlTest, ImportsSubscriptionPeriodsAndReportsTheMrrTheCsvImplies) {
  auto [code, out] = Run({"import", "subscription-periods", kDataset, "--tenant=demo"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("55 customers, 242 subscription events; 297 items (297 new, 0 "
                             "already there)"));
  auto [again_code, again] = Run({"import", "subscription-periods", kDataset, "--tenant=demo"});
  EXPECT_EQ(again_code, 0);
  EXPECT_THAT(again, HasSubstr("297 items (0 new, 297 already there)"));

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
  TempFile file(".csv",
                "subscription_id,customer_id,start_date,end_date,monthly_amount\n"
                "1,1,2018-11-01,2019-02-01,50\n"
                "2,1,2019-04-01,2019-06-01,fifty\n");
  const std::string& path = file.path();
  auto [code, out] = Run({"import", "subscription-periods", path, "--tenant=demo"});
  EXPECT_EQ(code, 3) << out;
  EXPECT_THAT(out, HasSubstr(absl::StrCat(path, ":3: column monthly_amount: 'fifty'")));
  EXPECT_EQ(QueryInt(db_.conninfo(), "SELECT count(*) FROM customers"), 0);
  EXPECT_EQ(QueryInt(db_.conninfo(), "SELECT count(*) FROM subscription_events"), 0);

  auto [missing_code, missing] =
      Run({"metrics", "mrr", "--tenant=ghost", "--from=2019-01-01", "--to=2019-01-31"});
  EXPECT_EQ(missing_code, 4) << missing;
  auto [bad_code, bad] =
      Run({"metrics", "mrr", "--tenant=demo", "--from=2019-02-01", "--to=2019-01-31"});
  EXPECT_EQ(bad_code, 3) << bad;
  EXPECT_THAT(bad, HasSubstr("query.end_date: must not be before start_date"));
}

const std::string kTelco =
    std::string(SAASMETRICS_SOURCE_DIR) + "/deploy/local/telco_customer_churn.csv";

// What the Telco snapshot implies, read straight from the CSV: the MRR before and after
// the snapshot's month, and that month's churn, overall and for month-to-month contracts.
struct TelcoFigures {
  int64_t mrr_before_cents = 0, mrr_after_cents = 0;
  int64_t at_start = 0, churned = 0, m2m_at_start = 0, m2m_churned = 0;
};

TelcoFigures TelcoFromCsv() {
  TelcoFigures t;
  std::ifstream in(kTelco);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ',');
    int tenure = 0;
    int64_t cents = 0;
    EXPECT_TRUE(absl::SimpleAtoi(f[5], &tenure));
    EXPECT_TRUE(client::ParseMinorUnits(f[18], &cents));
    const bool churned = f[20] == "Yes", m2m = f[15] == "Month-to-month";
    if (tenure >= 1) {
      t.mrr_before_cents += cents;
      ++t.at_start;
      t.m2m_at_start += m2m;
      t.churned += churned;
      t.m2m_churned += m2m && churned;
    }
    if (!churned) t.mrr_after_cents += cents;
  }
  return t;
}

TEST_F(SaasctlTest, ImportsTheTelcoSnapshotAndReportsWhatTheCsvImplies) {
  ASSERT_EQ(Run({"tenants", "create", "telco", "--currency=USD"}).first, 0);
  auto [code, out] = Run({"import", "telco", kTelco, "--tenant=telco", "--snapshot=2024-12-31"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("7043 customers, 8912 subscription events; 15,955 items (15,955 new"));
  auto [again_code, again] = Run({"import", "telco", kTelco, "--tenant=telco"});
  EXPECT_EQ(again_code, 0) << again;
  EXPECT_THAT(again, HasSubstr("(0 new, 15,955 already there)"));

  const TelcoFigures want = TelcoFromCsv();
  ASSERT_EQ(want.churned, 1869);  // the dataset's documented churners, all with tenure >= 1
  auto [mrr_code, mrr] = Run(
      {"-o", "csv", "metrics", "mrr", "--tenant=telco", "--from=2024-11-01", "--to=2024-12-31"});
  ASSERT_EQ(mrr_code, 0) << mrr;
  const auto mrr_by_month = CsvColumn(mrr, "MRR");
  int64_t nov = 0, dec = 0;
  ASSERT_TRUE(client::ParseMinorUnits(mrr_by_month.at("2024-11-30"), &nov)) << mrr;
  ASSERT_TRUE(client::ParseMinorUnits(mrr_by_month.at("2024-12-31"), &dec)) << mrr;
  EXPECT_EQ(nov, want.mrr_before_cents);
  EXPECT_EQ(dec, want.mrr_after_cents);

  auto [churn_code, churn] = Run(
      {"-o", "csv", "metrics", "churn", "--tenant=telco", "--from=2024-12-01", "--to=2024-12-31"});
  ASSERT_EQ(churn_code, 0) << churn;
  EXPECT_EQ(CsvColumn(churn, "AT_START").at("2024-12-31"), absl::StrCat(want.at_start));
  EXPECT_EQ(CsvColumn(churn, "CHURNED").at("2024-12-31"), absl::StrCat(want.churned));
  auto [m2m_code, m2m] =
      Run({"-o", "csv", "metrics", "churn", "--tenant=telco", "--from=2024-12-01",
           "--to=2024-12-31", "--filter=attributes.contract=Month-to-month"});
  ASSERT_EQ(m2m_code, 0) << m2m;
  EXPECT_EQ(CsvColumn(m2m, "AT_START").at("2024-12-31"), absl::StrCat(want.m2m_at_start));
  EXPECT_EQ(CsvColumn(m2m, "CHURNED").at("2024-12-31"), absl::StrCat(want.m2m_churned));
}

TEST_F(SaasctlTest, IngestsCsvAndNdjsonFilesSafelyTwice) {
  TempFile customers(".csv",
                     "customer_id,created_at,acquisition_channel,attributes.segment\n"
                     "c1,2024-01-05,ads,smb\n"
                     "c2,2024-01-20,organic,\"enterprise, EU\"\n");
  TempFile subscriptions(
      ".csv",
      "event_id,subscription_id,customer_id,effective_at,status,plan_id,quantity,unit_amount,"
      "currency,interval_unit,interval_count\n"
      "s1,sub1,c1,2024-01-05,active,pro,2,4900,USD,month,1\n"
      "s2,sub2,c2,2024-01-20,active,team,1,120000,USD,year,1\n"
      "s3,sub1,c1,2024-03-01,canceled,pro,2,4900,USD,month,1\n");
  TempFile usage(
      ".ndjson",
      R"({"id":"u1","source":"app","type":"login","subject":"c1","time":"2024-02-03T10:00:00Z"})"
      "\n"
      R"({"id":"u2","source":"app","type":"login","subject":"c2","time":"2024-02-04T10:00:00Z"})"
      "\n"
      R"({"id":"u3","source":"app","type":"export","subject":"c2","time":"2024-02-05T10:00:00Z","value":3})"
      "\n");
  for (int run = 0; run < 2; ++run) {
    auto [c, cout] = Run({"ingest", "customers", customers.path(), "--tenant=demo"});
    ASSERT_EQ(c, 0) << cout;
    auto [s, sout] = Run({"ingest", "subscription-events", subscriptions.path(), "--tenant=demo"});
    ASSERT_EQ(s, 0) << sout;
    EXPECT_THAT(sout, HasSubstr(run == 0 ? "3 items (3 new, 0 already there)"
                                         : "3 items (0 new, 3 already there)"));
    auto [u, uout] = Run({"ingest", "usage-events", usage.path(), "--tenant=demo", "--batch=2"});
    ASSERT_EQ(u, 0) << uout;
    EXPECT_THAT(uout, HasSubstr(run == 0 ? "3 items (3 new, 0 already there)"
                                         : "3 items (0 new, 3 already there)"));
  }
  EXPECT_EQ(QueryInt(db_.conninfo(), "SELECT count(*) FROM usage_events"), 3);
  EXPECT_EQ(QueryInt(db_.conninfo(),
                     "SELECT count(*) FROM customers WHERE attributes->>'segment' = "
                     "'enterprise, EU'"),
            1);
  // MRR at the end of February: 2 x 49.00 monthly + 1200.00 / 12 yearly.
  auto [mrr_code, mrr] =
      Run({"-o", "csv", "metrics", "mrr", "--tenant=demo", "--from=2024-02-01", "--to=2024-03-31"});
  ASSERT_EQ(mrr_code, 0) << mrr;
  EXPECT_EQ(CsvColumn(mrr, "MRR").at("2024-02-29"), "198.00");
  EXPECT_EQ(CsvColumn(mrr, "MRR").at("2024-03-31"), "100.00");
  auto [active_code, active] = Run(
      {"-o", "csv", "metrics", "active", "--tenant=demo", "--from=2024-02-01", "--to=2024-02-29"});
  ASSERT_EQ(active_code, 0) << active;
  EXPECT_EQ(CsvColumn(active, "ACTIVE_CUSTOMERS").at("2024-02-29"), "2");
  auto [login_code, login] = Run({"-o", "csv", "metrics", "active", "--tenant=demo",
                                  "--from=2024-02-01", "--to=2024-02-29", "--event_type=export"});
  ASSERT_EQ(login_code, 0) << login;
  EXPECT_EQ(CsvColumn(login, "ACTIVE_CUSTOMERS").at("2024-02-29"), "1");
}

TEST_F(SaasctlTest, ABadRecordStopsTheIngestWithItsLineAndColumnAndItsBatchUnwritten) {
  // Batches of two: lines 2-3 go through; line 5 is bad, so lines 4-5 are never sent.
  TempFile file(".csv",
                "id,source,type,subject,time,value\n"
                "e1,app,login,c1,2024-02-01,\n"
                "e2,app,login,c1,2024-02-02,\n"
                "e3,app,login,c1,2024-02-03,\n"
                "e4,app,login,c1,2024-02-04,plenty\n"
                "e5,app,login,c1,2024-02-05,\n");
  auto [code, out] = Run({"ingest", "usage-events", file.path(), "--tenant=demo", "--batch=2"});
  EXPECT_EQ(code, 3) << out;
  EXPECT_THAT(out,
              HasSubstr(absl::StrCat(file.path(), ":5:6: column value: 'plenty' is not a number")));
  EXPECT_THAT(out, HasSubstr("stopped after 2 items (2 new"));
  EXPECT_EQ(QueryInt(db_.conninfo(), "SELECT count(*) FROM usage_events"), 2);

  // What the server rejects is traced back to the file too: line 3, column 4 (subject).
  TempFile rejected(".csv",
                    "id,source,type,subject,time\n"
                    "r1,app,login,c1,2024-02-01\n"
                    "r2,app,login,,2024-02-01\n");
  auto [rcode, rout] = Run({"ingest", "usage-events", rejected.path(), "--tenant=demo"});
  EXPECT_EQ(rcode, 3) << rout;
  EXPECT_THAT(rout, HasSubstr(absl::StrCat(rejected.path(), ":3:4: field subject: ")));
  EXPECT_EQ(QueryInt(db_.conninfo(), "SELECT count(*) FROM usage_events WHERE event_id LIKE 'r%'"),
            0);

  auto [gone_code, gone] = Run({"ingest", "usage-events", "/nonexistent.csv", "--tenant=demo"});
  EXPECT_EQ(gone_code, 4) << gone;
  EXPECT_THAT(gone, HasSubstr("/nonexistent.csv: cannot open"));
  TempFile good(".csv", "id,source,type,subject,time\ng1,app,login,c1,2024-02-01\n");
  auto [down_code, down] =
      Run({"--address=127.0.0.1:1", "ingest", "usage-events", good.path(), "--tenant=demo"});
  EXPECT_EQ(down_code, 5) << down;
  EXPECT_THAT(down, HasSubstr("server at 127.0.0.1:1 unavailable"));
}

TEST_F(SaasctlTest, GeneratesDemoDataAndEveryMetricCommandAnswers) {
  // Customers in DE billed in EUR and in GB in GBP, with rates: every metric below then
  // converts.
  auto [code, out] = Run({"generate", "--tenant=demo", "--customers=300", "--months=12",
                          "--first_month=2023-01", "--usage=20000", "--local_currencies"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("generated for demo (seed 1): 300 customers"));
  auto [again_code, again] = Run({"generate", "--tenant=demo", "--customers=300", "--months=12",
                                  "--first_month=2023-01", "--usage=20000", "--local_currencies"});
  ASSERT_EQ(again_code, 0) << again;
  EXPECT_THAT(again, HasSubstr("(0 new, 20,000 already there)"));
  EXPECT_EQ(QueryInt(db_.conninfo(), "SELECT count(*) FROM usage_events"), 20000);
  EXPECT_EQ(QueryInt(db_.conninfo(), "SELECT count(DISTINCT currency) FROM subscription_events"),
            3);
  EXPECT_EQ(QueryInt(db_.conninfo(), "SELECT count(*) FROM exchange_rates"),
            2 * ((absl::CivilDay(2024, 1, 1) - absl::CivilDay(2022, 12, 1) + 6) / 7));

  TempFile rule(".json", R"({"rule_id":"engaged","name":"Engaged","window_days":30,
    "conditions":[{"kind":"KIND_EVENT_COUNT","event_type":"login","threshold":3}]})");
  auto [rule_code, rule_out] = Run({"pql-rules", "create", "--tenant=demo", rule.path()});
  ASSERT_EQ(rule_code, 0) << rule_out;
  TempFile model(".json", R"({"model_id":"health","window_days":30,"components":[
    {"name":"logins","event_types":["login"],"aggregation":"AGGREGATION_ACTIVE_DAYS","target":8,"weight":2},
    {"name":"reports","event_types":["report.created"],"aggregation":"AGGREGATION_COUNT","target":5,"weight":1}]})");
  auto [model_code, model_out] =
      Run({"engagement-models", "create", "--tenant=demo", model.path()});
  ASSERT_EQ(model_code, 0) << model_out;
  auto [models_code, models_out] = Run({"engagement-models", "list", "--tenant=demo"});
  EXPECT_THAT(models_out, HasSubstr("health"));
  EXPECT_THAT(models_out, HasSubstr("logins, reports"));
  const std::vector<std::string> range = {"--tenant=demo", "--from=2023-01-01", "--to=2023-12-31"};
  const std::vector<std::vector<std::string>> commands = {
      {"mrr"},
      {"churn", "--interval=quarter"},
      {"churn", "--interval=quarter", "--group_by=plan"},
      {"unit-economics"},
      {"cohorts", "--group_by=acquisition_channel"},
      {"active", "--interval=week"},
      {"pql", "--rule=engaged"},
      {"activation", "--event_type=report.created"},
      {"movements", "--type=expansion"},
      {"engagement", "--model=health"},
      {"engagement-scores", "--model=health", "--min_score=1"},
      {"health"},
      {"health-customers", "--group=at_risk", "--order=score_asc"},
      {"nps", "--interval=quarter"},
      {"icp", "--field=acquisition_channel", "--field=attributes.segment", "--min_count=1"},
      {"nps", "--interval=quarter", "--group_by=health"},
      {"renewals", "--interval=quarter"},
      {"mrr-by-cohort", "--interval=quarter"},
      {"renewals", "--min_term=1m", "--filter=acquisition_channel=ads"},
      {"survival", "--group_by=acquisition_channel", "--cox_field=acquisition_channel"},
      {"retention-drivers", "--window_days=30"},
  };
  for (const auto& command : commands) {
    std::vector<std::string> args = {"metrics"};
    args.insert(args.end(), command.begin(), command.end());
    args.insert(args.end(), range.begin(), range.end());
    auto [table_code, table] = Run(args);
    EXPECT_EQ(table_code, 0) << command[0] << ": " << table;
    EXPECT_GT(std::count(table.begin(), table.end(), '\n'), 2) << command[0] << ": " << table;
    args.insert(args.begin(), {"-o", "json"});
    auto [json_code, json] = Run(args);
    EXPECT_EQ(json_code, 0) << command[0];
    EXPECT_EQ(json.substr(0, 1), "{") << command[0] << ": " << json;
  }
  // Money columns name the reporting currency; --by_currency adds MRR per billing currency.
  auto [fx_code, fx] = Run(
      {"metrics", "mrr", "--tenant=demo", "--from=2023-11-01", "--to=2023-12-31", "--by_currency"});
  ASSERT_EQ(fx_code, 0) << fx;
  EXPECT_THAT(fx, HasSubstr("MRR_USD"));
  EXPECT_THAT(fx, HasSubstr("IN_EUR"));
  EXPECT_THAT(fx, HasSubstr("IN_GBP"));
  EXPECT_THAT(fx, HasSubstr("IN_USD"));
  // Survival by channel: a curve per channel, the log-rank test, the Cox table.
  auto [km_code, km] =
      Run({"metrics", "survival", "--tenant=demo", "--from=2023-01-01", "--to=2023-12-31",
           "--group_by=acquisition_channel", "--cox", "--cox_field=acquisition_channel"});
  ASSERT_EQ(km_code, 0) << km;
  EXPECT_THAT(km, HasSubstr("MEDIAN_DAYS"));
  EXPECT_THAT(km, HasSubstr("log-rank: chi2"));
  EXPECT_THAT(km, HasSubstr("HAZARD_RATIO"));
  EXPECT_THAT(km, HasSubstr("first_mrr"));
  auto [km_csv_code, km_csv] = Run({"-o", "csv", "metrics", "survival", "--tenant=demo",
                                    "--from=2023-01-01", "--to=2023-12-31"});
  ASSERT_EQ(km_csv_code, 0) << km_csv;
  EXPECT_EQ(km_csv.substr(0, km_csv.find('\n')), "GROUP,DAY,SURVIVAL,LOWER,UPPER,AT_RISK,CHURNED");
  // Health transitions over one month (the listing takes at most 92 days): each row a move.
  auto [moves_code, moves] = Run({"metrics", "health-transitions", "--tenant=demo",
                                  "--from=2023-12-01", "--to=2023-12-31", "--group=at_risk"});
  EXPECT_EQ(moves_code, 0) << moves;
  EXPECT_THAT(moves, HasSubstr("at_risk"));
  auto [long_code, long_out] = Run(
      {"metrics", "health-transitions", "--tenant=demo", "--from=2023-01-01", "--to=2023-12-31"});
  EXPECT_NE(long_code, 0);
  EXPECT_THAT(long_out, HasSubstr("query.end_date"));
  // Survey responses from a CSV, next to the generated ones; a re-run stores nothing new.
  const int64_t generated = QueryInt(db_.conninfo(), "SELECT count(*) FROM survey_responses");
  EXPECT_GT(generated, 50);
  TempFile answers(".csv",
                   "id,customer_id,user_id,score,time,comment,channel\n"
                   "csv1,cus_0000001,,10,2023-06-01,\"Great, really\",email\n"
                   "csv2,cus_0000002,u7,3,2023-06-02T10:00:00Z,,in-app\n");
  for (int round = 0; round < 2; ++round) {
    auto [nps_code, nps_out] = Run({"ingest", "survey-responses", answers.path(), "--tenant=demo"});
    ASSERT_EQ(nps_code, 0) << nps_out;
  }
  EXPECT_EQ(QueryInt(db_.conninfo(), "SELECT count(*) FROM survey_responses"), generated + 2);
  EXPECT_EQ(QueryInt(db_.conninfo(),
                     "SELECT count(*) FROM survey_responses WHERE comment = 'Great, really'"),
            1);
  // Exchange rates from a CSV (METRICS.md "Currencies"); a re-run stores nothing new, and a
  // bad rate stops the run naming its line.
  TempFile rates(".csv",
                 "date,currency,rate\n"
                 "2023-01-01,CHF,1.1733\n"
                 "2023-06-01,CHF,1.17\n"
                 "2023-01-01,JPY,0.0061\n");
  const int64_t generated_rates = QueryInt(db_.conninfo(), "SELECT count(*) FROM exchange_rates");
  for (int round = 0; round < 2; ++round) {
    auto [rates_code, rates_out] = Run({"ingest", "exchange-rates", rates.path(), "--tenant=demo"});
    ASSERT_EQ(rates_code, 0) << rates_out;
  }
  EXPECT_EQ(QueryInt(db_.conninfo(), "SELECT count(*) FROM exchange_rates"), generated_rates + 3);
  TempFile bad_rates(".csv", "date,currency,rate\n2023-01-01,GBP,1.17\n2023-02-01,GBP,1e3\n");
  auto [bad_rates_code, bad_rates_out] =
      Run({"ingest", "exchange-rates", bad_rates.path(), "--tenant=demo"});
  EXPECT_NE(bad_rates_code, 0);
  EXPECT_THAT(bad_rates_out, HasSubstr(":3"));
  EXPECT_THAT(bad_rates_out, HasSubstr("rate"));
  // A customer's profile, as a table and as the API's JSON.
  auto [profile_code, profile] =
      Run({"customer", "cus_0000001", "--tenant=demo", "--date=2023-12-31"});
  ASSERT_EQ(profile_code, 0) << profile;
  EXPECT_THAT(profile, ::testing::ContainsRegex("customer +cus_0000001"));
  EXPECT_THAT(profile, HasSubstr("SUBSCRIPTION"));
  auto [json_profile_code, json_profile] =
      Run({"-o", "json", "customer", "cus_0000001", "--tenant=demo", "--date=2023-12-31"});
  ASSERT_EQ(json_profile_code, 0) << json_profile;
  EXPECT_THAT(json_profile, HasSubstr("\"customer_id\": \"cus_0000001\""));
  auto [missing_code, missing] = Run({"customer", "nobody", "--tenant=demo"});
  EXPECT_EQ(missing_code, 4) << missing;
  // The health policy: the flags given change it, the rest stays; a bad one is refused.
  auto [policy_code, policy] =
      Run({"-o", "json", "tenants", "update", "demo", "--power_at_least=60", "--inactive_days=7"});
  ASSERT_EQ(policy_code, 0) << policy;
  EXPECT_THAT(policy, HasSubstr("\"inactive_days\": 7"));
  EXPECT_THAT(policy, HasSubstr("\"lost_window_days\": 90"));
  auto [bad_code, bad] = Run({"tenants", "update", "demo", "--at_risk_below=90"});
  EXPECT_EQ(bad_code, 3) << bad;
  EXPECT_THAT(bad, HasSubstr("tenant.health_policy.at_risk_below"));
  auto [lost_code, lost] = Run({"-o", "csv", "metrics", "health-customers", "--group=lost",
                                "--tenant=demo", "--to=2023-12-31"});
  ASSERT_EQ(lost_code, 0) << lost;
  for (absl::string_view line : absl::StrSplit(lost, '\n', absl::SkipEmpty())) {
    if (!absl::StartsWith(line, "CUSTOMER")) {
      EXPECT_THAT(std::string(line),
                  ::testing::MatchesRegex(".*,lost,0.00,-,.*,2023-..-..,churned"));
    }
  }
  auto [mv_code, mv] = Run({"-o", "csv", "metrics", "movements", "--type=expansion",
                            "--tenant=demo", "--from=2023-01-01", "--to=2023-12-31"});
  ASSERT_EQ(mv_code, 0);
  for (absl::string_view line : absl::StrSplit(mv, '\n', absl::SkipEmpty())) {
    if (!absl::StartsWith(line, "DATE")) {
      EXPECT_THAT(std::string(line), HasSubstr(",expansion,"));
    }
  }
}

// `saasctl health watch`: each ended day as it comes (a day without moves says so), stops
// after --until; left running, it prints a revision when a late event changes a day shown.
TEST_F(SaasctlTest, HealthWatchPrintsEachEndedDayAndRevisions) {
  const absl::CivilDay today = absl::ToCivilDay(absl::Now(), absl::UTCTimeZone());
  auto iso = [](absl::CivilDay d) { return absl::FormatCivilTime(d); };
  const absl::CivilDay d = today - 4;
  TempFile subscriptions(
      ".csv",
      "event_id,subscription_id,customer_id,effective_at,status,plan_id,quantity,unit_amount,"
      "currency,interval_unit,interval_count\n"
      "w1,sub1,c1," +
          iso(d) +
          ",active,pro,1,4900,USD,month,1\n"
          "w2,sub2,c2," +
          iso(d + 1) + ",active,pro,1,9900,USD,month,1\n");
  TempFile usage(".csv", "id,source,type,subject,time\nwu1,app,login,c2," + iso(d + 1) + "\n");
  ASSERT_EQ(Run({"ingest", "subscription-events", subscriptions.path(), "--tenant=demo"}).first, 0);
  ASSERT_EQ(Run({"ingest", "usage-events", usage.path(), "--tenant=demo"}).first, 0);
  auto [code, out] = Run(
      {"health", "watch", "--tenant=demo", "--from=" + iso(d - 1), "--until=" + iso(today - 1)});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr(iso(d - 1) + "  no moves"));
  EXPECT_THAT(out, HasSubstr(iso(d) + "  1 move\n  c1  none -> at_risk  49.00"));
  EXPECT_THAT(out, HasSubstr(iso(d + 1) + "  1 move\n  c2  none -> normal  99.00"));
  EXPECT_THAT(out, HasSubstr(iso(today - 1) + "  no moves"));
  auto [json_code, json] = Run(
      {"-o", "json", "health", "watch", "--tenant=demo", "--from=" + iso(d), "--until=" + iso(d)});
  ASSERT_EQ(json_code, 0) << json;
  EXPECT_THAT(json, HasSubstr(R"({"date":")" + iso(d) + R"(","transitions":[{"date":")"));
  EXPECT_THAT(json, HasSubstr(R"("fingerprint":")"));
  // Left running: a late cancellation of c2 two days ago is a revision of that day.
  Subprocess watch(
      {BinaryPath("saasctl"), address_, "health", "watch", "--tenant=demo", "--from=" + iso(d)});
  ASSERT_TRUE(watch.WaitForOutput(iso(today - 1) + "  no moves", absl::Seconds(20)))
      << watch.Output();
  TempFile cancel(".csv",
                  "event_id,subscription_id,customer_id,effective_at,status,plan_id,quantity,"
                  "unit_amount,currency,interval_unit,interval_count\n"
                  "w3,sub2,c2," +
                      iso(today - 2) + ",canceled,pro,1,9900,USD,month,1\n");
  ASSERT_EQ(Run({"ingest", "subscription-events", cancel.path(), "--tenant=demo"}).first, 0);
  EXPECT_TRUE(watch.WaitForOutput(iso(today - 2) + "  revised: 1 move\n  c2  normal -> lost",
                                  absl::Seconds(20)))
      << watch.Output();
  watch.Signal(SIGTERM);
  watch.Wait(absl::Seconds(5));
  // A bad request is refused with the field named.
  auto [bad_code, bad] = Run({"health", "watch", "--tenant=demo", "--from=2020-01-01"});
  EXPECT_NE(bad_code, 0);
  EXPECT_THAT(bad, HasSubstr("query.start_date"));
}

TEST_F(SaasctlTest, LoadReportsThroughputAndLatencyPercentiles) {
  ASSERT_EQ(Run({"generate", "--tenant=demo", "--customers=50", "--usage=1000"}).first, 0);
  auto [code, out] = Run({"load", "--tenant=demo", "--clients=3", "--duration=2s"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("load on demo: 3 clients"));
  for (const char* op : {"ingest usage", "GetMrr", "GetChurn", "GetActiveCustomers"}) {
    EXPECT_THAT(out, HasSubstr(op)) << out;
  }
  EXPECT_THAT(out, HasSubstr("P99_MS"));
  EXPECT_THAT(out, ::testing::ContainsRegex("total: [0-9,]+ calls, [0-9.]+ calls/s, 0 errors"));
  EXPECT_GT(
      QueryInt(db_.conninfo(), "SELECT count(*) FROM usage_events WHERE source = 'saasctl-load'"),
      0);
}

}  // namespace
}  // namespace saasmetrics::testing
