/**
 * The analytics side (DESIGN.md §6) at volume: 1,000,000 usage events through the sink into ClickHouse (chdb
 * in this process; a server takes the same SQL), then chargeback reports over them.
 *
 *  1. Sink: the events (one tenant's, so one partition: the log keys by tenant) are appended to a fresh Kafka
 *     topic, then the sink drains it as the gateway runs it, its offsets in PostgreSQL: rows/s from its start
 *     until the last row is written. Baseline: the same rows inserted
 *     straight into a copy of the fact table with no rollups, no dedupe and no offsets (what ClickHouse does
 *     for a bare insert of 10,000-row blocks).
 *  2. Reports: one tenant's month, as the admin API asks for it, median and worst of 5 runs each. Baseline:
 *     the same numbers computed from the fact table alone, without the rollups.
 *
 *   npm run bench:analytics              (1,000,000 events)
 *   npm run bench:analytics -- 200000
 */
import { randomUUID } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { chargebackReport } from '../../analytics/chargeback.ts'
import type { GroupBy } from '../../analytics/chargeback.ts'
import { migrateAnalytics } from '../../analytics/schema.ts'
import { UsageSink } from '../../analytics/usage-sink.ts'
import { usageRow } from '../../analytics/usage-rows.ts'
import { buildEvent } from '../../events/catalogue/registry.ts'
import { uuidv7 } from '../../events/ids.ts'
import { ClickHouseAnalyticsStore } from '../../infra/clickhouse/clickhouse-analytics-store.ts'
import { KafkaEventLog } from '../../infra/kafka/kafka-event-log.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import { PgSqlStore } from '../../infra/postgres/pg-sql-store.ts'
import { nativeServicesEnv } from '../support/services-env.ts'

const total = Number(process.argv[2] ?? 1_000_000)
if (!Number.isSafeInteger(total) || total < 1_000) throw new Error('usage: bench:analytics [events ≥ 1000]')
const TENANT = 'ten_bench_analytics'
const DAYS = 30
const end = Date.UTC(2026, 10, 1)
const start = end - DAYS * 86_400_000

let seed = 7
const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31)
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!
const projects = Array.from({ length: 8 }, (_, i) => `prj_${i}`)
const keys = Array.from({ length: 50 }, (_, i) => `key_${i}`)
const users = Array.from({ length: 500 }, (_, i) => `user_${i}`)
const models = ['openai/gpt-4o', 'openai/gpt-4o-mini', 'anthropic/claude-sonnet-4-5', 'anthropic/claude-haiku-4-5', 'gemini/gemini-2.5-flash', 'mistral/mistral-small-latest']

/** Templates built once through the catalogue; each event is a copy with its own id, time and dimensions. */
const meta = { tenantId: TENANT, correlationId: null, actor: { type: 'key' as const, id: 'key_0' } }
const usage = { promptTokens: 0, completionTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false }
const completedTemplate = buildEvent('request.completed', {
  requestId: 'r', projectId: 'p', keyId: 'k', provider: 'openai', model: 'openai/gpt-4o', endpoint: 'chat.completions', stream: false,
  outcome: 'completed', httpStatus: 200, cacheOutcome: 'miss', usage, costMicroUsd: 0, priceVersion: 'bench', latencyMs: 0,
  timeToFirstTokenMs: null, keySource: 'gateway', errorCode: null, user: null,
}, meta)
const rejectedTemplate = buildEvent('request.rejected', { requestId: 'r', projectId: 'p', keyId: 'k', model: null, endpoint: 'chat.completions', reason: 'rate_limit', errorCode: 'rate_limit_exceeded', httpStatus: 429, user: null }, meta)

