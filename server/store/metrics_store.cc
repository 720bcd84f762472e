#include "server/store/metrics_store.h"

#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "server/engine/dates.h"
#include "server/store/tx.h"

namespace saasmetrics::store {
namespace {

// Ordered by month: derived snapshots combine partitions by position, and without ORDER BY
// the row order changes with the plan (a prepared statement's custom plans scan the heap,
// its generic plan the primary key), with updates, and across replicas (issue 20).
constexpr Statement kPartitionVersions{
    "metrics_partition_versions",
    "SELECT extract(year FROM month)::int, extract(month FROM month)::int, version "
    "FROM partition_versions WHERE tenant_id = $1 AND kind = $2 AND month < $3::date "
    "AND month >= $4::date ORDER BY month"};

// Every subscription month's version, then the exchange rates' (kinds 1 and 6), in one
// statement: what a history is derived from.
constexpr Statement kHistoryVersions{
    "metrics_history_versions",
    "SELECT extract(year FROM month)::int, extract(month FROM month)::int, version, kind "
    "FROM partition_versions WHERE tenant_id = $1 AND kind IN (1, 6) ORDER BY kind, month"};

// The month's version; whether `$4` is the month's partition of `$5` (a delta load reads
// that partition by name); and, when $6 > 0, the write ids the log holds for versions
// after $6 up to the current one (migrations/0004), one per row (NULL: none).
constexpr Statement kMonthPlan{
    "metrics_month_plan",
    "SELECT v.version, EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass($4) "
    "AND inhparent = to_regclass($5)), w.write_id FROM partition_versions v "
    "LEFT JOIN partition_writes w ON $6 > 0 AND w.tenant_id = v.tenant_id AND w.kind = v.kind "
    "AND w.month = v.month AND w.version > $6 AND w.version <= v.version "
    "WHERE v.tenant_id = $1 AND v.kind = $2 AND v.month = $3::date"};

// Seconds since the month's start ($2, Unix seconds), in any order (the builder sorts;
// an ORDER BY made PostgreSQL sort, which cost more).
// date_part returns float8; the offset's whole seconds are exact (microseconds are never
// within float8's error of a second boundary at these magnitudes).
#define SAAS_USAGE_COLUMNS                                                      \
  "SELECT customer_id, type, user_id, value, floor(date_part('epoch', time) - " \
  "$2::bigint)::bigint "
constexpr Statement kUsageMonth{
    "metrics_usage_month", SAAS_USAGE_COLUMNS
    "FROM usage_events WHERE tenant_id = $1 AND time >= to_timestamp($2::bigint) "
    "AND time < to_timestamp($3::bigint)"};
// A delta: the rows of some writes ($3, an array of write ids) in one month's partition
// ({partition}), named rather than found through the parent table. Planning a statement on the
// parent for its values cost ~2 ms with 36 monthly partitions, and its generic plan cannot
// tell a few write ids from the whole month (it scanned the month by the primary key:
// 2.8 ms instead of 0.05 for one new row among 15,000). On one partition the plan for the
// values is cheap and takes the write-id index.
constexpr absl::string_view kUsageWrites =
    SAAS_USAGE_COLUMNS "FROM {partition} WHERE tenant_id = $1 AND write_id = ANY($3::bigint[])";
#undef SAAS_USAGE_COLUMNS

#define SAAS_SUBSCRIPTION_COLUMNS                                                          \
  "SELECT customer_id, subscription_id, "                                                  \
  "(extract(epoch FROM effective_at) * 1000000)::bigint, seq, status, plan_id, quantity, " \
  "unit_amount, interval_unit, interval_count, discount_bps, discount_amount, currency "
constexpr Statement kSubscriptionMonth{
    "metrics_subscription_month", SAAS_SUBSCRIPTION_COLUMNS
    "FROM subscription_events WHERE tenant_id = $1 "
    "AND effective_at >= to_timestamp(0) + $2::bigint * interval '1 microsecond' "
    "AND effective_at < to_timestamp(0) + $3::bigint * interval '1 microsecond'"};
constexpr absl::string_view kSubscriptionWrites = SAAS_SUBSCRIPTION_COLUMNS
    "FROM {partition} WHERE tenant_id = $1 AND write_id = ANY($2::bigint[])";
#undef SAAS_SUBSCRIPTION_COLUMNS

constexpr Statement kCustomers{
    "metrics_customers",
    "SELECT customer_id, (extract(epoch FROM created_at) * 1000000)::bigint, "
    "acquisition_channel, country FROM customers WHERE tenant_id = $1"};

constexpr Statement kCustomerAttributes{
    "metrics_customer_attributes",
    "SELECT c.customer_id, a.key, a.value FROM customers c, jsonb_each_text(c.attributes) a "
    "WHERE c.tenant_id = $1"};

constexpr Statement kSpend{"metrics_spend",
                           "SELECT spend_id, channel, start_date::text, end_date::text, amount, "
                           "currency FROM acquisition_spend WHERE tenant_id = $1"};

constexpr Statement kSurveyResponses{"metrics_survey_responses",
                                     "SELECT response_id, customer_id, user_id, score, "
                                     "(extract(epoch FROM time) * 1000000)::bigint, channel, seq "
                                     "FROM survey_responses WHERE tenant_id = $1"};

constexpr Statement kCustomerSubscriptionEvents{
    "metrics_customer_subscription_events",
    "SELECT event_id, subscription_id, (extract(epoch FROM effective_at) * 1000000)::bigint, "
    "status, plan_id, quantity, unit_amount, currency, interval_unit, interval_count, "
    "discount_bps, discount_amount, seq FROM subscription_events "
    "WHERE tenant_id = $1 AND customer_id = $2 ORDER BY effective_at, seq"};

constexpr Statement kExchangeRates{
    "metrics_exchange_rates",
    "SELECT currency, date::text, rate::text FROM exchange_rates WHERE tenant_id = $1"};

constexpr Statement kStatements[] = {kPartitionVersions,
                                     kHistoryVersions,
                                     kMonthPlan,
                                     kSubscriptionMonth,
                                     kUsageMonth,
                                     kCustomers,
                                     kCustomerAttributes,
                                     kSpend,
                                     kSurveyResponses,
                                     kExchangeRates,
                                     kCustomerSubscriptionEvents};

// A delta statement on the month's partition (`partition`, quoted).
std::string OnPartition(absl::string_view statement, const std::string& partition) {
  return absl::StrReplaceAll(statement, {{"{partition}", partition}});
}

// In one snapshot: the month's version, and which writes stored the rows after `after`
// (nullopt: read the whole month, because `after` is 0, newer than the month, or the log
// no longer covers every version since).
struct MonthPlan {
  int64_t version = 0;
  std::optional<std::string> write_ids;  // a PostgreSQL array literal
  std::string partition;                 // the month's partition, quoted
};

MonthPlan PlanMonth(Tx& tx, const std::string& tenant_id, PartitionKind kind,
                    absl::string_view table, absl::CivilMonth month, int64_t after) {
  MonthPlan plan;
  const std::string first_day = engine::FormatIsoDate(absl::CivilDay(month));
  const std::string partition = MonthPartitionName(table, month);
  const pqxx::result v = tx.Exec(kMonthPlan, tenant_id, static_cast<int>(kind), first_day,
                                 partition, std::string(table), std::max<int64_t>(after, 0));
  if (v.empty()) return plan;
  plan.version = v[0][0].as<int64_t>();
  // Without the partition by its usual name (someone reorganised the table), whole loads
  // through the parent still work.
  if (after <= 0 || after > plan.version || !v[0][1].as<bool>()) return plan;
  std::string ids = "{";
  int64_t writes = 0;
  for (const pqxx::row& row : v) {
    if (row[2].is_null()) continue;
    if (ids.size() > 1) ids.push_back(',');
    ids += row[2].c_str();
    ++writes;
  }
  if (writes != plan.version - after) return plan;
  ids.push_back('}');
  plan.write_ids = std::move(ids);
  plan.partition = tx.raw().quote_name(partition);
  return plan;
}

}  // namespace

std::span<const Statement> MetricsStore::Statements() { return kStatements; }

absl::StatusOr<std::vector<PartitionVersion>> MetricsStore::PartitionVersions(
    const std::string& tenant_id, PartitionKind kind, absl::Time from, absl::Time until,
    absl::Time deadline) {
  std::vector<PartitionVersion> out;
  const absl::CivilDay until_day = until == absl::InfiniteFuture()
                                       ? absl::CivilDay(9999, 12, 31)
                                       : absl::ToCivilDay(until, absl::UTCTimeZone()) + 1;
  const absl::CivilDay from_month =
      from == absl::InfinitePast() ? absl::CivilDay(1970, 1, 1)
                                   : absl::CivilDay(absl::ToCivilMonth(from, absl::UTCTimeZone()));
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    for (const pqxx::row& row :
         tx.Exec(kPartitionVersions, tenant_id, static_cast<int>(kind),
                 engine::FormatIsoDate(until_day), engine::FormatIsoDate(from_month))) {
      out.push_back({absl::CivilMonth(row[0].as<int>(), row[1].as<int>()), row[2].as<int64_t>()});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<HistoryVersions> MetricsStore::HistoryVersionsOf(const std::string& tenant_id,
                                                                absl::Time deadline) {
  static_assert(static_cast<int>(PartitionKind::kSubscriptionEvents) == 1 &&
                static_cast<int>(PartitionKind::kExchangeRates) == 6);
  HistoryVersions out;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    for (const pqxx::row& row : tx.Exec(kHistoryVersions, tenant_id)) {
      if (row[3].as<int>() == static_cast<int>(PartitionKind::kExchangeRates)) {
        out.exchange_rates += row[2].as<int64_t>();
      } else {
        out.subscription_months.push_back(
            {absl::CivilMonth(row[0].as<int>(), row[1].as<int>()), row[2].as<int64_t>()});
      }
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<MonthLoad<std::vector<engine::SubscriptionEvent>>> MetricsStore::SubscriptionMonth(
    const std::string& tenant_id, absl::CivilMonth month, int64_t after, absl::Time deadline) {
  MonthLoad<std::vector<engine::SubscriptionEvent>> out;
  const absl::TimeZone utc = absl::UTCTimeZone();
  // Every read of the load sees the one snapshot the version was read in.
  absl::Status s = pool_.Snapshot(deadline, [&](Tx& tx) {
    out.rows.clear();
    const MonthPlan plan = PlanMonth(tx, tenant_id, PartitionKind::kSubscriptionEvents,
                                     "subscription_events", month, after);
    out.version = plan.version;
    out.whole = !plan.write_ids.has_value();
    const int64_t begin = absl::ToUnixMicros(absl::FromCivil(month, utc));
    const int64_t end = absl::ToUnixMicros(absl::FromCivil(month + 1, utc));
    pqxx::result r = out.whole
                         ? tx.Exec(kSubscriptionMonth, tenant_id, begin, end)
                         : tx.raw().exec_params(OnPartition(kSubscriptionWrites, plan.partition),
                                                tenant_id, *plan.write_ids);
    out.rows.reserve(r.size());
    for (const pqxx::row& row : r) {
      engine::SubscriptionEvent e;
      e.customer_id = row[0].as<std::string>();
      e.subscription_id = row[1].as<std::string>();
      e.effective_at = absl::FromUnixMicros(row[2].as<int64_t>());
      e.seq = row[3].as<int64_t>();
      e.status = static_cast<engine::SubscriptionStatus>(row[4].as<int>());
      e.plan_id = row[5].as<std::string>();
      e.quantity = row[6].as<int64_t>();
      e.unit_amount = row[7].as<int64_t>();
      e.interval_unit = static_cast<engine::IntervalUnit>(row[8].as<int>());
      e.interval_count = row[9].as<int32_t>();
      e.discount_bps = row[10].as<int32_t>();
      e.discount_amount = row[11].as<int64_t>();
      e.currency = row[12].as<std::string>();
      out.rows.push_back(std::move(e));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<MonthLoad<engine::UsagePartition>> MetricsStore::UsageMonth(
    const std::string& tenant_id, absl::CivilMonth month, const engine::UsagePartition* base,
    int64_t base_version, absl::Time deadline) {
  std::optional<MonthLoad<engine::UsagePartition>> out;
  const absl::TimeZone utc = absl::UTCTimeZone();
  absl::Status s = pool_.Snapshot(deadline, [&](Tx& tx) {
    const MonthPlan plan = PlanMonth(tx, tenant_id, PartitionKind::kUsageEvents, "usage_events",
                                     month, base != nullptr ? base_version : 0);
    const bool whole = !plan.write_ids.has_value();
    const int64_t begin = absl::ToUnixSeconds(absl::FromCivil(month, utc));
    const int64_t end = absl::ToUnixSeconds(absl::FromCivil(month + 1, utc));
    pqxx::result r = whole ? tx.Exec(kUsageMonth, tenant_id, begin, end)
                           : tx.raw().exec_params(OnPartition(kUsageWrites, plan.partition),
                                                  tenant_id, begin, *plan.write_ids);
    engine::UsagePartitionBuilder builder =
        whole ? engine::UsagePartitionBuilder(month) : engine::UsagePartitionBuilder(*base);
    builder.Reserve(r.size());
    auto view = [](const pqxx::field& f) { return absl::string_view(f.c_str(), f.size()); };
    for (const pqxx::row& row : r) {
      builder.Add(view(row[0]), view(row[1]), view(row[2]), row[3].as<double>(),
                  row[4].as<uint32_t>());
    }
    out = MonthLoad<engine::UsagePartition>{std::move(builder).Finish(), plan.version, whole};
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return std::move(*out);
}

absl::StatusOr<std::vector<engine::Customer>> MetricsStore::Customers(const std::string& tenant_id,
                                                                      absl::Time deadline) {
  std::vector<engine::Customer> out;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    absl::flat_hash_map<std::string, size_t> index;
    for (const pqxx::row& row : tx.Exec(kCustomers, tenant_id)) {
      engine::Customer c;
      c.customer_id = row[0].as<std::string>();
      c.created_at = absl::FromUnixMicros(row[1].as<int64_t>());
      c.acquisition_channel = row[2].as<std::string>();
      c.country = row[3].as<std::string>();
      index[c.customer_id] = out.size();
      out.push_back(std::move(c));
    }
    for (const pqxx::row& row : tx.Exec(kCustomerAttributes, tenant_id)) {
      auto it = index.find(row[0].as<std::string>());
      if (it != index.end()) {
        out[it->second].attributes.emplace_back(row[1].as<std::string>(), row[2].as<std::string>());
      }
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<engine::AcquisitionSpend>> MetricsStore::Spend(
    const std::string& tenant_id, absl::Time deadline) {
  std::vector<engine::AcquisitionSpend> out;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    for (const pqxx::row& row : tx.Exec(kSpend, tenant_id)) {
      engine::AcquisitionSpend a;
      a.spend_id = row[0].as<std::string>();
      a.channel = row[1].as<std::string>();
      engine::ParseIsoDate(row[2].as<std::string>(), &a.start_date);
      engine::ParseIsoDate(row[3].as<std::string>(), &a.end_date);
      a.amount = row[4].as<int64_t>();
      a.currency = row[5].as<std::string>();
      out.push_back(std::move(a));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<engine::ExchangeRate>> MetricsStore::ExchangeRates(
    const std::string& tenant_id, absl::Time deadline) {
  std::vector<engine::ExchangeRate> out;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    for (const pqxx::row& row : tx.Exec(kExchangeRates, tenant_id)) {
      engine::ExchangeRate r;
      r.currency = row[0].as<std::string>();
      std::optional<engine::Decimal> rate = engine::ParseRate(row[2].as<std::string>());
      if (!engine::ParseIsoDate(row[1].as<std::string>(), &r.date) || !rate.has_value()) {
        return absl::DataLossError(absl::StrCat("stored exchange rate of ", r.currency, " on ",
                                                row[1].as<std::string>(),
                                                " is unreadable: ", row[2].as<std::string>()));
      }
      r.rate = *rate;
      out.push_back(std::move(r));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<engine::SurveyResponse>> MetricsStore::SurveyResponses(
    const std::string& tenant_id, absl::Time deadline) {
  std::vector<engine::SurveyResponse> out;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    for (const pqxx::row& row : tx.Exec(kSurveyResponses, tenant_id)) {
      engine::SurveyResponse r;
      r.response_id = row[0].as<std::string>();
      r.customer_id = row[1].as<std::string>();
      r.user_id = row[2].as<std::string>();
      r.score = row[3].as<int32_t>();
      r.time = absl::FromUnixMicros(row[4].as<int64_t>());
      r.channel = row[5].as<std::string>();
      r.seq = row[6].as<int64_t>();
      out.push_back(std::move(r));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<engine::SubscriptionEvent>> MetricsStore::CustomerSubscriptionEvents(
    const std::string& tenant_id, const std::string& customer_id, absl::Time deadline) {
  std::vector<engine::SubscriptionEvent> out;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    for (const pqxx::row& row : tx.Exec(kCustomerSubscriptionEvents, tenant_id, customer_id)) {
      engine::SubscriptionEvent e;
      e.event_id = row[0].as<std::string>();
      e.subscription_id = row[1].as<std::string>();
      e.customer_id = customer_id;
      e.effective_at = absl::FromUnixMicros(row[2].as<int64_t>());
      e.status = static_cast<engine::SubscriptionStatus>(row[3].as<int>());
      e.plan_id = row[4].as<std::string>();
      e.quantity = row[5].as<int64_t>();
      e.unit_amount = row[6].as<int64_t>();
      e.currency = row[7].as<std::string>();
      e.interval_unit = static_cast<engine::IntervalUnit>(row[8].as<int>());
      e.interval_count = row[9].as<int32_t>();
      e.discount_bps = row[10].as<int32_t>();
      e.discount_amount = row[11].as<int64_t>();
      e.seq = row[12].as<int64_t>();
      out.push_back(std::move(e));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace saasmetrics::store
