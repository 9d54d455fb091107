-- The analytics sink's in-flight writes (analytics/usage-sink.ts): the tenant-days of a flush, recorded before
-- its insert into ClickHouse and cleared with its offsets. An insert cut short (the process killed between
-- the fact table and its materialized views) leaves its marks behind, and the next flush of the partition
-- rebuilds those tenant-days' rollups from the facts. Not tenant data: no Row-Level Security, like
-- projection_offsets.
CREATE TABLE analytics_sink_pending (
  consumer  text NOT NULL,
  topic     text NOT NULL,
  partition int  NOT NULL,
  tenant_id text NOT NULL,
  day       date NOT NULL,
  PRIMARY KEY (consumer, topic, partition, tenant_id, day)
);
