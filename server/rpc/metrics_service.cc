#include "server/rpc/metrics_service.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <limits>
#include <thread>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/auth/keys.h"
#include "server/engine/cohorts.h"
#include "server/engine/dates.h"
#include "server/engine/partition.h"
#include "server/engine/series.h"
#include "server/rpc/metrics_mapping.h"
#include "server/rpc/pql_mapping.h"
#include "server/rpc/status.h"

namespace saasmetrics::rpc {
namespace {

constexpr absl::string_view kService = "saasmetrics.v1.MetricsService";
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

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

// What a ListMovements page token is bound to: the tenant and everything that selects the
// movements.
std::string MovementsTokenContext(const v1::ListMovementsRequest& req) {
  const v1::MetricsQuery& q = req.query();
  std::string context =
      absl::StrCat("ListMovements", absl::string_view("\0", 1), q.tenant_id(),
                   absl::string_view("\0", 1), q.start_date(), "..", q.end_date());
  for (const std::string& f : q.filter()) absl::StrAppend(&context, absl::string_view("\0", 1), f);
  for (int t : req.types()) absl::StrAppend(&context, "|", t);
  return context;
}

v1::MovementType ToProto(engine::MovementType t) {
  return static_cast<v1::MovementType>(static_cast<int>(t));
}

}  // namespace

grpc::ServerUnaryReactor* MetricsService::GetMrr(grpc::CallbackServerContext* ctx,
                                                 const v1::GetMrrRequest* req,
                                                 v1::GetMrrResponse* resp) {
  return RunUnary(
      ctx, env_, kService, "GetMrr", {auth::kRead, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        absl::StatusOr<query::Query> prepared = reader_.Prepare(
            SpecFrom(req->query()), {.interval = true, .history = true, .customers = false}, ctx);
        if (!prepared.ok()) return ToGrpcStatus(prepared.status());
        const query::Query& q = *prepared;
        const engine::MrrSeries series = q.daily != nullptr
                                             ? engine::ComputeMrrSeries(*q.daily, q.periods)
                                             : engine::ComputeMrrSeries(*q.movements, q.periods);
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
  return RunUnary(
      ctx, env_, kService, "GetChurn", {auth::kRead, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        absl::StatusOr<query::Query> prepared = reader_.Prepare(
            SpecFrom(req->query()), {.interval = true, .history = true, .customers = false}, ctx);
        if (!prepared.ok()) return ToGrpcStatus(prepared.status());
        const query::Query& q = *prepared;
        for (const engine::ChurnPoint& c :
             engine::ComputeChurnSeries(*q.movements, q.periods, q.pauses)) {
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

grpc::ServerUnaryReactor* MetricsService::GetActiveCustomers(
    grpc::CallbackServerContext* ctx, const v1::GetActiveCustomersRequest* req,
    v1::GetActiveCustomersResponse* resp) {
  return RunUnary(
      ctx, env_, kService, "GetActiveCustomers", {auth::kRead, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        if (grpc::Status s = CheckTypes(req->event_types(), "event_types", false); !s.ok())
          return s;
        absl::StatusOr<query::Query> prepared = reader_.Prepare(
            SpecFrom(req->query()), {.interval = true, .history = false, .customers = false}, ctx);
        if (!prepared.ok()) return ToGrpcStatus(prepared.status());
        const query::Query& q = *prepared;
        absl::StatusOr<query::UsageView> usage =
            reader_.Usage(req->query().tenant_id(), engine::DayStart(q.start, q.tz),
                          engine::DayStart(q.end + 1, q.tz), /*index=*/true, ctx);
        if (!usage.ok()) return ToGrpcStatus(usage.status());
        const std::vector<std::string> types(req->event_types().begin(), req->event_types().end());
        const absl::StatusOr<std::vector<int64_t>> counted = engine::ActiveCustomers(
            usage->partitions, *usage->index, q.periods, q.tz, types, q.selected);
        if (!counted.ok()) return ToGrpcStatus(counted.status());
        const std::vector<int64_t>& active = *counted;
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
  return RunUnary(
      ctx, env_, kService, "GetActivation", {auth::kRead, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        if (grpc::Status s =
                CheckTypes(req->activation_event_types(), "activation_event_types", true);
            !s.ok()) {
          return s;
        }
        const int window_days = req->window_days() == 0 ? 14 : req->window_days();
        if (window_days < 1 || window_days > 365) {
          return InvalidArgument(
              {{"window_days", absl::StrCat("must be between 1 and 365, got ", window_days)}});
        }
        absl::StatusOr<query::Query> prepared = reader_.Prepare(
            SpecFrom(req->query()), {.interval = true, .history = false, .customers = true}, ctx);
        if (!prepared.ok()) return ToGrpcStatus(prepared.status());
        const query::Query& q = *prepared;
        const absl::Duration window = absl::Hours(24 * window_days);
        absl::StatusOr<query::UsageView> usage =
            reader_.Usage(req->query().tenant_id(), engine::DayStart(q.start, q.tz),
                          engine::DayStart(q.end + 1, q.tz) + window, /*index=*/false, ctx);
        if (!usage.ok()) return ToGrpcStatus(usage.status());
        const std::vector<std::string> types(req->activation_event_types().begin(),
                                             req->activation_event_types().end());
        for (const engine::ActivationPoint& a : engine::Activation(
                 usage->partitions, *q.customers, q.periods, q.tz, types, window, q.selected)) {
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
  return RunUnary(
      ctx, env_, kService, "GetPqlCount", {auth::kRead, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        engine::Violations violations;
        if (!engine::IsValidResourceId(req->rule_id())) {
          violations.push_back(
              {"rule_id", absl::StrCat("'", req->rule_id(), "' is not a rule id")});
        }
        const int window = req->conversion_window_days() == 0 ? 30 : req->conversion_window_days();
        if (window < 1 || window > 365) {
          violations.push_back(
              {"conversion_window_days", absl::StrCat("must be between 1 and 365, got ", window)});
        }
        if (!violations.empty()) return InvalidArgument(violations);
        absl::StatusOr<query::Query> prepared = reader_.Prepare(
            SpecFrom(req->query()), {.interval = true, .history = true, .customers = false}, ctx);
        if (!prepared.ok()) return ToGrpcStatus(prepared.status());
        const query::Query& q = *prepared;
        absl::StatusOr<store::StoredPqlRule> stored =
            rules_.Get(req->query().tenant_id(), req->rule_id(), ctx.deadline);
        if (!stored.ok()) return ToGrpcStatus(stored.status());
        absl::StatusOr<v1::PqlRule> rule = FromStored(*stored);
        if (!rule.ok()) return ToGrpcStatus(rule.status());
        const engine::PqlRule engine_rule = FromProto(*rule);
        absl::StatusOr<query::UsageView> usage =
            reader_.Usage(req->query().tenant_id(),
                          engine::DayStart(q.start - (engine_rule.window_days - 1), q.tz),
                          engine::DayStart(q.end + 1, q.tz), /*index=*/false, ctx);
        if (!usage.ok()) return ToGrpcStatus(usage.status());
        const std::vector<engine::PqlPoint> points =
            engine::CountPqls(engine_rule, usage->partitions, *q.movements, q.ledger->customer_ids,
                              q.periods, q.tz, window, q.selected);
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
      ctx, env_, kService, "GetCohortRetention", {auth::kRead, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        if (!req->group_by().empty() && !engine::IsCustomerField(req->group_by())) {
          return InvalidArgument({{"group_by", absl::StrCat("unknown field '", req->group_by(),
                                                            "' (acquisition_channel, country or "
                                                            "attributes.<key>)")}});
        }
        const bool grouped = !req->group_by().empty();
        absl::StatusOr<query::Query> prepared = reader_.Prepare(
            SpecFrom(req->query()), {.interval = true, .history = true, .customers = grouped}, ctx);
        if (!prepared.ok()) return ToGrpcStatus(prepared.status());
        const query::Query& q = *prepared;
        const std::vector<std::string> groups =
            grouped ? engine::CustomerField(*q.ledger, *q.customers, req->group_by())
                    : std::vector<std::string>{};
        // Cells: a cohort per period (and group), an offset per later period.
        const int64_t n = static_cast<int64_t>(q.periods.size());
        const int64_t group_count =
            grouped ? static_cast<int64_t>(
                          absl::flat_hash_set<std::string>(groups.begin(), groups.end()).size())
                    : 1;
        if (absl::Status s = reader_.CheckAnswerSize(
                n * (n + 1) / 2 * std::max<int64_t>(group_count, 1), "cohort cells");
            !s.ok()) {
          return ToGrpcStatus(s);
        }
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
  return RunUnary(
      ctx, env_, kService, "GetUnitEconomics", {auth::kRead, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        const int window = req->ltv_churn_window_months() == 0 ? 6 : req->ltv_churn_window_months();
        if (window < 1 || window > 36) {
          return InvalidArgument({{"ltv_churn_window_months",
                                   absl::StrCat("must be between 1 and 36, got ", window)}});
        }
        absl::StatusOr<query::Query> prepared = reader_.Prepare(
            SpecFrom(req->query()), {.interval = true, .history = true, .customers = true}, ctx);
        if (!prepared.ok()) return ToGrpcStatus(prepared.status());
        const query::Query& q = *prepared;
        absl::StatusOr<std::shared_ptr<const std::vector<engine::AcquisitionSpend>>> spend =
            reader_.Spend(req->query().tenant_id(), ctx);
        if (!spend.ok()) return ToGrpcStatus(spend.status());
        std::vector<engine::SpendRow> rows;
        for (const auto& a : **spend)
          rows.push_back({a.channel, a.start_date, a.end_date, a.amount});
        const std::vector<std::string> channels =
            engine::CustomerField(*q.ledger, *q.customers, "acquisition_channel");
        absl::flat_hash_set<std::string> distinct(channels.begin(), channels.end());
        for (const auto& r : rows) distinct.insert(r.channel);
        if (absl::Status s = reader_.CheckAnswerSize(
                static_cast<int64_t>(q.periods.size()) * static_cast<int64_t>(distinct.size() + 1),
                "period × channel entries");
            !s.ok()) {
          return ToGrpcStatus(s);
        }
        resp->set_currency(q.tenant.currency);
        for (const engine::UnitEconomics& u :
             engine::ComputeUnitEconomics(*q.movements, q.periods, channels, rows,
                                          q.tenant.gross_margin, window, q.pauses)) {
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
  return RunUnary(
      ctx, env_, kService, "ListMovements", {auth::kRead, req->query().tenant_id()},
      [this, req, resp](const query::Context& ctx) {
        engine::Violations violations;
        if (req->page_size() < 0) violations.push_back({"page_size", "must not be negative"});
        // The token is the (day, customer id) of the last movement served, sealed for this
        // tenant and query (auth::SealToken): it cannot be forged, nor used elsewhere.
        const std::string token_context = MovementsTokenContext(*req);
        absl::CivilDay after_day;
        std::string after_customer;
        if (!req->page_token().empty()) {
          const std::optional<std::string> token =
              auth::OpenToken(page_secret_, token_context, req->page_token());
          std::pair<std::string, std::string> parts =
              absl::StrSplit(token.value_or(""), absl::MaxSplits('|', 1));
          if (!token.has_value() || !engine::ParseIsoDate(parts.first, &after_day)) {
            violations.push_back(
                {"page_token", "is not a token this service issued for this query"});
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
        absl::StatusOr<query::Query> prepared = reader_.Prepare(
            SpecFrom(req->query()), {.interval = false, .history = true, .customers = false}, ctx);
        if (!prepared.ok()) return ToGrpcStatus(prepared.status());
        const query::Query& q =
            *prepared;  // Movements in the range, ordered by day then customer id.
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
        // Drill-down: each listed customer's events, then the subscriptions whose MRR
        // changed on the movement's day. Only the page's customers need theirs.
        absl::flat_hash_map<int32_t, std::vector<engine::LedgerEvent>> by_customer;
        for (auto m = first; m != selected.end() && m - first < page_size; ++m) {
          by_customer[(*m)->customer];
        }
        for (const engine::LedgerEvent& e : q.ledger->events) {
          auto c = by_customer.find(e.customer);
          if (c != by_customer.end()) c->second.push_back(e);
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
          for (int32_t s : engine::ChangedSubscriptions(by_customer.at(m.customer), m.day, q.tz)) {
            subs.push_back(q.ledger->subscription_ids[s]);
          }
          std::sort(subs.begin(), subs.end());
          for (auto& s : subs) out->add_subscription_ids(s);
        }
        if (it != selected.end()) {
          resp->set_next_page_token(
              auth::SealToken(page_secret_, token_context,
                              absl::StrCat(resp->movements().rbegin()->date(), "|",
                                           resp->movements().rbegin()->customer_id())));
        }
        return grpc::Status::OK;
      });
}

}  // namespace saasmetrics::rpc
