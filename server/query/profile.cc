#include "server/query/profile.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "server/engine/dates.h"
#include "server/engine/filters.h"
#include "server/engine/mrr.h"
#include "server/query/health.h"
#include "server/query/metrics.h"

namespace saasmetrics::query {

absl::StatusOr<CustomerProfile> Profile(Reader& reader, const Query& q,
                                        const std::string& customer_id,
                                        const engine::HealthPolicy& policy,
                                        const engine::EngagementModel* model, const Context& ctx,
                                        const ProfileModels& models) {
  const absl::CivilDay day = q.end;
  const absl::Time until = engine::DayStart(day + 1, q.tz);
  CustomerProfile p;
  p.customer_id = customer_id;
  for (const engine::Customer& c : *q.customers) {
    if (c.customer_id == customer_id) p.record = c;
  }
  const auto ledger_it = q.ledger->customer_index.find(customer_id);
  const bool in_ledger = ledger_it != q.ledger->customer_index.end();
  if (!p.record.has_value() && !in_ledger) {
    return absl::NotFoundError(absl::StrCat(
        "customer '", customer_id, "' does not exist in tenant '", q.tenant.tenant_id, "'"));
  }
  // Subscriptions: each one's latest state by the day's end (events come in order).
  absl::StatusOr<std::vector<engine::SubscriptionEvent>> events =
      reader.CustomerSubscriptionEvents(q.tenant.tenant_id, customer_id, ctx);
  if (!events.ok()) return events.status();
  std::map<std::string, const engine::SubscriptionEvent*> latest;
  for (const engine::SubscriptionEvent& e : *events) {
    if (e.effective_at < until) latest[e.subscription_id] = &e;
  }
  // Each state's MRR in the reporting currency, as the history converts it (Conversion).
  QueryRates rates(reader, q, ctx);
  for (const auto& [id, e] : latest) {
    SubscriptionNow& s = p.subscriptions.emplace_back();
    s.state = *e;
    s.mrr = engine::StateMrr(*e);
    if (e->currency != q.tenant.currency && s.mrr != 0) {
      absl::StatusOr<const engine::RateTable*> table = rates.Get();
      if (!table.ok()) return table.status();
      absl::StatusOr<int64_t> converted =
          (*table)->Convert(s.mrr, e->currency, absl::ToCivilDay(e->effective_at, q.tz));
      if (!converted.ok()) return converted.status();
      s.mrr = *converted;
    }
    p.mrr += s.mrr;
  }
  if (in_ledger) {
    const int32_t c = ledger_it->second;
    for (const engine::Movement& m : q.history->MovementsOf(c)) {
      if (m.day > day) break;
      p.movements.push_back(m);
    }
    if (!p.movements.empty()) p.first_paid_day = p.movements.front().day;  // new business
  }
  // Scores at the 6 month ends before the day's month and at the day; health at the day.
  std::vector<absl::CivilDay> days;
  for (int back = 6; back >= 1; --back) {
    days.push_back(absl::CivilDay(absl::CivilMonth(day) - back + 1) - 1);
  }
  days.push_back(day);
  UsageView usage;
  const int window = std::max(policy.inactive_days, model != nullptr ? model->window_days : 1);
  absl::StatusOr<engine::EngagementInputs> in =
      WindowUsage(reader, q, window, days.front(), day, ctx, usage);
  if (!in.ok()) return in.status();
  if (in_ledger) {
    const int32_t c = ledger_it->second;
    if (model != nullptr) {
      for (absl::CivilDay d : days) {
        absl::StatusOr<engine::EngagementScores> s =
            engine::ScoresOf(model, *in, d, {c}, 0, ctx.StopFlag());
        if (!s.ok()) return s.status();
        p.scores.emplace_back(d, s->score[0]);
      }
    }
    // The models' scores of this customer (its churn risk also decides its health).
    engine::ChurnRisk risk{.days = {day}, .at_risk = {{}}};
    for (const auto& [scorer, id, out] :
         {std::tuple{models.churn, &models.churn_id, &p.churn_risk},
          std::tuple{models.upsell, &models.upsell_id, &p.upsell}}) {
      if (scorer == nullptr) continue;
      absl::StatusOr<std::optional<engine::Score>> score =
          ScoreOne(reader, q, scorer->model,
                   scorer->engagement.has_value() ? &*scorer->engagement : nullptr, c, ctx);
      if (!score.ok()) return score.status();
      if (!score->has_value()) continue;
      const engine::Score& s = **score;
      CustomerProfile::ModelScore& m = out->emplace();
      m.model_id = *id;
      m.probability = s.probability;
      for (size_t k = 0; k < s.top.size(); ++k) {
        m.features.push_back(scorer->model.features[static_cast<size_t>(s.top[k])].name);
        m.values.push_back(s.value[k]);
        m.contributions.push_back(s.contribution[k]);
      }
      if (scorer == models.churn && s.probability >= scorer->threshold) {
        risk.at_risk[0].push_back(c);
      }
    }
    absl::StatusOr<std::vector<std::vector<engine::CustomerHealth>>> health =
        engine::HealthAt(policy, model, {*in, q.pauses, models.churn != nullptr ? &risk : nullptr},
                         {day}, ctx.StopFlag());
    if (!health.ok()) return health.status();
    for (const engine::CustomerHealth& h : (*health)[0]) {
      if (h.customer == c) p.health = h;
    }
  }
  if (absl::Status s = ctx.Check(); !s.ok()) return s;
  absl::StatusOr<std::vector<std::optional<absl::Time>>> last =
      LastActivity(reader, q, {customer_id}, day, ctx);
  if (!last.ok()) return last.status();
  p.last_activity = (*last)[0];
  absl::StatusOr<std::shared_ptr<const std::vector<engine::SurveyResponse>>> responses =
      reader.SurveyResponses(q.tenant.tenant_id, ctx);
  if (!responses.ok()) return responses.status();
  for (const engine::SurveyResponse& r : **responses) {
    if (r.customer_id != customer_id || r.time >= until) continue;
    if (!p.latest_response.has_value() ||
        std::tie(r.time, r.seq) > std::tie(p.latest_response->time, p.latest_response->seq)) {
      p.latest_response = r;
    }
  }
  return p;
}

absl::StatusOr<engine::IcpResult> IdealCustomers(Reader& reader, const Query& q,
                                                 const std::vector<std::string>& fields,
                                                 double top_share, int64_t min_count,
                                                 const Context& ctx) {
  // Paying at the day's end: each customer's MRR after its last movement by then.
  std::vector<std::pair<std::string, int64_t>> paying;
  std::vector<int32_t> ledger_ids;
  const std::vector<engine::Movement>& movements = *q.movements;
  for (size_t i = 0; i < movements.size();) {
    const int32_t c = movements[i].customer;
    int64_t mrr = 0;
    for (; i < movements.size() && movements[i].customer == c; ++i) {
      if (movements[i].day <= q.end) mrr = movements[i].after;
    }
    if (mrr > 0) {
      paying.emplace_back(q.ledger->customer_ids[c], mrr);
      ledger_ids.push_back(c);
    }
  }
  // Each field's values for the paying customers, gathered from its column by ledger id.
  std::vector<engine::IcpField> icp_fields;
  for (const std::string& name : fields) {
    absl::StatusOr<std::shared_ptr<const engine::IcpField>> column = reader.Column(q, name, ctx);
    if (!column.ok()) return column.status();
    const engine::IcpField& all = **column;
    engine::IcpField& f = icp_fields.emplace_back();
    f.name = name;
    f.names = all.names;
    f.begin.reserve(paying.size() + 1);
    f.ids.reserve(paying.size());
    for (const int32_t c : ledger_ids) {
      f.ids.insert(f.ids.end(), all.ids.begin() + all.begin[static_cast<size_t>(c)],
                   all.ids.begin() + all.begin[static_cast<size_t>(c) + 1]);
      f.begin.push_back(static_cast<uint32_t>(f.ids.size()));
    }
  }
  if (absl::Status s = ctx.Check(); !s.ok()) return s;
  return engine::IdealCustomerProfile(paying, icp_fields, top_share, min_count);
}

}  // namespace saasmetrics::query
