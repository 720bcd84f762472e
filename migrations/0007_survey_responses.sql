-- Survey responses (ANALYTICS.md "NPS"), idempotent by (tenant_id, response_id). `seq` is
-- the ingest order: of two responses at the same time, the later ingested is the latest.
CREATE SEQUENCE survey_responses_seq;

CREATE TABLE survey_responses (
  tenant_id    text NOT NULL REFERENCES tenants (tenant_id),
  response_id  text NOT NULL,
  customer_id  text NOT NULL,
  user_id      text NOT NULL DEFAULT '',
  score        smallint NOT NULL CHECK (score BETWEEN 0 AND 10),
  time         timestamptz NOT NULL,
  comment      text NOT NULL DEFAULT '',
  channel      text NOT NULL DEFAULT '',
  seq          bigint NOT NULL,
  PRIMARY KEY (tenant_id, response_id)
);
