#include "server/query/models.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/engine/currency.h"
#include "server/query/metrics.h"

namespace saasmetrics::query {
namespace {

// Each lifetime's values of a field, as value ids into `names`.
struct FieldValues {
  std::shared_ptr<const engine::IcpField> column;
  std::vector<std::pair<uint32_t, uint32_t>> range;  // per lifetime: [begin, end) of column->ids
  int32_t ValueCount() const { return static_cast<int32_t>(column->names.size()); }
};

absl::StatusOr<FieldValues> ValuesOf(Reader& reader, const Query& q, const std::string& field,
                                     const std::vector<engine::CustomerLifetime>& lifetimes,
                                     const Context& ctx) {
  absl::StatusOr<std::shared_ptr<const engine::IcpField>> column = reader.Column(q, field, ctx);
  if (!column.ok()) return column.status();
  FieldValues out{.column = *column, .range = {}};
  out.range.reserve(lifetimes.size());
  for (const engine::CustomerLifetime& l : lifetimes) {
    const size_t c = static_cast<size_t>(l.customer);
    out.range.emplace_back(out.column->begin[c], out.column->begin[c + 1]);
  }
  return out;
}

// Value ids in the order of their names (UTF-8 bytes).
std::vector<int32_t> ByName(const engine::IcpField& column) {
  std::vector<int32_t> order(column.names.size());
  for (size_t v = 0; v < order.size(); ++v) order[v] = static_cast<int32_t>(v);
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return column.names[a] < column.names[b]; });
  return order;
}

