// The query layer: validates what a metric request asks, plans the partitions it needs,
// takes them from the cache or loads them (on the shared loader pool), keeps the derived
// snapshots (the merged subscription history with its movements, usage indexes), and
// hands the engine what it computes on. No gRPC here: errors are absl::Status, and
// INVALID_ARGUMENT carries field violations (engine::InvalidArgumentError).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/cache/partition_cache.h"
#include "server/engine/events.h"
#include "server/engine/filters.h"
#include "server/engine/icp.h"
#include "server/engine/ledger.h"
#include "server/engine/periods.h"
#include "server/engine/series.h"
#include "server/engine/tenant.h"
#include "server/engine/usage.h"
#include "server/query/context.h"
#include "server/query/history.h"
#include "server/query/memory.h"
#include "server/query/thread_pool.h"
#include "server/store/metrics_store.h"
#include "server/store/tenant_store.h"

namespace saasmetrics::query {

// Everything the cache holds, by kind. Partition kinds share store::PartitionKind's values.
enum class CacheKind : int {
  kSubscriptionMonth = 1,
  kUsageMonth = 2,
  kCustomers = 3,
  kSpend = 4,
  kSurveyResponses = 5,
  kExchangeRates = 6,  // a tenant's rates into its reporting currency (engine::RateTable)
  kHistory = 100,      // a tenant's merged subscription history and movements, per time zone
  kUsageIndex = 101,   // dense customer ids over a range of usage months
  kFieldColumn = 102,  // one customer field's values per ledger id
};

// What a metric request asks, as the client wrote it; Prepare validates it. Violations
// name fields under `prefix` ("query.start_date").
struct QuerySpec {
  std::string tenant_id;
  std::string start_date, end_date;  // inclusive, YYYY-MM-DD in the tenant's zone
  int interval = 0;                  // engine::Interval; 0: unspecified
  std::vector<std::string> filters;  // "field=value[,value…]"
  std::string prefix = "query";
};

// What a metric computes on, beyond the tenant and its periods.
struct Needs {
  bool interval = true;    // an interval is required
  bool history = true;     // subscription history (a plan filter loads it regardless)
  bool customers = false;  // the customer table even without filters
  // The movements list (false: the per-day totals do, unless there are filters).
  bool movements = true;
};

struct ReaderLimits {
  int max_query_days = 3700;  // about ten years
  // Most periods (series entries, or cohort rows) one answer may have.
  int max_periods = 3700;
  // Most cells (cohorts × offsets, entries × channels, …) one answer may have: about
  // 100 MB of response at the largest.
  int64_t max_answer_cells = 2000000;
  int parallel_loads = 3;  // months one query loads at once when they are missing
  // What the queries in flight may build beyond what the cache holds (query/memory.h);
  // 0: no limit.
  int64_t query_memory_bytes = 0;
};

// A validated query, with what every metric computes from. Holds shared snapshots, so
// what it points to stays valid while it lives, whatever the cache evicts.
struct Query {
  engine::Tenant tenant;
  absl::TimeZone tz;
  absl::CivilDay start, end;
  engine::Interval interval = engine::Interval::kMonth;
  std::vector<engine::CustomerFilter> filters;
  std::vector<engine::Period> periods;
  // Keeps `ledger` and the movements alive; its months hold the events (null without
  // history).
  std::shared_ptr<const History> history;
  int64_t rates_version = 0;  // of the exchange rates the history converted at (Reader::Rates)
  SubscriptionPartitions subscription_months;  // what the history was read from, in month order
  const engine::Ledger* ledger = nullptr;      // ids and plans only (no events)
  // The history's movements of the selected customers (ordered by customer, then day);
  // null when Needs::movements was false and there are no filters. Consumers ignore days
  // after their last period.
  const std::vector<engine::Movement>* movements = nullptr;
  // The movements summed per day; null under filters (sum `movements` then).
  const engine::DailyTotals* daily = nullptr;
  // Changes of the selected customers' paused state (a paused customer is not churned).
  const std::vector<engine::PauseChange>* pauses = nullptr;
  // What `movements` and `pauses` point to under filters (on the heap: a Query is moved).
  std::shared_ptr<const std::vector<engine::Movement>> filtered;
  std::shared_ptr<const std::vector<engine::PauseChange>> filtered_pauses;
  std::shared_ptr<const std::vector<engine::Customer>> customers;  // never null
  // The customers the filters select, as external ids (nullopt: no filters).
  engine::CustomerSet selected;
};

// Usage partitions of a range, in month order, with their dense-id index when asked.
struct UsageView {
  engine::UsagePartitions partitions;
  std::shared_ptr<const engine::UsageIndex> index;  // null unless asked for
  // With the index and a ledger: per dense id, the customer's id in the ledger (-1: none;
  // engine::LinkToLedger), kept with the index while neither's ids change.
  std::shared_ptr<const std::vector<int32_t>> ledger_ids;
};

class Reader {
 public:
  Reader(ReaderLimits limits, store::TenantStore& tenants, store::MetricsStore& store,
         cache::PartitionCache& cache, ThreadPool& loaders)
      : limits_(limits),
        tenants_(tenants),
        store_(store),
        cache_(cache),
        loaders_(loaders),
        memory_(std::make_unique<MemoryBudget>(limits.query_memory_bytes)) {}

