#include "server/engine/filters.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/engine/icp.h"

namespace saasmetrics::engine {

bool IsCustomerField(absl::string_view field) {
  return field == "acquisition_channel" || field == "country" ||
         (absl::StartsWith(field, "attributes.") && field.size() > 11);
}

std::string ParseFilter(absl::string_view text, CustomerFilter* out) {
  const size_t eq = text.find('=');
  if (eq == absl::string_view::npos) {
    return absl::StrCat("'", text, "' must be field=value[,value...]");
  }
  out->field = std::string(text.substr(0, eq));
  const bool known = out->field == "plan" || IsCustomerField(out->field);
  if (!known) {
    return absl::StrCat("unknown field '", out->field,
                        "' (acquisition_channel, country, plan or attributes.<key>)");
  }
  out->values = absl::StrSplit(text.substr(eq + 1), ',');
  if (std::any_of(out->values.begin(), out->values.end(),
                  [](const std::string& v) { return v.empty(); })) {
    return absl::StrCat("'", text, "' has an empty value");
  }
  return "";
}

namespace {

const std::string* FieldOf(const Customer& c, const std::string& field) {
  if (field == "acquisition_channel") return &c.acquisition_channel;
  if (field == "country") return &c.country;
  const absl::string_view key = absl::string_view(field).substr(11);  // after "attributes."
  for (const auto& [k, v] : c.attributes) {
    if (k == key) return &v;
  }
  return nullptr;
}

bool Matches(const std::string* value, const std::vector<std::string>& values) {
  const std::string& v = value == nullptr ? std::string() : *value;
  return std::find(values.begin(), values.end(), v) != values.end();
}

}  // namespace

namespace {

bool MatchesAll(const Customer& c, const std::vector<std::string>* plans,
                const std::vector<CustomerFilter>& filters) {
  for (const CustomerFilter& f : filters) {
    bool ok = false;
    if (f.field == "plan") {
      ok = plans != nullptr && std::any_of(plans->begin(), plans->end(), [&](const std::string& p) {
             return Matches(&p, f.values);
           });
    } else {
      ok = Matches(FieldOf(c, f.field), f.values);
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::vector<bool> SelectCustomers(const Ledger& ledger, const std::vector<Customer>& customers,
                                  const std::vector<CustomerFilter>& filters) {
  const size_t n = ledger.customer_ids.size();
  std::vector<bool> include(n, true);
  if (filters.empty()) return include;
  absl::flat_hash_map<absl::string_view, const Customer*> by_id;
  for (const Customer& c : customers) by_id[c.customer_id] = &c;
  const Customer unknown;
  for (size_t i = 0; i < n; ++i) {
    auto it = by_id.find(ledger.customer_ids[i]);
    include[i] =
        MatchesAll(it == by_id.end() ? unknown : *it->second, &ledger.customer_plans[i], filters);
  }
  return include;
}

absl::flat_hash_set<std::string> SelectCustomerIds(const Ledger& ledger,
                                                   const std::vector<Customer>& customers,
                                                   const std::vector<CustomerFilter>& filters) {
  return SelectCustomerIds(ledger, customers, filters, SelectCustomers(ledger, customers, filters));
}

std::optional<std::vector<bool>> SelectByColumns(const std::vector<CustomerFilter>& filters,
                                                 const std::vector<const IcpField*>& columns,
                                                 size_t customers) {
  for (const CustomerFilter& f : filters) {
    for (const std::string& v : f.values) {
      if (v.empty() || v == "(none)") return std::nullopt;
    }
  }
  std::vector<bool> include(customers, true);
  for (size_t fi = 0; fi < filters.size(); ++fi) {
    const IcpField& column = *columns[fi];
    if (column.customers() != customers) return std::nullopt;
    std::vector<uint8_t> wanted(column.names.size(), 0);  // per value id
    for (size_t id = 0; id < column.names.size(); ++id) {
      const std::vector<std::string>& values = filters[fi].values;
      wanted[id] = std::find(values.begin(), values.end(), column.names[id]) != values.end();
    }
    for (size_t c = 0; c < customers; ++c) {
      if (!include[c]) continue;
      bool any = false;
      for (uint32_t j = column.begin[c]; j < column.begin[c + 1] && !any; ++j) {
        any = wanted[static_cast<size_t>(column.ids[j])] != 0;
      }
      include[c] = any;
    }
  }
  return include;
}

absl::flat_hash_set<std::string> SelectCustomerIds(const Ledger& ledger,
                                                   const std::vector<Customer>& customers,
                                                   const std::vector<CustomerFilter>& filters,
                                                   const std::vector<bool>& in_ledger,
                                                   const std::vector<uint32_t>* outside) {
  absl::flat_hash_set<std::string> out;
  for (size_t i = 0; i < in_ledger.size(); ++i) {
    if (in_ledger[i]) out.insert(ledger.customer_ids[i]);
  }
  if (outside != nullptr) {
    for (uint32_t r : *outside) {
      if (MatchesAll(customers[r], nullptr, filters)) out.insert(customers[r].customer_id);
    }
    return out;
  }
  for (const Customer& c : customers) {
    if (!ledger.customer_index.contains(c.customer_id) && MatchesAll(c, nullptr, filters)) {
      out.insert(c.customer_id);
    }
  }
  return out;
}

std::vector<std::string> CustomerField(const Ledger& ledger, const std::vector<Customer>& customers,
                                       const std::string& field) {
  absl::flat_hash_map<absl::string_view, const Customer*> by_id;
  for (const Customer& c : customers) by_id[c.customer_id] = &c;
  std::vector<std::string> out(ledger.customer_ids.size());
  for (size_t i = 0; i < out.size(); ++i) {
    auto it = by_id.find(ledger.customer_ids[i]);
    if (it == by_id.end()) continue;
    if (const std::string* v = FieldOf(*it->second, field)) out[i] = *v;
  }
  return out;
}

FieldReader::FieldReader(const std::string& field) {
  if (field == "acquisition_channel") {
    kind_ = Kind::kChannel;
  } else if (field == "country") {
    kind_ = Kind::kCountry;
  } else {
    key_ = field.substr(std::min<size_t>(field.size(), 11));  // after "attributes."
  }
}

absl::string_view FieldReader::operator()(const Customer& customer) const {
  switch (kind_) {
    case Kind::kChannel:
      return customer.acquisition_channel;
    case Kind::kCountry:
      return customer.country;
    case Kind::kAttribute:
      for (const auto& [k, v] : customer.attributes) {
        if (k == key_) return v;
      }
  }
  return {};
}

std::string FieldValue(const Customer& customer, const std::string& field) {
  const std::string* v = FieldOf(customer, field);
  return v == nullptr ? std::string() : *v;
}

}  // namespace saasmetrics::engine
