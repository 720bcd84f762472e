// saasctl models: train a churn or upsell model, print a stored one (evaluation and
// coefficients as tables), and list customers' scores with their top factors.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/saasctl.h"

namespace saasmetrics::cli {
namespace {

using Rows = std::vector<std::vector<std::string>>;

std::string Fixed(bool has, double v, int digits) {
  return has ? absl::StrFormat("%.*f", digits, v) : std::string("-");
}

// The evaluation and the coefficients, as two tables (CSV: the coefficients only).
void PrintModel(const v1::Model& m, Output output) {
  Rows features = {{"FEATURE", "COEF", "SE", "ODDS_RATIO", "MEAN", "SD"}};
  for (const v1::ModelFeature& f : m.features()) {
    if (f.dropped()) {
      features.push_back({f.name(), "dropped (constant)", "-", "-", Fixed(true, f.mean(), 4), "0"});
      continue;
    }
    features.push_back({f.name(), absl::StrFormat("%.4f", f.coefficient()),
                        absl::StrFormat("%.4f", f.standard_error()),
                        absl::StrFormat("%.3f", f.odds_ratio()), absl::StrFormat("%.4f", f.mean()),
                        absl::StrFormat("%.4f", f.sd())});
  }
  if (output == Output::kCsv) {
    PrintRows(features, output);
    return;
  }
  const v1::ModelEvaluation& e = m.evaluation();
  const char* kind = m.kind() == v1::MODEL_KIND_UPSELL ? "upsell" : "churn";
  std::cout << absl::StrFormat(
      "model %s (%s within %d days), trained on %s..%s: %d examples (%d positive) of %d\n",
      m.model_id(), kind, m.horizon_days(), m.start_date(), m.end_date(), m.examples(),
      m.positives(), m.candidates());
  std::cout << absl::StrFormat(
      "evaluation (%s, %d label months%s): %d held-out examples, %d positive; AUC %s, "
      "Brier %.4f, log loss %.4f\n\n",
      e.method(), e.label_months(),
      e.method() == "time_split" ? absl::StrCat(", test on the last ", e.test_months()) : "",
      e.examples(), e.positives(), Fixed(e.has_auc(), e.auc().value(), 4), e.brier(), e.log_loss());
  Rows calibration = {{"PREDICTED", "EXAMPLES", "MEAN_PREDICTED", "OBSERVED"}};
  for (const v1::CalibrationBin& b : e.calibration()) {
    if (b.examples() == 0) continue;
    calibration.push_back({absl::StrFormat("%.1f-%.1f", b.lower(), b.upper()),
                           absl::StrCat(b.examples()),
                           Fixed(b.has_mean_predicted(), b.mean_predicted().value(), 4),
                           Fixed(b.has_observed(), b.observed().value(), 4)});
  }
  PrintRows(calibration, output);
  std::cout << absl::StrFormat("\nintercept %.4f (se %.4f); coefficients per standard deviation:\n",
                               m.intercept(), m.intercept_standard_error());
  PrintRows(features, output);
}

}  // namespace

int RunModelTrain(client::Client& client, const ModelFlags& f, Output output) {
  v1::TrainModelRequest req;
  req.mutable_query()->set_tenant_id(f.tenant);
  req.mutable_query()->set_start_date(f.from);
  req.mutable_query()->set_end_date(f.to);
  for (const std::string& filter : f.filters) req.mutable_query()->add_filter(filter);
  req.set_model_id(f.id);
  req.set_kind(f.kind == "upsell" ? v1::MODEL_KIND_UPSELL : v1::MODEL_KIND_CHURN);
  req.set_horizon_days(f.horizon_days);
  if (f.lambda.has_value()) req.mutable_lambda()->set_value(*f.lambda);
  for (const std::string& field : f.fields) req.add_fields(field);
  req.set_max_examples(f.max_examples);
  absl::StatusOr<v1::Model> m = client.TrainModel(req);
  if (!m.ok()) return Fail(m.status());
  if (PrintJson(*m, output)) return kExitOk;
  PrintModel(*m, output);
  return kExitOk;
}

int RunModelGet(client::Client& client, const ModelFlags& f, Output output) {
  v1::GetModelRequest req;
  req.set_tenant_id(f.tenant);
  req.set_model_id(f.id);
  absl::StatusOr<v1::Model> m = client.GetModel(req);
  if (!m.ok()) return Fail(m.status());
  if (PrintJson(*m, output)) return kExitOk;
  PrintModel(*m, output);
  return kExitOk;
}

int RunModelScores(client::Client& client, const ModelFlags& f, Output output) {
  v1::ScoreCustomersRequest req;
  req.mutable_query()->set_tenant_id(f.tenant);
  req.mutable_query()->set_end_date(f.to);
  for (const std::string& filter : f.filters) req.mutable_query()->add_filter(filter);
  req.set_model_id(f.id);
  if (f.order == "probability_asc") req.set_order(v1::ScoreCustomersRequest::ORDER_PROBABILITY_ASC);
  if (f.order == "customer_id") req.set_order(v1::ScoreCustomersRequest::ORDER_CUSTOMER_ID);
  if (f.min_probability.has_value()) req.mutable_min_probability()->set_value(*f.min_probability);
  // Pages until the limit (or the end).
  v1::ScoreCustomersResponse all;
  req.set_page_size(f.limit > 0 && f.limit < 1000 ? f.limit : 1000);
  do {
    absl::StatusOr<v1::ScoreCustomersResponse> page = client.ScoreCustomers(req);
    if (!page.ok()) return Fail(page.status());
    all.MergeFrom(*page);
    req.set_page_token(page->next_page_token());
  } while (!req.page_token().empty() && (f.limit == 0 || all.scores_size() < f.limit));
  all.clear_next_page_token();
  if (PrintJson(all, output)) return kExitOk;
  Rows rows = {{"CUSTOMER", "PROBABILITY", "FACTOR_1", "FACTOR_2", "FACTOR_3"}};
  for (const v1::CustomerScore& c : all.scores()) {
    std::vector<std::string> row = {c.customer_id(), absl::StrFormat("%.4f", c.probability())};
    for (const v1::ScoreFactor& factor : c.top_factors()) {
      row.push_back(absl::StrFormat("%s=%.4g (%+.2f)", factor.feature(), factor.value(),
                                    factor.contribution()));
    }
    row.resize(5, "-");
    rows.push_back(row);
  }
  PrintRows(rows, output);
  if (output == Output::kTable) {
    std::cout << absl::StrFormat("%d of %d customers paying at the end of %s\n", all.scores_size(),
                                 all.total(), all.date());
  }
  return kExitOk;
}

int RunModelList(client::Client& client, const ModelFlags& f, Output output) {
  v1::ListModelsRequest req;
  req.set_tenant_id(f.tenant);
  absl::StatusOr<v1::ListModelsResponse> r = client.ListModels(req);
  if (!r.ok()) return Fail(r.status());
  if (PrintJson(*r, output)) return kExitOk;
  Rows rows = {{"MODEL", "KIND", "RANGE", "HORIZON_DAYS", "EXAMPLES", "POSITIVES", "AUC"}};
  for (const v1::ModelSummary& m : r->models()) {
    rows.push_back({m.model_id(), m.kind() == v1::MODEL_KIND_UPSELL ? "upsell" : "churn",
                    absl::StrCat(m.start_date(), "..", m.end_date()),
                    absl::StrCat(m.horizon_days()), absl::StrCat(m.examples()),
                    absl::StrCat(m.positives()), Fixed(m.has_auc(), m.auc().value(), 4)});
  }
  PrintRows(rows, output);
  return kExitOk;
}

int RunModelDelete(client::Client& client, const ModelFlags& f) {
  v1::DeleteModelRequest req;
  req.set_tenant_id(f.tenant);
  req.set_model_id(f.id);
  absl::StatusOr<v1::DeleteModelResponse> r = client.DeleteModel(req);
  if (!r.ok()) return Fail(r.status());
  std::cout << "deleted model " << f.id << "\n";
  return kExitOk;
}

}  // namespace saasmetrics::cli
