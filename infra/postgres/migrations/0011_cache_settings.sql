-- The response cache's settings per tenant (gateway/cache/): read model of cache_settings.set events.
CREATE TABLE cache_settings (
  tenant_id text  PRIMARY KEY,
  settings  jsonb NOT NULL
);
ALTER TABLE cache_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON cache_settings TO supergate_app
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
GRANT SELECT ON cache_settings TO supergate_app;
