#include "server/query/reader.h"

#include <algorithm>
#include <limits>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/engine/dates.h"
#include "server/engine/partition.h"
#include "server/engine/pql.h"
#include "server/query/history.h"

namespace saasmetrics::query {
namespace {

// A tenant's derived history, per time zone (a zone change starts another).
cache::PartitionKey HistoryKey(const std::string& tenant_id, const std::string& timezone) {
  return {absl::StrCat(tenant_id, "@", timezone), static_cast<int>(CacheKind::kHistory), 0};
}

// Anything with bytes(), as the cache holds it.
template <typename T>
class Cached : public cache::Snapshot {
 public:
  explicit Cached(T v) : value(std::move(v)) {}
  size_t bytes() const override { return value.bytes(); }
  const T value;
};

// A value held by a cache snapshot, sharing the snapshot's lifetime (aliasing).
template <typename T>
std::shared_ptr<const T> Held(const std::shared_ptr<const cache::Snapshot>& snapshot) {
  return std::shared_ptr<const T>(snapshot, &static_cast<const Cached<T>&>(*snapshot).value);
}

size_t HeapBytes(const engine::Customer& c) {
  size_t b = c.customer_id.capacity() + c.acquisition_channel.capacity() + c.country.capacity();
  for (const auto& [k, v] : c.attributes) b += sizeof(k) * 2 + k.capacity() + v.capacity();
  return b;
}
size_t HeapBytes(const engine::SurveyResponse& r) {
  return r.response_id.capacity() + r.customer_id.capacity() + r.user_id.capacity() +
         r.comment.capacity() + r.channel.capacity();
}
size_t HeapBytes(const engine::AcquisitionSpend& r) {
  return r.spend_id.capacity() + r.channel.capacity();
}

// An index's customers linked to a ledger (engine::LinkToLedger), made on first use and
// kept until asked for another ledger. It depends only on the index's ids and the
// ledger's, so versions of an index sharing their ids share it.
struct LedgerLink {
  absl::Mutex mu;
  std::weak_ptr<const engine::Ledger> ledger ABSL_GUARDED_BY(mu);  // identity, not ownership
  std::shared_ptr<const std::vector<int32_t>> ids ABSL_GUARDED_BY(mu);
};

// A usage index with the partitions it was built over. Reuse goes by identity, not by
// version: the index is positional, and only the very partition it read is known to match.
struct IndexedUsage {
  engine::UsageIndex index;
  std::vector<std::weak_ptr<const engine::UsagePartition>> partitions;
  std::shared_ptr<LedgerLink> link = std::make_shared<LedgerLink>();
  size_t bytes() const {
    // The link counts as made: it is made after the cache measured the snapshot.
    return index.bytes() +
           partitions.capacity() * sizeof(std::weak_ptr<const engine::UsagePartition>) +
           sizeof(LedgerLink) + index.customer_ids().size() * sizeof(int32_t);
  }
  std::shared_ptr<const std::vector<int32_t>> LinkTo(
      const std::shared_ptr<const engine::Ledger>& ledger) const {
    absl::MutexLock lock(&link->mu);
    if (link->ids == nullptr || link->ledger.lock() != ledger) {
      link->ids =
          std::make_shared<const std::vector<int32_t>>(engine::LinkToLedger(index, *ledger));
      link->ledger = ledger;
    }
    return link->ids;
  }
  // Per partition of `partitions`: whether this index was built over that very object.
  std::vector<bool> Over(const engine::UsagePartitions& of) const {
    std::vector<bool> same(of.size(), false);
    for (size_t i = 0; partitions.size() == of.size() && i < of.size(); ++i) {
      same[i] = partitions[i].lock() == of[i];
    }
    return same;
  }
};

// The index of `partitions`, from `previous` (if any) for the partitions it was built over
// (only the other months are indexed again), sharing its ledger link while the ids are its.
IndexedUsage IndexOver(const IndexedUsage* previous, const engine::UsagePartitions& partitions) {
  IndexedUsage next;
  next.partitions.assign(partitions.begin(), partitions.end());
  if (previous != nullptr && previous->partitions.size() == partitions.size()) {
    next.index = engine::UpdateUsageIndex(previous->index, partitions, previous->Over(partitions));
    if (next.index.ids == previous->index.ids) next.link = previous->link;
  } else {
    next.index = engine::BuildUsageIndex(partitions);
  }
  return next;
}

using Records = std::shared_ptr<const std::vector<engine::Customer>>;

// A customer field's values per ledger id (Reader::Column), with what it was made from.
// Made from the very records and ledger it names, not from their versions: it keeps the
// positions of the records outside the ledger, and the customer table's read has no
// ORDER BY, so a reload at the same version can list the records in another order.
struct FieldColumn {
  engine::IcpField values;
  std::weak_ptr<const std::vector<engine::Customer>> records;  // identity, not ownership
  std::weak_ptr<const engine::Ledger> ledger;                  // identity, not ownership
  bool Made(const std::string& field, const Records& r,
            const std::shared_ptr<const engine::Ledger>& l) const {
    return values.name == field && records.lock() == r && ledger.lock() == l;
  }
  size_t bytes() const {
    size_t b = sizeof(*this) + values.name.capacity() + values.begin.capacity() * sizeof(uint32_t) +
               values.ids.capacity() * sizeof(int32_t) +
               values.unmatched_records.capacity() * sizeof(uint32_t) +
               values.names.capacity() * sizeof(std::string);
    for (const std::string& n : values.names) b += n.capacity();
    return b;
  }
};

FieldColumn MakeColumn(const std::string& field, const Records& shared_records,
                       const std::shared_ptr<const engine::Ledger>& ledger) {
  FieldColumn col;
  col.records = shared_records;
  col.ledger = ledger;
  const std::vector<engine::Customer>& records = *shared_records;
  engine::IcpField& f = col.values;
  f.name = field;
  const size_t n = ledger->customer_ids.size();
  f.begin.reserve(n + 1);
  if (field == "plan") {
    for (size_t i = 0; i < n; ++i) f.Append(ledger->customer_plans[i]);
  } else {
    std::vector<const engine::Customer*> record(n, nullptr);
    for (size_t r = 0; r < records.size(); ++r) {
      const auto it = ledger->customer_index.find(absl::string_view(records[r].customer_id));
      if (it != ledger->customer_index.end()) {
        record[static_cast<size_t>(it->second)] = &records[r];
      } else {
        f.unmatched_records.push_back(static_cast<uint32_t>(r));
      }
    }
    const engine::FieldReader read(field);
    f.ids.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      f.AppendOne(record[i] == nullptr ? absl::string_view() : read(*record[i]));
    }
  }
  f.index = {};  // interning is over: the column is only read
  return col;
}

// A tenant-wide table (customers, spend) as the cache holds it.
template <typename T>
struct RowList {
  std::vector<T> rows;
  size_t bytes() const {
    size_t b = sizeof(*this) + rows.capacity() * sizeof(T);
    for (const T& r : rows) b += HeapBytes(r);
    return b;
  }
};

// Derived snapshots combine partitions by position and assume month order (the statement
// orders by month); a store that broke that would be a bug to stop at, not to compute on.
absl::Status CheckMonthOrder(const std::vector<store::PartitionVersion>& versions) {
  for (size_t i = 1; i < versions.size(); ++i) {
    if (!(versions[i - 1].month < versions[i].month)) {
      return absl::InternalError(absl::StrCat("partition versions out of month order at ",
                                              absl::FormatCivilTime(versions[i].month)));
    }
  }
  return absl::OkStatus();
}

int64_t Sum(const std::vector<store::PartitionVersion>& versions) {
  int64_t sum = 0;
  for (const store::PartitionVersion& v : versions) sum += v.version;
  return sum;
}

// The single version of a tenant-wide partition (customers, spend); 0 while none exists.
absl::StatusOr<int64_t> TenantWideVersion(store::MetricsStore& store, const std::string& tenant_id,
                                          store::PartitionKind kind, absl::Time deadline) {
  absl::StatusOr<std::vector<store::PartitionVersion>> v = store.PartitionVersions(
      tenant_id, kind, absl::InfinitePast(), absl::InfiniteFuture(), deadline);
  if (!v.ok()) return v.status();
  return Sum(*v);
}

// cache.Get, with what `build` made (on a miss: not what the cache already held) charged
// to `share` once it is made.
absl::StatusOr<std::shared_ptr<const cache::Snapshot>> ChargedGet(
    cache::PartitionCache& cache, MemoryBudget& budget, MemoryShare& share,
    const cache::PartitionKey& key, int64_t version,
    absl::FunctionRef<absl::StatusOr<std::shared_ptr<const cache::Snapshot>>()> build,
    absl::Time deadline) {
  size_t built = 0;
  absl::StatusOr<std::shared_ptr<const cache::Snapshot>> got = cache.Get(
      key, version,
      [&]() -> absl::StatusOr<std::shared_ptr<const cache::Snapshot>> {
        absl::StatusOr<std::shared_ptr<const cache::Snapshot>> made = build();
        if (made.ok()) built = (*made)->bytes();
        return made;
      },
      deadline);
  if (!got.ok()) return got;
  if (absl::Status s = share.Charge(budget, static_cast<int64_t>(built), deadline); !s.ok()) {
    return s;
  }
  return got;
}

}  // namespace

