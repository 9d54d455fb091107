-- Consumer-group projections (projections/runner/projection-runner.ts) and the spend read models they
-- write: balances (projections/balances) and spend per period (projections/budgets).

-- Where each projection has got to, per partition. Written in the same transaction as the projection's
-- effects, so this, not the consumer group's committed offset, says what has been applied.
CREATE TABLE projection_offsets (
  projection  text   NOT NULL,
  topic       text   NOT NULL,
  partition   int    NOT NULL,
  next_offset bigint NOT NULL,
  PRIMARY KEY (projection, topic, partition)
);

-- A rebuild bumps the generation: a runner of an older generation applies nothing more, and the new one
-- reads the log from offset 0 through a consumer group of its own.
CREATE TABLE projection_generations (
  projection text PRIMARY KEY,
  generation int  NOT NULL
);

-- The ids of the events a projection has applied: a message appended twice (a producer's spool replayed
-- after a restart) is counted once.
CREATE TABLE projection_applied_events (
  projection text NOT NULL,
  event_id   text NOT NULL,
  PRIMARY KEY (projection, event_id)
);

-- Messages a projection could not read (not JSON, not an envelope, or data its events cannot have).
CREATE TABLE projection_dead_letters (
  projection  text        NOT NULL,
  topic       text        NOT NULL,
  partition   int         NOT NULL,
  "offset"    bigint      NOT NULL,
  key         text        NOT NULL,
  value       bytea       NOT NULL,
  reason      text        NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (projection, topic, partition, "offset")
);

CREATE TABLE tenant_balances (
  tenant_id          text   PRIMARY KEY,
  credited_micro_usd bigint NOT NULL DEFAULT 0,
  spent_micro_usd    bigint NOT NULL DEFAULT 0
);

CREATE TABLE project_spend (
  tenant_id       text   NOT NULL,
  project_id      text   NOT NULL,
  spent_micro_usd bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, project_id)
);

CREATE TABLE spend_by_period (
  tenant_id       text   NOT NULL,
  -- 'tenant', 'project:<id>' or 'key:<id>', as budgets.scope.
  scope           text   NOT NULL,
  period          text   NOT NULL CHECK (period IN ('day', 'month')),
  -- The UTC day, or the first day of the UTC month.
  period_start    date   NOT NULL,
  spent_micro_usd bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, scope, period, period_start)
);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['tenant_balances', 'project_spend', 'spend_by_period'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %I TO supergate_app
      USING (tenant_id = current_setting('app.tenant_id', true))
      WITH CHECK (tenant_id = current_setting('app.tenant_id', true))$p$, t);
    EXECUTE format('GRANT SELECT ON %I TO supergate_app', t);
  END LOOP;
END $$;
