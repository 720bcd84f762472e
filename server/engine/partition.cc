#include "server/engine/partition.h"

#include <algorithm>
#include <numeric>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "server/engine/mrr.h"
#include "server/engine/tenant.h"

namespace saasmetrics::engine {
namespace {

template <typename T>
size_t VectorBytes(const std::vector<T>& v) {
  return v.capacity() * sizeof(T);
}

// Event i of `p` in the ledger's terms: `customer` and `subscription` are its ledger ids,
// its position the ingest order.
LedgerEvent EventAt(const SubscriptionPartition& p, size_t i, int32_t customer,
                    int32_t subscription) {
  return {.at_us = p.at_us[i],
          .seq = static_cast<int64_t>(i),
          .customer = customer,
          .subscription = subscription,
          .mrr = p.mrr[i],
          .paused = (p.state[i] & kStatePaused) != 0,
          .interval_unit = p.interval_unit[i],
          .interval_count = p.interval_count[i],
          .state = p.state[i]};
}

}  // namespace

int32_t StringDictionary::Add(absl::string_view s) {
  chars_.append(s.data(), s.size());
  ends_.push_back(static_cast<uint32_t>(chars_.size()));
  return static_cast<int32_t>(ends_.size() - 1);
}

void StringDictionary::Truncate(size_t n) {
  if (n >= ends_.size()) return;
  ends_.resize(n);
  chars_.resize(n == 0 ? 0 : ends_.back());
}

void StringDictionary::Shrink() {
  chars_.shrink_to_fit();
  ends_.shrink_to_fit();
}

size_t SubscriptionPartition::bytes() const {
  return sizeof(*this) + customers.bytes() + subscriptions.bytes() +
         VectorBytes(subscription_customer) + plans.bytes() + VectorBytes(at_us) +
         VectorBytes(seq) + VectorBytes(mrr) + VectorBytes(subscription) + VectorBytes(plan) +
         VectorBytes(state) + VectorBytes(interval_unit) + VectorBytes(interval_count) +
         VectorBytes(currency);
}

SubscriptionPartition BuildSubscriptionPartition(absl::CivilMonth month,
                                                 const std::vector<SubscriptionEvent>& events) {
  SubscriptionPartition p;
  p.month = month;
  std::vector<size_t> order(events.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::tie(events[a].effective_at, events[a].seq) <
           std::tie(events[b].effective_at, events[b].seq);
  });
  absl::flat_hash_map<absl::string_view, int32_t> customers, plans;
  absl::flat_hash_map<std::pair<int32_t, absl::string_view>, int32_t> subscriptions;
  const size_t n = events.size();
  p.at_us.reserve(n);
  p.seq.reserve(n);
  p.mrr.reserve(n);
  p.subscription.reserve(n);
  p.plan.reserve(n);
  p.state.reserve(n);
  p.interval_unit.reserve(n);
  p.interval_count.reserve(n);
  p.currency.reserve(n);
  for (size_t i : order) {
    const SubscriptionEvent& e = events[i];
    // The maps view the events' strings, which outlive this function's use of them.
    auto [c, c_added] =
        customers.try_emplace(e.customer_id, static_cast<int32_t>(p.customers.size()));
    if (c_added) p.customers.Add(e.customer_id);
    const std::pair<int32_t, absl::string_view> sub_key(c->second, e.subscription_id);
    auto [s, s_added] =
        subscriptions.try_emplace(sub_key, static_cast<int32_t>(p.subscriptions.size()));
    if (s_added) {
      p.subscriptions.Add(e.subscription_id);
      p.subscription_customer.push_back(c->second);
    }
    int32_t plan = -1;
    if (!e.plan_id.empty()) {
      auto [pl, pl_added] = plans.try_emplace(e.plan_id, static_cast<int32_t>(p.plans.size()));
      if (pl_added) p.plans.Add(e.plan_id);
      plan = pl->second;
    }
    p.at_us.push_back(absl::ToUnixMicros(e.effective_at));
    p.seq.push_back(e.seq);
    p.mrr.push_back(StateMrr(e));
    p.subscription.push_back(s->second);
    p.plan.push_back(plan);
    p.state.push_back(StateBits(e));
    p.interval_unit.push_back(static_cast<uint8_t>(e.interval_unit));
    p.interval_count.push_back(ClampedIntervalCount(e.interval_count));
    const int currency = Iso4217Index(e.currency);
    p.currency.push_back(currency < 0 ? kNoCurrency : static_cast<uint8_t>(currency));
  }
  for (auto* d : {&p.customers, &p.subscriptions, &p.plans}) d->Shrink();
  p.subscription_customer.shrink_to_fit();
  return p;
}