absl::Status FitCoxModel(Reader& reader, const Query& q, const std::vector<std::string>& fields,
                         const std::vector<engine::CustomerLifetime>& lifetimes, const Context& ctx,
                         SurvivalAnswer& out) {
  const size_t n = lifetimes.size();
  std::vector<bool> excluded(n, false);
  struct Column {
    size_t term;  // index into out.cox
    int32_t field, value;
  };
  std::vector<FieldValues> values;
  std::vector<Column> columns;
  int64_t total_values = 0;
  for (size_t f = 0; f < fields.size(); ++f) {
    absl::StatusOr<FieldValues> v = ValuesOf(reader, q, fields[f], lifetimes, ctx);
    if (!v.ok()) return v.status();
    values.push_back(*std::move(v));
    const FieldValues& fv = values.back();
    std::vector<int64_t> customers(static_cast<size_t>(fv.ValueCount()), 0);
    std::vector<int64_t> churned(customers.size(), 0);
    for (size_t i = 0; i < n; ++i) {
      for (uint32_t k = fv.range[i].first; k < fv.range[i].second; ++k) {
        const size_t id = static_cast<size_t>(fv.column->ids[k]);
        ++customers[id];
        if (lifetimes[i].lifetime.churned) ++churned[id];
      }
    }
    std::vector<int32_t> present;
    for (const int32_t id : ByName(*fv.column)) {
      if (customers[static_cast<size_t>(id)] > 0) present.push_back(id);
    }
    total_values += static_cast<int64_t>(present.size());
    if (total_values > kMaxCoxValues) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cox_fields: ", absl::StrJoin(fields, ", "), " have more than ", kMaxCoxValues,
          " values among these customers (", fields[f], " alone has ", present.size(),
          "): name fields with fewer values, or filter the customers"));
    }
    const bool reference_churned =
        !present.empty() && churned[static_cast<size_t>(present.front())] > 0;
    for (size_t k = 0; k < present.size(); ++k) {
      const size_t id = static_cast<size_t>(present[k]);
      HazardTerm& t = out.cox.emplace_back();
      t.field = fields[f];
      t.value = fv.column->names[id];
      t.reference = k == 0;
      t.customers = customers[id];
      t.churned = churned[id];
      if (k == 0 || !reference_churned) continue;
      if (churned[id] == 0) {
        // β → −∞: in the limit these customers add nothing to any risk set.
        for (size_t i = 0; i < n; ++i) {
          for (uint32_t r = fv.range[i].first; r < fv.range[i].second; ++r) {
            if (fv.column->ids[r] == present[k]) excluded[i] = true;
          }
        }
        continue;
      }
      columns.push_back({out.cox.size() - 1, static_cast<int32_t>(f), present[k]});
    }
  }
  // The design: the value indicators and the first MRR, over the customers kept.
  std::vector<engine::Lifetime> kept;
  std::vector<std::vector<double>> x(columns.size() + 1);
  const double unit = std::pow(10.0, engine::CurrencyExponent(q.tenant.currency));
  int64_t kept_churned = 0;
  for (size_t i = 0; i < n; ++i) {
    if (excluded[i]) continue;
    kept.push_back(lifetimes[i].lifetime);
    kept_churned += lifetimes[i].lifetime.churned ? 1 : 0;
    for (size_t j = 0; j < columns.size(); ++j) {
      const FieldValues& fv = values[static_cast<size_t>(columns[j].field)];
      bool has = false;
      for (uint32_t r = fv.range[i].first; r < fv.range[i].second; ++r) {
        has = has || fv.column->ids[r] == columns[j].value;
      }
      x[j].push_back(has ? 1.0 : 0.0);
    }
    x.back().push_back(static_cast<double>(lifetimes[i].first_mrr) / unit);
  }
  HazardTerm& mrr = out.cox.emplace_back();
  mrr.field = "first_mrr";
  mrr.customers = static_cast<int64_t>(kept.size());
  mrr.churned = kept_churned;
  out.cox_customers = static_cast<int64_t>(kept.size());
  if (kept_churned == 0) return absl::OkStatus();  // no churn: no estimate at all
  if (absl::Status s = ctx.Check(); !s.ok()) return s;
  absl::StatusOr<engine::CoxFit> fit = engine::FitCox(kept, x, ctx.StopFlag());
  if (!fit.ok()) {
    if (fit.status().code() != absl::StatusCode::kInvalidArgument) return fit.status();
    std::vector<std::string> names;
    for (size_t j = 0; j < columns.size(); ++j) {
      const HazardTerm& t = out.cox[columns[j].term];
      names.push_back(absl::StrCat(j, " = ", t.field, "=", t.value));
    }
    names.push_back(absl::StrCat(columns.size(), " = first_mrr"));
    return absl::InvalidArgumentError(
        absl::StrCat("cox_fields: ", fit.status().message(), " [", absl::StrJoin(names, "; "),
                     "]: name fewer fields, or filter the customers"));
  }
  for (size_t j = 0; j < columns.size(); ++j) {
    HazardTerm& t = out.cox[columns[j].term];
    t.coefficient = fit->coefficient[j];
    t.standard_error = fit->standard_error[j];
  }
  out.cox.back().coefficient = fit->coefficient.back();
  out.cox.back().standard_error = fit->standard_error.back();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SurvivalAnswer> Survival(Reader& reader, const Query& q, const std::string& group_by,
                                        bool cox, const std::vector<std::string>& cox_fields,
                                        const Context& ctx) {
  const std::vector<engine::CustomerLifetime> lifetimes =
      engine::LifetimesOf(*q.movements, *q.pauses, q.start, q.end);
  SurvivalAnswer out;
  // Groups: each lifetime in every group its customer has a value in.
  std::map<std::string, std::vector<engine::Lifetime>> groups;
  if (group_by.empty()) {
    std::vector<engine::Lifetime>& all = groups[""];
    for (const engine::CustomerLifetime& l : lifetimes) all.push_back(l.lifetime);
  } else {
    absl::StatusOr<FieldValues> v = ValuesOf(reader, q, group_by, lifetimes, ctx);
    if (!v.ok()) return v.status();
    std::vector<std::vector<engine::Lifetime>> by_id(static_cast<size_t>(v->ValueCount()));
    for (size_t i = 0; i < lifetimes.size(); ++i) {
      for (uint32_t k = v->range[i].first; k < v->range[i].second; ++k) {
        by_id[static_cast<size_t>(v->column->ids[k])].push_back(lifetimes[i].lifetime);
      }
    }
    for (size_t id = 0; id < by_id.size(); ++id) {
      if (!by_id[id].empty()) groups[v->column->names[id]] = std::move(by_id[id]);
    }
  }
  int32_t longest = 0;
  for (const engine::CustomerLifetime& l : lifetimes) {
    longest = std::max(longest, l.lifetime.days);
  }
  if (absl::Status s = reader.CheckAnswerSize(
          static_cast<int64_t>(groups.size()) * (longest / 30 + 1), "group × 30-day points");
      !s.ok()) {
    return s;
  }
  std::vector<std::vector<engine::Lifetime>> tested;
  for (auto& [name, group] : groups) {
    SurvivalGroup& g = out.groups.emplace_back();
    g.group = name;
    g.curve = engine::KaplanMeier(group, 30);
    if (groups.size() <= static_cast<size_t>(kMaxLogRankGroups)) tested.push_back(std::move(group));
    if (absl::Status s = ctx.Check(); !s.ok()) return s;
  }
  if (!tested.empty()) {
    out.log_rank = engine::LogRankTest(tested);
    if (out.log_rank.has_value()) {
      for (size_t i = 0; i < out.groups.size(); ++i) {
        out.groups[i].expected_churned = out.log_rank->expected[i];
      }
    }
  }
  if (cox) {
    if (absl::Status s = FitCoxModel(reader, q, cox_fields, lifetimes, ctx, out); !s.ok()) {
      return s;
    }
  }
  return out;
}

