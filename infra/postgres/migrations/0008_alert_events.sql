-- The alert.triggered events (projections/alerts/alert-events.ts): written by the alert projection in the
-- transaction that records the firing, and relayed to Kafka from here (a transactional outbox), so an alert
-- that fired is always published, and published again at worst (its event id is the idempotency key).
CREATE TABLE alert_events (
  event_id     uuid        PRIMARY KEY,
  tenant_id    text        NOT NULL,
  -- The whole envelope, exactly as it goes to the topic.
  envelope     jsonb       NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- A relay that claimed the event and is appending it; another relay may take it once this has passed.
  leased_until timestamptz,
  published_at timestamptz
);
CREATE INDEX alert_events_unpublished ON alert_events (created_at, event_id) WHERE published_at IS NULL;

ALTER TABLE alert_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON alert_events TO supergate_app
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
GRANT SELECT ON alert_events TO supergate_app;