absl::Status Reader::CheckAnswerSize(int64_t cells, absl::string_view what) const {
  if (cells <= limits_.max_answer_cells) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("the answer would have ", cells, " ", what, "; the limit is ",
                   limits_.max_answer_cells, ": narrow the date range or use a longer interval"));
}

absl::StatusOr<std::shared_ptr<const cache::Snapshot>> Reader::GetCharged(
    const cache::PartitionKey& key, int64_t version,
    absl::FunctionRef<absl::StatusOr<std::shared_ptr<const cache::Snapshot>>()> build,
    const Context& ctx) {
  return ChargedGet(cache_, *memory_, *ctx.memory, key, version, build, ctx.deadline);
}

absl::StatusOr<Query> Reader::Prepare(const QuerySpec& spec, Needs needs, const Context& ctx) {
  Query q;
  engine::Violations violations;
  const std::string& p = spec.prefix;
  engine::ValidateTenantId(spec.tenant_id, absl::StrCat(p, ".tenant_id"), violations);
  const bool start_ok = engine::ParseIsoDate(spec.start_date, &q.start);
  const bool end_ok = engine::ParseIsoDate(spec.end_date, &q.end);
  if (!start_ok) {
    violations.push_back({absl::StrCat(p, ".start_date"),
                          absl::StrCat("'", spec.start_date, "' is not a date YYYY-MM-DD")});
  }
  if (!end_ok) {
    violations.push_back({absl::StrCat(p, ".end_date"),
                          absl::StrCat("'", spec.end_date, "' is not a date YYYY-MM-DD")});
  }
  if (start_ok && end_ok) {
    if (q.end < q.start) {
      violations.push_back({absl::StrCat(p, ".end_date"),
                            absl::StrCat("must not be before start_date (", spec.start_date, ")")});
    } else if (q.end - q.start + 1 > limits_.max_query_days) {
      violations.push_back(
          {absl::StrCat(p, ".end_date"),
           absl::StrCat("the range spans ", q.end - q.start + 1, " days; the limit is ",
                        limits_.max_query_days, " (--max_query_days)")});
    }
  }
  if (spec.interval >= static_cast<int>(engine::Interval::kDay) &&
      spec.interval <= static_cast<int>(engine::Interval::kYear)) {
    q.interval = static_cast<engine::Interval>(spec.interval);
  } else if (needs.interval || spec.interval != 0) {
    violations.push_back({absl::StrCat(p, ".interval"),
                          spec.interval == 0
                              ? std::string("is required (DAY, WEEK, MONTH, QUARTER or YEAR)")
                              : absl::StrCat("unknown value ", spec.interval)});
  }
  for (size_t i = 0; i < spec.filters.size(); ++i) {
    engine::CustomerFilter f;
    std::string error = engine::ParseFilter(spec.filters[i], &f);
    if (!error.empty()) {
      violations.push_back({absl::StrCat(p, ".filter[", i, "]"), error});
    } else {
      q.filters.push_back(std::move(f));
    }
  }
  if (!violations.empty()) return engine::InvalidArgumentError(violations);

  absl::StatusOr<engine::Tenant> tenant = tenants_.Get(spec.tenant_id, ctx.deadline);
  if (!tenant.ok()) return tenant.status();
  q.tenant = *tenant;
  if (!absl::LoadTimeZone(tenant->timezone, &q.tz)) {
    return absl::FailedPreconditionError(
        absl::StrCat("tenant time zone '", tenant->timezone, "' is unknown"));
  }
  q.periods = engine::CutPeriods(q.start, q.end, q.interval);
  if (static_cast<int>(q.periods.size()) > limits_.max_periods) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the answer would have ", q.periods.size(), " periods; the limit is ",
                     limits_.max_periods, ": narrow the date range or use a longer interval"));
  }

  static const auto kNone = std::make_shared<const std::vector<engine::Customer>>();
  q.customers = kNone;
  if (!q.filters.empty() || needs.customers) {
    absl::StatusOr<std::shared_ptr<const std::vector<engine::Customer>>> loaded =
        Customers(spec.tenant_id, ctx);
    if (!loaded.ok()) return loaded.status();
    q.customers = std::move(*loaded);
  }
  static const engine::Ledger kNoLedger;
  static const std::vector<engine::Movement> kNoMovements;
  const bool plan_filter = std::any_of(q.filters.begin(), q.filters.end(),
                                       [](const auto& f) { return f.field == "plan"; });
  static const std::vector<engine::PauseChange> kNoPauses;
  static const engine::DailyTotals kNoDays;
  // The filters' selection, made once (the history's load filters its movements by it).
  Selection selection;
  if (!needs.history && !plan_filter) {
    q.ledger = &kNoLedger;
    q.movements = &kNoMovements;
    q.pauses = &kNoPauses;
    q.daily = &kNoDays;
    if (!q.filters.empty()) {
      absl::StatusOr<Selection> made = Select(q, ctx);
      if (!made.ok()) return made.status();
      selection = *std::move(made);
    }
  } else if (absl::Status s = LoadHistory(spec.tenant_id, needs, ctx, q, selection); !s.ok()) {
    return s;
  }
  if (!q.filters.empty()) {
    q.selected = engine::SelectCustomerIds(*q.ledger, *q.customers, q.filters, selection.in_ledger,
                                           selection.outside);
  }
  return q;
}

