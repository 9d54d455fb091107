-- The embedded event log (events/in-process-event-log.ts): Kafka's model of topics, partitions and
-- consumer-group offsets, in SQL so that an embedded gateway keeps its events across restarts.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE event_log_partitions (
  topic       text   NOT NULL,
  partition   int    NOT NULL,
  -- Appenders take this row's lock to claim offsets, so offsets commit in order and readers never skip one.
  next_offset bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (topic, partition)
);

CREATE TABLE event_log_messages (
  topic       text        NOT NULL,
  partition   int         NOT NULL,
  "offset"    bigint      NOT NULL,
  key         text        NOT NULL,
  value       bytea       NOT NULL,
  headers     jsonb       NOT NULL DEFAULT '{}',
  appended_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (topic, partition, "offset")
);

CREATE TABLE event_log_group_offsets (
  group_id    text   NOT NULL,
  topic       text   NOT NULL,
  partition   int    NOT NULL,
  next_offset bigint NOT NULL,
  PRIMARY KEY (group_id, topic, partition)
);
