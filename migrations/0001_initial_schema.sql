-- Initial schema. Every key starts with tenant_id and nothing joins or constrains
-- across tenants, so the schema can be distributed by tenant_id (Citus) unchanged.
-- Event tables are range-partitioned by month; saasmetrics_ensure_month_partition()
-- creates a month on demand.

CREATE TABLE tenants (
  tenant_id     text PRIMARY KEY,
  display_name  text NOT NULL DEFAULT '',
  currency      char(3) NOT NULL,
  timezone      text NOT NULL DEFAULT 'UTC',
  gross_margin  double precision NOT NULL DEFAULT 1.0
                CHECK (gross_margin > 0 AND gross_margin <= 1),
  create_time   timestamptz NOT NULL DEFAULT now(),
  update_time   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customers (
  tenant_id            text NOT NULL REFERENCES tenants (tenant_id),
  customer_id          text NOT NULL,
  created_at           timestamptz NOT NULL,
  acquisition_channel  text NOT NULL DEFAULT '',
  country              text NOT NULL DEFAULT '',
  attributes           jsonb NOT NULL DEFAULT '{}',
  updated_at           timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, customer_id)
);

-- A subscription event is a state that holds from effective_at until the
-- subscription's next event. seq breaks effective_at ties in ingest order.
CREATE TABLE subscription_events (
  tenant_id         text NOT NULL,
  effective_at      timestamptz NOT NULL,
  seq               bigint NOT NULL,
  event_id          text NOT NULL,
  subscription_id   text NOT NULL,
  customer_id       text NOT NULL,
  status            smallint NOT NULL,   -- saasmetrics.v1.SubscriptionStatus
  plan_id           text NOT NULL,
  quantity          bigint NOT NULL CHECK (quantity >= 0),
  unit_amount       bigint NOT NULL CHECK (unit_amount >= 0),
  currency          char(3) NOT NULL,
  interval_unit     smallint NOT NULL,   -- saasmetrics.v1.IntervalUnit
  interval_count    integer NOT NULL CHECK (interval_count >= 1),
  discount_bps      integer NOT NULL DEFAULT 0 CHECK (discount_bps BETWEEN 0 AND 10000),
  discount_amount   bigint NOT NULL DEFAULT 0 CHECK (discount_amount >= 0),
  ingested_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, effective_at, seq)
) PARTITION BY RANGE (effective_at);

CREATE SEQUENCE subscription_events_seq;

-- Identity of subscription events regardless of their month: a unique key on a
-- partitioned table must contain the partition key, so identity lives here.
CREATE TABLE subscription_event_ids (
  tenant_id  text NOT NULL,
  event_id   text NOT NULL,
  PRIMARY KEY (tenant_id, event_id)
);

CREATE TABLE usage_events (
  tenant_id    text NOT NULL,
  time         timestamptz NOT NULL,
  source       text NOT NULL,
  event_id     text NOT NULL,
  type         text NOT NULL,
  customer_id  text NOT NULL,
  user_id      text NOT NULL DEFAULT '',
  value        double precision NOT NULL DEFAULT 1,
  properties   jsonb NOT NULL DEFAULT '{}',
  ingested_at  timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (time);

-- Partition loads read one tenant's month: (tenant_id, time) keeps that a range scan
-- however many tenants share the month.
CREATE INDEX usage_events_tenant_time ON usage_events (tenant_id, time);

CREATE TABLE usage_event_ids (
  tenant_id  text NOT NULL,
  source     text NOT NULL,
  event_id   text NOT NULL,
  PRIMARY KEY (tenant_id, source, event_id)
);

CREATE TABLE acquisition_spend (
  tenant_id   text NOT NULL REFERENCES tenants (tenant_id),
  spend_id    text NOT NULL,
  channel     text NOT NULL,
  start_date  date NOT NULL,
  end_date    date NOT NULL CHECK (end_date >= start_date),
  amount      bigint NOT NULL CHECK (amount >= 0),
  currency    char(3) NOT NULL,
  PRIMARY KEY (tenant_id, spend_id)
);

CREATE TABLE pql_rules (
  tenant_id    text NOT NULL REFERENCES tenants (tenant_id),
  rule_id      text NOT NULL,
  definition   jsonb NOT NULL,
  create_time  timestamptz NOT NULL DEFAULT now(),
  update_time  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, rule_id)
);

-- Bumped in the same transaction as every write to a (tenant, kind, month); caches
-- compare it on each query, which keeps replicas coherent.
CREATE TABLE partition_versions (
  tenant_id  text NOT NULL,
  kind       smallint NOT NULL,  -- 1 subscription events, 2 usage events, 3 customers, 4 spend
  month      date NOT NULL,      -- first day of the month (UTC)
  version    bigint NOT NULL,
  PRIMARY KEY (tenant_id, kind, month)
);

-- Creates the monthly partition of `parent` holding `at`, if it is missing. Safe to
-- call concurrently: a transaction-scoped advisory lock serialises creators, and a
-- creator that lost the race finds the table there.
CREATE FUNCTION saasmetrics_ensure_month_partition(parent regclass, at timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  month_start timestamptz := date_trunc('month', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  name text := format('%s_y%sm%s', parent::text,
                      to_char(month_start AT TIME ZONE 'UTC', 'YYYY'),
                      to_char(month_start AT TIME ZONE 'UTC', 'MM'));
BEGIN
  IF to_regclass(name) IS NOT NULL THEN
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext(name));
  -- The catalog may not show a table a concurrent caller just committed: creating it
  -- then fails with duplicate_table, which means it is there.
  EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                 name, parent, month_start, month_start + interval '1 month');
EXCEPTION WHEN duplicate_table OR unique_violation THEN
  NULL;
END $$;
