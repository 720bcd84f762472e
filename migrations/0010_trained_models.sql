-- Trained churn and upsell models (ANALYTICS.md "Churn risk and upsell propensity"), named
-- per tenant: the definition is the API's Model as JSON (coefficients, standardisation,
-- encoding, evaluation), so every replica scores with the same model.
CREATE TABLE trained_models (
  tenant_id    text NOT NULL REFERENCES tenants (tenant_id),
  model_id     text NOT NULL,
  definition   jsonb NOT NULL,
  create_time  timestamptz NOT NULL DEFAULT now(),
  update_time  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, model_id)
);
