#include "server/engine/ingest_validation.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/engine/tenant.h"

namespace saasmetrics::engine {
namespace {

// Checks the fields of one item, naming them "<list>[<index>].<field>".
class ItemChecker {
 public:
  ItemChecker(absl::string_view list, size_t index, const IngestRules& rules, Violations& out)
      : prefix_(absl::StrCat(list, "[", index, "].")), rules_(rules), out_(out) {}

  void Fail(absl::string_view field, std::string description) {
    out_.push_back({absl::StrCat(prefix_, field), std::move(description)});
  }

  void Text(absl::string_view field, const std::string& value, bool required) {
    if (value.find('\0') != std::string::npos) {
      Fail(field, "must not contain NUL bytes");
    } else if (value.empty()) {
      if (required) Fail(field, "must not be empty");
    } else if (static_cast<int>(value.size()) > rules_.limits.max_id_bytes) {
      Fail(field, absl::StrCat("must be at most ", rules_.limits.max_id_bytes, " bytes, got ",
                               value.size()));
    }
  }

  void Instant(absl::string_view field, absl::Time t) {
    if (t == absl::InfinitePast()) {  // how an unset timestamp arrives
      Fail(field, "is required");
    } else if (t == absl::InfiniteFuture()) {  // how an out-of-range nanos arrives
      Fail(field, "is not a valid timestamp (nanos must be between 0 and 999999999)");
    } else if (t < EarliestAcceptedTime()) {
      Fail(field, absl::StrCat("must not be before 1990-01-01, got ", absl::FormatTime(t)));
    } else if (t > rules_.now + absl::Hours(24)) {
      Fail(field,
           absl::StrCat("must not be more than a day in the future, got ", absl::FormatTime(t)));
    }
  }

  // Any ISO 4217 currency (converted into the reporting currency by the tenant's rates).
  void Currency(absl::string_view field, const std::string& currency) {
    if (!IsIso4217Currency(currency)) {
      Fail(field, absl::StrCat("'", currency, "' is not an ISO 4217 currency code (such as ",
                               rules_.currency, ")"));
    }
  }

  // A day from 1990-01-01 to tomorrow (UTC).
  void Day(absl::string_view field, absl::CivilDay day) {
    if (day < absl::CivilDay(1990, 1, 1) ||
        day > absl::ToCivilDay(rules_.now, absl::UTCTimeZone()) + 1) {
      Fail(field, "must be between 1990-01-01 and tomorrow");
    }
  }

  void NonNegative(absl::string_view field, int64_t value) {
    if (value < 0) Fail(field, absl::StrCat("must not be negative, got ", value));
  }

  void Map(absl::string_view field, const StringPairs& entries) {
    const IngestLimits& l = rules_.limits;
    if (static_cast<int>(entries.size()) > l.max_map_entries) {
      Fail(field,
           absl::StrCat("must have at most ", l.max_map_entries, " entries, got ", entries.size()));
      return;
    }
    for (const auto& [key, value] : entries) {
      if (key.find('\0') != std::string::npos || value.find('\0') != std::string::npos) {
        Fail(field, "keys and values must not contain NUL bytes");
      } else if (key.empty() || static_cast<int>(key.size()) > l.max_key_bytes) {
        Fail(absl::StrCat(field, "[\"", key.substr(0, 32), "\"]"),
             absl::StrCat("keys must be 1-", l.max_key_bytes, " bytes"));
      } else if (static_cast<int>(value.size()) > l.max_value_bytes) {
        Fail(absl::StrCat(field, "[\"", key, "\"]"),
             absl::StrCat("values must be at most ", l.max_value_bytes, " bytes, got ",
                          value.size()));
      }
    }
  }