absl::StatusOr<Reader::Selection> Reader::Select(const Query& q, const Context& ctx) {
  Selection out;
  if (q.history != nullptr && q.ledger == &q.history->ids()) {
    std::vector<const engine::IcpField*> columns;
    for (const engine::CustomerFilter& f : q.filters) {
      absl::StatusOr<std::shared_ptr<const engine::IcpField>> column = Column(q, f.field, ctx);
      if (!column.ok()) return column.status();
      out.columns.push_back(*std::move(column));
      columns.push_back(out.columns.back().get());
    }
    std::optional<std::vector<bool>> include =
        engine::SelectByColumns(q.filters, columns, q.ledger->customer_ids.size());
    if (include.has_value()) {
      out.in_ledger = *std::move(include);
      // A record outside the ledger has no plan, so a plan filter leaves none of them;
      // else any record-made column knows which they are.
      static const std::vector<uint32_t> kNone;
      const bool plan = std::any_of(q.filters.begin(), q.filters.end(),
                                    [](const auto& f) { return f.field == "plan"; });
      out.outside = plan ? &kNone : &columns.front()->unmatched_records;
      return out;
    }
  }
  out.in_ledger = engine::SelectCustomers(*q.ledger, *q.customers, q.filters);
  return out;
}

absl::Status Reader::Refresh(const std::string& tenant_id, const Context& ctx) {
  absl::StatusOr<engine::Tenant> tenant = tenants_.Get(tenant_id, ctx.deadline);
  if (!tenant.ok()) return tenant.status();
  if (!cache_.Peek(HistoryKey(tenant_id, tenant->timezone)).has_value()) {
    return absl::OkStatus();  // nothing warm to keep warm: a refresh never loads a cold tenant
  }
  const std::string today =
      absl::FormatCivilTime(absl::ToCivilDay(absl::Now(), absl::UTCTimeZone()));
  return Prepare({.tenant_id = tenant_id, .start_date = today, .end_date = today},
                 {.interval = false, .movements = false}, ctx)
      .status();
}