  // Validates `spec`, reads the tenant, and loads what `needs` asks.
  absl::StatusOr<Query> Prepare(const QuerySpec& spec, Needs needs, const Context& ctx);

  // The usage partitions overlapping [from, until), each current per its version, in month
  // order; with `index`, the cached dense-id index of exactly those partitions, and with
  // `ledger` too, the index's customers linked to it.
  absl::StatusOr<UsageView> Usage(const std::string& tenant_id, absl::Time from, absl::Time until,
                                  bool index, const Context& ctx,
                                  const std::shared_ptr<const engine::Ledger>& ledger = nullptr);

  // Brings the tenant's cached subscription history (months and derived history) up to
  // date with what is stored, as the next query would; nothing when none is cached.
  // Refresher runs it after writes.
  absl::Status Refresh(const std::string& tenant_id, const Context& ctx);

  // The tenant's acquisition spend, cached by version.
  absl::StatusOr<std::shared_ptr<const std::vector<engine::AcquisitionSpend>>> Spend(
      const std::string& tenant_id, const Context& ctx);

  // The tenant's settings as stored (NOT_FOUND for an unknown one).
  absl::StatusOr<engine::Tenant> Tenant(const std::string& tenant_id, const Context& ctx) {
    return tenants_.Get(tenant_id, ctx.deadline);
  }

  // One customer's subscription events (not cached: a profile reads a handful of rows).
  absl::StatusOr<std::vector<engine::SubscriptionEvent>> CustomerSubscriptionEvents(
      const std::string& tenant_id, const std::string& customer_id, const Context& ctx) {
    return store_.CustomerSubscriptionEvents(tenant_id, customer_id, ctx.deadline);
  }

  // The tenant's exchange rates at `version` (the store's, as HistoryVersionsOf read it).
  absl::StatusOr<std::shared_ptr<const engine::RateTable>> Rates(const engine::Tenant& tenant,
                                                                 int64_t version,
                                                                 const Context& ctx);
  // The tenant's survey responses, cached by version.
  absl::StatusOr<std::shared_ptr<const std::vector<engine::SurveyResponse>>> SurveyResponses(
      const std::string& tenant_id, const Context& ctx);

  // RESOURCE_EXHAUSTED naming the limit and what to narrow when `cells` exceeds the answer
  // budget; `what` says what the cells are ("cohort cells").
  absl::Status CheckAnswerSize(int64_t cells, absl::string_view what) const;

  // Runs every task at once on the loader pool's free threads and the caller's
  // (ThreadPool::RunAll): for a computation that splits.
  void RunAll(std::vector<std::function<void()>>& tasks) { loaders_.RunAll(tasks); }

