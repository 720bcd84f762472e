// client::RecordReader: CSV and NDJSON files into ingest items, and errors that point at
// the line and column, leaving the batch untouched.
#include "client/records.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "client/importers.h"
#include "tests/support/temp_file.h"

namespace saasmetrics::client {
namespace {

using ::saasmetrics::testing::TempFile;

using ::testing::HasSubstr;

// Every record of the file, or the first error.
absl::StatusOr<v1::IngestBatch> ReadAll(const TempFile& f, RecordKind kind) {
  auto format = FormatFromFileName(f.path());
  if (!format.ok()) return format.status();
  auto reader = RecordReader::Open(f.path(), *format, kind);
  if (!reader.ok()) return reader.status();
  v1::IngestBatch batch;
  for (;;) {
    absl::StatusOr<bool> more = (*reader)->Next(&batch);
    if (!more.ok()) return more.status();
    if (!*more) return batch;
  }
}

TEST(RecordReader, ReadsUsageEventsFromCsvWithQuotesPropertiesAndDates) {
  TempFile f(".csv",
             "\xEF\xBB\xBFid,source,type,subject,time,value,properties.plan,properties.note\r\n"
             "e1,web,login,cus_1,2024-03-01,,pro,\"hello, world\"\r\n"
             "\n"
             "e2,web,report.created,cus_2,2024-03-02T10:30:00Z,2.5,,\"say \"\"hi\"\"\"\r\n");
  auto batch = ReadAll(f, RecordKind::kUsageEvents);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->usage_events().events_size(), 2);
  const v1::UsageEvent& a = batch->usage_events().events(0);
  EXPECT_EQ(a.id(), "e1");
  EXPECT_EQ(a.time().seconds(), 1709251200);  // 2024-03-01T00:00:00Z
  EXPECT_FALSE(a.has_value());
  EXPECT_EQ(a.properties().at("plan"), "pro");
  EXPECT_EQ(a.properties().at("note"), "hello, world");
  const v1::UsageEvent& b = batch->usage_events().events(1);
  EXPECT_EQ(b.time().seconds(), 1709375400);
  EXPECT_DOUBLE_EQ(b.value().value(), 2.5);
  EXPECT_EQ(b.properties().count("plan"), 0u);
  EXPECT_EQ(b.properties().at("note"), "say \"hi\"");
}

TEST(RecordReader, TakesShortEnumNamesAndNestedColumnsForSubscriptionEvents) {
  TempFile f(".csv",
             "event_id,subscription_id,customer_id,effective_at,status,plan_id,quantity,"
             "unit_amount,currency,interval_unit,interval_count,discount.percent_off_bps\n"
             "s1,sub_1,cus_1,2024-01-15,active,pro,3,4900,USD,month,1,1000\n"
             "s2,sub_1,cus_1,2024-05-01,SUBSCRIPTION_STATUS_CANCELED,pro,3,4900,USD,year,1,\n");
  auto batch = ReadAll(f, RecordKind::kSubscriptionEvents);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->subscription_events().events_size(), 2);
  const v1::SubscriptionEvent& a = batch->subscription_events().events(0);
  EXPECT_EQ(a.status(), v1::SUBSCRIPTION_STATUS_ACTIVE);
  EXPECT_EQ(a.interval_unit(), v1::INTERVAL_UNIT_MONTH);
  EXPECT_EQ(a.quantity(), 3);
  EXPECT_EQ(a.unit_amount(), 4900);
  EXPECT_EQ(a.discount().percent_off_bps(), 1000);
  EXPECT_EQ(batch->subscription_events().events(1).status(), v1::SUBSCRIPTION_STATUS_CANCELED);
  EXPECT_EQ(batch->subscription_events().events(1).interval_unit(), v1::INTERVAL_UNIT_YEAR);
}

TEST(RecordReader, ReadsNdjsonInTheApisJsonMapping) {
  TempFile f(
      ".ndjson",
      R"({"customer_id":"c1","created_at":"2024-01-01T00:00:00Z","acquisition_channel":"ads","attributes":{"plan":"pro"}})"
      "\n\n"
      R"({"customerId":"c2","country":"DE"})"
      "\n");
  auto batch = ReadAll(f, RecordKind::kCustomers);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->customers().customers_size(), 2);
  EXPECT_EQ(batch->customers().customers(0).attributes().at("plan"), "pro");
  EXPECT_EQ(batch->customers().customers(1).customer_id(), "c2");
}

struct BadCase {
  std::string suffix, body, want;
};