absl::Status Reader::LoadHistory(const std::string& tenant_id, Needs needs, const Context& ctx,
                                 Query& q, Selection& selection) {
  absl::StatusOr<store::HistoryVersions> of = store_.HistoryVersionsOf(tenant_id, ctx.deadline);
  if (!of.ok()) return of.status();
  const std::vector<store::PartitionVersion>* versions = &of->subscription_months;
  if (absl::Status s = CheckMonthOrder(*versions); !s.ok()) return s;
  absl::StatusOr<std::vector<std::shared_ptr<const engine::SubscriptionPartition>>> partitions =
      CachedMonths<engine::SubscriptionPartition>(
          tenant_id, CacheKind::kSubscriptionMonth, *versions,
          [this, tenant_id](absl::CivilMonth month, const engine::SubscriptionPartition* base,
                            absl::Time deadline) -> absl::StatusOr<engine::SubscriptionPartition> {
            auto load = store_.SubscriptionMonth(tenant_id, month,
                                                 base != nullptr ? base->version : 0, deadline);
            if (!load.ok()) return load.status();
            engine::SubscriptionPartition p =
                load->whole ? engine::BuildSubscriptionPartition(month, load->rows)
                            : engine::ExtendSubscriptionPartition(*base, load->rows);
            p.version = load->version;
            return p;
          },
          ctx);
  if (!partitions.ok()) return partitions.status();
  // The derived history is current while the sum of the partition versions and the rates'
  // version is unchanged (versions only grow and months are never removed, so any write
  // changes the sum). A stale one is brought up to date from the months that changed
  // (history.h), or rebuilt when the rates its events were converted at changed.
  const cache::PartitionKey key = HistoryKey(tenant_id, q.tenant.timezone);
  const int64_t version = Sum(*versions) + of->exchange_rates;
  const Conversion conversion{.reporting = engine::Iso4217Index(q.tenant.currency),
                              .rates_version = of->exchange_rates,
                              .rates = [&] { return Rates(q.tenant, of->exchange_rates, ctx); }};
  absl::StatusOr<std::shared_ptr<const cache::Snapshot>> history = GetCharged(
      key, version,
      [&]() -> absl::StatusOr<std::shared_ptr<const cache::Snapshot>> {
        std::shared_ptr<const History> previous;
        if (std::optional<cache::PartitionCache::Held> held = cache_.Peek(key); held.has_value()) {
          previous = std::dynamic_pointer_cast<const History>(held->snapshot);
        }
        absl::StatusOr<History> h =
            previous != nullptr
                ? UpdateHistory(*previous, *versions, *partitions, q.tz, ctx.StopFlag(), conversion)
                : BuildHistory(*versions, *partitions, q.tz, ctx.StopFlag(), conversion);
        if (!h.ok()) return h.status();
        return std::make_shared<const History>(std::move(*h));
      },
      ctx);
  if (!history.ok()) return history.status();
  q.history = std::static_pointer_cast<const History>(*history);
  q.rates_version = of->exchange_rates;
  q.subscription_months = *std::move(partitions);
  const History& h = *q.history;
  if (h.WantsCompaction()) {
    // The merge copies every movement: on the loader pool, not in this query (refused
    // when the pool is busy; the update merges itself once the overlay is much larger).
    loaders_.TrySubmit([h = q.history] { h->movements(); });
  }
  q.ledger = &h.ids();
  if (q.filters.empty()) {
    q.movements = needs.movements ? &h.movements() : nullptr;
    q.pauses = &h.pauses();
    q.daily = &h.daily();
    return absl::OkStatus();
  }
  absl::StatusOr<Selection> selected = Select(q, ctx);
  if (!selected.ok()) return selected.status();
  selection = *std::move(selected);
  const std::vector<bool>& include = selection.in_ledger;
  auto filtered = std::make_shared<std::vector<engine::Movement>>();
  for (const engine::Movement& m : h.movements()) {
    if (include[m.customer]) filtered->push_back(m);
  }
  auto filtered_pauses = std::make_shared<std::vector<engine::PauseChange>>();
  for (const engine::PauseChange& p : h.pauses()) {
    if (include[p.customer]) filtered_pauses->push_back(p);
  }
  if (absl::Status s = ctx.memory->Charge(
          *memory_,
          static_cast<int64_t>(filtered->capacity() * sizeof(engine::Movement) +
                               filtered_pauses->capacity() * sizeof(engine::PauseChange)),
          ctx.deadline);
      !s.ok()) {
    return s;
  }
  q.filtered = std::move(filtered);
  q.movements = q.filtered.get();
  q.filtered_pauses = std::move(filtered_pauses);
  q.pauses = q.filtered_pauses.get();
  return absl::OkStatus();
}

