#include "server/engine/usage.h"

#include <algorithm>
#include <numeric>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace saasmetrics::engine {
namespace {

template <typename T>
size_t VectorBytes(const std::vector<T>& v) {
  return v.capacity() * sizeof(T);
}

absl::Time MonthStart(absl::CivilMonth m) { return absl::FromCivil(m, absl::UTCTimeZone()); }

// Local types of a partition that `types` names (all when `types` is empty).
std::vector<bool> TypeMask(const UsagePartition& p, const std::vector<std::string>& types) {
  std::vector<bool> mask(p.types.size(), types.empty());
  for (size_t t = 0; t < p.types.size(); ++t) {
    for (const std::string& want : types) mask[t] = mask[t] || p.types[t] == want;
  }
  return mask;
}

}  // namespace

size_t UsagePartition::bytes() const {
  return sizeof(*this) + customers.bytes() + types.bytes() + users.bytes() + VectorBytes(second) +
         VectorBytes(customer) + VectorBytes(type) + VectorBytes(user) + VectorBytes(value) +
         VectorBytes(by_type) + VectorBytes(type_begin);
}

int32_t UsagePartition::TypeId(absl::string_view t) const {
  for (size_t i = 0; i < types.size(); ++i) {
    if (types[i] == t) return static_cast<int32_t>(i);
  }
  return -1;
}

absl::Time UsagePartition::time(size_t i) const {
  return MonthStart(month) + absl::Seconds(second[i]);
}

void LatestEvents(const UsagePartition& p, const std::vector<std::string>& customer_ids,
                  absl::Time until, std::vector<std::optional<absl::Time>>& latest) {
  absl::flat_hash_map<absl::string_view, int32_t> wanted;
  for (size_t i = 0; i < customer_ids.size(); ++i) {
    if (!latest[i].has_value()) wanted.emplace(customer_ids[i], static_cast<int32_t>(i));
  }
  if (wanted.empty() || until <= MonthStart(p.month)) return;
  std::vector<int32_t> slot(p.customers.size(), -1);  // local id → index in customer_ids
  size_t present = 0;
  for (size_t l = 0; l < p.customers.size(); ++l) {
    if (auto it = wanted.find(p.customers[l]); it != wanted.end()) {
      slot[l] = it->second;
      ++present;
    }
  }
  const int64_t hi = absl::ToInt64Seconds(until - MonthStart(p.month));
  size_t i = static_cast<size_t>(std::lower_bound(p.second.begin(), p.second.end(), hi) -
                                 p.second.begin());
  while (present > 0 && i-- > 0) {
    const int32_t s = slot[p.customer[i]];
    if (s < 0 || latest[s].has_value()) continue;
    latest[s] = p.time(i);
    --present;
  }
}

UsagePartitionBuilder::UsagePartitionBuilder(absl::CivilMonth month) { p_.month = month; }

UsagePartitionBuilder::UsagePartitionBuilder(const UsagePartition& base)
    : p_(base),
      base_events_(base.events()),
      base_customers_(base.customers.size()),
      base_types_(base.types.size()),
      base_users_(base.users.size()) {}

void UsagePartitionBuilder::Reserve(size_t events) {
  events += base_events_;
  p_.second.reserve(events);
  p_.customer.reserve(events);
  p_.type.reserve(events);
  p_.user.reserve(events);
  p_.value.reserve(events);
}

void UsagePartitionBuilder::ResolveAgainstBase() {
  // The added events interned their strings among themselves only (ids from the base's
  // size on): find each in the base's dictionary in one pass over it, renumber the rest.
  auto resolve = [](absl::flat_hash_map<std::string, int32_t>& index, StringDictionary& dict,
                    size_t base_size) {
    std::vector<int32_t> remap(dict.size() - base_size, -1);
    if (remap.empty()) return remap;
    for (size_t i = 0; i < base_size; ++i) {
      auto it = index.find(dict[i]);
      if (it != index.end()) remap[it->second - base_size] = static_cast<int32_t>(i);
    }
    std::vector<std::string> fresh;
    for (size_t k = 0; k < remap.size(); ++k) {
      if (remap[k] < 0) {
        remap[k] = static_cast<int32_t>(base_size + fresh.size());
        fresh.emplace_back(dict[base_size + k]);
      }
    }
    dict.Truncate(base_size);
    for (const std::string& f : fresh) dict.Add(f);
    return remap;
  };
  const std::vector<int32_t> customers = resolve(customers_, p_.customers, base_customers_);
  const std::vector<int32_t> types = resolve(types_, p_.types, base_types_);
  const std::vector<int32_t> users = resolve(users_, p_.users, base_users_);
  for (size_t i = base_events_; i < p_.second.size(); ++i) {
    p_.customer[i] = customers[p_.customer[i] - base_customers_];
    p_.type[i] = types[p_.type[i] - base_types_];
    if (p_.user[i] >= 0) p_.user[i] = users[p_.user[i] - base_users_];
  }
}