TEST(RecordReader, ABadRecordNamesItsLineAndColumnAndAppendsNothing) {
  const BadCase cases[] = {
      {".csv", "id,source,tipe\n", ":1:3: unknown column 'tipe' for usage-events; columns: id, "},
      {".csv", "id,source,id\n", ":1:3: column 'id' repeats"},
      {".csv",
       "id,source,type,subject,time,value\ne1,web,login,c1,2024-01-01,1\n"
       "e2,web,login,c2,2024-01-01,lots\n",
       ":3:6: column value: 'lots' is not a number"},
      {".csv", "id,source,type,subject,time\ne1,web,login,c1,2024-13-01\n",
       ":2:5: column time: '2024-13-01' is not a time"},
      {".csv", "id,source,type\ne1,web\n", ":2:3: expected 3 cells as in the header, got 2"},
      {".csv", "id,source,type\ne1,\"web,login\n", ":2:2: the quote at character 4 is not closed"},
      {".ndjson", "{\"id\":\"e1\"}\n{\"id\":\"e2\" \"source\":\"x\"}\n",
       ":2:12: not a JSON object: Expected , or } after key:value pair."},
      {".ndjson", "{\"id\":\"e1\", \"value\": \"much\"}\n", ":1:13: field value: "},
      {".ndjson", "{\"id\":\"e1\", \"subjekt\": \"c1\"}\n",
       ":1:13: field subjekt: unknown for usage-events; fields: id, source"},
  };
  for (const BadCase& c : cases) {
    TempFile f(c.suffix, c.body);
    auto reader =
        RecordReader::Open(f.path(), *FormatFromFileName(f.path()), RecordKind::kUsageEvents);
    ASSERT_TRUE(reader.ok());
    v1::IngestBatch batch;
    absl::StatusOr<bool> more;
    int read = 0;
    while ((more = (*reader)->Next(&batch)).ok() && *more) ++read;
    ASSERT_FALSE(more.ok()) << c.body;
    EXPECT_EQ(more.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(more.status().message()), HasSubstr(f.path() + c.want)) << c.body;
    EXPECT_EQ(BatchSize(batch), read) << "the bad record was appended: " << c.body;
  }
}

// CSV cells go straight into their fields (no JSON in between): each type's rules, and a
// bad cell named by line, column and what it should have been.
TEST(RecordReader, CsvCellsAreCheckedByTheirFieldsType) {
  const std::string header =
      "event_id,subscription_id,customer_id,effective_at,status,plan_id,quantity,unit_amount,"
      "currency,interval_unit,interval_count,discount.percent_off_bps,discount.amount_off\n";
  TempFile good(".csv", header +
                            "s1,sub,cus,2024-01-15T10:00:00.25+02:00,Past_Due,pro,-3,"
                            "4900,USD,WEEK,2,,250\n");
  auto batch = ReadAll(good, RecordKind::kSubscriptionEvents);
  ASSERT_TRUE(batch.ok()) << batch.status();
  const v1::SubscriptionEvent& e = batch->subscription_events().events(0);
  EXPECT_EQ(e.effective_at().seconds(), 1705305600);  // 08:00 UTC
  EXPECT_EQ(e.effective_at().nanos(), 250000000);
  EXPECT_EQ(e.status(), v1::SUBSCRIPTION_STATUS_PAST_DUE);
  EXPECT_EQ(e.quantity(), -3);  // the server, not the reader, bounds it
  EXPECT_EQ(e.interval_unit(), v1::INTERVAL_UNIT_WEEK);
  EXPECT_EQ(e.discount().amount_off(), 250);
  EXPECT_FALSE(e.discount().has_percent_off_bps());

  const std::pair<std::string, std::string> bad[] = {
      {"s1,sub,cus,2024-01-15,active,pro,1.5,4900,USD,month,1,,",
       ":2:7: column quantity: '1.5' is not a whole number in range"},
      {"s1,sub,cus,2024-01-15,active,pro,1, 4900,USD,month,1,,",
       ":2:8: column unit_amount: ' 4900' is not a whole number"},
      {"s1,sub,cus,2024-01-15,active,pro,1,4900,USD,month,99999999999,,",
       ":2:11: column interval_count: '99999999999' is not a whole number in range"},
      {"s1,sub,cus,2024-01-15,frozen,pro,1,4900,USD,month,1,,",
       ":2:5: column status: 'frozen' is not one of active, past_due, trialing, paused, canceled"},
      {"s1,sub,cus,10000-01-01T00:00:00Z,active,pro,1,4900,USD,month,1,,",
       ":2:4: column effective_at: '10000-01-01T00:00:00Z' is not a time"},
      {"s1,sub,cus,2024-02-30,active,pro,1,4900,USD,month,1,,", ":2:4: column effective_at"},
      {"s1,sub,cus,2024-01-15,active,pro,1,4900,USD,month,1,100,250",
       ":2:13: column discount.amount_off: only one of the discount.kind fields may be set, and "
       "discount.percent_off_bps is"},
      {"s1,sub,c\xff,2024-01-15,active,pro,1,4900,USD,month,1,,",
       ":2:3: column customer_id: 'c\xff' is not valid UTF-8 text"},
  };
  for (const auto& [line, want] : bad) {
    TempFile f(".csv", header + line + "\n");
    auto read = ReadAll(f, RecordKind::kSubscriptionEvents);
    ASSERT_FALSE(read.ok()) << line;
    EXPECT_THAT(std::string(read.status().message()), HasSubstr(f.path() + want)) << line;
  }
  for (const char* value : {"NaN", "inf", "1e999", "0x10"}) {
    TempFile f(".csv", absl::StrCat("id,source,type,subject,time,value\ne1,s,t,c,2024-01-01,",
                                    value, "\n"));
    auto read = ReadAll(f, RecordKind::kUsageEvents);
    EXPECT_THAT(std::string(read.status().message()),
                HasSubstr(absl::StrCat(":2:6: column value: '", value, "' is not a number")));
  }
}