absl::StatusOr<UsageView> Reader::Usage(const std::string& tenant_id, absl::Time from,
                                        absl::Time until, bool index, const Context& ctx,
                                        const std::shared_ptr<const engine::Ledger>& ledger) {
  absl::StatusOr<std::vector<store::PartitionVersion>> versions = store_.PartitionVersions(
      tenant_id, store::PartitionKind::kUsageEvents, from, until, ctx.deadline);
  if (!versions.ok()) return versions.status();
  if (absl::Status s = CheckMonthOrder(*versions); !s.ok()) return s;
  absl::StatusOr<engine::UsagePartitions> partitions = CachedMonths<engine::UsagePartition>(
      tenant_id, CacheKind::kUsageMonth, *versions,
      [this, tenant_id](absl::CivilMonth month, const engine::UsagePartition* base,
                        absl::Time deadline) -> absl::StatusOr<engine::UsagePartition> {
        auto load = store_.UsageMonth(tenant_id, month, base, base != nullptr ? base->version : 0,
                                      deadline);
        if (!load.ok()) return load.status();
        load->rows.version = load->version;
        return std::move(load->rows);
      },
      ctx);
  if (!partitions.ok()) return partitions.status();
  UsageView view{std::move(*partitions), nullptr};
  if (!index) return view;
  // The index of exactly these partitions: the month range names the set, the sum of their
  // versions changes with any write or new month in it, and the index checks its months
  // against the partitions at every use (engine::CheckUsageIndex).
  auto month_index = [](absl::Time t) {
    return engine::MonthIndex(absl::ToCivilMonth(t, absl::UTCTimeZone()));
  };
  // A newer version re-indexes only the months that changed (engine::UpdateUsageIndex).
  const cache::PartitionKey key{tenant_id, static_cast<int>(CacheKind::kUsageIndex),
                                month_index(from) * 1000000 + month_index(until)};
  absl::StatusOr<std::shared_ptr<const cache::Snapshot>> built = GetCharged(
      key, Sum(*versions),
      [&]() -> absl::StatusOr<std::shared_ptr<const cache::Snapshot>> {
        std::optional<cache::PartitionCache::Held> held = cache_.Peek(key);
        const auto* previous = held.has_value()
                                   ? dynamic_cast<const Cached<IndexedUsage>*>(held->snapshot.get())
                                   : nullptr;
        return std::make_shared<const Cached<IndexedUsage>>(
            IndexOver(previous != nullptr ? &previous->value : nullptr, view.partitions));
      },
      ctx);
  if (!built.ok()) return built.status();
  std::shared_ptr<const IndexedUsage> indexed = Held<IndexedUsage>(*built);
  // Versions seen do not name the months' contents: a load reads a month as it is then,
  // past the version its query saw, so two queries that saw the same versions can hold
  // different loads of a month (one with a customer more, or numbered otherwise after a
  // reload). An index is only used with the very partitions it was built over; with other
  // ones this query indexes its own (from the cached one: only the months that differ).
  if (const std::vector<bool> over = indexed->Over(view.partitions);
      std::find(over.begin(), over.end(), false) != over.end()) {
    indexed = std::make_shared<const IndexedUsage>(IndexOver(indexed.get(), view.partitions));
  }
  view.index = std::shared_ptr<const engine::UsageIndex>(indexed, &indexed->index);
  if (absl::Status s = engine::CheckUsageIndex(view.partitions, *view.index); !s.ok()) return s;
  if (ledger != nullptr) view.ledger_ids = indexed->LinkTo(ledger);
  return view;
}

