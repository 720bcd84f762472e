#include "server/store/ingest_store.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/engine/dates.h"
#include "server/store/tx.h"

namespace saasmetrics::store {
namespace {

// Staging tables live per connection and empty themselves at commit or rollback.
constexpr absl::string_view kStageSubscriptionEvents =
    "CREATE TEMP TABLE IF NOT EXISTS stage_subscription_events (ord int, event_id text, "
    "subscription_id text, customer_id text, effective_at_us bigint, status smallint, "
    "plan_id text, quantity bigint, unit_amount bigint, currency text, interval_unit smallint, "
    "interval_count int, discount_bps int, discount_amount bigint) ON COMMIT DELETE ROWS";
constexpr absl::string_view kStageUsageEvents =
    "CREATE TEMP TABLE IF NOT EXISTS stage_usage_events (ord int, source text, event_id text, "
    "type text, customer_id text, time_us bigint, user_id text, value double precision, "
    "properties text) ON COMMIT DELETE ROWS";
constexpr absl::string_view kStageCustomers =
    "CREATE TEMP TABLE IF NOT EXISTS stage_customers (ord int, customer_id text, "
    "created_at_us bigint, acquisition_channel text, country text, attributes text, "
    "updated_at_us bigint) ON COMMIT DELETE ROWS";
constexpr absl::string_view kStageSpend =
    "CREATE TEMP TABLE IF NOT EXISTS stage_spend (ord int, spend_id text, channel text, "
    "start_date date, end_date date, amount bigint, currency text) ON COMMIT DELETE ROWS";

#define SAAS_TS(us) "(to_timestamp(0) + (" us ") * interval '1 microsecond')"
#define SAAS_BUMP(kind, month_expr, source)                                                      \
  "bump AS (INSERT INTO partition_versions (tenant_id, kind, month, version) "                   \
  "SELECT $1, " kind ", m, 1 FROM (SELECT DISTINCT " month_expr " AS m FROM " source             \
  ") months ORDER BY m "                                                                         \
  "ON CONFLICT (tenant_id, kind, month) DO UPDATE SET version = partition_versions.version + 1 " \
  "RETURNING 1) "

// Identities are claimed in key order (a consistent lock order for concurrent batches);
// an item whose identity exists, or repeats within the batch, is not inserted. `seq`
// keeps ingest order for effective_at ties: one sequence value per batch, plus position.
constexpr Statement kInsertSubscriptionEvents{
    "ingest_subscription_events",
    "WITH batch AS (SELECT nextval('subscription_events_seq') * 1048576 AS base), "
    "new_ids AS (INSERT INTO subscription_event_ids (tenant_id, event_id) "
    "  SELECT $1, event_id FROM (SELECT DISTINCT event_id FROM stage_subscription_events) d "
    "  ORDER BY event_id ON CONFLICT DO NOTHING RETURNING event_id), "
    "ins AS (INSERT INTO subscription_events (tenant_id, effective_at, seq, event_id, "
    "  subscription_id, customer_id, status, plan_id, quantity, unit_amount, currency, "
    "  interval_unit, interval_count, discount_bps, discount_amount) "
    "  SELECT DISTINCT ON (s.event_id) $1, " SAAS_TS("s.effective_at_us") ", batch.base + s.ord, "
    "  s.event_id, s.subscription_id, s.customer_id, s.status, s.plan_id, s.quantity, "
    "  s.unit_amount, s.currency, s.interval_unit, s.interval_count, s.discount_bps, "
    "  s.discount_amount FROM stage_subscription_events s JOIN new_ids USING (event_id) "
    "  CROSS JOIN batch ORDER BY s.event_id, s.ord RETURNING effective_at), " SAAS_BUMP(
        "1", "date_trunc('month', effective_at AT TIME ZONE 'UTC')::date",
        "ins") "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM bump)"};

constexpr Statement kInsertUsageEvents{
    "ingest_usage_events",
    "WITH new_ids AS (INSERT INTO usage_event_ids (tenant_id, source, event_id) "
    "  SELECT $1, source, event_id FROM (SELECT DISTINCT source, event_id "
    "  FROM stage_usage_events) d ORDER BY source, event_id "
    "  ON CONFLICT DO NOTHING RETURNING source, event_id), "
    "ins AS (INSERT INTO usage_events (tenant_id, time, source, event_id, type, customer_id, "
    "  user_id, value, properties) "
    "  SELECT DISTINCT ON (s.source, s.event_id) $1, " SAAS_TS("s.time_us") ", s.source, "
    "  s.event_id, s.type, s.customer_id, s.user_id, s.value, s.properties::jsonb "
    "  FROM stage_usage_events s JOIN new_ids USING (source, event_id) "
    "  ORDER BY s.source, s.event_id, s.ord RETURNING time), " SAAS_BUMP(
        "2", "date_trunc('month', time AT TIME ZONE 'UTC')::date",
        "ins") "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM bump)"};

// Within a batch the latest updated_at (then the last item) of each id competes.
constexpr Statement kUpsertCustomers{
    "ingest_customers",
    "WITH latest AS (SELECT DISTINCT ON (customer_id) * FROM stage_customers "
    "  ORDER BY customer_id, updated_at_us DESC, ord DESC), "
    "up AS (INSERT INTO customers (tenant_id, customer_id, created_at, acquisition_channel, "
    "  country, attributes, updated_at) "
    "  SELECT $1, customer_id, " SAAS_TS("created_at_us") ", acquisition_channel, country, "
    "  attributes::jsonb, " SAAS_TS("updated_at_us") " FROM latest ORDER BY customer_id "
    "  ON CONFLICT (tenant_id, customer_id) DO UPDATE SET created_at = EXCLUDED.created_at, "
    "  acquisition_channel = EXCLUDED.acquisition_channel, country = EXCLUDED.country, "
    "  attributes = EXCLUDED.attributes, updated_at = EXCLUDED.updated_at "
    "  WHERE customers.updated_at < EXCLUDED.updated_at RETURNING 1), " SAAS_BUMP(
        "3", "DATE '1970-01-01'",
        "up") "SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM bump)"};

constexpr Statement kInsertSpend{
    "ingest_spend",
    "WITH ins AS (INSERT INTO acquisition_spend (tenant_id, spend_id, channel, start_date, "
    "  end_date, amount, currency) "
    "  SELECT DISTINCT ON (spend_id) $1, spend_id, channel, start_date, end_date, amount, "
    "  currency FROM stage_spend ORDER BY spend_id, ord "
    "  ON CONFLICT (tenant_id, spend_id) DO NOTHING RETURNING 1), " SAAS_BUMP(
        "4", "DATE '1970-01-01'",
        "ins") "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM bump)"};
#undef SAAS_TS
#undef SAAS_BUMP

constexpr Statement kEnsurePartition{"ensure_month_partition",
                                     "SELECT saasmetrics_ensure_month_partition($1::regclass, "
                                     "to_timestamp(0) + $2::bigint * interval '1 microsecond')"};

constexpr Statement kStatements[] = {kInsertSubscriptionEvents, kInsertUsageEvents,
                                     kUpsertCustomers, kInsertSpend, kEnsurePartition};

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }

// Runs the set-based insert and returns how many rows it stored.
int64_t Accepted(Tx& tx, const Statement& insert, const std::string& tenant_id) {
  return tx.Exec(insert, tenant_id).at(0)[0].as<int64_t>();
}

}  // namespace