// Reading and parsing in two steps, as saasctl does on several threads: a chunk with a bad
// record appends nothing, and what earlier chunks appended stays.
TEST(RecordReader, AChunkWithABadRecordAppendsNothing) {
  TempFile f(".csv",
             "id,source,type,subject,time\n"
             "e1,s,t,c,2024-01-01\ne2,s,t,c,2024-01-02\n"
             "e3,s,t,c,2024-01-03\ne4,s,t,c,yesterday\n");
  auto reader = RecordReader::Open(f.path(), FileFormat::kCsv, RecordKind::kUsageEvents);
  ASSERT_TRUE(reader.ok());
  RecordChunk first, second, none;
  ASSERT_TRUE(*(*reader)->ReadChunk(2, &first));
  ASSERT_TRUE(*(*reader)->ReadChunk(2, &second));
  EXPECT_FALSE(*(*reader)->ReadChunk(2, &none));
  EXPECT_EQ(second.lines, (std::vector<int>{4, 5}));
  v1::IngestBatch batch;
  ASSERT_TRUE((*reader)->ParseChunk(first, &batch).ok());
  absl::Status s = (*reader)->ParseChunk(second, &batch);
  EXPECT_THAT(std::string(s.message()), HasSubstr(":5:5: column time: 'yesterday' is not a time"));
  ASSERT_EQ(BatchSize(batch), 2);
  EXPECT_EQ(batch.usage_events().events(1).id(), "e2");
}

TEST(RecordReader, NamesAMissingFileAndAnUnknownFormat) {
  auto missing = RecordReader::Open("/nonexistent/x.csv", FileFormat::kCsv, RecordKind::kCustomers);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("/nonexistent/x.csv: cannot open: No such file"));
  EXPECT_THAT(std::string(FormatFromFileName("data.txt").status().message()),
              HasSubstr("pass --format=csv|ndjson"));
  EXPECT_FALSE(ParseRecordKind("events").ok());
  EXPECT_EQ(*ParseRecordKind("spend"), RecordKind::kAcquisitionSpend);
}

}  // namespace
}  // namespace saasmetrics::client

namespace saasmetrics::client {
namespace {

// The dataset importers read CSV with the same reader as `saasctl ingest`: a quoted cell
// may hold a comma, and an unterminated quote names its line and column.
TEST(Importers, QuotedCellsAreOneCellAndAnOpenQuoteIsNamed) {
  testing::TempFile good(".csv",
                         "subscription_id,customer_id,start_date,end_date,monthly_amount\n"
                         "s1,\"acme, inc.\",2024-01-01,,49.99\n");
  absl::StatusOr<Import> imported = ImportSubscriptionPeriods(good.path(), "USD");
  ASSERT_TRUE(imported.ok()) << imported.status();
  ASSERT_EQ(imported->customers.size(), 1u);
  EXPECT_EQ(imported->customers[0].customer_id(), "acme, inc.");
  ASSERT_EQ(imported->events.size(), 1u);
  EXPECT_EQ(imported->events[0].unit_amount(), 4999);

  testing::TempFile bad(".csv",
                        "subscription_id,customer_id,start_date,end_date,monthly_amount\n"
                        "s1,\"acme,2024-01-01,,49.99\n");
  absl::StatusOr<Import> refused = ImportSubscriptionPeriods(bad.path(), "USD");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr(absl::StrCat(bad.path(), ":2: column 2: the quote")));
}

}  // namespace
}  // namespace saasmetrics::client
