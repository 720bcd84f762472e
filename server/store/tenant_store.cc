#include "server/store/tenant_store.h"

#include "absl/strings/str_cat.h"
#include "server/store/pg_error.h"
#include "server/store/tx.h"

namespace saasmetrics::store {
namespace {

#define TENANT_COLUMNS                                                        \
  "tenant_id, display_name, currency, timezone, gross_margin, "               \
  "(extract(epoch FROM create_time) * 1000000)::bigint, "                     \
  "(extract(epoch FROM update_time) * 1000000)::bigint, "                     \
  "health_engagement_model_id, health_power_at_least, health_at_risk_below, " \
  "health_inactive_days, health_lost_window_days, health_risk_at_least"

constexpr Statement kInsertTenant{
    "tenant_insert",
    "INSERT INTO tenants (tenant_id, display_name, currency, timezone, gross_margin, "
    "health_engagement_model_id, health_power_at_least, health_at_risk_below, "
    "health_inactive_days, health_lost_window_days, health_risk_at_least) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING " TENANT_COLUMNS};
constexpr Statement kGetTenant{"tenant_get",
                               "SELECT " TENANT_COLUMNS " FROM tenants WHERE tenant_id = $1"};
constexpr Statement kListTenants{"tenant_list", "SELECT " TENANT_COLUMNS
                                                " FROM tenants WHERE tenant_id > $1 "
                                                "ORDER BY tenant_id LIMIT $2"};
constexpr Statement kUpdateTenant{
    "tenant_update",
    "UPDATE tenants SET display_name = CASE WHEN $2 THEN $3 ELSE display_name END, "
    "timezone = CASE WHEN $4 THEN $5 ELSE timezone END, "
    "gross_margin = CASE WHEN $6 THEN $7::double precision ELSE gross_margin END, "
    "health_engagement_model_id = CASE WHEN $8 THEN $9 ELSE health_engagement_model_id END, "
    "health_power_at_least = CASE WHEN $8 THEN $10::double precision "
    "ELSE health_power_at_least END, "
    "health_at_risk_below = CASE WHEN $8 THEN $11::double precision "
    "ELSE health_at_risk_below END, "
    "health_inactive_days = CASE WHEN $8 THEN $12::integer ELSE health_inactive_days END, "
    "health_lost_window_days = CASE WHEN $8 THEN $13::integer ELSE health_lost_window_days END, "
    "health_risk_at_least = CASE WHEN $8 THEN $14::double precision "
    "ELSE health_risk_at_least END, "
    "update_time = now() WHERE tenant_id = $1 RETURNING " TENANT_COLUMNS};
#undef TENANT_COLUMNS

constexpr Statement kStatements[] = {kInsertTenant, kGetTenant, kListTenants, kUpdateTenant};

engine::Tenant FromRow(const pqxx::row& row) {
  engine::Tenant t;
  t.tenant_id = row[0].as<std::string>();
  t.display_name = row[1].as<std::string>();
  t.currency = row[2].as<std::string>();
  t.timezone = row[3].as<std::string>();
  t.gross_margin = row[4].as<double>();
  t.create_time = absl::FromUnixMicros(row[5].as<int64_t>());
  t.update_time = absl::FromUnixMicros(row[6].as<int64_t>());
  t.health_policy = {.engagement_model_id = row[7].as<std::string>(),
                     .power_at_least = row[8].as<double>(),
                     .at_risk_below = row[9].as<double>(),
                     .inactive_days = row[10].as<int>(),
                     .lost_window_days = row[11].as<int>(),
                     .risk_at_least = row[12].as<double>()};
  return t;
}

absl::Status TenantNotFound(const std::string& tenant_id) {
  return absl::NotFoundError(absl::StrCat("tenant '", tenant_id, "' does not exist"));
}

}  // namespace

std::span<const Statement> TenantStore::Statements() { return kStatements; }

absl::StatusOr<engine::Tenant> TenantStore::Create(const engine::Tenant& tenant,
                                                   absl::Time deadline) {
  engine::Tenant out;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    const engine::HealthPolicy& h = tenant.health_policy;
    out = FromRow(tx.Exec(kInsertTenant, tenant.tenant_id, tenant.display_name, tenant.currency,
                          tenant.timezone, tenant.gross_margin, h.engagement_model_id,
                          h.power_at_least, h.at_risk_below, h.inactive_days, h.lost_window_days,
                          h.risk_at_least)
                      .at(0));
    return absl::OkStatus();
  });
  if (absl::IsAlreadyExists(s)) {
    return absl::AlreadyExistsError(absl::StrCat("tenant '", tenant.tenant_id, "' already exists"));
  }
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<engine::Tenant> TenantStore::Get(const std::string& tenant_id, absl::Time deadline) {
  std::optional<engine::Tenant> out;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    pqxx::result r = tx.Exec(kGetTenant, tenant_id);
    if (!r.empty()) out = FromRow(r[0]);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!out) return TenantNotFound(tenant_id);
  return *out;
}

absl::StatusOr<TenantPage> TenantStore::List(int page_size, const std::string& after_id,
                                             absl::Time deadline) {
  TenantPage page;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    for (const auto& row : tx.Exec(kListTenants, after_id, page_size + 1)) {
      page.tenants.push_back(FromRow(row));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (static_cast<int>(page.tenants.size()) > page_size) {
    page.tenants.pop_back();
    page.more = true;
  }
  return page;
}

absl::StatusOr<engine::Tenant> TenantStore::Update(const TenantUpdate& u, absl::Time deadline) {
  std::optional<engine::Tenant> out;
  absl::Status s = pool_.Transact(deadline, [&](Tx& tx) {
    const engine::HealthPolicy h = u.health_policy.value_or(engine::HealthPolicy{});
    pqxx::result r = tx.Exec(
        kUpdateTenant, u.tenant_id, u.display_name.has_value(), u.display_name.value_or(""),
        u.timezone.has_value(), u.timezone.value_or(""), u.gross_margin.has_value(),
        u.gross_margin.value_or(1.0), u.health_policy.has_value(), h.engagement_model_id,
        h.power_at_least, h.at_risk_below, h.inactive_days, h.lost_window_days, h.risk_at_least);
    if (!r.empty()) out = FromRow(r[0]);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!out) return TenantNotFound(u.tenant_id);
  return *out;
}

}  // namespace saasmetrics::store
