-- The transactional outbox (events/outbox-relay.ts). The event store's own table is the outbox: an event
-- is in it the moment its append commits. This table only records how far each relay has sent it to Kafka.
CREATE TABLE outbox_relay_positions (
  relay    text   PRIMARY KEY,
  -- The global position of the last event this relay knows Kafka holds. It may lag behind Kafka (a crash
  -- between the send and this update); the relay then learns the rest from the topic's tail on start.
  position bigint NOT NULL CHECK (position >= 0)
);