absl::StatusOr<engine::DriversResult> RetentionDrivers(Reader& reader, const Query& q,
                                                       const engine::DriverSettings& settings,
                                                       const Context& ctx) {
  UsageView usage;
  absl::StatusOr<engine::EngagementInputs> in =
      WindowUsage(reader, q, 1, q.start, q.end + (settings.window_days - 1), ctx, usage);
  if (!in.ok()) return in.status();
  absl::StatusOr<engine::DriversResult> found =
      engine::RetentionDrivers(*in, *q.pauses, q.start, q.end, settings, ctx.StopFlag());
  if (absl::Status s = ctx.Check(); !s.ok()) return s;
  if (found.ok()) {
    if (absl::Status s =
            reader.CheckAnswerSize(static_cast<int64_t>(found->drivers.size()), "event types");
        !s.ok()) {
      return s;
    }
  }
  return found;
}

namespace {

using IcpFieldRef = std::shared_ptr<const engine::IcpField>;

// What the model reads, kept alive while it computes.
struct ModelView {
  UsageView usage;
  std::shared_ptr<const std::vector<engine::SurveyResponse>> answers;
  std::vector<engine::ResponsePoint> responses;
  std::vector<const std::vector<engine::LedgerEvent>*> months;
  std::vector<std::shared_ptr<const engine::IcpField>> columns;
  engine::ModelInputs in;
};

absl::Status PrepareModel(Reader& reader, const Query& q, absl::CivilDay first_day,
                          absl::CivilDay last_day, const std::vector<std::string>& fields,
                          const engine::EngagementModel* engagement, const Context& ctx,
                          ModelView& v) {
  // Usage for the days since the last event (capped at 365) and the engagement window.
  const int lookback = std::max(366, engagement != nullptr ? engagement->window_days : 0);
  absl::StatusOr<engine::EngagementInputs> usage =
      WindowUsage(reader, q, lookback, first_day, last_day, ctx, v.usage);
  if (!usage.ok()) return usage.status();
  absl::StatusOr<std::shared_ptr<const std::vector<engine::SurveyResponse>>> answers =
      reader.SurveyResponses(q.tenant.tenant_id, ctx);
  if (!answers.ok()) return answers.status();
  v.answers = *answers;
  for (const engine::SurveyResponse& r : *v.answers) {
    const auto it = q.ledger->customer_index.find(r.customer_id);
    if (it == q.ledger->customer_index.end()) continue;
    v.responses.push_back({it->second, absl::ToUnixMicros(r.time), r.seq, r.score});
  }
  for (const auto& month : q.history->months()) v.months.push_back(month.get());
  v.in.customer_ids = &q.ledger->customer_ids;
  v.in.events = &v.months;
  v.in.movements = q.movements;
  v.in.pauses = q.pauses;
  v.in.usage = *usage;
  v.in.engagement = engagement;
  v.in.responses = &v.responses;
  v.in.major_unit = std::pow(10.0, engine::CurrencyExponent(q.tenant.currency));
  for (const std::string& field : fields) {
    absl::StatusOr<std::shared_ptr<const engine::IcpField>> column = reader.Column(q, field, ctx);
    if (!column.ok()) return column.status();
    v.columns.push_back(*column);
    v.in.field_names.push_back(field);
    v.in.fields.push_back(column->get());
  }
  return absl::OkStatus();
}

// An upper bound of what a model computation builds beyond the cache, charged to the query
// memory budget before it starts: the engine's copy of the subscription events (all, or
// `customers_only` customers'), one entry per (customer, day), and `rows` rows of features
// held twice (numeric and encoded, or encoded and standardised) with the fit's vectors.
absl::Status ChargeModel(Reader& reader, const Query& q, const ModelView& v, size_t days,
                         int64_t rows_at_most, bool one_customer, const Context& ctx) {
  int64_t events = 0;
  if (!one_customer) {
    for (const std::vector<engine::LedgerEvent>* month : v.months) {
      events += static_cast<int64_t>(month->size());
    }
  }
  int64_t customers = one_customer ? 1 : 0;
  if (!one_customer) {
    for (size_t i = 0; i < q.movements->size(); ++i) {
      if (i == 0 || (*q.movements)[i].customer != (*q.movements)[i - 1].customer) ++customers;
    }
  }
  int64_t cols = static_cast<int64_t>(engine::NumericFeatureNames(true).size());
  for (const IcpFieldRef& f : v.columns) {
    cols += std::min<int64_t>(engine::kTopFieldValues, static_cast<int64_t>(f->names.size())) + 1;
  }
  const int64_t candidates = customers * static_cast<int64_t>(days);
  const int64_t rows = std::min(candidates, rows_at_most);
  const int64_t bytes = events * static_cast<int64_t>(sizeof(engine::LedgerEvent)) +
                        candidates * 16 + rows * (cols * 16 + 64);
  return reader.Charge(bytes, ctx);
}

}  // namespace

