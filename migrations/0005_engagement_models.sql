-- Engagement models (ANALYTICS.md "Engagement score"), named per tenant like PQL rules:
-- the definition is the API's EngagementModel as JSON, validated by the service.
CREATE TABLE engagement_models (
  tenant_id    text NOT NULL REFERENCES tenants (tenant_id),
  model_id     text NOT NULL,
  definition   jsonb NOT NULL,
  create_time  timestamptz NOT NULL DEFAULT now(),
  update_time  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, model_id)
);