template <typename T>
absl::StatusOr<std::shared_ptr<const std::vector<T>>> Reader::TenantWide(
    const std::string& tenant_id, store::PartitionKind kind, CacheKind cache_kind,
    absl::FunctionRef<absl::StatusOr<std::vector<T>>()> load, const Context& ctx) {
  absl::StatusOr<int64_t> version = TenantWideVersion(store_, tenant_id, kind, ctx.deadline);
  if (!version.ok()) return version.status();
  absl::StatusOr<std::shared_ptr<const cache::Snapshot>> got = GetCharged(
      {tenant_id, static_cast<int>(cache_kind), 0}, *version,
      [&]() -> absl::StatusOr<std::shared_ptr<const cache::Snapshot>> {
        absl::StatusOr<std::vector<T>> loaded = load();
        if (!loaded.ok()) return loaded.status();
        return std::make_shared<const Cached<RowList<T>>>(RowList<T>{std::move(*loaded)});
      },
      ctx);
  if (!got.ok()) return got.status();
  const std::shared_ptr<const RowList<T>> list = Held<RowList<T>>(*got);
  return std::shared_ptr<const std::vector<T>>(list, &list->rows);
}

absl::StatusOr<std::shared_ptr<const std::vector<engine::Customer>>> Reader::Customers(
    const std::string& tenant_id, const Context& ctx) {
  return TenantWide<engine::Customer>(
      tenant_id, store::PartitionKind::kCustomers, CacheKind::kCustomers,
      [&] { return store_.Customers(tenant_id, ctx.deadline); }, ctx);
}

