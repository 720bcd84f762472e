#include "server/rpc/metrics_mapping.h"

#include "absl/strings/str_cat.h"
#include "server/engine/dates.h"
#include "server/engine/filters.h"
#include "server/rpc/convert.h"

namespace saasmetrics::rpc {
namespace {

// ChartMogul's summary: the last entry, the one before, and the change between them.
void FillSummary(int64_t current, int64_t previous, v1::Summary* out) {
  out->set_current(current);
  out->set_previous(previous);
  if (previous != 0) {
    out->mutable_percentage_change()->set_value(100.0 * static_cast<double>(current - previous) /
                                                static_cast<double>(previous));
  }
}

}  // namespace

void CheckGroupName(absl::string_view field, const std::string& value, GroupNames allowed,
                    engine::Violations& out) {
  if (engine::IsCustomerField(value) || (allowed.plan && value == "plan") ||
      (allowed.health && value == "health")) {
    return;
  }
  out.push_back({std::string(field),
                 absl::StrCat("unknown field '", value, "' (acquisition_channel, country, ",
                              allowed.plan ? "plan, " : "", allowed.health ? "health, " : "",
                              "or attributes.<key>)")});
}

query::QuerySpec SpecFrom(const v1::MetricsQuery& q) {
  // v1::Interval and engine::Interval share their numbering (DAY = 1 … YEAR = 5).
  return query::QuerySpec{.tenant_id = q.tenant_id(),
                          .start_date = q.start_date(),
                          .end_date = q.end_date(),
                          .interval = static_cast<int>(q.interval()),
                          .filters = {q.filter().begin(), q.filter().end()}};
}

void ToProto(const std::vector<std::vector<engine::CurrencyMrr>>& by_currency,
             v1::GetMrrResponse* out) {
  for (size_t i = 0; i < by_currency.size() && i < static_cast<size_t>(out->entries_size()); ++i) {
    for (const engine::CurrencyMrr& c : by_currency[i]) {
      v1::CurrencyMrr* o = out->mutable_entries(static_cast<int>(i))->add_by_currency();
      o->set_currency(c.currency);
      o->set_mrr(c.mrr);
    }
  }
}

void ToProto(const engine::MrrSeries& series, v1::GetMrrResponse* out) {
  out->set_start_mrr(series.start_mrr);
  for (const engine::MrrPoint& p : series.points) {
    v1::MrrEntry* e = out->add_entries();
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
              out->mutable_summary());
}

void ToProto(const std::vector<engine::ChurnPoint>& points,
             google::protobuf::RepeatedPtrField<v1::ChurnEntry>* out) {
  for (const engine::ChurnPoint& c : points) {
    v1::ChurnEntry* e = out->Add();
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
}

void ToProto(const std::vector<engine::Period>& periods, const std::vector<int64_t>& active,
             v1::GetActiveCustomersResponse* out) {
  for (size_t p = 0; p < periods.size(); ++p) {
    v1::ActiveCustomersEntry* e = out->add_entries();
    e->set_date(engine::FormatIsoDate(periods[p].last));
    e->set_active_customers(active[p]);
  }
  const size_t n = active.size();
  FillSummary(active.back(), n > 1 ? active[n - 2] : 0, out->mutable_summary());
}

void ToProto(const std::vector<engine::ActivationPoint>& points, v1::GetActivationResponse* out) {
  for (const engine::ActivationPoint& a : points) {
    v1::ActivationEntry* e = out->add_entries();
    e->set_date(engine::FormatIsoDate(a.period.last));
    e->set_new_customers(a.new_customers);
    e->set_activated(a.activated);
    MaybeSet(a.rate(), e, &v1::ActivationEntry::mutable_activation_rate);
  }
}

void ToProto(const std::vector<engine::PqlPoint>& points, v1::GetPqlCountResponse* out) {
  for (const engine::PqlPoint& p : points) {
    v1::PqlEntry* e = out->add_entries();
    e->set_date(engine::FormatIsoDate(p.period.last));
    e->set_pqls(p.pqls);
    e->set_conversions(p.conversions);
    MaybeSet(p.conversion_rate(), e, &v1::PqlEntry::mutable_conversion_rate);
  }
  const size_t n = points.size();
  FillSummary(points.back().pqls, n > 1 ? points[n - 2].pqls : 0, out->mutable_summary());
}

void ToProto(const std::vector<engine::Period>& periods, const std::vector<engine::Cohort>& cohorts,
             v1::GetCohortRetentionResponse* out) {
  for (const engine::Cohort& c : cohorts) {
    v1::Cohort* o = out->add_cohorts();
    o->set_period(engine::FormatIsoDate(periods[c.period].last));
    o->set_group(c.group);
    o->set_customers(c.customers);
    o->set_initial_mrr(c.initial_mrr);
    for (const engine::CohortCell& cell : c.cells) {
      v1::CohortCell* oc = o->add_cells();
      oc->set_period_offset(cell.offset);
      oc->set_customers(cell.paying);
      oc->set_mrr(cell.mrr);
      MaybeSet(c.logo_retention(cell), oc, &v1::CohortCell::mutable_logo_retention);
      MaybeSet(c.mrr_retention(cell), oc, &v1::CohortCell::mutable_mrr_retention);
    }
  }
}

void ToProto(const std::vector<engine::UnitEconomics>& entries, v1::GetUnitEconomicsResponse* out) {
  for (const engine::UnitEconomics& u : entries) {
    v1::UnitEconomicsEntry* e = out->add_entries();
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
}

void ToProto(const query::MovementRow& row, v1::Movement* out) {
  const engine::Movement& m = row.movement;
  out->set_date(engine::FormatIsoDate(m.day));
  out->set_customer_id(row.customer_id);
  // v1::MovementType and engine::MovementType share their numbering.
  out->set_type(static_cast<v1::MovementType>(static_cast<int>(m.type)));
  out->set_amount(m.amount);
  out->set_mrr_before(m.before);
  out->set_mrr_after(m.after);
  for (const std::string& s : row.subscription_ids) out->add_subscription_ids(s);
}

void ToProto(const std::vector<engine::MrrByCohortPoint>& points, v1::GetMrrByCohortResponse* out) {
  for (const engine::MrrByCohortPoint& p : points) {
    out->add_cohorts(engine::FormatIsoDate(p.period.first));
    v1::MrrByCohortEntry* e = out->add_entries();
    e->set_date(engine::FormatIsoDate(p.period.last));
    e->set_mrr(p.mrr);
    e->set_earlier_mrr(p.earlier_mrr);
    for (int64_t layer : p.layers) e->add_layer_mrr(layer);
    e->set_existing_mrr(p.existing_mrr);
    MaybeSet(p.existing_share(), e, &v1::MrrByCohortEntry::mutable_existing_share);
  }
}

}  // namespace saasmetrics::rpc
