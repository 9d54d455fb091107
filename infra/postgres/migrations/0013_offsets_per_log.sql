-- A reader's stored offsets are positions in one log (EventLog.identity): the embedded log and a Kafka
-- cluster both number a topic's messages from 0, so offsets stored by a gateway on the embedded log must not
-- tell a Kafka reader of the same database where to start (it skipped that many messages). Rows stored before
-- this migration have no log ('') and are claimed by the first log a reader runs on after it
-- (projections/runner/offsets-log.ts).
ALTER TABLE projection_offsets ADD COLUMN log text NOT NULL DEFAULT '';
ALTER TABLE projection_offsets DROP CONSTRAINT projection_offsets_pkey;
ALTER TABLE projection_offsets ADD PRIMARY KEY (projection, log, topic, partition);