absl::StatusOr<std::shared_ptr<const engine::IcpField>> Reader::Column(const Query& q,
                                                                       const std::string& field,
                                                                       const Context& ctx) {
  if (q.history == nullptr) return absl::InternalError("a field column needs the history");
  const std::shared_ptr<const engine::Ledger>& ledger = q.history->shared_ids();
  // The key names the field by a hash and the version mixes what the column was made from;
  // a hit is used only when it is that very field, records and ledger (FieldColumn::Made).
  const cache::PartitionKey key{q.tenant.tenant_id, static_cast<int>(CacheKind::kFieldColumn),
                                static_cast<int>(absl::HashOf(field) & 0x7fffffff)};
  const int64_t version =
      static_cast<int64_t>(absl::HashOf(reinterpret_cast<uintptr_t>(q.customers.get()),
                                        reinterpret_cast<uintptr_t>(ledger.get())) >>
                           1);
  absl::StatusOr<std::shared_ptr<const cache::Snapshot>> got = GetCharged(
      key, version,
      [&]() -> absl::StatusOr<std::shared_ptr<const cache::Snapshot>> {
        return std::make_shared<const Cached<FieldColumn>>(MakeColumn(field, q.customers, ledger));
      },
      ctx);
  if (!got.ok()) return got.status();
  std::shared_ptr<const FieldColumn> column = Held<FieldColumn>(*got);
  if (!column->Made(field, q.customers, ledger)) {
    // Another field or source under the same key and version (a hash collision): made
    // for this query alone.
    column = std::make_shared<const FieldColumn>(MakeColumn(field, q.customers, ledger));
  }
  return std::shared_ptr<const engine::IcpField>(column, &column->values);
}

absl::StatusOr<const engine::RateTable*> QueryRates::Get() {
  if (table_ == nullptr) {
    absl::StatusOr<std::shared_ptr<const engine::RateTable>> loaded =
        reader_.Rates(q_.tenant, q_.rates_version, ctx_);
    if (!loaded.ok()) return loaded.status();
    table_ = *std::move(loaded);
  }
  return table_.get();
}

absl::StatusOr<std::shared_ptr<const engine::RateTable>> Reader::Rates(const engine::Tenant& tenant,
                                                                       int64_t version,
                                                                       const Context& ctx) {
  absl::StatusOr<std::shared_ptr<const cache::Snapshot>> got = GetCharged(
      {tenant.tenant_id, static_cast<int>(CacheKind::kExchangeRates), 0}, version,
      [&]() -> absl::StatusOr<std::shared_ptr<const cache::Snapshot>> {
        absl::StatusOr<std::vector<engine::ExchangeRate>> rows =
            store_.ExchangeRates(tenant.tenant_id, ctx.deadline);
        if (!rows.ok()) return rows.status();
        return std::make_shared<const Cached<engine::RateTable>>(
            engine::RateTable(tenant.currency, *rows));
      },
      ctx);
  if (!got.ok()) return got.status();
  return Held<engine::RateTable>(*got);
}

absl::StatusOr<std::shared_ptr<const std::vector<engine::AcquisitionSpend>>> Reader::Spend(
    const std::string& tenant_id, const Context& ctx) {
  return TenantWide<engine::AcquisitionSpend>(
      tenant_id, store::PartitionKind::kAcquisitionSpend, CacheKind::kSpend,
      [&] { return store_.Spend(tenant_id, ctx.deadline); }, ctx);
}

absl::StatusOr<std::shared_ptr<const std::vector<engine::SurveyResponse>>> Reader::SurveyResponses(
    const std::string& tenant_id, const Context& ctx) {
  return TenantWide<engine::SurveyResponse>(
      tenant_id, store::PartitionKind::kSurveyResponses, CacheKind::kSurveyResponses,
      [&] { return store_.SurveyResponses(tenant_id, ctx.deadline); }, ctx);
}

