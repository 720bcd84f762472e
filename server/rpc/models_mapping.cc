#include "server/rpc/models_mapping.h"

#include <google/protobuf/util/json_util.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/engine/dates.h"
#include "server/engine/tenant.h"
#include "server/rpc/convert.h"
#include "server/rpc/metrics_mapping.h"

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

absl::Time TimeOr(bool has, const google::protobuf::Timestamp& t, absl::Time fallback,
                  const char* field, engine::Violations& violations) {
  if (!has) return fallback;
  // 1970-01-01 to 9999-12-31: the days the tenant's calendar can name.
  if (t.seconds() < 0 || t.seconds() > 253402300799 || t.nanos() < 0 || t.nanos() > 999999999) {
    violations.push_back({field, "must be a valid time from 1970 to 9999"});
    return fallback;
  }
  return FromProto(t);
}

void CheckFieldNames(absl::string_view name,
                     const google::protobuf::RepeatedPtrField<std::string>& fields, int most,
                     engine::Violations& violations) {
  if (fields.size() > most) {
    violations.push_back({std::string(name), absl::StrCat("name at most ", most, " fields")});
  }
  for (int i = 0; i < fields.size() && i < most; ++i) {
    const std::string at = absl::StrCat(name, "[", i, "]");
    CheckGroupName(at, fields[i], {.plan = true}, violations);
    for (int j = 0; j < i; ++j) {
      if (fields[j] == fields[i]) {
        violations.push_back({at, absl::StrCat("repeats ", name, "[", j, "]")});
      }
    }
  }
}

namespace {

// A count from 0 (`fallback`) to `most`.
int32_t Bounded(const char* field, int32_t value, int32_t fallback, int32_t most,
                engine::Violations& violations) {
  if (value < 0 || value > most) {
    violations.push_back({field, absl::StrCat("must be 0 (default ", fallback, ") to ", most)});
  }
  return value == 0 ? fallback : value;
}

}  // namespace

engine::DriverSettings DriverSettingsFrom(const v1::GetRetentionDriversRequest& req, absl::Time now,
                                          engine::Violations& violations) {
  engine::DriverSettings s;
  s.min_events = Bounded("min_events", req.min_events(), 1, 10000, violations);
  s.window_days = Bounded("window_days", req.window_days(), 14, 366, violations);
  s.retained_days = Bounded("retained_days", req.retained_days(), 90, 3660, violations);
  s.as_of = TimeOr(req.has_as_of(), req.as_of(), now, "as_of", violations);
  return s;
}

engine::TrainSettings TrainSettingsFrom(const v1::TrainModelRequest& req, absl::Time now,
                                        engine::Violations& violations) {
  if (!engine::IsValidResourceId(req.model_id())) {
    violations.push_back({"model_id", absl::StrCat("'", req.model_id(),
                                                   "' is not a model id ([a-z0-9_-], 1 to 64)")});
  }
  if (req.kind() != v1::MODEL_KIND_CHURN && req.kind() != v1::MODEL_KIND_UPSELL) {
    violations.push_back({"kind", "must be MODEL_KIND_CHURN or MODEL_KIND_UPSELL"});
  }
  engine::TrainSettings s;
  s.kind =
      req.kind() == v1::MODEL_KIND_UPSELL ? engine::ModelKind::kUpsell : engine::ModelKind::kChurn;
  s.horizon_days = Bounded("horizon_days", req.horizon_days(), 90, 365, violations);
  s.lambda = req.has_lambda() ? req.lambda().value() : 1.0;
  if (!(s.lambda > 0 && s.lambda <= 1e6)) {
    violations.push_back({"lambda", "must be above 0 and at most 1e6"});
  }
  if (req.max_examples() < 0 || req.max_examples() > 2000000) {
    violations.push_back({"max_examples", "must be 0 (default 500,000) to 2,000,000"});
  }
  s.max_examples = req.max_examples() == 0 ? 500000 : req.max_examples();
  CheckFieldNames("fields", req.fields(), 5, violations);
  s.as_of = TimeOr(req.has_as_of(), req.as_of(), now, "as_of", violations);
  return s;
}

void DescribeTraining(const query::Query& q, const v1::TrainModelRequest& req,
                      const std::string& engagement_model_id, absl::Time trained_at,
                      absl::Time as_of, v1::Model* out) {
  out->set_tenant_id(q.tenant.tenant_id);
  out->set_model_id(req.model_id());
  out->set_start_date(engine::FormatIsoDate(q.start));
  out->set_end_date(engine::FormatIsoDate(q.end));
  for (const std::string& f : req.query().filter()) out->add_filter(f);
  out->set_engagement_model_id(engagement_model_id);
  int64_t versions = 0;
  for (const auto& v : q.history->versions()) versions += v.version;
  out->set_data_version(absl::StrCat(q.history->versions().size(), " subscription months, ",
                                     "version sum ", versions));
  ToProto(trained_at, out->mutable_trained_at());
  ToProto(as_of, out->mutable_as_of());
  out->set_currency(q.tenant.currency);
}

absl::Status CheckFeatures(const v1::Model& m) {
  std::vector<std::string> want = engine::NumericFeatureNames(!m.engagement_model_id().empty());
  for (const v1::FieldEncoding& f : m.encoding()) {
    for (const std::string& v : f.values()) want.push_back(absl::StrCat(f.field(), "=", v));
    want.push_back(absl::StrCat(f.field(), "=other"));
  }
  bool same = want.size() == static_cast<size_t>(m.features_size());
  for (int i = 0; same && i < m.features_size(); ++i) same = m.features(i).name() == want[i];
  if (same) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "model '", m.model_id(), "' was trained on other features than this version computes: ",
      "train it again (TrainModel)"));
}

std::string ScoreTokenContext(const v1::ScoreCustomersRequest& req, absl::string_view trained) {
  const absl::string_view nul("\0", 1);
  std::string context =
      absl::StrCat("ScoreCustomers", nul, req.query().tenant_id(), nul, req.query().end_date(), nul,
                   req.model_id(), nul, trained, nul, req.order());
  for (const std::string& f : req.query().filter()) absl::StrAppend(&context, nul, f);
  if (req.has_min_probability()) absl::StrAppend(&context, nul, req.min_probability().value());
  return context;
}

void ToProto(const query::ScoredCustomer& c, const engine::Model& model, v1::CustomerScore* out) {
  out->set_customer_id(c.customer_id);
  out->set_probability(c.score.probability);
  for (size_t k = 0; k < c.score.top.size(); ++k) {
    v1::ScoreFactor* f = out->add_top_factors();
    f->set_feature(model.features[static_cast<size_t>(c.score.top[k])].name);
    f->set_value(c.score.value[k]);
    f->set_contribution(c.score.contribution[k]);
  }
}

void ToProto(const v1::Model& m, v1::ModelSummary* out) {
  out->set_model_id(m.model_id());
  out->set_kind(m.kind());
  out->set_start_date(m.start_date());
  out->set_end_date(m.end_date());
  out->set_horizon_days(m.horizon_days());
  out->set_examples(m.examples());
  out->set_positives(m.positives());
  if (m.evaluation().has_auc()) *out->mutable_auc() = m.evaluation().auc();
  *out->mutable_trained_at() = m.trained_at();
}

}  // namespace saasmetrics::rpc
