#include "server/rpc/ingest_mapping.h"

#include "absl/strings/str_cat.h"
#include "server/engine/dates.h"
#include "server/rpc/convert.h"

namespace saasmetrics::rpc {
namespace {

// An unset Timestamp is InfinitePast, which validation reports as "is required"; one
// whose nanos are outside 0..999,999,999 (not a Timestamp by its definition) is
// InfiniteFuture, reported as not a valid timestamp.
template <typename Msg>
absl::Time TimeOf(const Msg& msg, bool has) {
  if (!has) return absl::InfinitePast();
  if (msg.nanos() < 0 || msg.nanos() > 999'999'999) return absl::InfiniteFuture();
  return FromProto(msg);
}

engine::StringPairs Pairs(const google::protobuf::Map<std::string, std::string>& map) {
  engine::StringPairs out(map.begin(), map.end());
  std::sort(out.begin(), out.end());  // deterministic storage whatever the map's order
  return out;
}

// `text` as a day into `day`; else a violation of "<list>[<index>].<field>" and false.
bool Date(const std::string& text, absl::string_view list, int index, absl::string_view field,
          absl::CivilDay* day, engine::Violations& violations) {
  if (engine::ParseIsoDate(text, day)) return true;
  violations.push_back({absl::StrCat(list, "[", index, "].", field),
                        absl::StrCat("'", text, "' is not a date YYYY-MM-DD")});
  return false;
}

}  // namespace

std::vector<engine::SubscriptionEvent> FromProto(
    const google::protobuf::RepeatedPtrField<v1::SubscriptionEvent>& events) {
  std::vector<engine::SubscriptionEvent> out;
  out.reserve(events.size());
  for (const v1::SubscriptionEvent& p : events) {
    engine::SubscriptionEvent e;
    e.event_id = p.event_id();
    e.subscription_id = p.subscription_id();
    e.customer_id = p.customer_id();
    e.effective_at = TimeOf(p.effective_at(), p.has_effective_at());
    e.status = static_cast<engine::SubscriptionStatus>(p.status());
    e.plan_id = p.plan_id();
    e.quantity = p.quantity();
    e.unit_amount = p.unit_amount();
    e.currency = p.currency();
    e.interval_unit = static_cast<engine::IntervalUnit>(p.interval_unit());
    e.interval_count = p.interval_count();
    e.discount_bps = p.discount().percent_off_bps();
    e.discount_amount = p.discount().amount_off();
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<engine::UsageEvent> FromProto(
    const google::protobuf::RepeatedPtrField<v1::UsageEvent>& events) {
  std::vector<engine::UsageEvent> out;
  out.reserve(events.size());
  for (const v1::UsageEvent& p : events) {
    engine::UsageEvent e;
    e.id = p.id();
    e.source = p.source();
    e.type = p.type();
    e.customer_id = p.subject();
    e.time = TimeOf(p.time(), p.has_time());
    e.user_id = p.user_id();
    e.value = p.has_value() ? p.value().value() : 1.0;
    e.properties = Pairs(p.properties());
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<engine::SurveyResponse> FromProto(
    const google::protobuf::RepeatedPtrField<v1::SurveyResponse>& responses) {
  std::vector<engine::SurveyResponse> out;
  out.reserve(responses.size());
  for (const v1::SurveyResponse& p : responses) {
    engine::SurveyResponse r;
    r.response_id = p.id();
    r.customer_id = p.customer_id();
    r.user_id = p.user_id();
    r.score = p.score();
    r.time = TimeOf(p.time(), p.has_time());
    r.comment = p.comment();
    r.channel = p.channel();
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<engine::Customer> FromProto(
    const google::protobuf::RepeatedPtrField<v1::Customer>& customers, absl::Time now) {
  std::vector<engine::Customer> out;
  out.reserve(customers.size());
  for (const v1::Customer& p : customers) {
    engine::Customer c;
    c.customer_id = p.customer_id();
    c.created_at = TimeOf(p.created_at(), p.has_created_at());
    c.acquisition_channel = p.acquisition_channel();
    c.country = p.country();
    c.attributes = Pairs(p.attributes());
    c.updated_at = p.has_updated_at() ? FromProto(p.updated_at()) : now;
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<engine::AcquisitionSpend> FromProto(
    const google::protobuf::RepeatedPtrField<v1::AcquisitionSpend>& spend,
    engine::Violations& violations) {
  std::vector<engine::AcquisitionSpend> out;
  out.reserve(spend.size());
  for (int i = 0; i < spend.size(); ++i) {
    const v1::AcquisitionSpend& p = spend[i];
    engine::AcquisitionSpend s;
    s.spend_id = p.spend_id();
    s.channel = p.channel();
    s.amount = p.amount();
    s.currency = p.currency();
    Date(p.start_date(), "spend", i, "start_date", &s.start_date, violations);
    if (!Date(p.end_date(), "spend", i, "end_date", &s.end_date, violations)) {
      s.end_date = s.start_date;
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<engine::ExchangeRate> FromProto(
    const google::protobuf::RepeatedPtrField<v1::ExchangeRate>& rates,
    engine::Violations& violations) {
  std::vector<engine::ExchangeRate> out;
  out.reserve(rates.size());
  for (int i = 0; i < rates.size(); ++i) {
    const v1::ExchangeRate& p = rates[i];
    engine::ExchangeRate r;
    r.currency = p.currency();
    if (!Date(p.date(), "rates", i, "date", &r.date, violations)) {
      r.date = absl::CivilDay(2000, 1, 1);  // only its other fields are checked further
    }
    std::string why;
    if (std::optional<engine::Decimal> rate = engine::ParseRate(p.rate(), &why)) {
      r.rate = *rate;
    } else {
      violations.push_back({absl::StrCat("rates[", i, "].rate"), why});
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace saasmetrics::rpc