int32_t UsagePartitionBuilder::Intern(absl::flat_hash_map<std::string, int32_t>& index,
                                      StringDictionary& dict, absl::string_view s) {
  auto it = index.find(s);
  if (it != index.end()) return it->second;
  const int32_t id = static_cast<int32_t>(dict.size());
  index.emplace(std::string(s), id);
  dict.Add(s);
  return id;
}

void UsagePartitionBuilder::Add(absl::string_view customer, absl::string_view type,
                                absl::string_view user, double value, uint32_t second) {
  if (!p_.second.empty()) {
    ordered_ = ordered_ && second >= p_.second.back();
    tied_ = tied_ || second == p_.second.back();
  }
  p_.second.push_back(second);
  p_.customer.push_back(Intern(customers_, p_.customers, customer));
  p_.type.push_back(Intern(types_, p_.types, type));
  p_.user.push_back(user.empty() ? -1 : Intern(users_, p_.users, user));
  p_.value.push_back(value);
}

UsagePartition UsagePartitionBuilder::Finish() && {
  if (p_.second.size() > base_events_ && base_events_ > 0) ResolveAgainstBase();
  if (!ordered_ || tied_) {
    // Events of one second in an order of their content, not of the rows' arrival, so that
    // a reload (or another replica) sums values in the same order to the last bit.
    auto content = [&](size_t i) {
      return std::make_tuple(p_.customers[p_.customer[i]], p_.types[p_.type[i]],
                             p_.user[i] < 0 ? absl::string_view() : p_.users[p_.user[i]],
                             p_.user[i] >= 0, p_.value[i]);
    };
    std::vector<size_t> order(p_.second.size());
    std::iota(order.begin(), order.end(), 0);
    if (base_events_ > 0) {
      // The base is in order already: order the added events the same way and merge.
      auto before = [&](size_t a, size_t b) {
        if (p_.second[a] != p_.second[b]) return p_.second[a] < p_.second[b];
        return content(a) < content(b);
      };
      const auto middle = order.begin() + static_cast<std::ptrdiff_t>(base_events_);
      std::sort(middle, order.end(), before);
      std::inplace_merge(order.begin(), middle, order.end(), before);
    } else {
      if (!ordered_) {
        std::sort(order.begin(), order.end(),
                  [&](size_t a, size_t b) { return p_.second[a] < p_.second[b]; });
      }
      for (size_t begin = 0; begin < order.size();) {
        size_t end = begin + 1;
        while (end < order.size() && p_.second[order[end]] == p_.second[order[begin]]) ++end;
        if (end - begin > 1) {
          std::sort(order.begin() + begin, order.begin() + end,
                    [&](size_t a, size_t b) { return content(a) < content(b); });
        }
        begin = end;
      }
    }
    auto permute = [&](auto& column) {
      std::remove_reference_t<decltype(column)> sorted;
      sorted.reserve(column.size());
      for (size_t i : order) sorted.push_back(column[i]);
      column = std::move(sorted);
    };
    permute(p_.second);
    permute(p_.customer);
    permute(p_.type);
    permute(p_.user);
    permute(p_.value);
  }
  for (auto* d : {&p_.customers, &p_.types, &p_.users}) d->Shrink();
  for (auto* v : {&p_.customer, &p_.type, &p_.user}) v->shrink_to_fit();
  p_.second.shrink_to_fit();
  p_.value.shrink_to_fit();
  // Grouped by type (a stable counting sort: time order within each type).
  p_.type_begin.assign(p_.types.size() + 1, 0);
  for (int32_t t : p_.type) ++p_.type_begin[t + 1];
  for (size_t t = 0; t < p_.types.size(); ++t) p_.type_begin[t + 1] += p_.type_begin[t];
  p_.by_type.resize(p_.events());
  {
    std::vector<uint32_t> next(p_.type_begin.begin(), p_.type_begin.end() - 1);
    for (size_t i = 0; i < p_.events(); ++i)
      p_.by_type[next[p_.type[i]]++] = static_cast<uint32_t>(i);
  }
  p_.by_type.shrink_to_fit();
  return std::move(p_);
}

UsagePartition BuildUsagePartition(absl::CivilMonth month, const std::vector<UsageEvent>& events) {
  std::vector<size_t> order(events.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return events[a].time < events[b].time; });
  UsagePartitionBuilder builder(month);
  builder.Reserve(events.size());
  const absl::Time start = MonthStart(month);
  for (size_t i : order) {
    const UsageEvent& e = events[i];
    builder.Add(e.customer_id, e.type, e.user_id, e.value,
                static_cast<uint32_t>(absl::ToInt64Seconds(e.time - start)));
  }
  return std::move(builder).Finish();
}

