-- The response cache (gateway/cache/sql-cache-store.ts): an exact tier keyed by the canonical request's hash,
-- and a semantic tier that finds, inside one semantic key, the entry whose prompt embedding is nearest.
CREATE TABLE response_cache (
  tenant_id    text        NOT NULL,
  exact_key    text        NOT NULL,
  semantic_key text        NOT NULL,
  -- Null for an exact-only entry; HNSW does not index nulls, so such an entry costs the index nothing.
  embedding    vector(384),
  -- The completion, its model, usage and cost: integers stay integers in jsonb.
  response     jsonb       NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  -- Written with the database's clock only, so the LRU order does not depend on which gateway's clock wrote it.
  last_used_at timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  hits         integer     NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, exact_key)
) WITH (fillfactor = 70);
-- fillfactor leaves room on each page for a hit's new row version: with no indexed column changed (see the
-- store's touch interval), the update stays on the page (HOT) and no index, HNSW included, gets an entry.

CREATE INDEX response_cache_embedding ON response_cache USING hnsw (embedding vector_cosine_ops);
-- A semantic key with few entries is cheaper to sort exactly than to search through HNSW; the planner picks.
CREATE INDEX response_cache_semantic ON response_cache (tenant_id, semantic_key);
-- Eviction reads a tenant's least recently used live entries from this index alone; exact_key breaks ties.
CREATE INDEX response_cache_lru ON response_cache (tenant_id, last_used_at, exact_key) INCLUDE (expires_at);
CREATE INDEX response_cache_expiry ON response_cache (tenant_id, expires_at);

-- How many rows (live or expired) each tenant holds, kept by the statement triggers below in the same
-- transactions as the rows: put() learns whether it must evict without counting a tenant's rows.
CREATE TABLE response_cache_tenants (
  tenant_id text    PRIMARY KEY,
  entries   integer NOT NULL
);

CREATE FUNCTION response_cache_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO response_cache_tenants AS t (tenant_id, entries)
  SELECT tenant_id, count(*) FROM inserted GROUP BY tenant_id
  ON CONFLICT (tenant_id) DO UPDATE SET entries = t.entries + excluded.entries;
  RETURN NULL;
END $$;

CREATE FUNCTION response_cache_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE response_cache_tenants AS t SET entries = t.entries - d.n
  FROM (SELECT tenant_id, count(*) AS n FROM deleted GROUP BY tenant_id) AS d
  WHERE t.tenant_id = d.tenant_id;
  RETURN NULL;
END $$;

-- An upsert that replaces an entry inserts no row: its transition table is empty and the count unchanged.
-- TRUNCATE bypasses these: truncate response_cache_tenants with it.
CREATE TRIGGER response_cache_inserted AFTER INSERT ON response_cache
  REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION response_cache_count_inserted();
CREATE TRIGGER response_cache_deleted AFTER DELETE ON response_cache
  REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION response_cache_count_deleted();

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['response_cache', 'response_cache_tenants'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %I TO supergate_app
      USING (tenant_id = current_setting('app.tenant_id', true))
      WITH CHECK (tenant_id = current_setting('app.tenant_id', true))$p$, t);
    EXECUTE format('GRANT SELECT ON %I TO supergate_app', t);
  END LOOP;
END $$;