std::span<const Statement> IngestStore::Statements() { return kStatements; }

std::string JsonObject(const engine::StringPairs& pairs) {
  std::string out = "{";
  auto append_string = [&out](const std::string& s) {
    out.push_back('"');
    for (unsigned char c : s) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20) {
            out += absl::StrFormat("\\u%04x", c);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
    }
    out.push_back('"');
  };
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (i > 0) out.push_back(',');
    append_string(pairs[i].first);
    out.push_back(':');
    append_string(pairs[i].second);
  }
  out.push_back('}');
  return out;
}

absl::Status IngestStore::EnsureMonths(const std::string& table,
                                       const std::vector<absl::Time>& instants,
                                       absl::Time deadline) {
  absl::flat_hash_set<int64_t> months;  // year * 12 + month - 1
  for (absl::Time t : instants) {
    absl::CivilMonth m = absl::ToCivilMonth(t, absl::UTCTimeZone());
    months.insert(m.year() * 12 + m.month() - 1);
  }
  for (int64_t index : months) {
    absl::CivilMonth month(index / 12, index % 12 + 1);
    std::string key = absl::StrFormat("%s_y%04dm%02d", table, month.year(), month.month());
    {
      absl::MutexLock lock(&mu_);
      if (known_partitions_.contains(key)) continue;
    }
    absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
      tx.Exec(kEnsurePartition, table, Micros(absl::FromCivil(month, absl::UTCTimeZone())));
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    absl::MutexLock lock(&mu_);
    known_partitions_.insert(key);
  }
  return absl::OkStatus();
}

absl::StatusOr<IngestCounts> IngestStore::Write(
    absl::Time deadline, size_t items, absl::FunctionRef<absl::StatusOr<int64_t>(Tx&)> write) {
  for (int attempt = 1;; ++attempt) {
    int64_t accepted = 0;
    absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
      absl::StatusOr<int64_t> n = write(tx);
      if (!n.ok()) return n.status();
      accepted = *n;
      return absl::OkStatus();
    });
    // ABORTED is a deadlock or serialization failure: the transaction is safe to rerun.
    if (absl::IsAborted(s) && attempt < 3 && absl::Now() < deadline) continue;
    if (!s.ok()) return s;
    return IngestCounts{accepted, static_cast<int64_t>(items) - accepted};
  }
}

