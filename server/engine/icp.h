// The ideal-customer profile (ANALYTICS.md "Revenue by cohort, health transitions,
// ideal-customer profile"): which values of a few customer fields are over-represented
// among the top customers by MRR.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "server/engine/field_violation.h"

namespace saasmetrics::engine {

struct IcpValue {
  std::string field, value;  // an empty value is "(none)"
  int64_t top_customers = 0, all_customers = 0;
  double top_share = 0, all_share = 0;  // of the top, of all paying customers
  double lift = 0;                      // top_share ÷ all_share
};

struct IcpResult {
  int64_t paying = 0;            // n: paying customers at the day
  int64_t top = 0;               // ⌈q·n⌉
  std::vector<IcpValue> values;  // by lift descending, then field, then value
};

// One field's values per customer, interned: a customer may have several (plans) or none.
struct IcpField {
  std::string name;
  std::vector<std::string> names;     // value id → value (an empty value is "(none)")
  std::vector<uint32_t> begin = {0};  // customer i's value ids: ids[begin[i], begin[i + 1])
  std::vector<int32_t> ids;
  absl::flat_hash_map<std::string, int32_t> index;  // value → id
  // A column made from customer records (not plans): the positions in them of the records
  // whose customer is not among the column's.
  std::vector<uint32_t> unmatched_records;

  // Appends the next customer's values.
  void Append(std::initializer_list<absl::string_view> values);
  void Append(const std::vector<std::string>& values);
  void AppendOne(absl::string_view value);  // one value for the next customer
  size_t customers() const { return begin.size() - 1; }
};

// `paying`: (customer id, MRR > 0) of every paying customer; `fields[f].values[i]` are
// customer i's values. The top are the ⌈q·n⌉ with the highest MRR, ties by id; values
// with fewer than `min_count` paying customers are left out.
IcpResult IdealCustomerProfile(const std::vector<std::pair<std::string, int64_t>>& paying,
                               const std::vector<IcpField>& fields, double q, int64_t min_count);

// top_share in (0, 1], min_count ≥ 1, 1..10 fields.
inline constexpr int kMaxIcpFields = 10;

}  // namespace saasmetrics::engine
