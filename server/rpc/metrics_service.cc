#include "server/rpc/metrics_service.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <limits>
#include <thread>
#include <tuple>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/engine/cohorts.h"
#include "server/engine/dates.h"
#include "server/engine/partition.h"
#include "server/engine/series.h"
#include "server/rpc/pql_mapping.h"
#include "server/rpc/status.h"

namespace saasmetrics::rpc {
namespace {

constexpr absl::string_view kService = "saasmetrics.v1.MetricsService";
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
// Cache kind of derived whole-history snapshots (partition kinds are 1-4).
constexpr int kHistoryKind = 100;
constexpr int kUsageIndexKind = 101;

template <typename Msg, typename Mutable>
void MaybeSet(std::optional<double> r, Msg* msg, Mutable mutable_field) {
  if (r.has_value()) (msg->*mutable_field)()->set_value(*r);
}

void FillSummary(int64_t current, int64_t previous, v1::Summary* out) {
  out->set_current(current);
  out->set_previous(previous);
  if (previous != 0) {
    out->mutable_percentage_change()->set_value(100.0 * static_cast<double>(current - previous) /
                                                static_cast<double>(previous));
  }
}

// Anything with bytes(), as the cache holds it.
template <typename T>
class Cached : public cache::Snapshot {
 public:
  explicit Cached(T v) : value(std::move(v)) {}
  size_t bytes() const override { return value.bytes(); }
  const T value;
};

// A tenant's whole subscription history, merged, with its movements from the first day
// to the last event's (in one time zone). Movements on a day depend only on events up
// to that day, so one such snapshot answers every range by filtering days.
struct History {
  engine::Ledger ledger;
  std::vector<engine::Movement> movements;
  size_t bytes() const {
    size_t b = sizeof(*this) + ledger.events.capacity() * sizeof(engine::LedgerEvent) +
               movements.capacity() * sizeof(engine::Movement);
    for (const auto& id : ledger.customer_ids) b += sizeof(id) + id.capacity() + 16;
    for (const auto& id : ledger.subscription_ids) b += sizeof(id) + id.capacity();
    for (const auto& plans : ledger.customer_plans) b += sizeof(plans) + plans.size() * 32;
    return b;
  }
};

grpc::Status CheckTypes(const google::protobuf::RepeatedPtrField<std::string>& types,
                        absl::string_view field, bool required) {
  if (required && types.empty())
    return InvalidArgument({{std::string(field), "needs at least one event type"}});
  for (int i = 0; i < types.size(); ++i) {
    if (types[i].empty()) {
      return InvalidArgument({{absl::StrCat(field, "[", i, "]"), "must not be empty"}});
    }
  }
  return grpc::Status::OK;
}

v1::MovementType ToProto(engine::MovementType t) {
  return static_cast<v1::MovementType>(static_cast<int>(t));
}

}  // namespace

grpc::Status MetricsService::Prepare(const v1::MetricsQuery& q, bool need_interval,
                                     absl::Time deadline, Query* out, bool need_customers,
                                     bool need_history) {
  engine::Violations violations;
  engine::ValidateTenantId(q.tenant_id(), "query.tenant_id", violations);
  const bool start_ok = engine::ParseIsoDate(q.start_date(), &out->start);
  const bool end_ok = engine::ParseIsoDate(q.end_date(), &out->end);
  if (!start_ok) {
    violations.push_back(
        {"query.start_date", absl::StrCat("'", q.start_date(), "' is not a date YYYY-MM-DD")});
  }
  if (!end_ok) {
    violations.push_back(
        {"query.end_date", absl::StrCat("'", q.end_date(), "' is not a date YYYY-MM-DD")});
  }
  if (start_ok && end_ok) {
    if (out->end < out->start) {
      violations.push_back(
          {"query.end_date", absl::StrCat("must not be before start_date (", q.start_date(), ")")});
    } else if (out->end - out->start + 1 > limits_.max_query_days) {
      violations.push_back(
          {"query.end_date",
           absl::StrCat("the range spans ", out->end - out->start + 1, " days; the limit is ",
                        limits_.max_query_days, " (--max_query_days)")});
    }
  }
  const int interval = q.interval();
  if (interval >= v1::INTERVAL_DAY && interval <= v1::INTERVAL_YEAR) {
    out->interval = static_cast<engine::Interval>(interval);
  } else if (need_interval || interval != v1::INTERVAL_UNSPECIFIED) {
    violations.push_back(
        {"query.interval", interval == v1::INTERVAL_UNSPECIFIED
                               ? std::string("is required (DAY, WEEK, MONTH, QUARTER or YEAR)")
                               : absl::StrCat("unknown value ", interval)});
  }
  for (int i = 0; i < q.filter_size(); ++i) {
    engine::CustomerFilter f;
    std::string error = engine::ParseFilter(q.filter(i), &f);
    if (!error.empty()) {
      violations.push_back({absl::StrCat("query.filter[", i, "]"), error});
    } else {
      out->filters.push_back(std::move(f));
    }
  }
  if (!violations.empty()) return InvalidArgument(violations);

  absl::StatusOr<engine::Tenant> tenant = tenants_.Get(q.tenant_id(), deadline);
  if (!tenant.ok()) return ToGrpcStatus(tenant.status());
  out->tenant = *tenant;
  if (!absl::LoadTimeZone(tenant->timezone, &out->tz)) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("tenant time zone '", tenant->timezone, "' is unknown"));
  }
  out->periods = engine::CutPeriods(out->start, out->end, out->interval);

  if (!out->filters.empty() || need_customers) {
    absl::StatusOr<std::vector<engine::Customer>> loaded =
        store_.Customers(q.tenant_id(), deadline);
    if (!loaded.ok()) return ToGrpcStatus(loaded.status());
    out->customers = std::move(*loaded);
  }
  static const engine::Ledger kNoLedger;
  static const std::vector<engine::Movement> kNoMovements;
  const bool plan_filter = std::any_of(out->filters.begin(), out->filters.end(),
                                       [](const auto& f) { return f.field == "plan"; });
  if (!need_history && !plan_filter) {
    out->ledger = &kNoLedger;
    out->movements = &kNoMovements;
    return grpc::Status::OK;
  }
  // The whole history: its derived snapshot is current while the sum of the partition
  // versions is unchanged (versions only grow, so any write changes the sum).
  absl::StatusOr<std::vector<store::PartitionVersion>> versions =
      store_.PartitionVersions(q.tenant_id(), store::PartitionKind::kSubscriptionEvents,
                               absl::InfinitePast(), absl::InfiniteFuture(), deadline);
  if (!versions.ok()) return ToGrpcStatus(versions.status());
  int64_t version_sum = 0;
  for (const store::PartitionVersion& v : *versions) version_sum += v.version;
  auto build_history = [&]() -> absl::StatusOr<std::shared_ptr<const cache::Snapshot>> {
    absl::StatusOr<std::vector<std::shared_ptr<const engine::SubscriptionPartition>>> partitions =
        CachedMonths<engine::SubscriptionPartition>(
            q.tenant_id(), store::PartitionKind::kSubscriptionEvents, *versions,
            [&](absl::CivilMonth month) -> absl::StatusOr<engine::SubscriptionPartition> {
              auto events = store_.SubscriptionMonth(q.tenant_id(), month, deadline);
              if (!events.ok()) return events.status();
              return engine::BuildSubscriptionPartition(month, *events);
            });
    if (!partitions.ok()) return partitions.status();
    History h{engine::MergePartitions(*partitions, std::numeric_limits<int64_t>::max()), {}};
    int64_t last_us = 0;
    for (const engine::LedgerEvent& e : h.ledger.events) last_us = std::max(last_us, e.at_us);
    const engine::MrrTimeline timeline = engine::MrrTimeline::Build(
        h.ledger.events, static_cast<int32_t>(h.ledger.customer_ids.size()));
    h.movements =
        timeline.Movements(out->tz, absl::ToCivilDay(absl::FromUnixMicros(last_us), out->tz));
    return std::make_shared<const Cached<History>>(std::move(h));
  };
  const cache::PartitionKey history_key{absl::StrCat(q.tenant_id(), "@", out->tenant.timezone),
                                        kHistoryKind, 0};
  absl::StatusOr<std::shared_ptr<const cache::Snapshot>> history =
      cache_.Get(history_key, version_sum, build_history);
  if (!history.ok()) return ToGrpcStatus(history.status());
  const History& h = static_cast<const Cached<History>&>(**history).value;
  out->history = *history;
  out->ledger = &h.ledger;
  if (out->filters.empty()) {
    out->movements = &h.movements;
    return grpc::Status::OK;
  }
  const std::vector<bool> include = engine::SelectCustomers(h.ledger, out->customers, out->filters);
  for (const engine::Movement& m : h.movements) {
    if (include[m.customer]) out->filtered.push_back(m);
  }
  out->movements = &out->filtered;
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* MetricsService::GetMrr(grpc::CallbackServerContext* ctx,
                                                 const v1::GetMrrRequest* req,
                                                 v1::GetMrrResponse* resp) {
  return RunUnary(ctx, env_, kService, "GetMrr", [this, req, resp](absl::Time deadline) {
    Query q;
    if (grpc::Status s = Prepare(req->query(), true, deadline, &q); !s.ok()) return s;
    const engine::MrrSeries series = engine::ComputeMrrSeries(*q.movements, q.periods);
    resp->set_currency(q.tenant.currency);
    resp->set_start_mrr(series.start_mrr);
    for (const engine::MrrPoint& p : series.points) {
      v1::MrrEntry* e = resp->add_entries();
      e->set_date(engine::FormatIsoDate(p.period.last));
      e->set_mrr(p.mrr);
      e->set_arr(12 * p.mrr);
      e->set_customers(p.paying);
      if (auto arpa = p.arpa()) e->mutable_arpa()->set_value(*arpa);
      e->set_new_business(p.movements.new_business);
      e->set_expansion(p.movements.expansion);
      e->set_contraction(p.movements.contraction);
      e->set_churn(p.movements.churn);
      e->set_reactivation(p.movements.reactivation);
    }
    const size_t n = series.points.size();
    FillSummary(series.points.back().mrr, n > 1 ? series.points[n - 2].mrr : series.start_mrr,
                resp->mutable_summary());
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* MetricsService::GetChurn(grpc::CallbackServerContext* ctx,
                                                   const v1::GetChurnRequest* req,
                                                   v1::GetChurnResponse* resp) {
  return RunUnary(ctx, env_, kService, "GetChurn", [this, req, resp](absl::Time deadline) {
    Query q;
    if (grpc::Status s = Prepare(req->query(), true, deadline, &q); !s.ok()) return s;
    for (const engine::ChurnPoint& c : engine::ComputeChurnSeries(*q.movements, q.periods)) {
      v1::ChurnEntry* e = resp->add_entries();
      e->set_date(engine::FormatIsoDate(c.period.last));
      e->set_customers_at_start(c.customers_at_start);
      e->set_churned_customers(c.churned);
      MaybeSet(c.customer_churn_rate(), e, &v1::ChurnEntry::mutable_customer_churn_rate);
      MaybeSet(c.gross_mrr_churn_rate(), e, &v1::ChurnEntry::mutable_gross_mrr_churn_rate);
      MaybeSet(c.net_mrr_churn_rate(), e, &v1::ChurnEntry::mutable_net_mrr_churn_rate);
      MaybeSet(c.nrr(), e, &v1::ChurnEntry::mutable_nrr);
      MaybeSet(c.grr(), e, &v1::ChurnEntry::mutable_grr);
      MaybeSet(c.quick_ratio(), e, &v1::ChurnEntry::mutable_quick_ratio);
    }
    return grpc::Status::OK;
  });
}

grpc::Status MetricsService::LoadUsage(const std::string& tenant_id, absl::Time from,
                                       absl::Time until, absl::Time deadline,
                                       engine::UsagePartitions* out, int64_t* version_sum) {
  absl::StatusOr<std::vector<store::PartitionVersion>> versions = store_.PartitionVersions(
      tenant_id, store::PartitionKind::kUsageEvents, from, until, deadline);
  if (!versions.ok()) return ToGrpcStatus(versions.status());
  if (version_sum != nullptr) {
    for (const store::PartitionVersion& v : *versions) *version_sum += v.version;
  }
  absl::StatusOr<engine::UsagePartitions> partitions = CachedMonths<engine::UsagePartition>(
      tenant_id, store::PartitionKind::kUsageEvents, *versions,
      [&](absl::CivilMonth month) { return store_.UsageMonth(tenant_id, month, deadline); });
  if (!partitions.ok()) return ToGrpcStatus(partitions.status());
  *out = std::move(*partitions);
  return grpc::Status::OK;
}

template <typename Partition>
absl::StatusOr<std::vector<std::shared_ptr<const Partition>>> MetricsService::CachedMonths(
    const std::string& tenant_id, store::PartitionKind kind,
    const std::vector<store::PartitionVersion>& versions,
    absl::FunctionRef<absl::StatusOr<Partition>(absl::CivilMonth)> build) {
  std::vector<absl::StatusOr<std::shared_ptr<const cache::Snapshot>>> got(
      versions.size(), absl::InternalError("not loaded"));
  // Months missing from the cache load a few at a time, so PostgreSQL producing one
  // month overlaps with this process building another. Helpers start at the first miss,
  // so a query served from the cache starts no thread.
  constexpr size_t kParallelLoads = 3;
  std::atomic<size_t> next{0};
  std::atomic<bool> started{false};
  std::vector<std::thread> helpers;  // started and joined by this thread only
  std::function<void()> drain;
  auto get = [&](size_t i) {
    const store::PartitionVersion& v = versions[i];
    const cache::PartitionKey key{tenant_id, static_cast<int>(kind), engine::MonthIndex(v.month)};
    got[i] =
        cache_.Get(key, v.version, [&]() -> absl::StatusOr<std::shared_ptr<const cache::Snapshot>> {
          // Before helpers exist only this thread loads, so the first miss is ours.
          if (!started.exchange(true)) {
            for (size_t t = 1; t < std::min(kParallelLoads, versions.size() - i); ++t) {
              helpers.emplace_back(drain);
            }
          }
          absl::StatusOr<Partition> partition = build(v.month);
          if (!partition.ok()) return partition.status();
          return std::make_shared<const Cached<Partition>>(std::move(*partition));
        });
  };
  drain = [&] {
    for (size_t i; (i = next++) < versions.size();) get(i);
  };
  drain();
  for (std::thread& t : helpers) t.join();
  std::vector<std::shared_ptr<const Partition>> out;
  for (auto& snapshot : got) {
    if (!snapshot.ok()) return snapshot.status();
    // Aliasing: the partition lives as long as the cache entry's snapshot does.
    out.emplace_back(*snapshot, &static_cast<const Cached<Partition>&>(**snapshot).value);
  }
  return out;
}

engine::CustomerSet MetricsService::Selected(const Query& q) {
  if (q.filters.empty()) return std::nullopt;
  return engine::SelectCustomerIds(*q.ledger, q.customers, q.filters);
}

grpc::ServerUnaryReactor* MetricsService::GetActiveCustomers(
    grpc::CallbackServerContext* ctx, const v1::GetActiveCustomersRequest* req,
    v1::GetActiveCustomersResponse* resp) {
  return RunUnary(
      ctx, env_, kService, "GetActiveCustomers", [this, req, resp](absl::Time deadline) {
        if (grpc::Status s = CheckTypes(req->event_types(), "event_types", false); !s.ok())
          return s;
        Query q;
        if (grpc::Status s = Prepare(req->query(), true, deadline, &q, false, false); !s.ok())
          return s;
        engine::UsagePartitions usage;
        int64_t version_sum = 0;
        const absl::Time from = engine::DayStart(q.start, q.tz);
        const absl::Time until = engine::DayStart(q.end + 1, q.tz);
        if (grpc::Status s =
                LoadUsage(req->query().tenant_id(), from, until, deadline, &usage, &version_sum);
            !s.ok()) {
          return s;
        }
        // The dense-id index of exactly these partitions: the month range names the set, and
        // the sum of their versions changes with any write or new month in it.
        auto month_index = [](absl::Time t) {
          return engine::MonthIndex(absl::ToCivilMonth(t, absl::UTCTimeZone()));
        };
        const cache::PartitionKey index_key{req->query().tenant_id(), kUsageIndexKind,
                                            month_index(from) * 1000000 + month_index(until)};
        absl::StatusOr<std::shared_ptr<const cache::Snapshot>> index =
            cache_.Get(index_key, version_sum,
                       [&]() -> absl::StatusOr<std::shared_ptr<const cache::Snapshot>> {
                         return std::make_shared<const Cached<engine::UsageIndex>>(
                             engine::BuildUsageIndex(usage));
                       });
        if (!index.ok()) return ToGrpcStatus(index.status());
        const std::vector<std::string> types(req->event_types().begin(), req->event_types().end());
        const std::vector<int64_t> active = engine::ActiveCustomers(
            usage, static_cast<const Cached<engine::UsageIndex>&>(**index).value, q.periods, q.tz,
            types, Selected(q));
        for (size_t p = 0; p < q.periods.size(); ++p) {
          v1::ActiveCustomersEntry* e = resp->add_entries();
          e->set_date(engine::FormatIsoDate(q.periods[p].last));
          e->set_active_customers(active[p]);
        }
        const size_t n = active.size();
        FillSummary(active.back(), n > 1 ? active[n - 2] : 0, resp->mutable_summary());
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* MetricsService::GetActivation(grpc::CallbackServerContext* ctx,
                                                        const v1::GetActivationRequest* req,
                                                        v1::GetActivationResponse* resp) {
  return RunUnary(ctx, env_, kService, "GetActivation", [this, req, resp](absl::Time deadline) {
    if (grpc::Status s = CheckTypes(req->activation_event_types(), "activation_event_types", true);
        !s.ok()) {
      return s;
    }
    const int window_days = req->window_days() == 0 ? 14 : req->window_days();
    if (window_days < 1 || window_days > 365) {
      return InvalidArgument(
          {{"window_days", absl::StrCat("must be between 1 and 365, got ", window_days)}});
    }
    Query q;
    if (grpc::Status s = Prepare(req->query(), true, deadline, &q, true, false); !s.ok()) {
      return s;
    }
    const absl::Duration window = absl::Hours(24 * window_days);
    engine::UsagePartitions usage;
    if (grpc::Status s = LoadUsage(req->query().tenant_id(), engine::DayStart(q.start, q.tz),
                                   engine::DayStart(q.end + 1, q.tz) + window, deadline, &usage);
        !s.ok()) {
      return s;
    }
    const std::vector<std::string> types(req->activation_event_types().begin(),
                                         req->activation_event_types().end());
    for (const engine::ActivationPoint& a :
         engine::Activation(usage, q.customers, q.periods, q.tz, types, window, Selected(q))) {
      v1::ActivationEntry* e = resp->add_entries();
      e->set_date(engine::FormatIsoDate(a.period.last));
      e->set_new_customers(a.new_customers);
      e->set_activated(a.activated);
      MaybeSet(a.rate(), e, &v1::ActivationEntry::mutable_activation_rate);
    }
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* MetricsService::GetPqlCount(grpc::CallbackServerContext* ctx,
                                                      const v1::GetPqlCountRequest* req,
                                                      v1::GetPqlCountResponse* resp) {
  return RunUnary(ctx, env_, kService, "GetPqlCount", [this, req, resp](absl::Time deadline) {
    engine::Violations violations;
    if (!engine::IsValidResourceId(req->rule_id())) {
      violations.push_back({"rule_id", absl::StrCat("'", req->rule_id(), "' is not a rule id")});
    }
    const int window = req->conversion_window_days() == 0 ? 30 : req->conversion_window_days();
    if (window < 1 || window > 365) {
      violations.push_back(
          {"conversion_window_days", absl::StrCat("must be between 1 and 365, got ", window)});
    }
    if (!violations.empty()) return InvalidArgument(violations);
    Query q;
    if (grpc::Status s = Prepare(req->query(), true, deadline, &q); !s.ok()) return s;
    absl::StatusOr<store::StoredPqlRule> stored =
        rules_.Get(req->query().tenant_id(), req->rule_id(), deadline);
    if (!stored.ok()) return ToGrpcStatus(stored.status());
    absl::StatusOr<v1::PqlRule> rule = FromStored(*stored);
    if (!rule.ok()) return ToGrpcStatus(rule.status());
    const engine::PqlRule engine_rule = FromProto(*rule);
    engine::UsagePartitions usage;
    if (grpc::Status s = LoadUsage(req->query().tenant_id(),
                                   engine::DayStart(q.start - (engine_rule.window_days - 1), q.tz),
                                   engine::DayStart(q.end + 1, q.tz), deadline, &usage);
        !s.ok()) {
      return s;
    }
    const std::vector<engine::PqlPoint> points =
        engine::CountPqls(engine_rule, usage, *q.movements, q.ledger->customer_ids, q.periods, q.tz,
                          window, Selected(q));
    for (const engine::PqlPoint& p : points) {
      v1::PqlEntry* e = resp->add_entries();
      e->set_date(engine::FormatIsoDate(p.period.last));
      e->set_pqls(p.pqls);
      e->set_conversions(p.conversions);
      MaybeSet(p.conversion_rate(), e, &v1::PqlEntry::mutable_conversion_rate);
    }
    const size_t n = points.size();
    FillSummary(points.back().pqls, n > 1 ? points[n - 2].pqls : 0, resp->mutable_summary());
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* MetricsService::GetCohortRetention(
    grpc::CallbackServerContext* ctx, const v1::GetCohortRetentionRequest* req,
    v1::GetCohortRetentionResponse* resp) {
  return RunUnary(
      ctx, env_, kService, "GetCohortRetention", [this, req, resp](absl::Time deadline) {
        if (!req->group_by().empty() && !engine::IsCustomerField(req->group_by())) {
          return InvalidArgument({{"group_by", absl::StrCat("unknown field '", req->group_by(),
                                                            "' (acquisition_channel, country or "
                                                            "attributes.<key>)")}});
        }
        Query q;
        const bool grouped = !req->group_by().empty();
        if (grpc::Status s = Prepare(req->query(), true, deadline, &q, grouped); !s.ok()) return s;
        const std::vector<std::string> groups =
            grouped ? engine::CustomerField(*q.ledger, q.customers, req->group_by())
                    : std::vector<std::string>{};
        for (const engine::Cohort& c : engine::ComputeCohorts(*q.movements, q.periods, groups)) {
          v1::Cohort* out = resp->add_cohorts();
          out->set_period(engine::FormatIsoDate(q.periods[c.period].last));
          out->set_group(c.group);
          out->set_customers(c.customers);
          out->set_initial_mrr(c.initial_mrr);
          for (const engine::CohortCell& cell : c.cells) {
            v1::CohortCell* o = out->add_cells();
            o->set_period_offset(cell.offset);
            o->set_customers(cell.paying);
            o->set_mrr(cell.mrr);
            MaybeSet(c.logo_retention(cell), o, &v1::CohortCell::mutable_logo_retention);
            MaybeSet(c.mrr_retention(cell), o, &v1::CohortCell::mutable_mrr_retention);
          }
        }
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* MetricsService::GetUnitEconomics(grpc::CallbackServerContext* ctx,
                                                           const v1::GetUnitEconomicsRequest* req,
                                                           v1::GetUnitEconomicsResponse* resp) {
  return RunUnary(ctx, env_, kService, "GetUnitEconomics", [this, req, resp](absl::Time deadline) {
    const int window = req->ltv_churn_window_months() == 0 ? 6 : req->ltv_churn_window_months();
    if (window < 1 || window > 36) {
      return InvalidArgument(
          {{"ltv_churn_window_months", absl::StrCat("must be between 1 and 36, got ", window)}});
    }
    Query q;
    if (grpc::Status s = Prepare(req->query(), true, deadline, &q, true); !s.ok()) return s;
    absl::StatusOr<std::vector<engine::AcquisitionSpend>> spend =
        store_.Spend(req->query().tenant_id(), deadline);
    if (!spend.ok()) return ToGrpcStatus(spend.status());
    std::vector<engine::SpendRow> rows;
    for (const auto& a : *spend) rows.push_back({a.channel, a.start_date, a.end_date, a.amount});
    const std::vector<std::string> channels =
        engine::CustomerField(*q.ledger, q.customers, "acquisition_channel");
    resp->set_currency(q.tenant.currency);
    for (const engine::UnitEconomics& u : engine::ComputeUnitEconomics(
             *q.movements, q.periods, channels, rows, q.tenant.gross_margin, window)) {
      v1::UnitEconomicsEntry* e = resp->add_entries();
      e->set_date(engine::FormatIsoDate(u.period.last));
      e->set_new_customers(u.new_customers);
      if (u.asp) e->mutable_asp()->set_value(*u.asp);
      if (u.arpa) e->mutable_arpa()->set_value(*u.arpa);
      if (u.ltv) e->mutable_ltv()->set_value(*u.ltv);
      e->set_spend(u.spend);
      if (u.cac) e->mutable_cac()->set_value(*u.cac);
      MaybeSet(u.ltv_to_cac, e, &v1::UnitEconomicsEntry::mutable_ltv_to_cac);
      MaybeSet(u.cac_payback_months, e, &v1::UnitEconomicsEntry::mutable_cac_payback_months);
      for (const auto& c : u.channels) {
        v1::ChannelEconomics* ch = e->add_channels();
        ch->set_channel(c.channel);
        ch->set_spend(c.spend);
        ch->set_new_customers(c.new_customers);
        if (c.cac) ch->mutable_cac()->set_value(*c.cac);
      }
    }
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* MetricsService::ListMovements(grpc::CallbackServerContext* ctx,
                                                        const v1::ListMovementsRequest* req,
                                                        v1::ListMovementsResponse* resp) {
  return RunUnary(ctx, env_, kService, "ListMovements", [this, req, resp](absl::Time deadline) {
    engine::Violations violations;
    if (req->page_size() < 0) violations.push_back({"page_size", "must not be negative"});
    // The token is the (day, customer id) of the last movement served.
    absl::CivilDay after_day;
    std::string after_customer;
    if (!req->page_token().empty()) {
      std::string token;
      const bool decoded = absl::WebSafeBase64Unescape(req->page_token(), &token);
      std::pair<std::string, std::string> parts = absl::StrSplit(token, absl::MaxSplits('|', 1));
      if (!decoded || !engine::ParseIsoDate(parts.first, &after_day)) {
        violations.push_back({"page_token", "is not a token this service issued"});
      }
      after_customer = parts.second;
    }
    for (int i = 0; i < req->types_size(); ++i) {
      if (req->types(i) < v1::MOVEMENT_TYPE_NEW_BUSINESS ||
          req->types(i) > v1::MOVEMENT_TYPE_REACTIVATION) {
        violations.push_back(
            {absl::StrCat("types[", i, "]"), absl::StrCat("unknown value ", req->types(i))});
      }
    }
    if (!violations.empty()) return InvalidArgument(violations);
    Query q;
    if (grpc::Status s = Prepare(req->query(), false, deadline, &q); !s.ok()) return s;

    // Movements in the range, ordered by day then customer id.
    std::vector<const engine::Movement*> selected;
    for (const engine::Movement& m : *q.movements) {
      if (m.day < q.start || m.day > q.end) continue;
      if (req->types_size() > 0 && std::find(req->types().begin(), req->types().end(),
                                             ToProto(m.type)) == req->types().end()) {
        continue;
      }
      selected.push_back(&m);
    }
    auto key = [&](const engine::Movement* m) {
      return std::tie(m->day, q.ledger->customer_ids[m->customer]);
    };
    std::sort(selected.begin(), selected.end(),
              [&](const auto* a, const auto* b) { return key(a) < key(b); });
    auto first = selected.begin();
    if (!req->page_token().empty()) {
      first = std::upper_bound(selected.begin(), selected.end(), 0,
                               [&](int, const engine::Movement* m) {
                                 return std::tie(after_day, after_customer) < key(m);
                               });
    }
    const int page_size =
        req->page_size() == 0 ? kDefaultPageSize : std::min(req->page_size(), kMaxPageSize);
    // The subscriptions whose events fall on a movement's day, for drill-down: only the
    // page's customers need theirs.
    absl::flat_hash_map<int32_t, std::vector<const engine::LedgerEvent*>> by_customer;
    for (auto m = first; m != selected.end() && m - first < page_size; ++m) {
      by_customer[(*m)->customer];
    }
    for (const engine::LedgerEvent& e : q.ledger->events) {
      auto c = by_customer.find(e.customer);
      if (c != by_customer.end()) c->second.push_back(&e);
    }
    auto it = first;
    for (; it != selected.end() && resp->movements_size() < page_size; ++it) {
      const engine::Movement& m = **it;
      v1::Movement* out = resp->add_movements();
      out->set_date(engine::FormatIsoDate(m.day));
      out->set_customer_id(q.ledger->customer_ids[m.customer]);
      out->set_type(ToProto(m.type));
      out->set_amount(m.amount);
      out->set_mrr_before(m.before);
      out->set_mrr_after(m.after);
      std::vector<std::string> subs;
      for (const engine::LedgerEvent* e : by_customer.at(m.customer)) {
        if (absl::ToCivilDay(absl::FromUnixMicros(e->at_us), q.tz) != m.day) continue;
        const std::string& id = q.ledger->subscription_ids[e->subscription];
        if (std::find(subs.begin(), subs.end(), id) == subs.end()) subs.push_back(id);
      }
      std::sort(subs.begin(), subs.end());
      for (auto& s : subs) out->add_subscription_ids(s);
    }
    if (it != selected.end()) {
      resp->set_next_page_token(absl::WebSafeBase64Escape(absl::StrCat(
          resp->movements().rbegin()->date(), "|", resp->movements().rbegin()->customer_id())));
    }
    return grpc::Status::OK;
  });
}

}  // namespace saasmetrics::rpc