size_t UsageIndex::bytes() const {
  size_t b = sizeof(*this) + ids->customer_ids.capacity() * sizeof(std::string) +
             ids->dense.capacity() * (sizeof(std::string) + sizeof(int32_t) + 1);
  for (const auto& id : ids->customer_ids) b += id.capacity() > 15 ? 2 * (id.capacity() + 1) : 0;
  for (const auto& v : local_to_dense) b += sizeof(v) + v->capacity() * sizeof(int32_t);
  return b + months.capacity() * sizeof(absl::CivilMonth);
}

namespace {

// Partition `p`'s local → dense map under `ids`, adding its unknown customers to `grown`
// (made from `ids` on first need) and reading from it once made.
std::shared_ptr<const std::vector<int32_t>> MapCustomers(
    const UsagePartition& p, const std::shared_ptr<const UsageIndex::Ids>& ids,
    std::shared_ptr<UsageIndex::Ids>& grown) {
  auto map = std::make_shared<std::vector<int32_t>>(p.customers.size());
  for (size_t c = 0; c < p.customers.size(); ++c) {
    const UsageIndex::Ids& current = grown != nullptr ? *grown : *ids;
    auto it = current.dense.find(p.customers[c]);
    if (it != current.dense.end()) {
      (*map)[c] = it->second;
      continue;
    }
    if (grown == nullptr) grown = std::make_shared<UsageIndex::Ids>(*ids);
    const int32_t id = static_cast<int32_t>(grown->customer_ids.size());
    grown->dense.emplace(std::string(p.customers[c]), id);
    grown->customer_ids.emplace_back(p.customers[c]);
    (*map)[c] = id;
  }
  return map;
}

}  // namespace

UsageIndex BuildUsageIndex(const UsagePartitions& partitions) {
  UsageIndex previous;
  return UpdateUsageIndex(previous, partitions, std::vector<bool>(partitions.size(), false));
}

UsageIndex UpdateUsageIndex(const UsageIndex& previous, const UsagePartitions& partitions,
                            const std::vector<bool>& reusable) {
  UsageIndex index;
  const bool same_months =
      previous.months.size() == partitions.size() &&
      std::equal(previous.months.begin(), previous.months.end(), partitions.begin(),
                 [](absl::CivilMonth m, const auto& p) { return m == p->month; });
  if (same_months) index.ids = previous.ids;
  std::shared_ptr<UsageIndex::Ids> grown;
  for (size_t i = 0; i < partitions.size(); ++i) {
    const UsagePartition& p = *partitions[i];
    index.months.push_back(p.month);
    if (same_months && reusable[i] && previous.local_to_dense[i]->size() == p.customers.size()) {
      index.local_to_dense.push_back(previous.local_to_dense[i]);
    } else {
      index.local_to_dense.push_back(MapCustomers(p, index.ids, grown));
    }
  }
  if (grown != nullptr) index.ids = std::move(grown);
  return index;
}

std::optional<std::vector<bool>> SelectDense(const UsageIndex& index, const CustomerSet& selected) {
  if (!selected.has_value()) return std::nullopt;
  const std::vector<std::string>& ids = index.customer_ids();
  std::vector<bool> out(ids.size());
  for (size_t d = 0; d < ids.size(); ++d) out[d] = selected->contains(ids[d]);
  return out;
}