SubscriptionPartition ExtendSubscriptionPartition(const SubscriptionPartition& base,
                                                  const std::vector<SubscriptionEvent>& added) {
  if (added.empty()) {
    SubscriptionPartition p = base;
    p.extends = base.version;
    p.added.clear();
    return p;
  }
  // The added events as a partition of their own, then both mapped into one set of
  // dictionaries (the base's, extended) and merged by (at_us, seq).
  const SubscriptionPartition more = BuildSubscriptionPartition(base.month, added);
  SubscriptionPartition p;
  p.month = base.month;
  p.customers = base.customers;
  p.subscriptions = base.subscriptions;
  p.subscription_customer = base.subscription_customer;
  p.plans = base.plans;
  // The added events' strings are looked up in one pass over each of the base's
  // dictionaries (no index of the base is built): a small delta costs about that pass.
  auto resolve = [](const StringDictionary& added, const StringDictionary& known,
                    StringDictionary& out) {
    absl::flat_hash_map<absl::string_view, int32_t> wanted;
    for (size_t i = 0; i < added.size(); ++i) wanted.emplace(added[i], static_cast<int32_t>(i));
    std::vector<int32_t> to(added.size(), -1);
    for (size_t i = 0; i < known.size() && !wanted.empty(); ++i) {
      auto it = wanted.find(known[i]);
      if (it != wanted.end()) {
        to[it->second] = static_cast<int32_t>(i);
        wanted.erase(it);
      }
    }
    for (size_t i = 0; i < added.size(); ++i) {
      if (to[i] < 0) to[i] = out.Add(added[i]);
    }
    return to;
  };
  const std::vector<int32_t> customer = resolve(more.customers, base.customers, p.customers);
  const std::vector<int32_t> plan = resolve(more.plans, base.plans, p.plans);
  std::vector<int32_t> subscription(more.subscriptions.size(), -1);
  {
    absl::flat_hash_map<std::pair<int32_t, absl::string_view>, int32_t> wanted;
    for (size_t s = 0; s < more.subscriptions.size(); ++s) {
      wanted.emplace(std::make_pair(customer[more.subscription_customer[s]], more.subscriptions[s]),
                     static_cast<int32_t>(s));
    }
    for (size_t s = 0; s < base.subscriptions.size() && !wanted.empty(); ++s) {
      auto it = wanted.find(std::make_pair(base.subscription_customer[s], base.subscriptions[s]));
      if (it != wanted.end()) {
        subscription[it->second] = static_cast<int32_t>(s);
        wanted.erase(it);
      }
    }
    for (size_t s = 0; s < more.subscriptions.size(); ++s) {
      if (subscription[s] < 0) {
        subscription[s] = p.subscriptions.Add(more.subscriptions[s]);
        p.subscription_customer.push_back(customer[more.subscription_customer[s]]);
      }
    }
  }
  const size_t n = base.events() + more.events();
  for (auto* v : {&p.at_us, &p.seq, &p.mrr}) v->reserve(n);
  for (auto* v : {&p.subscription, &p.plan}) v->reserve(n);
  p.state.reserve(n);
  p.interval_unit.reserve(n);
  p.interval_count.reserve(n);
  p.currency.reserve(n);
  p.extends = base.version;
  p.added.reserve(more.events());
  size_t i = 0, j = 0;
  while (i < base.events() || j < more.events()) {
    const bool take_base =
        j == more.events() || (i < base.events() && std::tie(base.at_us[i], base.seq[i]) <
                                                        std::tie(more.at_us[j], more.seq[j]));
    if (take_base) {
      p.at_us.push_back(base.at_us[i]);
      p.seq.push_back(base.seq[i]);
      p.mrr.push_back(base.mrr[i]);
      p.subscription.push_back(base.subscription[i]);
      p.plan.push_back(base.plan[i]);
      p.state.push_back(base.state[i]);
      p.interval_unit.push_back(base.interval_unit[i]);
      p.interval_count.push_back(base.interval_count[i]);
      p.currency.push_back(base.currency[i]);
      ++i;
    } else {
      p.added.push_back(static_cast<uint32_t>(p.at_us.size()));
      p.at_us.push_back(more.at_us[j]);
      p.seq.push_back(more.seq[j]);
      p.mrr.push_back(more.mrr[j]);
      p.subscription.push_back(subscription[more.subscription[j]]);
      p.plan.push_back(more.plan[j] < 0 ? -1 : plan[more.plan[j]]);
      p.state.push_back(more.state[j]);
      p.interval_unit.push_back(more.interval_unit[j]);
      p.interval_count.push_back(more.interval_count[j]);
      p.currency.push_back(more.currency[j]);
      ++j;
    }
  }
  for (auto* d : {&p.customers, &p.subscriptions, &p.plans}) d->Shrink();
  p.subscription_customer.shrink_to_fit();
  return p;
}

