// Customer filters of metric queries: "field=value[,value...]" restricts the customer
// set before anything is computed, so every invariant holds within a filtered view.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "server/engine/events.h"
#include "server/engine/ledger.h"

namespace saasmetrics::engine {

struct CustomerFilter {
  std::string field;                // acquisition_channel, country, plan, or attributes.<key>
  std::vector<std::string> values;  // any of them matches
};

// Empty string on success, else what is wrong with `text`.
std::string ParseFilter(absl::string_view text, CustomerFilter* out);

// include[c] for each dense customer of `ledger`: it matches every filter (values of one
// field OR-ed, fields AND-ed). `plan` matches customers with any subscription event on
// one of the plans; other fields come from `customers` (a customer never upserted has
// empty fields).
std::vector<bool> SelectCustomers(const Ledger& ledger, const std::vector<Customer>& customers,
                                  const std::vector<CustomerFilter>& filters);

// The external ids of every customer (in `ledger` or `customers`) matching `filters`, by
// the same rules as SelectCustomers.
absl::flat_hash_set<std::string> SelectCustomerIds(const Ledger& ledger,
                                                   const std::vector<Customer>& customers,
                                                   const std::vector<CustomerFilter>& filters);
// The same, with the ledger's customers already selected (`in_ledger`, SelectCustomers')
// and, when known, the positions in `customers` of the records outside the ledger
// (`outside`; null: each record is looked up in the ledger).
absl::flat_hash_set<std::string> SelectCustomerIds(const Ledger& ledger,
                                                   const std::vector<Customer>& customers,
                                                   const std::vector<CustomerFilter>& filters,
                                                   const std::vector<bool>& in_ledger,
                                                   const std::vector<uint32_t>* outside = nullptr);

struct IcpField;

// SelectCustomers from interned columns, one per filter in order: `columns[f]` holds
// filter f's field per ledger customer (an empty value interned as "(none)"). Exact only
// when no filter asks for "" or "(none)", which the interning makes one value:
// nullopt then, and the caller selects from the records.
std::optional<std::vector<bool>> SelectByColumns(const std::vector<CustomerFilter>& filters,
                                                 const std::vector<const IcpField*>& columns,
                                                 size_t customers);

// The value of `field` (acquisition_channel, country, attributes.<key>) for each dense
// customer of `ledger`; "" where unknown.
std::vector<std::string> CustomerField(const Ledger& ledger, const std::vector<Customer>& customers,
                                       const std::string& field);

// The value of `field` (as CustomerField) for one customer record; "" where unset.
std::string FieldValue(const Customer& customer, const std::string& field);
// One customer field (acquisition_channel, country or attributes.<key>) resolved once and
// read from many records without a copy ("" when a record lacks it).
class FieldReader {
 public:
  explicit FieldReader(const std::string& field);
  absl::string_view operator()(const Customer& customer) const;

 private:
  enum class Kind { kChannel, kCountry, kAttribute };
  Kind kind_ = Kind::kAttribute;
  std::string key_;  // an attribute's key
};

// True for fields CustomerField understands.
bool IsCustomerField(absl::string_view field);

}  // namespace saasmetrics::engine
