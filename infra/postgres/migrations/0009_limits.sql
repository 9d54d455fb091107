-- Rate limits and the limits policy (gateway/limits/): read models of the control plane's rate_limit.* and
-- limits_policy.* events, cached by the gateway with the tenant.

CREATE TABLE rate_limits (
  tenant_id           text    NOT NULL,
  -- 'tenant', 'project:<id>' or 'key:<id>', as budgets.scope.
  scope               text    NOT NULL,
  requests_per_minute integer CHECK (requests_per_minute > 0),
  tokens_per_minute   integer CHECK (tokens_per_minute > 0),
  concurrent_requests integer CHECK (concurrent_requests > 0),
  PRIMARY KEY (tenant_id, scope)
);

CREATE TABLE limit_policies (
  tenant_id              text PRIMARY KEY,
  on_limiter_unavailable text NOT NULL CHECK (on_limiter_unavailable IN ('fail_open', 'fail_closed'))
);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['rate_limits', 'limit_policies'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %I TO supergate_app
      USING (tenant_id = current_setting('app.tenant_id', true))
      WITH CHECK (tenant_id = current_setting('app.tenant_id', true))$p$, t);
    EXECUTE format('GRANT SELECT ON %I TO supergate_app', t);
  END LOOP;
END $$;