Ledger MergePartitions(const std::vector<std::shared_ptr<const SubscriptionPartition>>& partitions,
                       int64_t until_us) {
  Ledger ledger;
  size_t total = 0;
  for (const auto& p : partitions) total += p->events();
  ledger.events.reserve(total);
  for (const auto& p : partitions) AppendPartition(*p, until_us, ledger);
  return ledger;
}

void AppendPartition(const SubscriptionPartition& p, int64_t until_us, Ledger& ledger) {
  std::vector<int32_t> customer(p.customers.size());
  for (size_t c = 0; c < p.customers.size(); ++c) {
    customer[c] = ledger.CustomerIndex(std::string(p.customers[c]));
  }
  std::vector<int32_t> subscription(p.subscriptions.size());
  for (size_t s = 0; s < p.subscriptions.size(); ++s) {
    subscription[s] =
        ledger.SubscriptionIndex(customer[p.subscription_customer[s]], p.subscriptions[s]);
  }
  for (size_t i = 0; i < p.events() && p.at_us[i] < until_us; ++i) {
    const int32_t local = p.subscription[i];
    const int32_t c = customer[p.subscription_customer[local]];
    ledger.events.push_back(EventAt(p, i, c, subscription[local]));
    if (p.plan[i] >= 0) {
      auto& plans = ledger.customer_plans[c];
      const absl::string_view plan = p.plans[p.plan[i]];
      if (std::find(plans.begin(), plans.end(), plan) == plans.end()) plans.emplace_back(plan);
    }
  }
}

std::optional<std::vector<LedgerEvent>> MapPartition(const SubscriptionPartition& p,
                                                     const Ledger& ids) {
  std::vector<int32_t> customer(p.customers.size());
  for (size_t c = 0; c < p.customers.size(); ++c) {
    auto it = ids.customer_index.find(p.customers[c]);
    if (it == ids.customer_index.end()) return std::nullopt;
    customer[c] = it->second;
  }
  std::vector<int32_t> subscription(p.subscriptions.size());
  for (size_t s = 0; s < p.subscriptions.size(); ++s) {
    auto it = ids.subscription_index.find(
        std::make_pair(customer[p.subscription_customer[s]], std::string(p.subscriptions[s])));
    if (it == ids.subscription_index.end()) return std::nullopt;
    subscription[s] = it->second;
  }
  std::vector<LedgerEvent> out;
  out.reserve(p.events());
  for (size_t i = 0; i < p.events(); ++i) {
    const int32_t local = p.subscription[i];
    const int32_t c = customer[p.subscription_customer[local]];
    if (p.plan[i] >= 0) {
      const auto& plans = ids.customer_plans[c];
      if (std::find(plans.begin(), plans.end(), p.plans[p.plan[i]]) == plans.end()) {
        return std::nullopt;
      }
    }
    out.push_back(EventAt(p, i, c, subscription[local]));
  }
  return out;
}

