// saasctl metrics: each metric as rows of a table (or CSV), or its response as JSON.
#include <google/protobuf/util/json_util.h>

#include <iostream>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "client/records.h"
#include "client/saasctl.h"

namespace saasmetrics::cli {
namespace {

using Rows = std::vector<std::vector<std::string>>;

v1::MetricsQuery ToQuery(const MetricsFlags& f) {
  v1::MetricsQuery q;
  q.set_tenant_id(f.tenant);
  q.set_start_date(f.from);
  q.set_end_date(f.to);
  v1::Interval interval = v1::INTERVAL_UNSPECIFIED;
  v1::Interval_Parse("INTERVAL_" + absl::AsciiStrToUpper(f.interval), &interval);
  q.set_interval(interval);
  for (const auto& filter : f.filters) q.add_filter(filter);
  return q;
}

std::string Count(int64_t n) { return absl::StrCat(n); }

// "power", "at_risk", … (the enum's name without its prefix, lower case).
std::string HealthGroupName(int group) {
  return absl::AsciiStrToLower(
      v1::HealthGroup_Name(static_cast<v1::HealthGroup>(group)).substr(13));
}

template <typename Wrapper>
std::string MoneyOr(bool has, const Wrapper& w, int digits) {
  return has ? Money(w.value(), digits) : "-";
}

// Every page of a listing as one response: repeated fields appended, the others the last
// page's, no token.
template <typename Response, typename Request, typename Call>
absl::StatusOr<Response> AllPages(Request req, Call call) {
  req.set_page_size(1000);
  Response all;
  do {
    absl::StatusOr<Response> r = call(req);
    if (!r.ok()) return r.status();
    all.MergeFrom(*r);
    req.set_page_token(r->next_page_token());
  } while (!req.page_token().empty());
  all.clear_next_page_token();
  return all;
}

// How the tenant's amounts print: its currency and minor digits (none needed for JSON).
struct Units {
  int digits = 2;
  std::string currency;
};
absl::StatusOr<Units> UnitsOf(client::Client& client, const std::string& tenant_id, Output output) {
  Units u;
  if (output == Output::kJson) return u;
  absl::StatusOr<v1::Tenant> tenant = client.GetTenant(tenant_id);
  if (!tenant.ok()) return tenant.status();
  u.currency = tenant->currency();
  u.digits = MinorDigits(u.currency);
  return u;
}

// The header row with each money column named with its currency ("MRR_USD"): amounts
// are in the tenant's reporting currency. For tables only (`currency` empty otherwise):
// CSV headers stay the API's names for scripts that read them.
Rows Labelled(Rows rows, const std::string& currency) {
  static const auto* money = new absl::flat_hash_set<std::string>{
      "MRR",         "ARR",     "ARPA",         "ASP",        "NEW",      "EXPANSION",
      "CONTRACTION", "CHURN",   "REACTIVATION", "SPEND",      "CAC",      "LTV",
      "INITIAL_MRR", "EARLIER", "AMOUNT",       "MRR_BEFORE", "MRR_AFTER"};
  if (rows.empty() || currency.empty()) return rows;
  for (std::string& h : rows[0]) {
    if (money->contains(h)) h = absl::StrCat(h, "_", currency);
  }
  return rows;
}

// Runs `call` and prints its response: JSON, or the rows `to_rows` makes of it.
template <typename Response, typename Call, typename ToRows>
int Show(Call call, ToRows to_rows, Output output, const std::string& currency) {
  absl::StatusOr<Response> r = call();
  if (!r.ok()) return Fail(r.status());
  if (PrintJson(*r, output)) return kExitOk;
  PrintRows(Labelled(to_rows(*r), currency), output);
  return kExitOk;
}

}  // namespace

int RunMetrics(client::Client& client, const std::string& metric, const MetricsFlags& f,
               Output output) {
  // Amount columns follow the tenant's currency (JPY has no minor digits).
  absl::StatusOr<Units> units = UnitsOf(client, f.tenant, output);
  if (!units.ok()) return Fail(units.status());
  const int digits = units->digits;
  const std::string currency = output == Output::kTable ? units->currency : std::string();
  auto money = [digits](int64_t v) { return Money(v, digits); };

  if (metric == "mrr") {
    v1::GetMrrRequest req;
    *req.mutable_query() = ToQuery(f);
    req.set_by_currency(f.by_currency);
    return Show<v1::GetMrrResponse>(
        [&] { return client.GetMrr(req); },
        [&](const v1::GetMrrResponse& r) {
          Rows rows = {{"DATE", "MRR", "ARR", "CUSTOMERS", "ARPA", "NEW", "EXPANSION",
                        "CONTRACTION", "CHURN", "REACTIVATION"}};
          // With --by_currency, a column per billing currency, in its own units.
          std::vector<std::string> native;
          for (const auto& e : r.entries()) {
            for (const auto& c : e.by_currency()) native.push_back(c.currency());
          }
          std::sort(native.begin(), native.end());
          native.erase(std::unique(native.begin(), native.end()), native.end());
          for (const std::string& c : native) rows[0].push_back(absl::StrCat("IN_", c));
          for (const auto& e : r.entries()) {
            rows.push_back({e.date(), money(e.mrr()), money(e.arr()), Count(e.customers()),
                            MoneyOr(e.has_arpa(), e.arpa(), digits), money(e.new_business()),
                            money(e.expansion()), money(e.contraction()), money(e.churn()),
                            money(e.reactivation())});
            for (const std::string& c : native) {
              int64_t mrr = 0;
              for (const auto& n : e.by_currency()) {
                if (n.currency() == c) mrr = n.mrr();
              }
              rows.back().push_back(Money(mrr, MinorDigits(c)));
            }
          }
          return rows;
        },
        output, currency);
  }
  if (metric == "churn") {
    v1::GetChurnRequest req;
    *req.mutable_query() = ToQuery(f);
    req.set_group_by(f.group_by);
    return Show<v1::GetChurnResponse>(
        [&] { return client.GetChurn(req); },
        [&](const v1::GetChurnResponse& r) {
          // With --group_by, a row per group and period (the cross-tab), after the totals.
          Rows rows = {{"GROUP", "DATE", "AT_START", "CHURNED", "CUSTOMER_CHURN", "GROSS_MRR_CHURN",
                        "NET_MRR_CHURN", "NRR", "GRR", "QUICK_RATIO"}};
          auto add = [&](const std::string& group, const v1::ChurnEntry& e) {
            rows.push_back(
                {group, e.date(), Count(e.customers_at_start()), Count(e.churned_customers()),
                 Ratio(e.has_customer_churn_rate(), e.customer_churn_rate().value()),
                 Ratio(e.has_gross_mrr_churn_rate(), e.gross_mrr_churn_rate().value()),
                 Ratio(e.has_net_mrr_churn_rate(), e.net_mrr_churn_rate().value()),
                 Ratio(e.has_nrr(), e.nrr().value()), Ratio(e.has_grr(), e.grr().value()),
                 Ratio(e.has_quick_ratio(), e.quick_ratio().value())});
          };
          for (const auto& e : r.entries()) add("(all)", e);
          for (const auto& g : r.groups()) {
            for (const auto& e : g.entries()) add(g.group(), e);
          }
          if (f.group_by.empty()) {
            for (auto& row : rows) row.erase(row.begin());
          }
          return rows;
        },
        output, currency);
  }
  if (metric == "unit-economics") {
    v1::GetUnitEconomicsRequest req;
    *req.mutable_query() = ToQuery(f);
    req.set_ltv_churn_window_months(f.ltv_window_months);
    return Show<v1::GetUnitEconomicsResponse>(
        [&] { return client.GetUnitEconomics(req); },
        [&](const v1::GetUnitEconomicsResponse& r) {
          Rows rows = {{"DATE", "CHANNEL", "NEW_CUSTOMERS", "ASP", "ARPA", "LTV", "SPEND", "CAC",
                        "LTV_TO_CAC", "PAYBACK_MONTHS"}};
          for (const auto& e : r.entries()) {
            rows.push_back(
                {e.date(), "(all)", Count(e.new_customers()), MoneyOr(e.has_asp(), e.asp(), digits),
                 MoneyOr(e.has_arpa(), e.arpa(), digits), MoneyOr(e.has_ltv(), e.ltv(), digits),
                 money(e.spend()), MoneyOr(e.has_cac(), e.cac(), digits),
                 Ratio(e.has_ltv_to_cac(), e.ltv_to_cac().value()),
                 Ratio(e.has_cac_payback_months(), e.cac_payback_months().value())});
            for (const auto& c : e.channels()) {
              rows.push_back({e.date(), c.channel(), Count(c.new_customers()), "", "", "",
                              money(c.spend()), MoneyOr(c.has_cac(), c.cac(), digits), "", ""});
            }
          }
          return rows;
        },
        output, currency);
  }
  if (metric == "cohorts") {
    v1::GetCohortRetentionRequest req;
    *req.mutable_query() = ToQuery(f);
    req.set_group_by(f.group_by);
    return Show<v1::GetCohortRetentionResponse>(
        [&] { return client.GetCohortRetention(req); },
        [&](const v1::GetCohortRetentionResponse& r) {
          // One row per cohort: its size, then logo retention per period offset.
          int periods = 0;
          for (const auto& c : r.cohorts()) periods = std::max(periods, c.cells_size());
          Rows rows = {{"COHORT", "GROUP", "CUSTOMERS", "INITIAL_MRR"}};
          for (int j = 0; j < periods; ++j) rows[0].push_back(absl::StrCat("+", j));
          for (const auto& c : r.cohorts()) {
            std::vector<std::string> row = {c.period(), c.group().empty() ? "(all)" : c.group(),
                                            Count(c.customers()), money(c.initial_mrr())};
            for (const auto& cell : c.cells()) {
              row.push_back(Ratio(cell.has_logo_retention(), cell.logo_retention().value()));
            }
            rows.push_back(row);
          }
          return rows;
        },
        output, currency);
  }
  if (metric == "active") {
    v1::GetActiveCustomersRequest req;
    *req.mutable_query() = ToQuery(f);
    for (const auto& t : f.event_types) req.add_event_types(t);
    return Show<v1::GetActiveCustomersResponse>(
        [&] { return client.GetActiveCustomers(req); },
        [&](const v1::GetActiveCustomersResponse& r) {
          Rows rows = {{"DATE", "ACTIVE_CUSTOMERS"}};
          for (const auto& e : r.entries()) rows.push_back({e.date(), Count(e.active_customers())});
          return rows;
        },
        output, currency);
  }
  if (metric == "pql") {
    v1::GetPqlCountRequest req;
    *req.mutable_query() = ToQuery(f);
    req.set_rule_id(f.rule);
    req.set_conversion_window_days(f.window_days);
    return Show<v1::GetPqlCountResponse>(
        [&] { return client.GetPqlCount(req); },
        [&](const v1::GetPqlCountResponse& r) {
          Rows rows = {{"DATE", "PQLS", "CONVERSIONS", "CONVERSION_RATE"}};
          for (const auto& e : r.entries()) {
            rows.push_back({e.date(), Count(e.pqls()), Count(e.conversions()),
                            Ratio(e.has_conversion_rate(), e.conversion_rate().value())});
          }
          return rows;
        },
        output, currency);
  }
  if (metric == "activation") {
    v1::GetActivationRequest req;
    *req.mutable_query() = ToQuery(f);
    for (const auto& t : f.event_types) req.add_activation_event_types(t);
    req.set_window_days(f.window_days);
    return Show<v1::GetActivationResponse>(
        [&] { return client.GetActivation(req); },
        [&](const v1::GetActivationResponse& r) {
          Rows rows = {{"DATE", "NEW_CUSTOMERS", "ACTIVATED", "ACTIVATION_RATE"}};
          for (const auto& e : r.entries()) {
            rows.push_back({e.date(), Count(e.new_customers()), Count(e.activated()),
                            Ratio(e.has_activation_rate(), e.activation_rate().value())});
          }
          return rows;
        },
        output, currency);
  }
  if (metric == "engagement") {
    v1::GetEngagementRequest req;
    *req.mutable_query() = ToQuery(f);
    req.set_model_id(f.model);
    auto score = [](bool has, double v) {
      return has ? absl::StrFormat("%.1f", v) : std::string("-");
    };
    return Show<v1::GetEngagementResponse>(
        [&] { return client.GetEngagement(req); },
        [&](const v1::GetEngagementResponse& r) {
          Rows rows = {{"DATE", "PAYING_CUSTOMERS", "MEAN", "P10", "P25", "P50", "P75", "P90"}};
          for (const auto& e : r.entries()) {
            rows.push_back(
                {e.date(), Count(e.customers()), score(e.has_mean(), e.mean().value()),
                 score(e.has_p10(), e.p10().value()), score(e.has_p25(), e.p25().value()),
                 score(e.has_p50(), e.p50().value()), score(e.has_p75(), e.p75().value()),
                 score(e.has_p90(), e.p90().value())});
          }
          return rows;
        },
        output, currency);
  }
  if (metric == "engagement-scores") {
    v1::ListEngagementScoresRequest req;
    *req.mutable_query() = ToQuery(f);
    req.mutable_query()->set_interval(v1::INTERVAL_UNSPECIFIED);
    req.mutable_query()->set_start_date(f.to);  // scored at the end of --to
    req.set_model_id(f.model);
    if (f.order == "score_asc") req.set_order(v1::ListEngagementScoresRequest::ORDER_SCORE_ASC);
    if (f.order == "customer_id") req.set_order(v1::ListEngagementScoresRequest::ORDER_CUSTOMER_ID);
    if (f.min_score) req.mutable_min_score()->set_value(*f.min_score);
    if (f.max_score) req.mutable_max_score()->set_value(*f.max_score);
    absl::StatusOr<v1::ListEngagementScoresResponse> pages =
        AllPages<v1::ListEngagementScoresResponse>(
            req, [&](const auto& r) { return client.ListEngagementScores(r); });
    if (!pages.ok()) return Fail(pages.status());
    const v1::ListEngagementScoresResponse& all = *pages;
    if (PrintJson(all, output)) return kExitOk;
    Rows rows = {{"CUSTOMER", "SCORE", "COMPONENTS"}};
    for (const auto& c : all.customers()) {
      rows.push_back({c.customer_id(), absl::StrFormat("%.1f", c.score()),
                      absl::StrJoin(c.components(), " ")});
    }
    PrintRows(Labelled(rows, currency), output);
    return kExitOk;
  }
  if (metric == "health") {
    v1::GetHealthRequest req;
    *req.mutable_query() = ToQuery(f);
    return Show<v1::GetHealthResponse>(
        [&] { return client.GetHealth(req); },
        [&](const v1::GetHealthResponse& r) {
          // A row per period end and group: its customers and MRR, and where they were at
          // the previous end.
          Rows rows = {{"DATE", "GROUP", "CUSTOMERS", "MRR", "FROM_POWER", "FROM_NORMAL",
                        "FROM_AT_RISK", "FROM_LOST", "FROM_NONE"}};
          for (const auto& e : r.entries()) {
            for (const auto& g : e.groups()) {
              std::vector<std::string> row = {e.date(), HealthGroupName(g.group()),
                                              Count(g.customers()), money(g.mrr())};
              for (int from = v1::HEALTH_GROUP_POWER; from <= v1::HEALTH_GROUP_NONE; ++from) {
                int64_t n = 0;
                for (const auto& t : e.transitions()) {
                  if (t.from() == from && t.to() == g.group()) n = t.customers();
                }
                row.push_back(Count(n));
              }
              rows.push_back(std::move(row));
            }
          }
          return rows;
        },
        output, currency);
  }
  if (metric == "nps") {
    v1::GetNpsRequest req;
    *req.mutable_query() = ToQuery(f);
    req.set_group_by(f.group_by);
    return Show<v1::GetNpsResponse>(
        [&] { return client.GetNps(req); },
        [&](const v1::GetNpsResponse& r) {
          // With --group_by, a row per group and period after the totals.
          Rows rows = {
              {"DATE", "GROUP", "RESPONDENTS", "PROMOTERS", "PASSIVES", "DETRACTORS", "NPS"}};
          auto add = [&](const std::string& group, const v1::NpsEntry& e) {
            rows.push_back({e.date(), group, Count(e.respondents()), Count(e.promoters()),
                            Count(e.passives()), Count(e.detractors()),
                            e.has_nps() ? absl::StrFormat("%.1f", e.nps().value()) : "-"});
          };
          for (const auto& e : r.entries()) add("(all)", e);
          for (const auto& g : r.groups()) {
            for (const auto& e : g.entries()) add(g.group(), e);
          }
          return rows;
        },
        output, currency);
  }
  if (metric == "mrr-by-cohort") {
    v1::GetMrrByCohortRequest req;
    *req.mutable_query() = ToQuery(f);
    return Show<v1::GetMrrByCohortResponse>(
        [&] { return client.GetMrrByCohort(req); },
        [&](const v1::GetMrrByCohortResponse& r) {
          // A row per period end, a column per cohort (by its first day); "" before it exists.
          Rows rows = {{"DATE", "MRR", "EXISTING_SHARE", "EARLIER"}};
          for (const auto& cohort : r.cohorts()) rows[0].push_back(cohort);
          for (const auto& e : r.entries()) {
            std::vector<std::string> row = {
                e.date(), money(e.mrr()), Ratio(e.has_existing_share(), e.existing_share().value()),
                money(e.earlier_mrr())};
            for (int64_t layer : e.layer_mrr()) row.push_back(money(layer));
            row.resize(rows[0].size());
            rows.push_back(std::move(row));
          }
          return rows;
        },
        output, currency);
  }
  if (metric == "renewals") {
    v1::GetRenewalsRequest req;
    *req.mutable_query() = ToQuery(f);
    if (!f.min_term.empty()) {  // checked by the flag: digits then d, w, m or y
      const char unit = f.min_term.back();
      req.mutable_min_term()->set_unit(unit == 'd'   ? v1::INTERVAL_UNIT_DAY
                                       : unit == 'w' ? v1::INTERVAL_UNIT_WEEK
                                       : unit == 'm' ? v1::INTERVAL_UNIT_MONTH
                                                     : v1::INTERVAL_UNIT_YEAR);
      int count = 0;
      if (!absl::SimpleAtoi(f.min_term.substr(0, f.min_term.size() - 1), &count)) count = -1;
      req.mutable_min_term()->set_count(count);
    }
    return Show<v1::GetRenewalsResponse>(
        [&] { return client.GetRenewals(req); },
        [&](const v1::GetRenewalsResponse& r) {
          // A row per period and level: counts, MRR up and renewed, both rates.
          Rows rows = {
              {"DATE", "LEVEL", "UP", "RENEWED", "MRR_UP", "MRR_RENEWED", "BY_COUNT", "BY_AMOUNT"}};
          for (const auto& e : r.entries()) {
            for (const auto& [level, rates] :
                 {std::pair{"subscriptions", &e.subscriptions()}, {"customers", &e.customers()}}) {
              rows.push_back({e.date(), level, Count(rates->up_for_renewal()),
                              Count(rates->renewed()), money(rates->mrr_up_for_renewal()),
                              money(rates->renewed_mrr()),
                              Ratio(rates->has_rate_by_count(), rates->rate_by_count().value()),
                              Ratio(rates->has_rate_by_amount(), rates->rate_by_amount().value())});
            }
          }
          return rows;
        },
        output, currency);
  }
  if (metric == "icp") {
    v1::GetIdealCustomerProfileRequest req;
    *req.mutable_query() = ToQuery(f);
    req.mutable_query()->set_interval(v1::INTERVAL_UNSPECIFIED);
    req.mutable_query()->set_start_date(f.to);
    for (const auto& field : f.fields) req.add_fields(field);
    if (f.top_share) req.mutable_top_share()->set_value(*f.top_share);
    req.set_min_count(f.min_count);
    return Show<v1::GetIdealCustomerProfileResponse>(
        [&] { return client.GetIdealCustomerProfile(req); },
        [&](const v1::GetIdealCustomerProfileResponse& r) {
          Rows rows = {{"FIELD", "VALUE", "TOP", "ALL", "TOP_SHARE", "ALL_SHARE", "LIFT"}};
          for (const auto& v : r.values()) {
            rows.push_back({v.field(), v.value(), Count(v.top_customers()),
                            Count(v.all_customers()), absl::StrFormat("%.4f", v.top_share()),
                            absl::StrFormat("%.4f", v.all_share()),
                            absl::StrFormat("%.2f", v.lift())});
          }
          return rows;
        },
        output, currency);
  }
  if (metric == "survival") {
    v1::GetSurvivalRequest req;
    *req.mutable_query() = ToQuery(f);
    req.mutable_query()->set_interval(v1::INTERVAL_UNSPECIFIED);
    req.set_group_by(f.group_by);
    req.set_cox(f.cox || !f.cox_fields.empty());
    for (const auto& field : f.cox_fields) req.add_cox_fields(field);
    const absl::StatusOr<v1::GetSurvivalResponse> r = client.GetSurvival(req);
    if (!r.ok()) return Fail(r.status());
    if (PrintJson(*r, output)) return kExitOk;
    auto optional = [](bool has, double v) { return has ? absl::StrFormat("%.4f", v) : "-"; };
    // The curves: CSV has only these (one table a script can read).
    Rows points = {{"GROUP", "DAY", "SURVIVAL", "LOWER", "UPPER", "AT_RISK", "CHURNED"}};
    for (const auto& g : r->groups()) {
      for (const auto& p : g.points()) {
        points.push_back(
            {g.group().empty() ? "all" : g.group(), absl::StrCat(p.day()),
             absl::StrFormat("%.4f", p.survival()), optional(p.has_lower(), p.lower().value()),
             optional(p.has_upper(), p.upper().value()), Count(p.at_risk()), Count(p.churned())});
      }
    }
    if (output != Output::kTable) {
      PrintRows(points, output);
      return kExitOk;
    }
    Rows groups = {{"GROUP", "CUSTOMERS", "CHURNED", "MEDIAN_DAYS", "LONGEST_DAYS", "EXPECTED"}};
    for (const auto& g : r->groups()) {
      groups.push_back({g.group().empty() ? "all" : g.group(), Count(g.customers()),
                        Count(g.churned()),
                        g.has_median_days() ? absl::StrCat(g.median_days().value()) : "-",
                        absl::StrCat(g.longest_days()),
                        r->has_log_rank() ? absl::StrFormat("%.2f", g.expected_churned()) : "-"});
    }
    PrintRows(groups, output);
    if (r->has_log_rank()) {
      std::cout << absl::StrFormat("\nlog-rank: chi2 %.4f on %d df, p = %.4g\n",
                                   r->log_rank().chi_square(), r->log_rank().degrees_of_freedom(),
                                   r->log_rank().p_value());
    }
    std::cout << "\n";
    PrintRows(points, output);
    if (r->cox_size() > 0) {
      std::cout << absl::StrFormat("\nCox model (%d customers; first_mrr per 1 %s):\n",
                                   r->cox_customers(), r->currency());
      Rows cox = {{"FIELD", "VALUE", "CUSTOMERS", "CHURNED", "COEF", "SE", "HAZARD_RATIO", "LOWER",
                   "UPPER"}};
      for (const auto& h : r->cox()) {
        cox.push_back(
            {h.field(), h.reference() ? h.value() + " (ref)" : h.value(), Count(h.customers()),
             Count(h.churned()), optional(h.has_coefficient(), h.coefficient().value()),
             optional(h.has_standard_error(), h.standard_error().value()),
             h.reference() ? "1" : optional(h.has_hazard_ratio(), h.hazard_ratio().value()),
             optional(h.has_lower(), h.lower().value()),
             optional(h.has_upper(), h.upper().value())});
      }
      PrintRows(cox, output);
    }
    return kExitOk;
  }
  if (metric == "retention-drivers") {
    v1::GetRetentionDriversRequest req;
    *req.mutable_query() = ToQuery(f);
    req.mutable_query()->set_interval(v1::INTERVAL_UNSPECIFIED);
    req.set_min_events(f.min_events);
    req.set_window_days(f.window_days);
    req.set_retained_days(f.retained_days);
    auto fixed = [](bool has, double v, int digits) {
      return has ? absl::StrFormat("%.*f", digits, v) : std::string("-");
    };
    return Show<v1::GetRetentionDriversResponse>(
        [&] { return client.GetRetentionDrivers(req); },
        [&](const v1::GetRetentionDriversResponse& r) {
          Rows rows = {{"TYPE", "DID", "DID_RETAINED", "DID_NOT", "DID_NOT_RETAINED",
                        "RETENTION_DID", "RETENTION_DID_NOT", "LIFT", "DIFFERENCE", "P_VALUE",
                        "ELIGIBLE"}};
          for (const auto& d : r.drivers()) {
            rows.push_back({d.type(), Count(d.did()), Count(d.did_retained()), Count(d.did_not()),
                            Count(d.did_not_retained()),
                            fixed(d.has_retention_did(), d.retention_did().value(), 4),
                            fixed(d.has_retention_did_not(), d.retention_did_not().value(), 4),
                            fixed(d.has_lift(), d.lift().value(), 3),
                            fixed(d.has_difference(), d.difference().value(), 4),
                            absl::StrFormat("%.3g", d.p_value()), d.eligible() ? "yes" : "no"});
          }
          return rows;
        },
        output, currency);
  }
  if (metric == "health-customers") {
    v1::ListHealthCustomersRequest req;
    *req.mutable_query() = ToQuery(f);
    req.mutable_query()->set_interval(v1::INTERVAL_UNSPECIFIED);
    req.mutable_query()->set_start_date(f.to);  // groups at the end of --to
    v1::HealthGroup group = v1::HEALTH_GROUP_UNSPECIFIED;
    if (!f.group.empty())
      v1::HealthGroup_Parse("HEALTH_GROUP_" + absl::AsciiStrToUpper(f.group), &group);
    req.set_group(group);
    if (f.order == "score_asc") req.set_order(v1::ListHealthCustomersRequest::ORDER_SCORE_ASC);
    if (f.order == "customer_id") req.set_order(v1::ListHealthCustomersRequest::ORDER_CUSTOMER_ID);
    absl::StatusOr<v1::ListHealthCustomersResponse> pages =
        AllPages<v1::ListHealthCustomersResponse>(
            req, [&](const auto& r) { return client.ListHealthCustomers(r); });
    if (!pages.ok()) return Fail(pages.status());
    const v1::ListHealthCustomersResponse& all = *pages;
    if (PrintJson(all, output)) return kExitOk;
    Rows rows = {{"CUSTOMER", "GROUP", "MRR", "SCORE", "LAST_ACTIVITY", "CHURN_DATE", "REASONS"}};
    for (const auto& c : all.customers()) {
      rows.push_back({c.customer_id(), HealthGroupName(c.group()), money(c.mrr()),
                      c.has_score() ? absl::StrFormat("%.1f", c.score().value()) : "-",
                      c.has_last_activity() ? Time(c.last_activity()) : "-",
                      c.churn_date().empty() ? "-" : c.churn_date(),
                      absl::StrJoin(c.reasons(), ",")});
    }
    PrintRows(Labelled(rows, currency), output);
    return kExitOk;
  }
  if (metric == "health-transitions") {
    v1::ListHealthTransitionsRequest req;
    *req.mutable_query() = ToQuery(f);
    req.mutable_query()->set_interval(v1::INTERVAL_UNSPECIFIED);
    v1::HealthGroup to = v1::HEALTH_GROUP_UNSPECIFIED;
    if (!f.group.empty())
      v1::HealthGroup_Parse("HEALTH_GROUP_" + absl::AsciiStrToUpper(f.group), &to);
    req.set_to(to);
    absl::StatusOr<v1::ListHealthTransitionsResponse> pages =
        AllPages<v1::ListHealthTransitionsResponse>(
            req, [&](const auto& r) { return client.ListHealthTransitions(r); });
    if (!pages.ok()) return Fail(pages.status());
    const v1::ListHealthTransitionsResponse& all = *pages;
    if (PrintJson(all, output)) return kExitOk;
    Rows rows = {{"DATE", "CUSTOMER", "FROM", "TO", "MRR", "SCORE", "REASONS"}};
    for (const auto& t : all.transitions()) {
      rows.push_back({t.date(), t.customer_id(), HealthGroupName(t.from()), HealthGroupName(t.to()),
                      money(t.mrr()),
                      t.has_score() ? absl::StrFormat("%.1f", t.score().value()) : "-",
                      absl::StrJoin(t.reasons(), ",")});
    }
    PrintRows(Labelled(rows, currency), output);
    return kExitOk;
  }
  if (metric == "movements") {
    v1::ListMovementsRequest req;
    *req.mutable_query() = ToQuery(f);
    req.mutable_query()->set_interval(v1::INTERVAL_UNSPECIFIED);
    for (const auto& t : f.types) {
      v1::MovementType type = v1::MOVEMENT_TYPE_UNSPECIFIED;
      if (!v1::MovementType_Parse("MOVEMENT_TYPE_" + absl::AsciiStrToUpper(t), &type)) {
        return Fail(absl::InvalidArgumentError(
            absl::StrCat("--type=", t,
                         ": not one of new_business, expansion, contraction, churn, "
                         "reactivation")));
      }
      req.add_types(type);
    }
    absl::StatusOr<v1::ListMovementsResponse> pages = AllPages<v1::ListMovementsResponse>(
        req, [&](const auto& r) { return client.ListMovements(r); });
    if (!pages.ok()) return Fail(pages.status());
    const v1::ListMovementsResponse& all = *pages;
    if (PrintJson(all, output)) return kExitOk;
    Rows rows = {
        {"DATE", "CUSTOMER", "TYPE", "AMOUNT", "MRR_BEFORE", "MRR_AFTER", "SUBSCRIPTIONS"}};
    for (const auto& m : all.movements()) {
      std::string type = v1::MovementType_Name(m.type()).substr(14);  // drop MOVEMENT_TYPE_
      rows.push_back({m.date(), m.customer_id(), absl::AsciiStrToLower(type), money(m.amount()),
                      money(m.mrr_before()), money(m.mrr_after()),
                      absl::StrJoin(m.subscription_ids(), " ")});
    }
    PrintRows(Labelled(rows, currency), output);
    return kExitOk;
  }
  return Fail(absl::InvalidArgumentError(absl::StrCat("unknown metric ", metric)));
}

int RunCustomer(client::Client& client, const std::string& tenant, const std::string& customer,
                const std::string& date, Output output) {
  v1::GetCustomerRequest req;
  req.set_tenant_id(tenant);
  req.set_customer_id(customer);
  req.set_date(date);
  absl::StatusOr<v1::CustomerProfile> p = client.GetCustomer(req);
  if (!p.ok()) return Fail(p.status());
  if (PrintJson(*p, output)) return kExitOk;
  absl::StatusOr<v1::Tenant> t = client.GetTenant(tenant);
  if (!t.ok()) return Fail(t.status());
  const std::string& currency = t->currency();
  const int digits = MinorDigits(currency);
  auto money = [digits](int64_t v) { return Money(v, digits); };
  // The profile as FIELD/VALUE rows, then its subscriptions, scores and movements.
  Rows rows = {
      {"FIELD", "VALUE"},
      {"customer", p->customer_id()},
      {"as of", p->date()},
      {"channel", p->record().acquisition_channel()},
      {"country", p->record().country()},
      {"mrr", absl::StrCat(money(p->mrr()), " ", currency)},
      {"first paid", p->first_paid_date().empty() ? "-" : p->first_paid_date()},
      {"tenure days", p->first_paid_date().empty() ? "-" : Count(p->tenure_days())},
      {"health", HealthGroupName(p->health_group())},
      {"reasons", absl::StrJoin(p->health_reasons(), ",")},
      {"last activity", p->has_last_activity() ? Time(p->last_activity()) : "-"},
      {"latest NPS", p->has_latest_response() ? absl::StrCat(p->latest_response().score(), " at ",
                                                             Time(p->latest_response().time()))
                                              : "-"}};
  for (const auto& [k, v] : p->record().attributes()) rows.push_back({"attributes." + k, v});
  PrintRows(rows, output);
  // Each subscription's price in its billing currency, its MRR in the reporting one.
  Rows subs = {{"SUBSCRIPTION", "PLAN", "STATUS", "PRICE", "MRR", "SINCE"}};
  for (const auto& s : p->subscriptions()) {
    const std::string billing = s.currency().empty() ? currency : s.currency();
    subs.push_back({s.subscription_id(), s.plan_id(),
                    absl::AsciiStrToLower(v1::SubscriptionStatus_Name(s.status()).substr(20)),
                    absl::StrCat(Money(s.unit_amount(), MinorDigits(billing)), " ", billing),
                    money(s.mrr()), Time(s.since())});
  }
  std::cout << "\n";
  PrintRows(Labelled(subs, output == Output::kTable ? currency : ""), output);
  if (p->scores_size() > 0) {
    Rows scores = {{"DATE", "SCORE (" + p->engagement_model_id() + ")"}};
    for (const auto& s : p->scores())
      scores.push_back({s.date(), absl::StrFormat("%.1f", s.score())});
    std::cout << "\n";
    PrintRows(scores, output);
  }
  Rows movements = {{"DATE", "TYPE", "AMOUNT", "MRR_AFTER"}};
  for (const auto& m : p->movements()) {
    movements.push_back({m.date(),
                         absl::AsciiStrToLower(v1::MovementType_Name(m.type()).substr(14)),
                         money(m.amount()), money(m.mrr_after())});
  }
  std::cout << "\n";
  PrintRows(Labelled(movements, output == Output::kTable ? currency : ""), output);
  return kExitOk;
}

int RunHealthWatch(client::Client& client, const WatchFlags& f, Output output) {
  absl::StatusOr<Units> units = UnitsOf(client, f.tenant, output);
  if (!units.ok()) return Fail(units.status());
  const int digits = units->digits;
  absl::CivilDay until;
  if (!f.until.empty() && !absl::ParseCivilTime(f.until, &until)) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--until=", f.until, ": not a date like 2024-12-31")));
  }
  v1::WatchHealthTransitionsRequest req;
  req.mutable_query()->set_tenant_id(f.tenant);
  req.mutable_query()->set_start_date(f.from);
  for (const std::string& filter : f.filters) req.mutable_query()->add_filter(filter);
  v1::HealthGroup to = v1::HEALTH_GROUP_UNSPECIFIED;
  if (!f.group.empty())
    v1::HealthGroup_Parse("HEALTH_GROUP_" + absl::AsciiStrToUpper(f.group), &to);
  req.set_to(to);
  client::HealthWatcher watcher(client, req);
  bool header = output == Output::kCsv;
  absl::Status s = watcher.Run([&](const v1::HealthTransitionsDay& day) {
    if (output == Output::kJson) {  // one object per line (NDJSON)
      std::string json;
      google::protobuf::util::JsonPrintOptions o;
      o.preserve_proto_field_names = true;
      (void)google::protobuf::util::MessageToJsonString(day, &json, o);
      std::cout << json << std::endl;
    } else if (output == Output::kCsv) {
      if (header) {
        std::cout << "date,revision,customer_id,from,to,mrr,score,reasons\n";
        header = false;
      }
      for (const auto& t : day.transitions()) {
        std::cout << day.date() << "," << (day.revision() ? "true" : "false") << ","
                  << client::CsvCell(t.customer_id()) << "," << HealthGroupName(t.from()) << ","
                  << HealthGroupName(t.to()) << "," << Money(t.mrr(), digits) << ","
                  << (t.has_score() ? absl::StrFormat("%.1f", t.score().value()) : "") << ","
                  << client::CsvCell(absl::StrJoin(t.reasons(), ";")) << "\n";
      }
      std::cout << std::flush;
    } else {
      const int n = day.transitions_size();
      std::cout << day.date() << (day.revision() ? "  revised: " : "  ")
                << (n == 0 ? "no moves" : absl::StrCat(n, n == 1 ? " move" : " moves")) << "\n";
      for (const auto& t : day.transitions()) {
        std::cout << "  " << t.customer_id() << "  " << HealthGroupName(t.from()) << " -> "
                  << HealthGroupName(t.to()) << "  " << Money(t.mrr(), digits) << " "
                  << units->currency << "  score "
                  << (t.has_score() ? absl::StrFormat("%.1f", t.score().value()) : "-") << "  "
                  << absl::StrJoin(t.reasons(), ",") << "\n";
      }
      std::cout << std::flush;
    }
    absl::CivilDay d;
    return f.until.empty() || !absl::ParseCivilTime(day.date(), &d) || d < until;
  });
  if (!s.ok()) return Fail(s);
  return kExitOk;
}

}  // namespace saasmetrics::cli
