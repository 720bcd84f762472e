#include "server/rpc/success_mapping.h"

#include "absl/strings/str_cat.h"
#include "server/engine/dates.h"
#include "server/rpc/convert.h"
#include "server/rpc/metrics_mapping.h"

namespace saasmetrics::rpc {

void ToProto(const std::vector<engine::EngagementPoint>& points, v1::GetEngagementResponse* out) {
  for (const engine::EngagementPoint& p : points) {
    v1::EngagementEntry* e = out->add_entries();
    e->set_date(engine::FormatIsoDate(p.period.last));
    e->set_customers(p.customers);
    MaybeSet(p.mean, e, &v1::EngagementEntry::mutable_mean);
    MaybeSet(p.p10, e, &v1::EngagementEntry::mutable_p10);
    MaybeSet(p.p25, e, &v1::EngagementEntry::mutable_p25);
    MaybeSet(p.p50, e, &v1::EngagementEntry::mutable_p50);
    MaybeSet(p.p75, e, &v1::EngagementEntry::mutable_p75);
    MaybeSet(p.p90, e, &v1::EngagementEntry::mutable_p90);
  }
}

void ToProto(const query::EngagementRow& row, v1::CustomerEngagementScore* out) {
  out->set_customer_id(row.customer_id);
  out->set_score(row.score);
  for (double x : row.components) out->add_components(x);
}

v1::HealthGroup ToProto(engine::HealthGroup group) {
  switch (group) {
    case engine::HealthGroup::kPower:
      return v1::HEALTH_GROUP_POWER;
    case engine::HealthGroup::kNormal:
      return v1::HEALTH_GROUP_NORMAL;
    case engine::HealthGroup::kAtRisk:
      return v1::HEALTH_GROUP_AT_RISK;
    case engine::HealthGroup::kLost:
      return v1::HEALTH_GROUP_LOST;
    case engine::HealthGroup::kNone:
      break;
  }
  return v1::HEALTH_GROUP_NONE;
}

std::optional<engine::HealthGroup> FromProto(v1::HealthGroup group) {
  for (int g = 0; g < engine::kHealthGroups; ++g) {
    const auto engine_group = static_cast<engine::HealthGroup>(g);
    if (ToProto(engine_group) == group) return engine_group;
  }
  return std::nullopt;
}

void ToProto(const std::vector<engine::HealthPoint>& points, v1::GetHealthResponse* out) {
  // Groups in the order of the API's enum: power, normal, at risk, lost, none.
  constexpr engine::HealthGroup kOrder[] = {
      engine::HealthGroup::kPower, engine::HealthGroup::kNormal, engine::HealthGroup::kAtRisk,
      engine::HealthGroup::kLost, engine::HealthGroup::kNone};
  for (const engine::HealthPoint& p : points) {
    v1::HealthEntry* e = out->add_entries();
    e->set_date(engine::FormatIsoDate(p.period.last));
    for (engine::HealthGroup g : kOrder) {
      v1::HealthGroupTotal* t = e->add_groups();
      t->set_group(ToProto(g));
      t->set_customers(p.customers[static_cast<int>(g)]);
      t->set_mrr(p.mrr[static_cast<int>(g)]);
    }
    for (engine::HealthGroup from : kOrder) {
      for (engine::HealthGroup to : kOrder) {
        const int64_t n = p.moved[static_cast<int>(from)][static_cast<int>(to)];
        if (n == 0) continue;
        v1::HealthTransition* t = e->add_transitions();
        t->set_from(ToProto(from));
        t->set_to(ToProto(to));
        t->set_customers(n);
      }
    }
  }
}

void ToProto(const query::HealthRow& row, v1::HealthCustomer* out) {
  out->set_customer_id(row.customer_id);
  out->set_group(ToProto(row.group));
  for (absl::string_view r : engine::HealthReasonNames(row.reasons)) {
    out->add_reasons(std::string(r));
  }
  out->set_mrr(row.mrr);
  if (row.score.has_value()) out->mutable_score()->set_value(*row.score);
  if (row.last_activity.has_value()) ToProto(*row.last_activity, out->mutable_last_activity());
  if (row.churn_day.has_value()) out->set_churn_date(engine::FormatIsoDate(*row.churn_day));
}

void ToProto(const query::TransitionRow& row, v1::CustomerTransition* out) {
  out->set_date(engine::FormatIsoDate(row.day));
  out->set_customer_id(row.customer_id);
  out->set_from(ToProto(row.from));
  out->set_to(ToProto(row.to));
  for (absl::string_view r : engine::HealthReasonNames(row.reasons)) {
    out->add_reasons(std::string(r));
  }
  out->set_mrr(row.mrr);
  if (row.score.has_value()) out->mutable_score()->set_value(*row.score);
}

namespace {

void ToProto(const std::vector<engine::NpsPoint>& points,
             google::protobuf::RepeatedPtrField<v1::NpsEntry>* out) {
  for (const engine::NpsPoint& p : points) {
    v1::NpsEntry* e = out->Add();
    e->set_date(engine::FormatIsoDate(p.period.last));
    e->set_respondents(p.respondents);
    e->set_promoters(p.promoters);
    e->set_passives(p.passives);
    e->set_detractors(p.detractors);
    MaybeSet(p.nps, e, &v1::NpsEntry::mutable_nps);
  }
}

}  // namespace

void ToProto(const query::NpsAnswer& answer, v1::GetNpsResponse* out) {
  ToProto(answer.all, out->mutable_entries());
  for (const auto& [name, points] : answer.groups) {
    v1::NpsGroup* g = out->add_groups();
    g->set_group(name);
    ToProto(points, g->mutable_entries());
  }
}

void ToProto(const query::CustomerProfile& p, v1::CustomerProfile* out) {
  out->set_customer_id(p.customer_id);
  for (const auto& [score, to] : {std::pair{&p.churn_risk, out->mutable_churn_risk()},
                                  std::pair{&p.upsell, out->mutable_upsell_propensity()}}) {
    if (!score->has_value()) {
      to->Clear();
      continue;
    }
    to->set_model_id((*score)->model_id);
    to->set_probability((*score)->probability);
    for (size_t k = 0; k < (*score)->features.size(); ++k) {
      v1::ScoreFactor* f = to->add_top_factors();
      f->set_feature((*score)->features[k]);
      f->set_value((*score)->values[k]);
      f->set_contribution((*score)->contributions[k]);
    }
  }
  if (!p.churn_risk.has_value()) out->clear_churn_risk();
  if (!p.upsell.has_value()) out->clear_upsell_propensity();
  if (p.record.has_value()) {
    v1::Customer* r = out->mutable_record();
    r->set_customer_id(p.record->customer_id);
    ToProto(p.record->created_at, r->mutable_created_at());
    r->set_acquisition_channel(p.record->acquisition_channel);
    r->set_country(p.record->country);
    for (const auto& [k, v] : p.record->attributes) (*r->mutable_attributes())[k] = v;
    ToProto(p.record->updated_at, r->mutable_updated_at());
  }
  for (const query::SubscriptionNow& s : p.subscriptions) {
    v1::CustomerSubscription* o = out->add_subscriptions();
    o->set_subscription_id(s.state.subscription_id);
    o->set_plan_id(s.state.plan_id);
    o->set_status(static_cast<v1::SubscriptionStatus>(s.state.status));
    o->set_mrr(s.mrr);
    o->set_quantity(s.state.quantity);
    o->set_unit_amount(s.state.unit_amount);
    o->set_currency(s.state.currency);
    o->set_interval_unit(static_cast<v1::IntervalUnit>(s.state.interval_unit));
    o->set_interval_count(s.state.interval_count);
    ToProto(s.state.effective_at, o->mutable_since());
  }
  out->set_mrr(p.mrr);
  if (p.first_paid_day.has_value()) {
    out->set_first_paid_date(engine::FormatIsoDate(*p.first_paid_day));
  }
  for (const engine::Movement& m : p.movements) {
    query::MovementRow row{.movement = m, .customer_id = p.customer_id};
    ToProto(row, out->add_movements());
  }
  for (const auto& [day, score] : p.scores) {
    v1::ScoreAt* s = out->add_scores();
    s->set_date(engine::FormatIsoDate(day));
    s->set_score(score);
  }
  out->set_health_group(ToProto(p.health.group));
  for (absl::string_view r : engine::HealthReasonNames(p.health.reasons)) {
    out->add_health_reasons(std::string(r));
  }
  if (p.last_activity.has_value()) ToProto(*p.last_activity, out->mutable_last_activity());
  if (p.latest_response.has_value()) {
    const engine::SurveyResponse& r = *p.latest_response;
    v1::SurveyResponse* o = out->mutable_latest_response();
    o->set_id(r.response_id);
    o->set_customer_id(r.customer_id);
    o->set_user_id(r.user_id);
    o->set_score(r.score);
    ToProto(r.time, o->mutable_time());
    o->set_comment(r.comment);
    o->set_channel(r.channel);
  }
}

engine::Term TermFrom(const v1::Term& term, bool has, engine::Term fallback,
                      absl::string_view field, engine::Violations& out) {
  if (!has || (term.unit() == v1::INTERVAL_UNIT_UNSPECIFIED && term.count() == 0)) {
    return fallback;
  }
  // v1::IntervalUnit and engine::IntervalUnit share their numbering (DAY = 1 … YEAR = 4).
  const engine::Term t{static_cast<engine::IntervalUnit>(term.unit()),
                       term.count() == 0 ? 1 : term.count()};
  if (term.unit() == v1::INTERVAL_UNIT_UNSPECIFIED) {
    out.push_back({absl::StrCat(field, ".unit"), "is required with a count"});
  } else if (engine::NominalTwelfths(t) == 0) {
    out.push_back({absl::StrCat(field, ".unit"), absl::StrCat("unknown value ", term.unit())});
  }
  if (term.count() < 0 || term.count() > engine::kMaxIntervalCount) {
    out.push_back(
        {absl::StrCat(field, ".count"),
         absl::StrCat("must be 1 to ", engine::kMaxIntervalCount, ", got ", term.count())});
  }
  return t;
}

void ToProto(engine::Term term, v1::Term* out) {
  out->set_unit(static_cast<v1::IntervalUnit>(term.unit));
  out->set_count(static_cast<int32_t>(term.count));
}

void ToProto(const std::vector<engine::RenewalPoint>& points, v1::GetRenewalsResponse* out) {
  auto rates = [](const engine::RenewalCounts& c, v1::RenewalRates* r) {
    r->set_up_for_renewal(c.up);
    r->set_renewed(c.renewed);
    r->set_mrr_up_for_renewal(c.mrr_up);
    r->set_renewed_mrr(c.mrr_renewed);
    if (c.up > 0) {
      r->mutable_rate_by_count()->set_value(static_cast<double>(c.renewed) /
                                            static_cast<double>(c.up));
    }
    if (c.mrr_up > 0) {
      r->mutable_rate_by_amount()->set_value(static_cast<double>(c.mrr_renewed) /
                                             static_cast<double>(c.mrr_up));
    }
  };
  for (const engine::RenewalPoint& p : points) {
    v1::RenewalEntry* e = out->add_entries();
    e->set_date(engine::FormatIsoDate(p.period.last));
    rates(p.subscriptions, e->mutable_subscriptions());
    rates(p.customers, e->mutable_customers());
  }
}

void ToProto(const engine::IcpResult& icp, v1::GetIdealCustomerProfileResponse* out) {
  out->set_paying_customers(icp.paying);
  out->set_top_customers(icp.top);
  for (const engine::IcpValue& v : icp.values) {
    v1::IdealCustomerValue* o = out->add_values();
    o->set_field(v.field);
    o->set_value(v.value);
    o->set_top_customers(v.top_customers);
    o->set_all_customers(v.all_customers);
    o->set_top_share(v.top_share);
    o->set_all_share(v.all_share);
    o->set_lift(v.lift);
  }
}

}  // namespace saasmetrics::rpc