function* events(): Generator<string> {
  for (let i = 0; i < total; i++) {
    const at = start + Math.floor((i / total) * DAYS * 86_400_000)
    // A key belongs to one project, as keys are issued.
    const key = Math.floor(random() * keys.length)
    const common = { requestId: `req_${i}`, projectId: projects[key % projects.length]!, keyId: keys[key]!, user: pick(users) }
    const envelope = { id: uuidv7(at), occurredAt: new Date(at).toISOString() }
    const roll = random()
    if (roll < 0.07) {
      yield JSON.stringify({ ...rejectedTemplate, ...envelope, data: { ...rejectedTemplate.data, ...common } })
      continue
    }
    const model = pick(models)
    const tokens = { ...usage, promptTokens: Math.floor(random() * 4_000), completionTokens: Math.floor(random() * 800) }
    yield JSON.stringify({
      ...completedTemplate,
      ...envelope,
      data: { ...completedTemplate.data, ...common, model, provider: model.split('/')[0], usage: tokens, costMicroUsd: Math.floor(random() * 20_000), latencyMs: Math.floor(random() * 2_000), cacheOutcome: roll < 0.15 ? 'exact_hit' : 'miss' },
    })
  }
}

const env = nativeServicesEnv(['kafka', 'postgres'])
const log = new KafkaEventLog({ brokers: env.SUPERGATE_KAFKA_BROKERS!.split(','), clientId: 'bench-analytics' })
const store = await ClickHouseAnalyticsStore.open({ chdbPath: ':memory:' })
// PostgreSQL holds the sink's offsets, as in production: each flush locks its partitions' offset rows.
const sql = new PgSqlStore({ url: env.SUPERGATE_DATABASE_URL!, maxConnections: 4, applicationName: 'bench-analytics' })
await migrate(sql)
await migrateAnalytics(store)
const topic = `bench.usage.analytics.${randomUUID().slice(0, 8)}`
await log.ensureTopics([{ name: topic, partitions: 3 }])

// Append, in 1,000-message requests; alongside, the baseline: the same rows inserted bare, in 10,000-row
// blocks, into a copy of the fact table with no views attached (only the inserts are timed).
await store.command('CREATE TABLE bench_raw AS usage_events')
let appendMs = 0
let baselineMs = 0
let chunk: string[] = []
let rows: ReturnType<typeof usageRow>[] = []
for (const value of events()) {
  chunk.push(value)
  rows.push(usageRow(JSON.parse(value) as unknown))
  if (chunk.length === 1_000) {
    const t = performance.now()
    await log.append(topic, chunk.map((v) => ({ key: TENANT, value: Buffer.from(v) })))
    appendMs += performance.now() - t
    chunk = []
  }
  if (rows.length === 10_000) {
    const t = performance.now()
    await store.insert('bench_raw', rows)
    baselineMs += performance.now() - t
    rows = []
  }
}
if (chunk.length > 0) await log.append(topic, chunk.map((v) => ({ key: TENANT, value: Buffer.from(v) })))
if (rows.length > 0) await store.insert('bench_raw', rows)
console.error(`[bench:analytics] ${total.toLocaleString('en-US')} events appended to ${topic}`)

// The sink, as the gateway runs it, from an empty group to the last row.
const sink = new UsageSink({ eventLog: log, analytics: store, sql, topics: [topic], groupId: `bench-sink-${randomUUID()}` })
let sinkMs = performance.now()
await sink.start()
while (sink.written < total) await new Promise((r) => setTimeout(r, 50))
sinkMs = performance.now() - sinkMs
await sink.stop()
const [counted] = await store.query<{ n: string }>('SELECT count() AS n FROM usage_events WHERE tenant_id = {t:String}', { t: TENANT })
if (Number(counted!.n) !== total) throw new Error(`the sink wrote ${counted!.n} rows for ${total} events`)

