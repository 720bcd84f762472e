#include "client/generator.h"

#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace saasmetrics::client {
namespace {

constexpr const char* kChannels[] = {"organic", "paid_search", "referral", "partner"};
constexpr int64_t kMonthlyPrice[] = {2900, 7900, 19900};  // basic, pro, business (cents)

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  out->set_seconds(micros / 1000000);
  out->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
}

// The first anniversary of `anchor` (whole years, UTC) after `t`: when an annual contract
// that is cancelled during its term ends.
absl::Time NextAnniversary(absl::Time anchor, absl::Time t) {
  const absl::CivilSecond a = absl::ToCivilSecond(anchor, absl::UTCTimeZone());
  for (int k = 1;; ++k) {
    const absl::Time at = absl::FromCivil(
        absl::CivilSecond(a.year() + k, a.month(), a.day(), a.hour(), a.minute(), a.second()),
        absl::UTCTimeZone());
    if (at > t) return at;
  }
}

}  // namespace

// About what one unit of a currency was worth in USD in 2023 (the generator's rates start
// there and wander).
double UsdValue(const std::string& currency) {
  static const std::pair<const char*, double> kValues[] = {
      {"USD", 1.0},  {"EUR", 1.08}, {"GBP", 1.25}, {"JPY", 0.0071},
      {"CHF", 1.11}, {"CAD", 0.74}, {"AUD", 0.66}};
  for (const auto& [code, value] : kValues) {
    if (currency == code) return value;
  }
  return 0;
}

