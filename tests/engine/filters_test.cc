// Selecting customers by filters from interned columns (what the query layer caches)
// equals selecting them from the records, on random ledgers, records and filters.
#include "server/engine/filters.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/engine/icp.h"

namespace saasmetrics::engine {
namespace {

// A column as the query layer makes it: the field's value per ledger customer, "" where
// the customer has no record or no such value; every plan it has for `plan`.
IcpField MakeColumn(const Ledger& ledger, const std::vector<Customer>& records,
                    const std::string& field) {
  IcpField f;
  f.name = field;
  if (field != "plan") {
    for (size_t r = 0; r < records.size(); ++r) {
      if (!ledger.customer_index.contains(records[r].customer_id)) {
        f.unmatched_records.push_back(static_cast<uint32_t>(r));
      }
    }
  }
  for (size_t i = 0; i < ledger.customer_ids.size(); ++i) {
    if (field == "plan") {
      f.Append(ledger.customer_plans[i]);
      continue;
    }
    const Customer* record = nullptr;
    for (const Customer& c : records) {
      if (c.customer_id == ledger.customer_ids[i]) record = &c;
    }
    f.AppendOne(record == nullptr ? absl::string_view() : FieldReader(field)(*record));
  }
  return f;
}

TEST(Filters, SelectingByColumnsEqualsSelectingByRecords) {
  std::mt19937_64 rng(20261202);
  const std::vector<std::string> fields = {"acquisition_channel", "country", "plan",
                                           "attributes.segment"};
  // "(none)" is also a literal value some records have.
  const std::vector<std::string> values = {"a", "b", "c", "(none)", ""};
  int selected = 0, fallbacks = 0;
  for (int round = 0; round < 200; ++round) {
    Ledger ledger;
    std::vector<Customer> records;
    const int n = 1 + static_cast<int>(rng() % 30);
    for (int i = 0; i < n; ++i) {
      const std::string id = absl::StrCat("c", i);
      ledger.CustomerIndex(id);
      std::vector<std::string>& plans = ledger.customer_plans.emplace_back();
      for (int p = static_cast<int>(rng() % 3); p > 0; --p) plans.push_back(values[rng() % 5]);
      if (rng() % 4 == 0) continue;  // no record
      Customer& c = records.emplace_back();
      c.customer_id = id;
      c.acquisition_channel = values[rng() % 5];
      c.country = values[rng() % 5];
      if (rng() % 2 == 0) c.attributes.push_back({"segment", values[rng() % 5]});
    }
    for (int i = static_cast<int>(rng() % 4); i > 0; --i) {  // records of no ledger customer
      Customer& c = records.emplace_back();
      c.customer_id = absl::StrCat("x", i);
      c.acquisition_channel = values[rng() % 5];
      c.country = values[rng() % 5];
    }
    std::vector<CustomerFilter> filters;
    for (int k = 1 + static_cast<int>(rng() % 2); k > 0; --k) {
      CustomerFilter& f = filters.emplace_back();
      f.field = fields[rng() % fields.size()];
      for (int v = 1 + static_cast<int>(rng() % 2); v > 0; --v) {
        f.values.push_back(values[rng() % (round % 2 == 0 ? 3 : 5)]);
      }
    }
    std::vector<IcpField> columns;
    columns.reserve(filters.size());
    std::vector<const IcpField*> pointers;
    for (const CustomerFilter& f : filters) {
      columns.push_back(MakeColumn(ledger, records, f.field));
      pointers.push_back(&columns.back());
    }
    const std::vector<bool> want = SelectCustomers(ledger, records, filters);
    const std::optional<std::vector<bool>> got =
        SelectByColumns(filters, pointers, ledger.customer_ids.size());
    bool ambiguous = false;
    for (const CustomerFilter& f : filters) {
      for (const std::string& v : f.values) ambiguous = ambiguous || v.empty() || v == "(none)";
    }
    if (ambiguous) {  // "" and "(none)" are one interned value: the caller uses the records
      EXPECT_FALSE(got.has_value()) << round;
      ++fallbacks;
      continue;
    }
    ASSERT_TRUE(got.has_value()) << round;
    EXPECT_EQ(*got, want) << round;
    // The ids, with the records outside the ledger known from a column (none can match
    // a plan filter), equal those found by looking every record up.
    const std::vector<uint32_t> none;
    const std::vector<uint32_t>* outside = &columns[0].unmatched_records;
    for (const CustomerFilter& f : filters) {
      if (f.field == "plan") outside = &none;
    }
    EXPECT_EQ(SelectCustomerIds(ledger, records, filters, *got, outside),
              SelectCustomerIds(ledger, records, filters))
        << round;
    for (bool b : want) selected += b ? 1 : 0;
  }
  EXPECT_GT(selected, 100);  // the comparisons selected something
  EXPECT_GT(fallbacks, 20);
}

TEST(Filters, AColumnOfAnotherLedgerIsNotUsed) {
  Ledger ledger;
  ledger.CustomerIndex("c1");
  ledger.customer_plans.push_back({"pro"});
  IcpField column;
  column.name = "plan";  // made for no customer at all
  const std::vector<CustomerFilter> filters = {{.field = "plan", .values = {"pro"}}};
  EXPECT_FALSE(SelectByColumns(filters, {&column}, 1).has_value());
}

}  // namespace
}  // namespace saasmetrics::engine