// Reports over the tenant's month.
const reports: { name: string; from: Date; to: Date; groupBy: GroupBy[] }[] = [
  { name: 'month by project (whole days)', from: new Date(start), to: new Date(end), groupBy: ['project'] },
  { name: 'month by model (ragged bounds)', from: new Date(start + 1_234_567), to: new Date(end - 7_654_321), groupBy: ['model'] },
  { name: 'month by day and user', from: new Date(start), to: new Date(end), groupBy: ['day', 'user'] },
  { name: 'month by key and model', from: new Date(start), to: new Date(end), groupBy: ['key', 'model'] },
]
const COLUMN: Record<string, string> = { project: 'project_id', key: 'key_id', user: 'user', model: 'model', provider: 'provider', day: 'toDate(occurred_at)' }
async function timed(run: () => Promise<unknown>): Promise<{ median: number; worst: number }> {
  const times: number[] = []
  for (let i = 0; i < 5; i++) {
    const t = performance.now()
    await run()
    times.push(performance.now() - t)
  }
  times.sort((a, b) => a - b)
  return { median: times[2]!, worst: times[4]! }
}
const reportRows: { name: string; rows: number; rollup: { median: number; worst: number }; facts: { median: number; worst: number } }[] = []
for (const r of reports) {
  let rows = 0
  const rollup = await timed(async () => {
    rows = (await chargebackReport(store, { tenantId: TENANT, from: r.from, to: r.to, groupBy: r.groupBy })).rows.length
  })
  const dims = r.groupBy.map((g) => COLUMN[g]).join(', ')
  const facts = await timed(() =>
    store.query(
      `SELECT ${dims}, countIf(kind = 'request') AS requests, countIf(kind = 'rejection') AS rejected, sum(cost_micro_usd) AS cost, sum(saved_micro_usd) AS saved,
       sum(prompt_tokens) AS prompt, sum(completion_tokens) AS completion FROM usage_events
       WHERE tenant_id = {t:String} AND occurred_at >= {from:DateTime64(3, 'UTC')} AND occurred_at < {to:DateTime64(3, 'UTC')} GROUP BY ${dims}`,
      { t: TENANT, from: r.from.toISOString().replace('T', ' ').replace('Z', ''), to: r.to.toISOString().replace('T', ' ').replace('Z', '') },
    ),
  )
  reportRows.push({ name: r.name, rows, rollup, facts })
}

const rowsPerSecond = (ms: number) => Math.round(total / (ms / 1000)).toLocaleString('en-US')
const lines = [
  `| ${total.toLocaleString('en-US')} usage events | seconds | rows/s |`,
  '| --- | ---: | ---: |',
  `| append to Kafka (one tenant: one partition; 1,000 per request) | ${(appendMs / 1000).toFixed(1)} | ${rowsPerSecond(appendMs)} |`,
  `| **sink: Kafka → ClickHouse facts + hourly/daily rollups, deduplicated, offsets stored** | ${(sinkMs / 1000).toFixed(1)} | ${rowsPerSecond(sinkMs)} |`,
  `| baseline: bare insert into a copy of the fact table (no rollups, no dedupe) | ${(baselineMs / 1000).toFixed(1)} | ${rowsPerSecond(baselineMs)} |`,
  '',
  `| chargeback report over ${total.toLocaleString('en-US')} events, one tenant's month | groups | rollups p50 ms | rollups worst ms | baseline: facts only p50 ms | worst ms |`,
  '| --- | ---: | ---: | ---: | ---: | ---: |',
  ...reportRows.map((r) => `| ${r.name} | ${r.rows.toLocaleString('en-US')} | ${r.rollup.median.toFixed(1)} | ${r.rollup.worst.toFixed(1)} | ${r.facts.median.toFixed(1)} | ${r.facts.worst.toFixed(1)} |`),
]
console.log(lines.join('\n'))
mkdirSync('.bench', { recursive: true })
writeFileSync('.bench/analytics.json', `${JSON.stringify({ at: new Date().toISOString(), total, appendMs, sinkMs, baselineMs, reports: reportRows }, null, 2)}\n`)
writeFileSync('.bench/analytics.md', `${lines.join('\n')}\n`)
await log.close()
await store.close()
await sql.close()
process.exit(0)
