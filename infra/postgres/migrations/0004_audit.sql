-- The compliance audit trail (projections/audit/audit-trail.ts, DESIGN.md §5): one record per control
-- event, per tenant, append-only and hash-chained. Each record's hash covers the previous record's hash,
-- so an altered, deleted or re-linked record breaks the chain at a seq that verifyAuditChain reports.
CREATE TABLE audit_log (
  tenant_id       text        NOT NULL,
  -- 1, 2, 3… per tenant with no gap: a missing seq is a deleted record.
  seq             bigint      NOT NULL CHECK (seq >= 1),
  event_id        uuid        NOT NULL UNIQUE,
  global_position bigint      NOT NULL,
  type            text        NOT NULL,
  actor_type      text        NOT NULL,
  actor_id        text        NOT NULL,
  source_ip       text,
  user_agent      text,
  reason          text,
  occurred_at     timestamptz NOT NULL,
  data            jsonb       NOT NULL,
  -- 64 zeros for a tenant's first record.
  prev_hash       text        NOT NULL,
  -- SHA-256 hex over the canonical serialisation of this row's other columns (auditRecordHash).
  hash            text        NOT NULL,
  PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_log_tenant_occurred_at ON audit_log (tenant_id, occurred_at);
CREATE INDEX audit_log_tenant_actor ON audit_log (tenant_id, actor_id, seq);

-- The role the gateway connects as (DESIGN.md §7). Roles belong to the whole server, not to a database or
-- schema, so another migration (0003) or another database migrating at the same moment may create it
-- between the check and the CREATE: the exception handler makes that race harmless.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'supergate_app') THEN
    CREATE ROLE supergate_app NOLOGIN;
  END IF;
EXCEPTION
  WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

-- Read-only for the gateway, and only its own tenant's rows. Not FORCEd: the owner (the projection,
-- running as the migrating role) writes past RLS, and nothing else may write at all.
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_log_tenant_read ON audit_log
  FOR SELECT TO supergate_app
  USING (tenant_id = current_setting('app.tenant_id', true));
GRANT SELECT ON audit_log TO supergate_app;
