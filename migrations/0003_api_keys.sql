-- API keys: one row per key. The secret is never stored, only a salted BLAKE2b hash of
-- it (server/auth/keys.h). tenant_id NULL: an admin key over every tenant. roles is a bit
-- set: 1 read, 2 ingest, 4 admin. A revoked key keeps its row (revoked_at set) so its id
-- is never reused and audits can name it.
CREATE TABLE api_keys (
  key_id      text PRIMARY KEY,
  tenant_id   text,
  roles       smallint NOT NULL CHECK (roles BETWEEN 1 AND 7),
  name        text NOT NULL DEFAULT '',
  salt        bytea NOT NULL,
  hash        bytea NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, key_id);
