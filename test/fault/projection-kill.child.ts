/**
 * Runs the balances projection until it is killed: the child process of projection-kill.fault.test.ts.
 * Env: DATABASE_URL (schema-scoped), TOPICS (comma-separated), PROJECTION_NAME.
 */
import { InProcessEventLog } from '../../events/in-process-event-log.ts'
import { PgSqlStore } from '../../infra/postgres/pg-sql-store.ts'
import { balancesProjection } from '../../projections/balances/balances-projection.ts'
import { ProjectionRunner } from '../../projections/runner/projection-runner.ts'

const sql = new PgSqlStore({ url: process.env.DATABASE_URL!, maxConnections: 2 })
// Small batches: a kill lands between many transactions, and inside some.
const log = new InProcessEventLog(sql, { pollIntervalMs: 20, retryDelayMs: 20, batchSize: 7 })
const runner = new ProjectionRunner({
  name: process.env.PROJECTION_NAME!,
  eventLog: log,
  sql,
  topics: process.env.TOPICS!.split(','),
  projection: balancesProjection,
  onError: (error) => process.stderr.write(`projection error: ${String(error)}\n`),
})
await runner.start()
process.stdout.write('started\n')
process.on('SIGTERM', () => {
  void runner
    .stop()
    .then(() => sql.close())
    .then(() => process.exit(0))
})
