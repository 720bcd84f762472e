-- A tenant's health policy (ANALYTICS.md "Health groups"), with its defaults. An empty
-- engagement_model_id means the tenant's first engagement model (by creation).
ALTER TABLE tenants
  ADD COLUMN health_engagement_model_id text NOT NULL DEFAULT '',
  ADD COLUMN health_power_at_least double precision NOT NULL DEFAULT 70
    CHECK (health_power_at_least BETWEEN 0 AND 100),
  ADD COLUMN health_at_risk_below double precision NOT NULL DEFAULT 30
    CHECK (health_at_risk_below BETWEEN 0 AND 100),
  ADD COLUMN health_inactive_days integer NOT NULL DEFAULT 14
    CHECK (health_inactive_days BETWEEN 1 AND 365),
  ADD COLUMN health_lost_window_days integer NOT NULL DEFAULT 90
    CHECK (health_lost_window_days BETWEEN 1 AND 3650),
  ADD COLUMN health_risk_at_least double precision NOT NULL DEFAULT 0.5
    CHECK (health_risk_at_least BETWEEN 0 AND 1),
  ADD CONSTRAINT health_thresholds_in_order CHECK (health_at_risk_below <= health_power_at_least);
