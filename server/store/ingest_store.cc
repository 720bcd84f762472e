#include "server/store/ingest_store.h"

#include <algorithm>
#include <set>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/store/copy_writer.h"
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

constexpr absl::string_view kStageSurveyResponses =
    "CREATE TEMP TABLE IF NOT EXISTS stage_survey_responses (ord int, response_id text, "
    "customer_id text, user_id text, score int, time_us bigint, comment text, "
    "channel text) ON COMMIT DELETE ROWS";

constexpr absl::string_view kStageExchangeRates =
    "CREATE TEMP TABLE IF NOT EXISTS stage_exchange_rates (ord int, currency text, date date, "
    "rate text) ON COMMIT DELETE ROWS";

#define SAAS_TS(us) "(to_timestamp(0) + (" us ") * interval '1 microsecond')"
#define SAAS_BUMP(kind, month_expr, source)                                                      \
  "bump AS (INSERT INTO partition_versions (tenant_id, kind, month, version) "                   \
  "SELECT $1, " kind ", m, 1 FROM (SELECT DISTINCT " month_expr " AS m FROM " source             \
  ") months ORDER BY m "                                                                         \
  "ON CONFLICT (tenant_id, kind, month) DO UPDATE SET version = partition_versions.version + 1 " \
  "RETURNING month, version) "
// Logs each bumped month's new version with the write id its rows carry (migrations/0004),
// and keeps the last 1024 versions of a month: every 64th version prunes what is older.
#define SAAS_LOG(kind, write_id)                                                                   \
  ", logged AS (INSERT INTO partition_writes (tenant_id, kind, month, version, write_id) "         \
  "SELECT $1, " kind ", month, version, " write_id                                                 \
  " FROM bump), "                                                                                  \
  "pruned AS (DELETE FROM partition_writes w USING bump WHERE w.tenant_id = $1 AND w.kind = " kind \
  " AND w.month = bump.month AND bump.version % 64 = 0 "                                           \
  "AND w.version <= bump.version - 1024) "

// Identities are claimed in key order (a consistent lock order for concurrent batches);
// an item whose identity exists, or repeats within the batch, is not inserted. `seq`
// keeps ingest order for effective_at ties: one sequence value per batch, plus position.
constexpr Statement kInsertSubscriptionEvents{
    "ingest_subscription_events",
    "WITH batch AS (SELECT nextval('subscription_events_seq') * 1048576 AS base, "
    "  nextval('partition_write_ids') AS write_id), "
    "new_ids AS (INSERT INTO subscription_event_ids (tenant_id, event_id) "
    "  SELECT $1, event_id FROM (SELECT DISTINCT event_id FROM stage_subscription_events) d "
    "  ORDER BY event_id ON CONFLICT DO NOTHING RETURNING event_id), "
    "ins AS (INSERT INTO subscription_events (tenant_id, effective_at, seq, event_id, "
    "  subscription_id, customer_id, status, plan_id, quantity, unit_amount, currency, "
    "  interval_unit, interval_count, discount_bps, discount_amount, write_id) "
    "  SELECT DISTINCT ON (s.event_id) $1, " SAAS_TS("s.effective_at_us") ", batch.base + s.ord, "
    "  s.event_id, s.subscription_id, s.customer_id, s.status, s.plan_id, s.quantity, "
    "  s.unit_amount, s.currency, s.interval_unit, s.interval_count, s.discount_bps, "
    "  s.discount_amount, batch.write_id FROM stage_subscription_events s "
    "  JOIN new_ids USING (event_id) CROSS JOIN batch ORDER BY s.event_id, s.ord "
    "  RETURNING effective_at), " SAAS_BUMP(
        "1", "date_trunc('month', effective_at AT TIME ZONE 'UTC')::date",
        "ins") SAAS_LOG("1", "(SELECT write_id FROM batch)")
        "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM bump)"};

