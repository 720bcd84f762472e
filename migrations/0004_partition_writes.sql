-- Delta partition loads. Every transaction that stores events takes a write id and stamps
-- its rows with it; when it bumps a (tenant, kind, month) in partition_versions it logs
-- the new version with its write id here. A cache holding a month at version C brings it
-- to version V by reading the rows of the write ids logged for versions C+1..V only.
-- A version without a log row (pruned below, or bumped by a replica still running older
-- code during a rolling upgrade, whose rows have write id 0) makes the cache load the
-- month whole: pruning and upgrades cost a reload, never a wrong answer.
CREATE SEQUENCE partition_write_ids;

CREATE TABLE partition_writes (
  tenant_id  text NOT NULL,
  kind       smallint NOT NULL,
  month      date NOT NULL,
  version    bigint NOT NULL,
  write_id   bigint NOT NULL,
  PRIMARY KEY (tenant_id, kind, month, version)
);

ALTER TABLE subscription_events ADD COLUMN write_id bigint NOT NULL DEFAULT 0;
ALTER TABLE usage_events ADD COLUMN write_id bigint NOT NULL DEFAULT 0;

-- Both loads go by (tenant_id, write_id) inside one month's partition: a whole month is
-- every entry of the tenant (the partition's bounds are the month's), a delta the entries
-- of a few write ids. It replaces (tenant_id, time), which served whole months only.
CREATE INDEX subscription_events_tenant_write ON subscription_events (tenant_id, write_id);
DROP INDEX usage_events_tenant_time;
CREATE INDEX usage_events_tenant_write ON usage_events (tenant_id, write_id);