  // The query memory budget: what calls in flight hold of it.
  const MemoryBudget& memory() const { return *memory_; }
  // Charges `bytes` a query built outside the cache to the call's share of the budget.
  absl::Status Charge(int64_t bytes, const Context& ctx) {
    return ctx.memory->Charge(*memory_, bytes, ctx.deadline);
  }

  // One customer field's values (acquisition_channel, country, plan, attributes.<key>;
  // validated by the caller) per id of the query's ledger, interned: `begin` and `ids` run
  // over every ledger id, a customer without a record has the empty value "(none)". Made
  // from the query's customer records (Needs::customers) and cached while the query holds
  // those very records and ledger (not just their versions: the records outside the ledger
  // are kept by position), so a query reads a customer's value by position.
  absl::StatusOr<std::shared_ptr<const engine::IcpField>> Column(const Query& q,
                                                                 const std::string& field,
                                                                 const Context& ctx);

 private:
  absl::StatusOr<std::shared_ptr<const std::vector<engine::Customer>>> Customers(
      const std::string& tenant_id, const Context& ctx);
  // SelectCustomers for the query's ledger: from the cached field columns when the query
  // has the history (a hit costs a pass over small integers), else from the records; and,
  // when the columns know them, which records are outside the ledger.
  struct Selection {
    std::vector<bool> in_ledger;
    const std::vector<uint32_t>* outside = nullptr;  // in `columns`, or static; null: unknown
    std::vector<std::shared_ptr<const engine::IcpField>> columns;
  };
  absl::StatusOr<Selection> Select(const Query& q, const Context& ctx);
  // Sets the query's history; with filters, also its filtered movements and `selection`.
  absl::Status LoadHistory(const std::string& tenant_id, Needs needs, const Context& ctx, Query& q,
                           Selection& selection);
  // cache_.Get, with what `build` made (on a miss) charged to the call's memory share.
  absl::StatusOr<std::shared_ptr<const cache::Snapshot>> GetCharged(
      const cache::PartitionKey& key, int64_t version,
      absl::FunctionRef<absl::StatusOr<std::shared_ptr<const cache::Snapshot>>()> build,
      const Context& ctx);
  // A tenant-wide table (one partition of `kind`), cached by its version.
  template <typename T>
  absl::StatusOr<std::shared_ptr<const std::vector<T>>> TenantWide(
      const std::string& tenant_id, store::PartitionKind kind, CacheKind cache_kind,
      absl::FunctionRef<absl::StatusOr<std::vector<T>>()> load, const Context& ctx);
  // Every month of `versions` as a cached partition, missing ones loaded a few at a time on
  // the loader pool; `build` gets the month's older version when the cache holds one, to
  // read only what was written since.
  template <typename Partition>
  absl::StatusOr<std::vector<std::shared_ptr<const Partition>>> CachedMonths(
      const std::string& tenant_id, CacheKind kind,
      const std::vector<store::PartitionVersion>& versions,
      std::function<absl::StatusOr<Partition>(absl::CivilMonth, const Partition* base, absl::Time)>
          build,
      const Context& ctx);

  ReaderLimits limits_;
  store::TenantStore& tenants_;
  store::MetricsStore& store_;
  cache::PartitionCache& cache_;
  ThreadPool& loaders_;
  std::unique_ptr<MemoryBudget> memory_;
};

// A query's exchange rates (Reader::Rates at the version its history converted at), read
// on first use: a query whose amounts are all in the reporting currency never reads them.
class QueryRates {
 public:
  QueryRates(Reader& reader, const Query& q, const Context& ctx)
      : reader_(reader), q_(q), ctx_(ctx) {}
  absl::StatusOr<const engine::RateTable*> Get();

 private:
  Reader& reader_;
  const Query& q_;
  const Context& ctx_;
  std::shared_ptr<const engine::RateTable> table_;
};

}  // namespace saasmetrics::query