GeneratedData Generate(const GeneratorOptions& o) {
  std::mt19937_64 rng(o.seed);
  // The billing currency by country (local_currencies), else the reporting one.
  const bool local = o.local_currencies && UsdValue(o.currency) > 0;
  auto billing = [&](const std::string& country) -> std::string {
    if (local && country == "DE") return "EUR";
    if (local && country == "GB") return "GBP";
    return o.currency;
  };
  std::uniform_real_distribution<double> unit(0, 1);
  const absl::TimeZone utc = absl::UTCTimeZone();
  const absl::Time start = absl::FromCivil(o.first_month, utc);
  const absl::Time end = absl::FromCivil(o.first_month + o.months, utc);
  const double span_s = absl::ToDoubleSeconds(end - start);
  GeneratedData d;
  int64_t event_no = 0;
  for (int c = 0; c < o.customers; ++c) {
    const std::string id = absl::StrFormat("cus_%07d", c);
    const absl::Time signup =
        start + absl::Seconds(static_cast<int64_t>(unit(rng) * span_s * 0.95));
    v1::Customer& customer = d.customers.emplace_back();
    customer.set_customer_id(id);
    SetTime(signup, customer.mutable_created_at());
    customer.set_acquisition_channel(kChannels[rng() % 4]);
    customer.set_country(unit(rng) < 0.5 ? "US" : (unit(rng) < 0.5 ? "DE" : "GB"));
    (*customer.mutable_attributes())["segment"] = unit(rng) < 0.8 ? "smb" : "enterprise";
    SetTime(signup, customer.mutable_updated_at());
    if (unit(rng) < 0.3) continue;  // never subscribes
    const std::string currency = billing(customer.country());

    int plan = static_cast<int>(rng() % 3);
    bool annual = unit(rng) < 0.25;
    int64_t seats = 1 + static_cast<int64_t>(rng() % 5);
    const std::string sub = absl::StrCat("sub_", c);
    bool paying = false;
    absl::Time anchor;  // when it last started paying: its terms count from there
    auto emit = [&](absl::Time at, v1::SubscriptionStatus status) {
      if (at >= end) return false;
      const bool pays =
          status == v1::SUBSCRIPTION_STATUS_ACTIVE || status == v1::SUBSCRIPTION_STATUS_PAST_DUE;
      if (pays && !paying) anchor = at;
      paying = pays;
      v1::SubscriptionEvent& e = d.subscription_events.emplace_back();
      e.set_event_id(absl::StrCat("evt_", event_no++));
      e.set_subscription_id(sub);
      e.set_customer_id(id);
      SetTime(at, e.mutable_effective_at());
      e.set_status(status);
      e.set_plan_id(absl::StrCat(plan == 0   ? "basic"
                                 : plan == 1 ? "pro"
                                             : "business",
                                 annual ? "_annual" : "_monthly"));
      e.set_quantity(seats);
      e.set_unit_amount(annual ? kMonthlyPrice[plan] * 10 : kMonthlyPrice[plan]);
      e.set_currency(currency);
      e.set_interval_unit(annual ? v1::INTERVAL_UNIT_YEAR : v1::INTERVAL_UNIT_MONTH);
      e.set_interval_count(1);
      if (unit(rng) < 0.1) e.mutable_discount()->set_percent_off_bps(1000 + 500 * (rng() % 4));
      return true;
    };
    absl::Time t = signup;
    if (unit(rng) < 0.4) {  // a 14-day trial first
      emit(t, v1::SUBSCRIPTION_STATUS_TRIALING);
      t += absl::Hours(24 * 14);
      if (unit(rng) < 0.35) continue;  // trial never converts
    }
    emit(t, v1::SUBSCRIPTION_STATUS_ACTIVE);
    // Life events roughly every 2-5 months until churn or the end.
    while (true) {
      t += absl::Hours(24 * (60 + static_cast<int64_t>(rng() % 90)));
      const double r = unit(rng);
      bool ok;
      if (r < 0.25) {
        plan = std::min(plan + 1, 2);
        seats += 1 + static_cast<int64_t>(rng() % 3);
        ok = emit(t, v1::SUBSCRIPTION_STATUS_ACTIVE);  // upgrade
      } else if (r < 0.4) {
        seats = std::max<int64_t>(1, seats - 1);
        ok = emit(t, v1::SUBSCRIPTION_STATUS_ACTIVE);  // downgrade
      } else if (r < 0.5) {
        ok = emit(t, v1::SUBSCRIPTION_STATUS_PAUSED);
        t += absl::Hours(24 * 30);
        ok = ok && emit(t, v1::SUBSCRIPTION_STATUS_ACTIVE);
      } else if (r < 0.58) {
        ok = emit(t, v1::SUBSCRIPTION_STATUS_PAST_DUE);
      } else if (r < 0.72) {
        // Churn; an annual contract runs to the end of its term and is not renewed.
        if (annual && paying) t = NextAnniversary(anchor, t);
        ok = emit(t, v1::SUBSCRIPTION_STATUS_CANCELED);
        if (ok && unit(rng) < 0.2) {  // comes back later
          t += absl::Hours(24 * (30 + static_cast<int64_t>(rng() % 120)));
          ok = emit(t, v1::SUBSCRIPTION_STATUS_ACTIVE);
        } else {
          break;
        }
      } else {
        ok = true;  // a quiet stretch
      }
      if (!ok || t >= end) break;
    }
  }
  for (int m = 0; m < o.months; ++m) {
    for (const char* channel : kChannels) {
      if (std::string(channel) == "organic") continue;
      v1::AcquisitionSpend& s = d.spend.emplace_back();
      const absl::CivilMonth month = o.first_month + m;
      s.set_spend_id(absl::StrFormat("%s-%04d-%02d", channel, month.year(), month.month()));
      s.set_channel(channel);
      s.set_start_date(absl::FormatCivilTime(absl::CivilDay(month)));
      s.set_end_date(absl::FormatCivilTime(absl::CivilDay(month + 1) - 1));
      s.set_amount(static_cast<int64_t>(o.customers) * (500 + static_cast<int64_t>(rng() % 1000)));
      s.set_currency(o.currency);
    }
  }
  // Rates of the local currencies, weekly from a month before the first month to the end,
  // each wandering by about half a percent a week, from their own stream of random numbers.
  if (local) {
    std::mt19937_64 fx_rng(o.seed * 7919 + 11);
    std::normal_distribution<double> step(0, 0.005);
    for (const char* c : {"EUR", "GBP"}) {
      if (o.currency == c) continue;
      double rate = UsdValue(c) / UsdValue(o.currency);
      for (absl::CivilDay day(o.first_month - 1); day < absl::CivilDay(o.first_month + o.months);
           day += 7) {
        v1::ExchangeRate& r = d.exchange_rates.emplace_back();
        r.set_date(absl::FormatCivilTime(day));
        r.set_currency(c);
        r.set_rate(absl::StrFormat("%.6f", rate));
        rate *= 1 + step(fx_rng);
      }
    }
  }
  // Survey responses from their own stream of random numbers (the data above stays what
  // it was): about a third of the customers answer one to three times after signing up,
  // a quarter of them as a whole (no user), with scores leaning to the promoter side.
  std::mt19937_64 nps_rng(o.seed * 104729 + 3);
  std::uniform_real_distribution<double> nps_unit(0, 1);
  int64_t response_no = 0;
  for (const v1::Customer& c : d.customers) {
    if (nps_unit(nps_rng) >= 0.33) continue;
    const absl::Time from = absl::FromUnixSeconds(c.created_at().seconds());
    const int n = 1 + static_cast<int>(nps_rng() % 3);
    for (int i = 0; i < n; ++i) {
      v1::SurveyResponse& r = d.survey_responses.emplace_back();
      r.set_id(absl::StrCat("nps_", response_no++));
      r.set_customer_id(c.customer_id());
      if (nps_unit(nps_rng) >= 0.25) {
        r.set_user_id(absl::StrCat(c.customer_id(), "_u", nps_rng() % 8));
      }
      const double u = nps_unit(nps_rng);
      r.set_score(u < 0.25  ? static_cast<int>(nps_rng() % 7)
                  : u < 0.6 ? 7 + static_cast<int>(nps_rng() % 2)
                            : 9 + static_cast<int>(nps_rng() % 2));
      SetTime(from + absl::Seconds(static_cast<int64_t>(nps_unit(nps_rng) *
                                                        absl::ToDoubleSeconds(end - from) * 0.999)),
              r.mutable_time());
      r.set_channel(nps_unit(nps_rng) < 0.5 ? "in-app" : "email");
    }
  }
  return d;
}