constexpr Statement kInsertUsageEvents{
    "ingest_usage_events",
    "WITH batch AS (SELECT nextval('partition_write_ids') AS write_id), "
    "new_ids AS (INSERT INTO usage_event_keys (key) "
    "  SELECT saasmetrics_usage_key($1, source, event_id) FROM (SELECT DISTINCT source, "
    "  event_id FROM stage_usage_events) d ORDER BY 1 "
    "  ON CONFLICT DO NOTHING RETURNING key), "
    "ins AS (INSERT INTO usage_events (tenant_id, time, source, event_id, type, customer_id, "
    "  user_id, value, properties, write_id) "
    "  SELECT DISTINCT ON (s.source, s.event_id) $1, " SAAS_TS("s.time_us") ", s.source, "
    "  s.event_id, s.type, s.customer_id, s.user_id, s.value, s.properties::jsonb, "
    "  batch.write_id FROM stage_usage_events s "
    "  JOIN new_ids ON new_ids.key = saasmetrics_usage_key($1, s.source, s.event_id) "
    "  CROSS JOIN batch ORDER BY s.source, s.event_id, s.ord RETURNING time), " SAAS_BUMP(
        "2", "date_trunc('month', time AT TIME ZONE 'UTC')::date",
        "ins") SAAS_LOG("2", "(SELECT write_id FROM batch)")
        "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM bump)"};

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

// Within a batch the first response of an id counts; seq keeps ingest order.
constexpr Statement kInsertSurveyResponses{
    "ingest_survey_responses",
    "WITH batch AS (SELECT nextval('survey_responses_seq') * 1048576 AS base), "
    "ins AS (INSERT INTO survey_responses (tenant_id, response_id, customer_id, user_id, score, "
    "  time, comment, channel, seq) "
    "  SELECT DISTINCT ON (s.response_id) $1, s.response_id, s.customer_id, s.user_id, s.score, "
    "  " SAAS_TS("s.time_us") ", s.comment, s.channel, batch.base + s.ord "
    "  FROM stage_survey_responses s CROSS JOIN batch ORDER BY s.response_id, s.ord "
    "  ON CONFLICT (tenant_id, response_id) DO NOTHING RETURNING 1), " SAAS_BUMP(
        "5", "DATE '1970-01-01'",
        "ins") "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM bump)"};

// Within a batch the last rate of a (currency, date) counts; a rate equal to the stored
// one is a duplicate, another one replaces it.
constexpr Statement kUpsertExchangeRates{
    "ingest_exchange_rates",
    "WITH latest AS (SELECT DISTINCT ON (currency, date) * FROM stage_exchange_rates "
    "  ORDER BY currency, date, ord DESC), "
    "up AS (INSERT INTO exchange_rates (tenant_id, currency, date, rate) "
    "  SELECT $1, currency, date, rate::numeric FROM latest ORDER BY currency, date "
    "  ON CONFLICT (tenant_id, currency, date) DO UPDATE SET rate = EXCLUDED.rate "
    "  WHERE exchange_rates.rate <> EXCLUDED.rate RETURNING 1), " SAAS_BUMP(
        "6", "DATE '1970-01-01'",
        "up") "SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM bump)"};

// The COPY path: its rows were written with write id $3.
constexpr Statement kBumpUsageMonths{"ingest_bump_usage_months",
                                     "WITH " SAAS_BUMP("2", "m", "unnest($2::date[]) AS m")
                                         SAAS_LOG("2", "$3::bigint") "SELECT count(*) FROM bump"};

constexpr Statement kNextWriteId{"ingest_next_write_id", "SELECT nextval('partition_write_ids')"};

#undef SAAS_TS
#undef SAAS_BUMP
#undef SAAS_LOG

constexpr Statement kEnsurePartition{"ensure_month_partition",
                                     "SELECT saasmetrics_ensure_month_partition($1::regclass, "
                                     "to_timestamp(0) + $2::bigint * interval '1 microsecond')"};

constexpr Statement kStatements[] = {
    kInsertSubscriptionEvents, kInsertUsageEvents,   kUpsertCustomers, kInsertSpend,
    kInsertSurveyResponses,    kUpsertExchangeRates, kBumpUsageMonths, kNextWriteId,
    kEnsurePartition};

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }

