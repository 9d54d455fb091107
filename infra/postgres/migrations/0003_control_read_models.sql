-- Control-plane read models, written only by projections/control/control-projector.ts. Every
-- tenant-scoped table has Row-Level Security for supergate_app, the role that tenant-scoped queries run as
-- (SET LOCAL ROLE inside each transaction, with app.tenant_id set): it owns no table and has no BYPASSRLS.
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'supergate_app') THEN
    CREATE ROLE supergate_app NOLOGIN;
  END IF;
-- Roles are cluster-wide: two databases migrating at once may both try to create it.
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
-- The schema these tables live in (public, or a schema per environment or test run).
DO $$ BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO supergate_app', current_schema());
END $$;

CREATE TABLE projection_positions (
  name     text   PRIMARY KEY,
  position bigint NOT NULL
);

CREATE TABLE tenants (
  id         text        PRIMARY KEY,
  tenant_id  text        GENERATED ALWAYS AS (id) STORED,
  name       text        NOT NULL,
  key_mode   text        NOT NULL,
  created_at timestamptz NOT NULL
);

CREATE TABLE projects (
  id         text        PRIMARY KEY,
  tenant_id  text        NOT NULL,
  name       text        NOT NULL,
  archived   boolean     NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL
);
CREATE INDEX projects_tenant ON projects (tenant_id);

CREATE TABLE members (
  tenant_id text NOT NULL,
  id        text NOT NULL,
  email     text NOT NULL,
  role      text NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE api_keys (
  id                   text        PRIMARY KEY,
  tenant_id            text        NOT NULL,
  public_id            text        NOT NULL UNIQUE,
  name                 text        NOT NULL,
  role                 text        NOT NULL,
  project_id           text,
  allowed_models       jsonb,
  fallback_models      jsonb,
  limits               jsonb,
  expires_at           timestamptz,
  secret_hash          text        NOT NULL,
  previous_hash        text,
  previous_valid_until timestamptz,
  revoked_at           timestamptz,
  created_at           timestamptz NOT NULL,
  updated_position     bigint      NOT NULL
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE provider_credentials (
  tenant_id        text        NOT NULL,
  provider         text        NOT NULL,
  credential_id    text        NOT NULL,
  sealed           jsonb       NOT NULL,
  masked           text        NOT NULL,
  base_url         text,
  updated_at       timestamptz NOT NULL,
  updated_position bigint      NOT NULL,
  PRIMARY KEY (tenant_id, provider)
);

CREATE TABLE budgets (
  tenant_id        text   NOT NULL,
  scope            text   NOT NULL,
  period           text   NOT NULL,
  limit_micro_usd  bigint NOT NULL,
  PRIMARY KEY (tenant_id, scope, period)
);

CREATE TABLE credit_grants (
  id               text        PRIMARY KEY,
  tenant_id        text        NOT NULL,
  amount_micro_usd bigint      NOT NULL,
  reason           text,
  granted_at       timestamptz NOT NULL
);
CREATE INDEX credit_grants_tenant ON credit_grants (tenant_id);

CREATE TABLE alert_rules (
  id         text        PRIMARY KEY,
  tenant_id  text        NOT NULL,
  rule       jsonb       NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX alert_rules_tenant ON alert_rules (tenant_id);

CREATE TABLE price_overrides (
  tenant_id text  NOT NULL,
  model     text  NOT NULL,
  price     jsonb NOT NULL,
  PRIMARY KEY (tenant_id, model)
);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['tenants', 'projects', 'members', 'api_keys', 'provider_credentials', 'budgets', 'credit_grants', 'alert_rules', 'price_overrides'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %I TO supergate_app
      USING (tenant_id = current_setting('app.tenant_id', true))
      WITH CHECK (tenant_id = current_setting('app.tenant_id', true))$p$, t);
    EXECUTE format('GRANT SELECT ON %I TO supergate_app', t);
  END LOOP;
END $$;

-- Authentication happens before the tenant is known: this function, owned by the tables' owner, finds a
-- key by its public id (and nothing else) for the gateway's role. It resolves api_keys through the caller's
-- search_path (deployments may use a schema per environment); supergate_app can create nothing to hijack it.
CREATE FUNCTION auth_find_api_key(p_public_id text)
RETURNS TABLE (id text, tenant_id text, role text, project_id text, allowed_models jsonb, fallback_models jsonb, limits jsonb,
               expires_at timestamptz, secret_hash text, previous_hash text, previous_valid_until timestamptz, revoked_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER AS $$
  SELECT k.id, k.tenant_id, k.role, k.project_id, k.allowed_models, k.fallback_models, k.limits,
         k.expires_at, k.secret_hash, k.previous_hash, k.previous_valid_until, k.revoked_at
  FROM api_keys k WHERE k.public_id = p_public_id
$$;
GRANT EXECUTE ON FUNCTION auth_find_api_key(text) TO supergate_app;