 private:
  std::string prefix_;
  const IngestRules& rules_;
  Violations& out_;
};

bool KnownStatus(SubscriptionStatus s) {
  int v = static_cast<int>(s);
  return v >= static_cast<int>(SubscriptionStatus::kActive) &&
         v <= static_cast<int>(SubscriptionStatus::kCanceled);
}

bool KnownUnit(IntervalUnit u) {
  int v = static_cast<int>(u);
  return v >= static_cast<int>(IntervalUnit::kDay) && v <= static_cast<int>(IntervalUnit::kYear);
}

}  // namespace

absl::Time EarliestAcceptedTime() {
  return absl::FromCivil(absl::CivilDay(1990, 1, 1), absl::UTCTimeZone());
}

void ValidateSubscriptionEvents(const std::vector<SubscriptionEvent>& events,
                                const IngestRules& rules, Violations& out) {
  for (size_t i = 0; i < events.size(); ++i) {
    const SubscriptionEvent& e = events[i];
    ItemChecker c("events", i, rules, out);
    c.Text("event_id", e.event_id, true);
    c.Text("subscription_id", e.subscription_id, true);
    c.Text("customer_id", e.customer_id, true);
    c.Text("plan_id", e.plan_id, false);
    c.Instant("effective_at", e.effective_at);
    if (e.status == SubscriptionStatus::kUnspecified) {
      c.Fail("status", "is required");
    } else if (!KnownStatus(e.status)) {
      c.Fail("status", absl::StrCat("unknown value ", static_cast<int>(e.status)));
    }
    if (e.interval_unit == IntervalUnit::kUnspecified) {
      c.Fail("interval_unit", "is required");
    } else if (!KnownUnit(e.interval_unit)) {
      c.Fail("interval_unit", absl::StrCat("unknown value ", static_cast<int>(e.interval_unit)));
    }
    if (e.interval_count < 1 || e.interval_count > kMaxIntervalCount) {
      c.Fail("interval_count",
             absl::StrCat("must be 1 to ", kMaxIntervalCount, ", got ", e.interval_count));
    }
    c.NonNegative("quantity", e.quantity);
    c.NonNegative("unit_amount", e.unit_amount);
    c.Currency("currency", e.currency);
    int64_t gross = 0;
    const bool overflow = __builtin_mul_overflow(e.unit_amount, e.quantity, &gross);
    if (overflow && e.unit_amount >= 0 && e.quantity >= 0) {
      c.Fail("unit_amount", "unit_amount × quantity exceeds the int64 range");
    } else if (!overflow && gross > kMaxAmount) {
      c.Fail("unit_amount", absl::StrCat("unit_amount × quantity must be at most ", kMaxAmount,
                                         " minor units per interval, got ", gross));
    }
    if (e.discount_bps < 0 || e.discount_bps > 10000) {
      c.Fail("discount.percent_off_bps",
             absl::StrCat("must be between 0 and 10000, got ", e.discount_bps));
    }
    if (e.discount_amount < 0) {
      c.Fail("discount.amount_off", absl::StrCat("must not be negative, got ", e.discount_amount));
    } else if (!overflow && gross >= 0 && e.discount_amount > gross) {
      c.Fail("discount.amount_off", absl::StrCat("must not exceed unit_amount × quantity (", gross,
                                                 "), got ", e.discount_amount));
    }
  }
}

void ValidateUsageEvents(const std::vector<UsageEvent>& events, const IngestRules& rules,
                         Violations& out) {
  for (size_t i = 0; i < events.size(); ++i) {
    const UsageEvent& e = events[i];
    ItemChecker c("events", i, rules, out);
    c.Text("id", e.id, true);
    c.Text("source", e.source, true);
    c.Text("type", e.type, true);
    c.Text("subject", e.customer_id, true);
    c.Text("user_id", e.user_id, false);
    c.Instant("time", e.time);
    if (!std::isfinite(e.value)) c.Fail("value", "must be a finite number");
    c.Map("properties", e.properties);
  }
}

void ValidateCustomers(const std::vector<Customer>& customers, const IngestRules& rules,
                       Violations& out) {
  for (size_t i = 0; i < customers.size(); ++i) {
    const Customer& cu = customers[i];
    ItemChecker c("customers", i, rules, out);
    c.Text("customer_id", cu.customer_id, true);
    c.Instant("created_at", cu.created_at);
    c.Instant("updated_at", cu.updated_at);
    c.Text("acquisition_channel", cu.acquisition_channel, false);
    if (!cu.country.empty() &&
        (cu.country.size() != 2 || !std::isupper(static_cast<unsigned char>(cu.country[0])) ||
         !std::isupper(static_cast<unsigned char>(cu.country[1])))) {
      c.Fail("country", absl::StrCat("'", cu.country, "' is not an ISO 3166-1 alpha-2 code"));
    }
    c.Map("attributes", cu.attributes);
  }
}

void ValidateSpend(const std::vector<AcquisitionSpend>& spend, const IngestRules& rules,
                   Violations& out) {
  for (size_t i = 0; i < spend.size(); ++i) {
    const AcquisitionSpend& s = spend[i];
    ItemChecker c("spend", i, rules, out);
    c.Text("spend_id", s.spend_id, true);
    c.Text("channel", s.channel, true);
    c.NonNegative("amount", s.amount);
    if (s.amount > kMaxAmount) {
      c.Fail("amount",
             absl::StrCat("must be at most ", kMaxAmount, " minor units, got ", s.amount));
    }
    c.Currency("currency", s.currency);
    c.Day("start_date", s.start_date);
    if (s.end_date < s.start_date) {
      c.Fail("end_date", "must not be before start_date");
    } else if (s.end_date - s.start_date >= kMaxSpendDays) {
      // Spread evenly over its days, a row spanning millennia would cost a day each.
      c.Fail("end_date", absl::StrCat("must be within ", kMaxSpendDays,
                                      " days of start_date (about ten years)"));
    }
  }
}

void ValidateSurveyResponses(const std::vector<SurveyResponse>& responses, const IngestRules& rules,
                             Violations& out) {
  for (size_t i = 0; i < responses.size(); ++i) {
    const SurveyResponse& r = responses[i];
    ItemChecker c("responses", i, rules, out);
    c.Text("id", r.response_id, true);
    c.Text("customer_id", r.customer_id, true);
    c.Text("user_id", r.user_id, false);
    c.Text("channel", r.channel, false);
    if (r.score < 0 || r.score > 10) {
      c.Fail("score", absl::StrCat("must be 0 to 10, got ", r.score));
    }
    c.Instant("time", r.time);
    if (r.comment.find('\0') != std::string::npos) {
      c.Fail("comment", "must not contain NUL bytes");
    } else if (static_cast<int>(r.comment.size()) > kMaxCommentBytes) {
      c.Fail("comment",
             absl::StrCat("must be at most ", kMaxCommentBytes, " bytes, got ", r.comment.size()));
    }
  }
}

void ValidateExchangeRates(const std::vector<ExchangeRate>& rates, const IngestRules& rules,
                           Violations& out) {
  for (size_t i = 0; i < rates.size(); ++i) {
    const ExchangeRate& r = rates[i];
    ItemChecker c("rates", i, rules, out);
    c.Currency("currency", r.currency);
    if (r.currency == rules.currency) {
      c.Fail("currency", absl::StrCat("'", r.currency,
                                      "' is the tenant's reporting currency: it needs no rate"));
    }
    c.Day("date", r.date);
  }
}

}  // namespace saasmetrics::engine