absl::Status CheckUsageIndex(const UsagePartitions& partitions, const UsageIndex& index) {
  if (index.months.size() != partitions.size() ||
      index.local_to_dense.size() != partitions.size()) {
    return absl::InternalError(absl::StrCat("usage index covers ", index.months.size(),
                                            " partitions, the query has ", partitions.size()));
  }
  for (size_t i = 0; i < partitions.size(); ++i) {
    const UsagePartition& p = *partitions[i];
    if (index.months[i] != p.month || index.local_to_dense[i]->size() != p.customers.size()) {
      return absl::InternalError(absl::StrCat(
          "usage index entry ", i, " is month ", absl::FormatCivilTime(index.months[i]), " with ",
          index.local_to_dense[i]->size(), " customers; the partition is ",
          absl::FormatCivilTime(p.month), " with ", p.customers.size()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> ActiveCustomers(
    const UsagePartitions& partitions, const UsageIndex& index, const std::vector<Period>& periods,
    absl::TimeZone tz, const std::vector<std::string>& types, const CustomerSet& selected,
    const std::function<bool()>& stop) {
  if (absl::Status s = CheckUsageIndex(partitions, index); !s.ok()) return s;
  const std::vector<std::string>& customer_ids = index.customer_ids();
  const std::vector<bool> selected_dense =
      SelectDense(index, selected).value_or(std::vector<bool>(customer_ids.size(), true));
  std::vector<std::vector<bool>> active(periods.size());
  for (size_t pi = 0; pi < partitions.size(); ++pi) {
    if (stop && stop()) return absl::CancelledError("stopped while counting active customers");
    const UsagePartition& p = *partitions[pi];
    const std::vector<int32_t>& dense = *index.local_to_dense[pi];
    const std::vector<bool> type_ok = TypeMask(p, types);
    // When the partition's whole month (its days in `tz`) lies in one period, every event
    // counts there and no event's day need be computed; without a type filter, the
    // partition's customers (each has an event) are the answer.
    const absl::CivilDay first_day = absl::ToCivilDay(MonthStart(p.month), tz);
    const absl::CivilDay last_day =
        absl::ToCivilDay(MonthStart(p.month + 1) - absl::Seconds(1), tz);
    const auto whole = std::find_if(periods.begin(), periods.end(), [&](const Period& q) {
      return q.first <= first_day && last_day <= q.last;
    });
    if (whole != periods.end()) {
      std::vector<bool>& bits = active[whole - periods.begin()];
      if (bits.empty()) bits.assign(customer_ids.size(), false);
      if (types.empty()) {
        for (const int32_t customer : dense) {
          if (selected_dense[customer]) bits[customer] = true;
        }
      } else {
        for (size_t i = 0; i < p.events(); ++i) {
          const int32_t customer = dense[p.customer[i]];
          if (type_ok[p.type[i]] && selected_dense[customer]) bits[customer] = true;
        }
      }
      continue;
    }
    // Events are in time order: convert a local day's bounds once per run of events.
    absl::CivilDay day;
    int64_t day_start_s = -1, day_end_s = -1;
    size_t period = 0;
    const absl::Time month_start = MonthStart(p.month);
    for (size_t i = 0; i < p.events(); ++i) {
      const int32_t customer = dense[p.customer[i]];
      if (!type_ok[p.type[i]] || !selected_dense[customer]) continue;
      if (p.second[i] < day_start_s || p.second[i] >= day_end_s) {
        day = absl::ToCivilDay(p.time(i), tz);
        day_start_s = absl::ToInt64Seconds(DayStart(day, tz) - month_start);
        day_end_s = absl::ToInt64Seconds(DayStart(day + 1, tz) - month_start);
        period = 0;
        while (period < periods.size() && periods[period].last < day) ++period;
      }
      if (period < periods.size() && periods[period].first <= day) {
        if (active[period].empty()) active[period].assign(customer_ids.size(), false);
        active[period][customer] = true;
      }
    }
  }
  std::vector<int64_t> out;
  for (const auto& a : active) out.push_back(std::count(a.begin(), a.end(), true));
  return out;
}

std::optional<double> ActivationPoint::rate() const {
  if (new_customers == 0) return std::nullopt;
  return static_cast<double>(activated) / static_cast<double>(new_customers);
}

std::vector<ActivationPoint> Activation(const UsagePartitions& partitions,
                                        const std::vector<Customer>& customers,
                                        const std::vector<Period>& periods, absl::TimeZone tz,
                                        const std::vector<std::string>& types,
                                        absl::Duration window, const CustomerSet& selected) {
  std::vector<ActivationPoint> out(periods.size());
  for (size_t i = 0; i < periods.size(); ++i) out[i].period = periods[i];
  // Customers created in the range, with the period they belong to.
  absl::flat_hash_map<std::string, std::pair<absl::Time, size_t>> cohort;
  for (const Customer& c : customers) {
    if (selected.has_value() && !selected->contains(c.customer_id)) continue;
    const absl::CivilDay day = absl::ToCivilDay(c.created_at, tz);
    for (size_t p = 0; p < periods.size(); ++p) {
      if (day >= periods[p].first && day <= periods[p].last) {
        cohort[c.customer_id] = {c.created_at, p};
        ++out[p].new_customers;
      }
    }
  }
  absl::flat_hash_set<std::string> activated;
  for (const auto& p : partitions) {
    const std::vector<bool> type_ok = TypeMask(*p, types);
    for (size_t i = 0; i < p->events(); ++i) {
      if (!type_ok[p->type[i]]) continue;
      const absl::string_view customer = p->customers[p->customer[i]];
      auto it = cohort.find(customer);
      if (it == cohort.end() || activated.contains(customer)) continue;
      const absl::Time at = p->time(i);
      // created_at is kept to the microsecond, event times to the second.
      if (at >= absl::FromUnixSeconds(absl::ToUnixSeconds(it->second.first)) &&
          at <= it->second.first + window) {
        activated.insert(std::string(customer));
        ++out[it->second.second].activated;
      }
    }
  }
  return out;
}

}  // namespace saasmetrics::engine
