-- One customer's subscription events (GetCustomer) by an index probe per month partition
-- instead of a scan of the tenant's history.
CREATE INDEX subscription_events_tenant_customer ON subscription_events (tenant_id, customer_id);