absl::StatusOr<IngestCounts> IngestStore::WriteSubscriptionEvents(
    const std::string& tenant_id, const std::vector<engine::SubscriptionEvent>& events,
    absl::Time deadline) {
  std::vector<absl::Time> instants;
  for (const auto& e : events) instants.push_back(e.effective_at);
  if (absl::Status s = EnsureMonths("subscription_events", instants, deadline); !s.ok()) return s;
  return Write(deadline, events.size(), [&](Tx& tx) -> absl::StatusOr<int64_t> {
    tx.raw().exec(std::string(kStageSubscriptionEvents));
    pqxx::stream_to stage(
        tx.raw(), "stage_subscription_events",
        std::vector<std::string>{"ord", "event_id", "subscription_id", "customer_id",
                                 "effective_at_us", "status", "plan_id", "quantity", "unit_amount",
                                 "currency", "interval_unit", "interval_count", "discount_bps",
                                 "discount_amount"});
    for (size_t i = 0; i < events.size(); ++i) {
      const auto& e = events[i];
      stage << std::make_tuple(
          static_cast<int>(i), e.event_id, e.subscription_id, e.customer_id, Micros(e.effective_at),
          static_cast<int>(e.status), e.plan_id, e.quantity, e.unit_amount, e.currency,
          static_cast<int>(e.interval_unit), e.interval_count, e.discount_bps, e.discount_amount);
    }
    stage.complete();
    return Accepted(tx, kInsertSubscriptionEvents, tenant_id);
  });
}

absl::StatusOr<IngestCounts> IngestStore::WriteUsageEvents(
    const std::string& tenant_id, const std::vector<engine::UsageEvent>& events,
    absl::Time deadline) {
  std::vector<absl::Time> instants;
  for (const auto& e : events) instants.push_back(e.time);
  if (absl::Status s = EnsureMonths("usage_events", instants, deadline); !s.ok()) return s;
  return Write(deadline, events.size(), [&](Tx& tx) -> absl::StatusOr<int64_t> {
    tx.raw().exec(std::string(kStageUsageEvents));
    pqxx::stream_to stage(
        tx.raw(), "stage_usage_events",
        std::vector<std::string>{"ord", "source", "event_id", "type", "customer_id", "time_us",
                                 "user_id", "value", "properties"});
    for (size_t i = 0; i < events.size(); ++i) {
      const auto& e = events[i];
      stage << std::make_tuple(static_cast<int>(i), e.source, e.id, e.type, e.customer_id,
                               Micros(e.time), e.user_id, e.value, JsonObject(e.properties));
    }
    stage.complete();
    return Accepted(tx, kInsertUsageEvents, tenant_id);
  });
}

absl::StatusOr<IngestCounts> IngestStore::UpsertCustomers(
    const std::string& tenant_id, const std::vector<engine::Customer>& customers,
    absl::Time deadline) {
  return Write(deadline, customers.size(), [&](Tx& tx) -> absl::StatusOr<int64_t> {
    tx.raw().exec(std::string(kStageCustomers));
    pqxx::stream_to stage(
        tx.raw(), "stage_customers",
        std::vector<std::string>{"ord", "customer_id", "created_at_us", "acquisition_channel",
                                 "country", "attributes", "updated_at_us"});
    for (size_t i = 0; i < customers.size(); ++i) {
      const auto& c = customers[i];
      stage << std::make_tuple(static_cast<int>(i), c.customer_id, Micros(c.created_at),
                               c.acquisition_channel, c.country, JsonObject(c.attributes),
                               Micros(c.updated_at));
    }
    stage.complete();
    return Accepted(tx, kUpsertCustomers, tenant_id);
  });
}

absl::StatusOr<IngestCounts> IngestStore::WriteSpend(
    const std::string& tenant_id, const std::vector<engine::AcquisitionSpend>& spend,
    absl::Time deadline) {
  return Write(deadline, spend.size(), [&](Tx& tx) -> absl::StatusOr<int64_t> {
    tx.raw().exec(std::string(kStageSpend));
    pqxx::stream_to stage(tx.raw(), "stage_spend",
                          std::vector<std::string>{"ord", "spend_id", "channel", "start_date",
                                                   "end_date", "amount", "currency"});
    for (size_t i = 0; i < spend.size(); ++i) {
      const auto& s = spend[i];
      stage << std::make_tuple(static_cast<int>(i), s.spend_id, s.channel,
                               engine::FormatIsoDate(s.start_date),
                               engine::FormatIsoDate(s.end_date), s.amount, s.currency);
    }
    stage.complete();
    return Accepted(tx, kInsertSpend, tenant_id);
  });
}

}  // namespace saasmetrics::store
