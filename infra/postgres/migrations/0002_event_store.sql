-- The control-plane event store (events/sql-event-store.ts).
CREATE TABLE event_store_position (
  id   int    PRIMARY KEY CHECK (id = 1),
  -- Every append takes this row's lock to claim global positions, so positions become visible in order:
  -- a reader at position N never later finds a smaller position committed behind it.
  last bigint NOT NULL
);
INSERT INTO event_store_position (id, last) VALUES (1, 0);

CREATE TABLE event_store_events (
  global_position bigint      PRIMARY KEY,
  stream_id       text        NOT NULL,
  stream_version  int         NOT NULL CHECK (stream_version >= 1),
  event_id        uuid        NOT NULL UNIQUE,
  type            text        NOT NULL,
  data            jsonb       NOT NULL,
  metadata        jsonb       NOT NULL DEFAULT '{}',
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (stream_id, stream_version)
);