// The usage identities' keys in usage_event_keys, as saasmetrics_usage_key() builds them
// (migrations/0002: the three values' bytes separated by a zero byte), sorted. The keys
// live in one buffer: `storage` must outlive the views.
std::vector<absl::string_view> SortedUsageKeys(const std::string& tenant_id,
                                               const std::vector<engine::UsageEvent>& events,
                                               std::string& storage) {
  std::vector<std::pair<size_t, size_t>> spans;  // offset, size
  spans.reserve(events.size());
  for (const auto& e : events) {
    const size_t offset = storage.size();
    storage.append(tenant_id).push_back('\0');
    storage.append(e.source).push_back('\0');
    storage.append(e.id);
    spans.emplace_back(offset, storage.size() - offset);
  }
  std::vector<absl::string_view> keys;
  keys.reserve(spans.size());
  for (auto [offset, size] : spans) keys.emplace_back(storage.data() + offset, size);
  std::sort(keys.begin(), keys.end());
  return keys;
}

// The distinct UTC months of the items' times (`time_of(item)`), ascending. Batches
// mostly run in time order, so a month's bounds answer most items without a time-zone
// conversion.
template <typename Item, typename TimeOf>
std::vector<absl::CivilMonth> UtcMonths(const std::vector<Item>& items, TimeOf time_of) {
  std::set<absl::CivilMonth> months;
  absl::Time begin = absl::InfiniteFuture(), end = absl::InfiniteFuture();
  for (const Item& item : items) {
    const absl::Time t = time_of(item);
    if (t >= begin && t < end) continue;
    const absl::CivilMonth m = absl::ToCivilMonth(t, absl::UTCTimeZone());
    months.insert(m);
    begin = absl::FromCivil(m, absl::UTCTimeZone());
    end = absl::FromCivil(m + 1, absl::UTCTimeZone());
  }
  return {months.begin(), months.end()};
}

// PostgreSQL array literal of the months ('{2024-01-01,...}').
std::string MonthsArray(const std::vector<absl::CivilMonth>& months) {
  std::string out = "{";
  for (absl::CivilMonth m : months) {
    if (out.size() > 1) out.push_back(',');
    absl::StrAppend(&out, absl::StrFormat("%04d-%02d-01", m.year(), m.month()));
  }
  out.push_back('}');
  return out;
}

// Runs the set-based insert and returns how many rows it stored.
int64_t Accepted(Tx& tx, const Statement& insert, const std::string& tenant_id) {
  return tx.Exec(insert, tenant_id).at(0)[0].as<int64_t>();
}

}  // namespace

std::span<const Statement> IngestStore::Statements() { return kStatements; }

