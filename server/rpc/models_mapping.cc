#include "server/rpc/models_mapping.h"

#include <cmath>

namespace saasmetrics::rpc {

void ToProto(const query::SurvivalAnswer& answer, v1::GetSurvivalResponse* out) {
  for (const query::SurvivalGroup& g : answer.groups) {
    v1::SurvivalGroup* o = out->add_groups();
    o->set_group(g.group);
    o->set_customers(g.curve.lifetimes);
    o->set_churned(g.curve.churned);
    if (g.curve.median_days.has_value()) o->mutable_median_days()->set_value(*g.curve.median_days);
    o->set_longest_days(g.curve.longest_days);
    o->set_expected_churned(g.expected_churned);
    for (const engine::SurvivalPoint& p : g.curve.points) {
      v1::SurvivalPoint* po = o->add_points();
      po->set_day(p.day);
      po->set_survival(p.survival);
      po->set_standard_error(p.standard_error);
      if (p.lower.has_value()) po->mutable_lower()->set_value(*p.lower);
      if (p.upper.has_value()) po->mutable_upper()->set_value(*p.upper);
      po->set_at_risk(p.at_risk);
      po->set_churned(p.churned);
    }
  }
  if (answer.log_rank.has_value()) {
    v1::LogRankTest* t = out->mutable_log_rank();
    t->set_chi_square(answer.log_rank->chi_square);
    t->set_degrees_of_freedom(answer.log_rank->degrees_of_freedom);
    t->set_p_value(answer.log_rank->p_value);
  }
  for (const query::HazardTerm& t : answer.cox) {
    v1::HazardRatio* o = out->add_cox();
    o->set_field(t.field);
    o->set_value(t.value);
    o->set_reference(t.reference);
    o->set_customers(t.customers);
    o->set_churned(t.churned);
    if (!t.coefficient.has_value()) continue;
    const double b = *t.coefficient, se = *t.standard_error;
    o->mutable_coefficient()->set_value(b);
    o->mutable_standard_error()->set_value(se);
    o->mutable_hazard_ratio()->set_value(std::exp(b));
    o->mutable_lower()->set_value(std::exp(b - engine::kZ95 * se));
    o->mutable_upper()->set_value(std::exp(b + engine::kZ95 * se));
  }
  out->set_cox_customers(answer.cox_customers);
}

void ToProto(const engine::DriversResult& result, v1::GetRetentionDriversResponse* out) {
  out->set_customers(result.customers);
  out->set_retained(result.retained);
  for (const engine::RetentionDriver& d : result.drivers) {
    v1::RetentionDriver* o = out->add_drivers();
    o->set_type(d.type);
    o->set_did(d.did);
    o->set_did_retained(d.did_retained);
    o->set_did_not(d.did_not);
    o->set_did_not_retained(d.did_not_retained);
    if (d.retention_did.has_value()) o->mutable_retention_did()->set_value(*d.retention_did);
    if (d.retention_did_not.has_value()) {
      o->mutable_retention_did_not()->set_value(*d.retention_did_not);
    }
    if (d.lift.has_value()) o->mutable_lift()->set_value(*d.lift);
    if (d.difference.has_value()) o->mutable_difference()->set_value(*d.difference);
    o->set_p_value(d.p_value);
    o->set_eligible(d.eligible);
  }
}

}  // namespace saasmetrics::rpc