std::optional<std::vector<LedgerEvent>> MapExtension(const SubscriptionPartition& p,
                                                     const Ledger& ids,
                                                     const std::vector<LedgerEvent>& base_events) {
  if (p.extends <= 0 || base_events.size() + p.added.size() != p.events()) return std::nullopt;
  // Local → ledger ids of what the added events name, looked up once each.
  absl::flat_hash_map<int32_t, int32_t> customer, subscription;
  std::vector<LedgerEvent> out;
  out.reserve(p.events());
  size_t next_added = 0, next_base = 0;
  for (size_t i = 0; i < p.events(); ++i) {
    if (next_added < p.added.size() && p.added[next_added] == i) {
      ++next_added;
      const int32_t local = p.subscription[i];
      const int32_t local_customer = p.subscription_customer[local];
      auto c = customer.find(local_customer);
      if (c == customer.end()) {
        auto it = ids.customer_index.find(p.customers[local_customer]);
        if (it == ids.customer_index.end()) return std::nullopt;
        c = customer.emplace(local_customer, it->second).first;
      }
      auto s = subscription.find(local);
      if (s == subscription.end()) {
        auto it = ids.subscription_index.find(
            std::make_pair(c->second, std::string(p.subscriptions[local])));
        if (it == ids.subscription_index.end()) return std::nullopt;
        s = subscription.emplace(local, it->second).first;
      }
      if (p.plan[i] >= 0) {
        const auto& plans = ids.customer_plans[c->second];
        if (std::find(plans.begin(), plans.end(), p.plans[p.plan[i]]) == plans.end()) {
          return std::nullopt;
        }
      }
      out.push_back(EventAt(p, i, c->second, s->second));
    } else {
      LedgerEvent e = base_events[next_base++];
      if (e.at_us != p.at_us[i]) return std::nullopt;  // not the base it extends
      e.seq = static_cast<int64_t>(i);
      out.push_back(e);
    }
  }
  return out;
}

std::vector<std::vector<CurrencyMrr>> NativeMrrAtPeriodEnds(
    const std::vector<std::shared_ptr<const SubscriptionPartition>>& partitions,
    const std::vector<Period>& periods, absl::TimeZone tz,
    const std::optional<absl::flat_hash_set<std::string>>& customers) {
  std::vector<int64_t> bounds;  // the end of each period's last day
  bounds.reserve(periods.size());
  for (const Period& p : periods) bounds.push_back(absl::ToUnixMicros(DayStart(p.last + 1, tz)));
  // Each subscription (by customer and id) its current state's currency and MRR.
  absl::flat_hash_map<std::string, int32_t> index;
  std::vector<std::pair<uint8_t, int64_t>> state;
  std::vector<int64_t> totals(256, 0);  // per currency index
  std::vector<std::vector<CurrencyMrr>> out;
  out.reserve(periods.size());
  auto emit = [&] {
    std::vector<CurrencyMrr>& at = out.emplace_back();
    for (size_t c = 0; c < totals.size(); ++c) {
      if (totals[c] == 0) continue;
      const absl::string_view code = Iso4217Code(static_cast<int>(c));
      at.push_back({std::string(code.empty() ? "(unknown)" : code), totals[c]});
    }
  };
  for (const auto& p : partitions) {
    // Local subscription → its global slot, or -1 when its customer is not counted.
    std::vector<int32_t> slot(p->subscriptions.size());
    for (size_t s = 0; s < slot.size(); ++s) {
      const absl::string_view customer = p->customers[p->subscription_customer[s]];
      if (customers.has_value() && !customers->contains(customer)) {
        slot[s] = -1;
        continue;
      }
      std::string key = absl::StrCat(customer, absl::string_view("\0", 1), p->subscriptions[s]);
      auto [it, added] = index.try_emplace(std::move(key), static_cast<int32_t>(state.size()));
      if (added) state.push_back({kNoCurrency, 0});
      slot[s] = it->second;
    }
    for (size_t i = 0; i < p->events(); ++i) {
      while (out.size() < bounds.size() && p->at_us[i] >= bounds[out.size()]) emit();
      const int32_t k = slot[p->subscription[i]];
      if (k < 0) continue;
      auto& [currency, mrr] = state[k];
      totals[currency] -= mrr;
      currency = p->currency[i];
      mrr = p->mrr[i];
      totals[currency] += mrr;
    }
  }
  while (out.size() < bounds.size()) emit();
  return out;
}

}  // namespace saasmetrics::engine