std::string MonthPartitionName(absl::string_view table, absl::CivilMonth month) {
  return absl::StrFormat("%s_y%04dm%02d", table, month.year(), month.month());
}

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
                                       const std::vector<absl::CivilMonth>& months,
                                       absl::Time deadline) {
  for (absl::CivilMonth month : months) {
    std::string key = MonthPartitionName(table, month);
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
  const auto months = UtcMonths(events, [](const auto& e) { return e.effective_at; });
  if (absl::Status s = EnsureMonths("subscription_events", months, deadline); !s.ok()) return s;
  return Write(deadline, events.size(), [&](Tx& tx) -> absl::StatusOr<int64_t> {
    tx.raw().exec(std::string(kStageSubscriptionEvents));
    CopyWriter rows(tx.raw(), "stage_subscription_events",
                    {"ord", "event_id", "subscription_id", "customer_id", "effective_at_us",
                     "status", "plan_id", "quantity", "unit_amount", "currency", "interval_unit",
                     "interval_count", "discount_bps", "discount_amount"});
    for (size_t i = 0; i < events.size(); ++i) {
      const auto& e = events[i];
      rows.Int4(static_cast<int32_t>(i)).Text(e.event_id).Text(e.subscription_id);
      rows.Text(e.customer_id).Int8(Micros(e.effective_at));
      rows.Int2(static_cast<int16_t>(e.status)).Text(e.plan_id).Int8(e.quantity);
      rows.Int8(e.unit_amount).Text(e.currency).Int2(static_cast<int16_t>(e.interval_unit));
      rows.Int4(e.interval_count).Int4(e.discount_bps).Int8(e.discount_amount).EndRow();
    }
    rows.Complete();
    return Accepted(tx, kInsertSubscriptionEvents, tenant_id);
  });
}

absl::StatusOr<IngestStore::Stored> IngestStore::UsageKeysStored(
    const std::vector<absl::string_view>& keys, absl::Time deadline) {
  Stored stored = Stored::kFirstIsNew;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    const pqxx::binarystring first(keys.front().data(), keys.front().size());
    if (!tx.raw()
             .exec_params1("SELECT EXISTS (SELECT 1 FROM usage_event_keys WHERE key = $1)",
                           first)[0]
             .as<bool>()) {
      return absl::OkStatus();  // the common case: new events
    }
    tx.raw().exec("CREATE TEMP TABLE stage_usage_keys (key bytea) ON COMMIT DROP");
    {
      CopyWriter ids(tx.raw(), "stage_usage_keys", {"key"});
      for (absl::string_view key : keys) ids.Bytea(key).EndRow();
      ids.Complete();
    }
    const bool some_new =
        tx.raw()
            .exec1(
                "SELECT EXISTS (SELECT 1 FROM stage_usage_keys s WHERE NOT "
                "EXISTS (SELECT 1 FROM usage_event_keys k WHERE k.key = s.key))")[0]
            .as<bool>();
    stored = some_new ? Stored::kSome : Stored::kAll;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return stored;
}

absl::StatusOr<IngestCounts> IngestStore::CopyNewUsageEvents(
    const std::string& tenant_id, const std::vector<engine::UsageEvent>& events,
    const std::vector<absl::string_view>& keys, const std::vector<absl::CivilMonth>& months,
    absl::Time deadline) {
  const std::string months_array = MonthsArray(months);
  return Write(deadline, events.size(), [&](Tx& tx) -> absl::StatusOr<int64_t> {
    {  // Identities in key order: neighbouring index inserts touch neighbouring pages.
      CopyWriter ids(tx.raw(), "usage_event_keys", {"key"});
      for (absl::string_view key : keys) ids.Bytea(key).EndRow();
      ids.Complete();
    }
    const int64_t write_id = tx.Exec(kNextWriteId).at(0)[0].as<int64_t>();
    CopyWriter rows(tx.raw(), "usage_events",
                    {"tenant_id", "time", "source", "event_id", "type", "customer_id", "user_id",
                     "value", "properties", "write_id"});
    for (const auto& e : events) {
      rows.Text(tenant_id).TimestampTz(e.time).Text(e.source).Text(e.id).Text(e.type);
      rows.Text(e.customer_id).Text(e.user_id).Float8(e.value);
      rows.Jsonb(JsonObject(e.properties)).Int8(write_id).EndRow();
    }
    rows.Complete();
    tx.Exec(kBumpUsageMonths, tenant_id, months_array, write_id);
    return static_cast<int64_t>(events.size());
  });
}

absl::StatusOr<IngestCounts> IngestStore::WriteUsageEvents(
    const std::string& tenant_id, const std::vector<engine::UsageEvent>& events,
    absl::Time deadline) {
  const auto months = UtcMonths(events, [](const auto& e) { return e.time; });
  if (absl::Status s = EnsureMonths("usage_events", months, deadline); !s.ok()) return s;
  // Most batches are all new: try the COPY path unless the batch repeats an identity.
  absl::flat_hash_set<std::pair<absl::string_view, absl::string_view>> seen;
  seen.reserve(events.size());
  bool repeats = false;
  for (const auto& e : events) repeats |= !seen.emplace(e.source, e.id).second;
  if (!repeats) {
    std::string storage;
    const std::vector<absl::string_view> keys = SortedUsageKeys(tenant_id, events, storage);
    // A batch sent again (a re-run, a file ingested twice) is found by its keys alone,
    // without sending its events or failing a COPY on its first row. Identities are
    // never deleted, so "all stored" stays true.
    absl::StatusOr<Stored> stored = UsageKeysStored(keys, deadline);
    if (!stored.ok()) return stored.status();
    if (*stored == Stored::kAll) return IngestCounts{0, static_cast<int64_t>(events.size())};
    if (*stored == Stored::kFirstIsNew) {
      absl::StatusOr<IngestCounts> copied =
          CopyNewUsageEvents(tenant_id, events, keys, months, deadline);
      if (!absl::IsAlreadyExists(copied.status())) return copied;
    }
  }
  return Write(deadline, events.size(), [&](Tx& tx) -> absl::StatusOr<int64_t> {
    tx.raw().exec(std::string(kStageUsageEvents));
    CopyWriter rows(tx.raw(), "stage_usage_events",
                    {"ord", "source", "event_id", "type", "customer_id", "time_us", "user_id",
                     "value", "properties"});
    for (size_t i = 0; i < events.size(); ++i) {
      const auto& e = events[i];
      rows.Int4(static_cast<int32_t>(i)).Text(e.source).Text(e.id).Text(e.type);
      rows.Text(e.customer_id).Int8(Micros(e.time)).Text(e.user_id).Float8(e.value);
      rows.Text(JsonObject(e.properties)).EndRow();
    }
    rows.Complete();
    return Accepted(tx, kInsertUsageEvents, tenant_id);
  });
}

absl::StatusOr<IngestCounts> IngestStore::UpsertCustomers(
    const std::string& tenant_id, const std::vector<engine::Customer>& customers,
    absl::Time deadline) {
  return Write(deadline, customers.size(), [&](Tx& tx) -> absl::StatusOr<int64_t> {
    tx.raw().exec(std::string(kStageCustomers));
    CopyWriter rows(tx.raw(), "stage_customers",
                    {"ord", "customer_id", "created_at_us", "acquisition_channel", "country",
                     "attributes", "updated_at_us"});
    for (size_t i = 0; i < customers.size(); ++i) {
      const auto& c = customers[i];
      rows.Int4(static_cast<int32_t>(i)).Text(c.customer_id).Int8(Micros(c.created_at));
      rows.Text(c.acquisition_channel).Text(c.country).Text(JsonObject(c.attributes));
      rows.Int8(Micros(c.updated_at)).EndRow();
    }
    rows.Complete();
    return Accepted(tx, kUpsertCustomers, tenant_id);
  });
}

absl::StatusOr<IngestCounts> IngestStore::WriteSpend(
    const std::string& tenant_id, const std::vector<engine::AcquisitionSpend>& spend,
    absl::Time deadline) {
  return Write(deadline, spend.size(), [&](Tx& tx) -> absl::StatusOr<int64_t> {
    tx.raw().exec(std::string(kStageSpend));
    CopyWriter rows(tx.raw(), "stage_spend",
                    {"ord", "spend_id", "channel", "start_date", "end_date", "amount", "currency"});
    for (size_t i = 0; i < spend.size(); ++i) {
      const auto& s = spend[i];
      rows.Int4(static_cast<int32_t>(i)).Text(s.spend_id).Text(s.channel).Date(s.start_date);
      rows.Date(s.end_date).Int8(s.amount).Text(s.currency).EndRow();
    }
    rows.Complete();
    return Accepted(tx, kInsertSpend, tenant_id);
  });
}

absl::StatusOr<IngestCounts> IngestStore::WriteSurveyResponses(
    const std::string& tenant_id, const std::vector<engine::SurveyResponse>& responses,
    absl::Time deadline) {
  return Write(deadline, responses.size(), [&](Tx& tx) -> absl::StatusOr<int64_t> {
    tx.raw().exec(std::string(kStageSurveyResponses));
    CopyWriter rows(
        tx.raw(), "stage_survey_responses",
        {"ord", "response_id", "customer_id", "user_id", "score", "time_us", "comment", "channel"});
    for (size_t i = 0; i < responses.size(); ++i) {
      const auto& r = responses[i];
      rows.Int4(static_cast<int32_t>(i)).Text(r.response_id).Text(r.customer_id).Text(r.user_id);
      rows.Int4(r.score).Int8(Micros(r.time)).Text(r.comment).Text(r.channel).EndRow();
    }
    rows.Complete();
    return Accepted(tx, kInsertSurveyResponses, tenant_id);
  });
}

absl::StatusOr<IngestCounts> IngestStore::WriteExchangeRates(
    const std::string& tenant_id, const std::vector<engine::ExchangeRate>& rates,
    absl::Time deadline) {
  return Write(deadline, rates.size(), [&](Tx& tx) -> absl::StatusOr<int64_t> {
    tx.raw().exec(std::string(kStageExchangeRates));
    CopyWriter rows(tx.raw(), "stage_exchange_rates", {"ord", "currency", "date", "rate"});
    for (size_t i = 0; i < rates.size(); ++i) {
      const auto& r = rates[i];
      rows.Int4(static_cast<int32_t>(i)).Text(r.currency).Date(r.date);
      rows.Text(engine::FormatDecimal(r.rate)).EndRow();
    }
    rows.Complete();
    return Accepted(tx, kUpsertExchangeRates, tenant_id);
  });
}

}  // namespace saasmetrics::store
