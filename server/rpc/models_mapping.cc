#include "server/rpc/models_mapping.h"

#include <google/protobuf/util/json_util.h>

#include <cmath>

#include "absl/strings/str_cat.h"

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

void ToProto(const engine::Model& m, v1::Model* out) {
  out->set_kind(m.kind == engine::ModelKind::kChurn ? v1::MODEL_KIND_CHURN : v1::MODEL_KIND_UPSELL);
  out->set_horizon_days(m.horizon_days);
  out->set_lambda(m.lambda);
  out->set_candidates(m.candidates);
  out->set_examples(m.examples);
  out->set_positives(m.positives);
  out->set_intercept(m.intercept);
  out->set_intercept_standard_error(m.intercept_standard_error);
  for (const engine::FeatureReport& f : m.features) {
    v1::ModelFeature* o = out->add_features();
    o->set_name(f.name);
    o->set_dropped(f.dropped);
    o->set_coefficient(f.coefficient);
    o->set_standard_error(f.standard_error);
    o->set_odds_ratio(std::exp(f.coefficient));
    o->set_mean(f.mean);
    o->set_sd(f.sd);
  }
  for (size_t f = 0; f < m.encoding.fields.size(); ++f) {
    v1::FieldEncoding* o = out->add_encoding();
    o->set_field(m.encoding.fields[f]);
    for (const std::string& v : m.encoding.values[f]) o->add_values(v);
  }
  v1::ModelEvaluation* e = out->mutable_evaluation();
  e->set_method(m.time_split ? "time_split" : "cross_validation");
  e->set_examples(m.evaluation.examples);
  e->set_positives(m.evaluation.positives);
  if (m.evaluation.auc.has_value()) e->mutable_auc()->set_value(*m.evaluation.auc);
  e->set_brier(m.evaluation.brier);
  e->set_log_loss(m.evaluation.log_loss);
  for (const engine::CalibrationBin& b : m.evaluation.calibration) {
    v1::CalibrationBin* o = e->add_calibration();
    o->set_lower(b.lower);
    o->set_upper(b.upper);
    o->set_examples(b.examples);
    o->set_positives(b.positives);
    if (b.mean_predicted.has_value()) o->mutable_mean_predicted()->set_value(*b.mean_predicted);
    if (b.observed.has_value()) o->mutable_observed()->set_value(*b.observed);
  }
  e->set_label_months(static_cast<int32_t>(m.label_months));
  e->set_test_months(static_cast<int32_t>(m.test_months));
}

engine::Model FromProto(const v1::Model& in) {
  engine::Model m;
  m.kind =
      in.kind() == v1::MODEL_KIND_UPSELL ? engine::ModelKind::kUpsell : engine::ModelKind::kChurn;
  m.horizon_days = in.horizon_days();
  m.lambda = in.lambda();
  m.engagement = !in.engagement_model_id().empty();
  m.intercept = in.intercept();
  for (const v1::FieldEncoding& f : in.encoding()) {
    m.encoding.fields.push_back(f.field());
    m.encoding.values.emplace_back(f.values().begin(), f.values().end());
  }
  for (const v1::ModelFeature& f : in.features()) {
    engine::FeatureReport& r = m.features.emplace_back();
    r.name = f.name();
    r.dropped = f.dropped();
    r.coefficient = f.coefficient();
    r.standard_error = f.standard_error();
    r.mean = f.mean();
    r.sd = f.sd();
  }
  return m;
}

std::string StoredJson(const v1::Model& model) {
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(model, &json);
  return json;
}

absl::StatusOr<v1::Model> FromStored(const store::StoredDefinition& stored) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // models written by a newer version stay readable
  v1::Model out;
  if (!google::protobuf::util::JsonStringToMessage(stored.definition, &out, options).ok()) {
    return absl::DataLossError(
        absl::StrCat("stored model '", stored.id, "' has an unreadable definition"));
  }
  return out;
}

}  // namespace saasmetrics::rpc
