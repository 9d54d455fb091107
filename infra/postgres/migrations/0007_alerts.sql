-- Spend alerts (projections/alerts): the alert projection's own spend counters, the alerts that fired, and
-- the signed webhooks that tell the tenant about them.

-- Spend per scope and period as the alert projection has counted it: its own, so an alert never waits on
-- (or races with) another projection's progress. 'hour' buckets measure the spend rate.
CREATE TABLE alert_spend (
  tenant_id       text        NOT NULL,
  -- 'tenant', 'project:<id>' or 'key:<id>', as budgets.scope.
  scope           text        NOT NULL,
  period          text        NOT NULL CHECK (period IN ('hour', 'day', 'month')),
  -- The start of the UTC hour, day or month.
  period_start    timestamptz NOT NULL,
  spent_micro_usd bigint      NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, scope, period, period_start)
);

-- One row per rule and period: the primary key is what makes an alert fire once, even when two
-- transactions cross the threshold at the same time (the second INSERT … ON CONFLICT DO NOTHING waits for
-- the first and inserts nothing).
CREATE TABLE alert_firings (
  rule_id         text        NOT NULL,
  period_start    timestamptz NOT NULL,
  tenant_id       text        NOT NULL,
  fired_at        timestamptz NOT NULL,
  spent_micro_usd bigint      NOT NULL,
  threshold       bigint      NOT NULL,
  -- The request.completed event whose spend crossed the threshold.
  event_id        uuid        NOT NULL,
  PRIMARY KEY (rule_id, period_start)
);
CREATE INDEX alert_firings_tenant ON alert_firings (tenant_id, fired_at DESC);

CREATE TABLE webhook_deliveries (
  id              uuid        PRIMARY KEY,
  tenant_id       text        NOT NULL,
  rule_id         text        NOT NULL,
  url             text        NOT NULL,
  payload         jsonb       NOT NULL,
  attempts        int         NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  last_status     int,
  last_error      text,
  delivered_at    timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries (tenant_id, created_at DESC);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['alert_spend', 'alert_firings', 'webhook_deliveries'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %I TO supergate_app
      USING (tenant_id = current_setting('app.tenant_id', true))
      WITH CHECK (tenant_id = current_setting('app.tenant_id', true))$p$, t);
    EXECUTE format('GRANT SELECT ON %I TO supergate_app', t);
  END LOOP;
END $$;
