/**
 * Runs the analytics sink until it is killed: the child process of sink-kill.fault.test.ts.
 * Env: DATABASE_URL (schema-scoped), TOPICS (comma-separated), GROUP, CHDB_PATH (a folder: chdb keeps its
 * tables there, so that they outlive each killed child).
 */
import { UsageSink } from '../../analytics/usage-sink.ts'
import { InProcessEventLog } from '../../events/in-process-event-log.ts'
import { ClickHouseAnalyticsStore } from '../../infra/clickhouse/clickhouse-analytics-store.ts'
import { PgSqlStore } from '../../infra/postgres/pg-sql-store.ts'

const sql = new PgSqlStore({ url: process.env.DATABASE_URL!, maxConnections: 2 })
const analytics = await ClickHouseAnalyticsStore.open({ chdbPath: process.env.CHDB_PATH! })
// Small batches and flushes: a kill lands between many flushes, and inside some.
const log = new InProcessEventLog(sql, { pollIntervalMs: 20, retryDelayMs: 20, batchSize: 9 })
const sink = new UsageSink({
  eventLog: log,
  analytics,
  sql,
  topics: process.env.TOPICS!.split(','),
  groupId: process.env.GROUP!,
  maxRows: 20,
  idleMs: 5,
  onError: (error) => process.stderr.write(`sink error: ${String(error)}\n`),
})
await sink.start()
process.stdout.write('started\n')
process.on('SIGTERM', () => {
  void sink
    .stop()
    .then(() => analytics.close())
    .then(() => sql.close())
    .then(() => process.exit(0))
})
