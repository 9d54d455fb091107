/**
 * The event pipeline on the real services (Kafka 4 and PostgreSQL, started by infra/services.sh): usage
 * events through the gateway's publisher into Kafka, and the balances, budgets and alerts projections
 * applying them to Postgres, as the gateway wires them.
 *
 *  1. Throughput: a backlog of events already on the topic, drained by the three projections at once;
 *     events/s is the backlog over the time until every projection's lag is 0.
 *  2. Lag at a steady rate (default 500 events/s for 20 s, one event per simulated request): for each
 *     event, the time from `publish()` (the request completing) to the commit of the balances transaction
 *     that applied it, when its balance is readable. p50/p90/p99/max.
 *
 *   npm run bench:events                 (30,000-event backlog; 500/s for 20 s)
 *   npm run bench:events -- 10000 800 10 (backlog, rate, seconds)
 */
import { nativeServicesEnv } from '../support/services-env.ts'
import { randomUUID } from 'node:crypto'
import { buildEvent } from '../../events/catalogue/registry.ts'
import type { EventLog, SubscribeOptions } from '../../events/event-log.ts'
import { EventPublisher } from '../../events/publisher.ts'
import { KafkaEventLog } from '../../infra/kafka/kafka-event-log.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import { PgSqlStore } from '../../infra/postgres/pg-sql-store.ts'
import { alertsProjection } from '../../projections/alerts/alerts-projection.ts'
import { balancesProjection } from '../../projections/balances/balances-projection.ts'
import { budgetsProjection } from '../../projections/budgets/budgets-projection.ts'
import { ProjectionRunner } from '../../projections/runner/projection-runner.ts'

const backlog = Number(process.argv[2] ?? 30_000)
const rate = Number(process.argv[3] ?? 500)
const seconds = Number(process.argv[4] ?? 20)
const TENANTS = 200

const env = nativeServicesEnv(['postgres', 'kafka'])
const sql = new PgSqlStore({ url: env.SUPERGATE_DATABASE_URL!, maxConnections: 10, applicationName: 'bench-events' })
await migrate(sql)
const run = randomUUID().slice(0, 8)
const usageTopic = `bench.usage.${run}`
const controlTopic = `bench.control.${run}`

/** The log as the runners see it, telling when each batch's transaction has committed. */
const committedAt = new Map<string, number>()
function observed(log: EventLog, record: boolean): EventLog {
  return new Proxy(log, {
    get(target, prop) {
      if (prop !== 'subscribe' || !record) {
        // Bound to the log itself: its methods use private fields, which a proxy receiver does not have.
        const value = Reflect.get(target, prop) as unknown
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
      }
      return (options: SubscribeOptions) =>
        target.subscribe({
          ...options,
          handleBatch: async (batch) => {
            await options.handleBatch(batch)
            const now = performance.now()
            for (const m of batch.messages) {
              const id = m.headers?.['event-id']
              if (id !== undefined && !committedAt.has(id)) committedAt.set(id, now)
            }
          },
        })
    },
  })
}

const logs: KafkaEventLog[] = []
const kafka = (clientId: string) => {
  const log = new KafkaEventLog({ brokers: env.SUPERGATE_KAFKA_BROKERS!.split(','), clientId })
  logs.push(log)
  return log
}
const producerLog = kafka('bench-producer')
await producerLog.ensureTopics([
  { name: usageTopic, partitions: 3 },
  { name: controlTopic, partitions: 3 },
])
const publisher = new EventPublisher({ eventLog: producerLog, topic: usageTopic, spoolDir: undefined })

let sequence = 0
function requestCompleted() {
  const n = sequence++
  const tenantId = `bench_${run}_${n % TENANTS}`
  return buildEvent(
    'request.completed',
    {
      requestId: `req_${run}_${n}`,
      projectId: `prj_${n % 7}`,
      keyId: `key_${n % 13}`,
      provider: 'openai',
      model: 'openai/gpt-4o-mini',
      endpoint: 'chat.completions',
      stream: false,
      outcome: 'completed',
      httpStatus: 200,
      cacheOutcome: 'miss',
      usage: { promptTokens: 19, completionTokens: 10, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false },
      costMicroUsd: 9,
      priceVersion: 'bench',
      latencyMs: 100,
      timeToFirstTokenMs: null,
      keySource: 'gateway',
      errorCode: null,
      user: null,
    },
    { tenantId, correlationId: `req_${run}_${n}`, actor: { type: 'key', id: `key_${n % 13}` } },
  )
}

const runners = [
  { name: 'balances', projection: balancesProjection },
  { name: 'budgets', projection: budgetsProjection },
  { name: 'alerts', projection: alertsProjection },
].map(
  ({ name, projection }) =>
    new ProjectionRunner({
      name: `bench-${run}-${name}`,
      eventLog: observed(kafka(`bench-${name}`), name === 'balances'),
      sql,
      topics: [controlTopic, usageTopic],
      projection,
      onError: (err) => console.error(name, err),
    }),
)
const totalLag = async () => {
  let lag = 0
  for (const r of runners) for (const v of Object.values(await r.lag())) lag += v
  return lag
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// 1. Throughput: the backlog first, then the projections.
for (let i = 0; i < backlog; i++) publisher.publish(requestCompleted())
await publisher.flush()
const drainStart = performance.now()
await Promise.all(runners.map((r) => r.start()))
while ((await totalLag()) > 0) await sleep(50)
const drainSeconds = (performance.now() - drainStart) / 1000
const spent = await sql.query<{ spent: number }>('SELECT sum(spent_micro_usd)::bigint AS spent FROM tenant_balances WHERE tenant_id LIKE $1', [`bench_${run}_%`])
if (Number(spent.rows[0]!.spent) !== backlog * 9) throw new Error(`balances hold ${spent.rows[0]!.spent} µUSD, expected ${backlog * 9}`)

// 2. Lag at a steady rate, measured on events published after the backlog is applied.
const publishedAt = new Map<string, number>()
const total = rate * seconds
const started = performance.now()
for (let sent = 0; sent < total; ) {
  const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate))
  for (; sent < due; sent++) {
    const event = requestCompleted()
    publishedAt.set(event.id, performance.now())
    publisher.publish(event)
  }
  await sleep(2)
}
const sendSeconds = (performance.now() - started) / 1000
while ([...publishedAt.keys()].some((id) => !committedAt.has(id))) await sleep(20)
const lags = [...publishedAt].map(([id, at]) => committedAt.get(id)! - at).sort((a, b) => a - b)
const q = (p: number) => lags[Math.min(lags.length - 1, Math.floor(p * lags.length))]!.toFixed(1)

console.log(`event pipeline: gateway publisher → Kafka (3 partitions) → balances + budgets + alerts projections → PostgreSQL`)
console.log(`throughput: ${backlog} events drained by 3 projections in ${drainSeconds.toFixed(2)} s = ${(backlog / drainSeconds).toFixed(0)} events/s (each applied 3 times; balances checked: ${backlog * 9} µUSD)`)
console.log(`lag at ${(total / sendSeconds).toFixed(0)} events/s for ${sendSeconds.toFixed(1)} s (${total} events), publish → balance committed (ms):`)
console.log(`  p50 ${q(0.5)}   p90 ${q(0.9)}   p99 ${q(0.99)}   max ${lags.at(-1)!.toFixed(1)}`)

await Promise.all(runners.map((r) => r.stop()))
await publisher.close()
await Promise.all(logs.map((l) => l.close()))
await sql.close()