void GenerateUsage(const GeneratorOptions& o, const GeneratedData& data, int batch,
                   const std::function<void(std::vector<v1::UsageEvent>&&)>& usage) {
  std::mt19937_64 rng(o.seed * 7919 + 1);
  std::uniform_real_distribution<double> unit(0, 1);
  const absl::Time end = absl::FromCivil(o.first_month + o.months, absl::UTCTimeZone());
  static constexpr const char* kTypes[] = {"login",      "report.created", "dashboard.viewed",
                                           "export.csv", "invite.sent",    "api.call"};
  std::vector<v1::UsageEvent> out;
  out.reserve(batch);
  const int n = static_cast<int>(data.customers.size());
  for (int64_t i = 0; i < o.usage_events; ++i) {
    // Power law: customer rank k is chosen with probability ~ 1/k.
    const int k = std::min(n - 1, static_cast<int>(std::pow(n, unit(rng))) - 1);
    const v1::Customer& c = data.customers[std::max(0, k)];
    const absl::Time from = absl::FromUnixSeconds(c.created_at().seconds());
    const double span = absl::ToDoubleSeconds(end - from);
    v1::UsageEvent& e = out.emplace_back();
    e.set_id(absl::StrCat("use_", i));
    e.set_source("generator");
    e.set_type(kTypes[static_cast<int>(std::pow(6, unit(rng))) - 1]);
    e.set_subject(c.customer_id());
    e.set_user_id(absl::StrCat(c.customer_id(), "_u", rng() % 8));
    SetTime(from + absl::Seconds(static_cast<int64_t>(unit(rng) * std::max(1.0, span - 1))),
            e.mutable_time());
    if (static_cast<int>(out.size()) == batch) {
      usage(std::move(out));
      out.clear();
      out.reserve(batch);
    }
  }
  if (!out.empty()) usage(std::move(out));
}

}  // namespace saasmetrics::client