std::vector<absl::CivilDay> MonthEndsOf(const Query& q) {
  std::vector<absl::CivilDay> out;
  for (absl::CivilMonth m(q.start); absl::CivilDay(m) <= q.end; ++m) {
    const absl::CivilDay e = absl::CivilDay(m + 1) - 1;
    if (e >= q.start && e <= q.end) out.push_back(e);
  }
  return out;
}

absl::StatusOr<engine::Model> Train(Reader& reader, const Query& q,
                                    const engine::TrainSettings& settings,
                                    const std::vector<std::string>& fields,
                                    const engine::EngagementModel* engagement, const Context& ctx) {
  ModelView v;
  if (absl::Status s = PrepareModel(reader, q, settings.month_ends.front(),
                                    settings.month_ends.back(), fields, engagement, ctx, v);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          ChargeModel(reader, q, v, settings.month_ends.size(), settings.max_examples, false, ctx);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<engine::Model> m = engine::TrainModel(v.in, settings, ctx.StopFlag());
  if (absl::Status s = ctx.Check(); !s.ok()) return s;
  return m;
}

absl::StatusOr<std::vector<ScoredCustomer>> Scores(Reader& reader, const Query& q,
                                                   const engine::Model& model,
                                                   const engine::EngagementModel* engagement,
                                                   const Context& ctx) {
  ModelView v;
  if (absl::Status s =
          PrepareModel(reader, q, q.end, q.end, model.encoding.fields, engagement, ctx, v);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          ChargeModel(reader, q, v, 1, std::numeric_limits<int64_t>::max(), false, ctx);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::vector<engine::Score>> scores =
      engine::ScoreCustomers(model, v.in, q.end, ctx.StopFlag());
  if (absl::Status s = ctx.Check(); !s.ok()) return s;
  if (!scores.ok()) return scores.status();
  std::vector<ScoredCustomer> out;
  out.reserve(scores->size());
  for (engine::Score& score : *scores) {
    ScoredCustomer& c = out.emplace_back();
    c.customer_id = q.ledger->customer_ids[static_cast<size_t>(score.customer)];
    c.score = std::move(score);
  }
  return out;
}

PageOf<ScoredCustomer> PageOfModelScores(const std::vector<ScoredCustomer>& rows,
                                         ModelScoreOrder order, double min,
                                         const std::optional<std::pair<double, std::string>>& after,
                                         int page_size) {
  const auto before = [order](const ScoredCustomer& a, const ScoredCustomer& b) {
    const double pa = a.score.probability, pb = b.score.probability;
    switch (order) {
      case ModelScoreOrder::kProbabilityAsc:
        return pa != pb ? pa < pb : a.customer_id < b.customer_id;
      case ModelScoreOrder::kCustomerId:
        return a.customer_id < b.customer_id;
      default:
        return pa != pb ? pa > pb : a.customer_id < b.customer_id;
    }
  };
  std::optional<ScoredCustomer> last_served;
  if (after.has_value()) {
    last_served.emplace();
    last_served->score.probability = after->first;
    last_served->customer_id = after->second;
  }
  return Paginate(
      rows, [min](const ScoredCustomer& c) { return c.score.probability >= min; }, before,
      last_served, page_size);
}

absl::StatusOr<engine::ChurnRisk> ChurnRiskOn(Reader& reader, const Query& q, const RiskModel& risk,
                                              const std::vector<absl::CivilDay>& days,
                                              const Context& ctx) {
  engine::ChurnRisk out;
  out.days = days;
  out.at_risk.resize(days.size());
  if (days.empty()) return out;
  ModelView v;
  const engine::EngagementModel* engagement =
      risk.engagement.has_value() ? &*risk.engagement : nullptr;
  if (absl::Status s = PrepareModel(reader, q, days.front(), days.back(),
                                    risk.model.encoding.fields, engagement, ctx, v);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          ChargeModel(reader, q, v, days.size(), std::numeric_limits<int64_t>::max(), false, ctx);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::vector<std::vector<engine::Score>>> scores =
      engine::ScoreDays(risk.model, v.in, days, nullptr, ctx.StopFlag());
  if (absl::Status s = ctx.Check(); !s.ok()) return s;
  if (!scores.ok()) return scores.status();
  for (size_t d = 0; d < days.size(); ++d) {
    for (const engine::Score& s : (*scores)[d]) {  // by ledger id: ascending
      if (s.probability >= risk.threshold) out.at_risk[d].push_back(s.customer);
    }
  }
  return out;
}

absl::StatusOr<std::optional<engine::Score>> ScoreOne(Reader& reader, const Query& q,
                                                      const engine::Model& model,
                                                      const engine::EngagementModel* engagement,
                                                      int32_t customer, const Context& ctx) {
  ModelView v;
  if (absl::Status s =
          PrepareModel(reader, q, q.end, q.end, model.encoding.fields, engagement, ctx, v);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ChargeModel(reader, q, v, 1, 1, true, ctx); !s.ok()) return s;
  std::vector<bool> only(q.ledger->customer_ids.size(), false);
  only[static_cast<size_t>(customer)] = true;
  absl::StatusOr<std::vector<std::vector<engine::Score>>> scores =
      engine::ScoreDays(model, v.in, {q.end}, &only, ctx.StopFlag());
  if (absl::Status s = ctx.Check(); !s.ok()) return s;
  if (!scores.ok()) return scores.status();
  if ((*scores)[0].empty()) return std::nullopt;
  return (*scores)[0][0];
}

}  // namespace saasmetrics::query