template <typename Partition>
absl::StatusOr<std::vector<std::shared_ptr<const Partition>>> Reader::CachedMonths(
    const std::string& tenant_id, CacheKind kind,
    const std::vector<store::PartitionVersion>& versions,
    std::function<absl::StatusOr<Partition>(absl::CivilMonth, const Partition*, absl::Time)> build,
    const Context& ctx) {
  // What a month's Get needs, owned jointly by this call and the loader tasks it submits,
  // so a task that starts after the call returned (or failed) touches nothing of its stack.
  struct Shared {
    cache::PartitionCache* cache;
    std::string tenant_id;
    int kind;
    std::vector<store::PartitionVersion> versions;
    std::function<absl::StatusOr<Partition>(absl::CivilMonth, const Partition*, absl::Time)> build;
    absl::Time deadline;
    MemoryBudget* memory;
    // The call's, until the call is over and no task is building for it: tasks still queued
    // then must not keep the call's memory charged.
    std::shared_ptr<MemoryShare> share;
    absl::Mutex mu;
    bool closed = false;  // the call is over (or its deadline passed)
    std::vector<std::optional<absl::StatusOr<std::shared_ptr<const cache::Snapshot>>>> got;
    size_t next = 0;       // the next month nobody has started
    size_t in_flight = 0;  // months started and not finished
  };
  auto shared = std::make_shared<Shared>();
  shared->cache = &cache_;
  shared->tenant_id = tenant_id;
  shared->kind = static_cast<int>(kind);
  shared->versions = versions;
  shared->build = std::move(build);
  shared->deadline = ctx.deadline;
  shared->memory = memory_.get();
  shared->share = ctx.memory;
  shared->got.resize(versions.size());
  // A month from the cache, or built and charged to the call's memory share.
  auto get = [](Shared& s, size_t i) -> absl::StatusOr<std::shared_ptr<const cache::Snapshot>> {
    const store::PartitionVersion& v = s.versions[i];
    const cache::PartitionKey key{s.tenant_id, s.kind, engine::MonthIndex(v.month)};
    return ChargedGet(
        *s.cache, *s.memory, *s.share, key, v.version,
        [&]() -> absl::StatusOr<std::shared_ptr<const cache::Snapshot>> {
          // The version held is the base of a delta load (store::MetricsStore), or already
          // current: a load reads the month as it is then, which may be past the version
          // this query saw.
          std::shared_ptr<const Cached<Partition>> base;
          if (std::optional<cache::PartitionCache::Held> held = s.cache->Peek(key)) {
            base = std::dynamic_pointer_cast<const Cached<Partition>>(held->snapshot);
          }
          if (base != nullptr && base->value.version >= v.version) return base;
          absl::StatusOr<Partition> partition =
              s.build(v.month, base != nullptr ? &base->value : nullptr, s.deadline);
          if (!partition.ok()) return partition.status();
          return std::make_shared<const Cached<Partition>>(std::move(*partition));
        },
        s.deadline);
  };
  // Takes months in order until none is left.
  auto drain = [get](Shared& s) {
    while (true) {
      size_t i;
      {
        absl::MutexLock lock(&s.mu);
        if (s.next >= s.versions.size()) return;
        i = s.next++;
        ++s.in_flight;
      }
      auto result = get(s, i);
      std::shared_ptr<MemoryShare> release;  // given back outside the lock
      absl::MutexLock lock(&s.mu);
      if (!result.ok()) s.next = s.versions.size();  // one failed: nobody starts another
      s.got[i] = std::move(result);
      if (--s.in_flight == 0 && s.closed) release = std::move(s.share);
    }
  };
  // Helpers only once a month is missing: a query served from the cache submits nothing.
  size_t first_missing = versions.size();
  for (size_t i = 0; i < versions.size(); ++i) {
    auto held =
        cache_.Peek({tenant_id, static_cast<int>(kind), engine::MonthIndex(versions[i].month)});
    if (!held.has_value() || held->version != versions[i].version) {
      first_missing = i;
      break;
    }
  }
  if (first_missing < versions.size()) {
    const size_t helpers =
        std::min<size_t>(limits_.parallel_loads - 1, versions.size() - first_missing - 1);
    for (size_t t = 0; t < helpers; ++t) {
      // A refused helper (pool busy) only means this call loads more months itself.
      loaders_.TrySubmit([shared, drain] { drain(*shared); });
    }
  }
  drain(*shared);
  // Months a helper took are finished by it (each waits within the deadline). Then the
  // call lets go of its memory share: a helper still building past the deadline lets go
  // when it finishes, and one still queued never takes it.
  {
    std::shared_ptr<MemoryShare> release;  // given back outside the lock
    absl::MutexLock lock(&shared->mu);
    auto all_done = [&]() ABSL_SHARED_LOCKS_REQUIRED(shared->mu) {
      return shared->next >= shared->versions.size() && shared->in_flight == 0;
    };
    const bool done = shared->mu.AwaitWithDeadline(absl::Condition(&all_done), ctx.deadline);
    shared->closed = true;
    if (shared->in_flight == 0) release = std::move(shared->share);
    if (!done) return absl::DeadlineExceededError("deadline passed while partitions were loading");
  }
  // Every task is done with `got` now; the months leave with the call, not with the last
  // queued helper.
  auto got = std::move(shared->got);
  if (absl::Status s = ctx.Check(); !s.ok()) return s;
  std::vector<std::shared_ptr<const Partition>> out;
  out.reserve(versions.size());
  for (auto& snapshot : got) {  // a month not started follows one that failed
    if (snapshot.has_value() && !snapshot->ok()) return snapshot->status();
  }
  for (auto& snapshot : got) out.push_back(Held<Partition>(**snapshot));
  return out;
}

}  // namespace saasmetrics::query
