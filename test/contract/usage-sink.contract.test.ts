import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { AnalyticsStore } from '../../analytics/analytics-store.ts'
import { migrateAnalytics } from '../../analytics/schema.ts'
import { SINK_NAME, UsageSink } from '../../analytics/usage-sink.ts'
import { buildEvent } from '../../events/catalogue/registry.ts'
import type { Envelope } from '../../events/envelope.ts'
import type { EventLog, MessageBatch } from '../../events/event-log.ts'
import { InProcessEventLog } from '../../events/in-process-event-log.ts'
import { ClickHouseAnalyticsStore } from '../../infra/clickhouse/clickhouse-analytics-store.ts'
import { KafkaEventLog } from '../../infra/kafka/kafka-event-log.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import type { SqlExecutor, SqlStore } from '../../infra/postgres/sql-store.ts'
import { openIsolatedPostgres, openPglite } from '../support/sql.ts'
import type { OpenedSqlStore } from '../support/sql.ts'

/**
 * The analytics sink (DESIGN.md §6) against each analytics adapter: chdb always, a ClickHouse server where
 * the run has one. Its SQL side (offsets, dead letters) runs on PostgreSQL; the log side on both logs.
 */
const clickhouseUrl = inject('services').clickhouseUrl
const stores: { name: string; open: () => Promise<AnalyticsStore> }[] = [{ name: 'chdb', open: () => ClickHouseAnalyticsStore.open({ chdbPath: ':memory:' }) }]
if (clickhouseUrl !== undefined) stores.push({ name: 'clickhouse server', open: () => ClickHouseAnalyticsStore.open({ url: clickhouseUrl }) })

const usage = { promptTokens: 100, completionTokens: 20, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false }

function completed(tenantId: string, costMicroUsd: number, o: { projectId?: string | null; at?: Date } = {}): Envelope {
  return buildEvent(
    'request.completed',
    {
      requestId: randomUUID(), projectId: o.projectId ?? 'prj_a', keyId: 'key_1', provider: 'openai', model: 'openai/gpt-4o-mini',
      endpoint: 'chat.completions', stream: false, outcome: 'completed', httpStatus: 200, cacheOutcome: 'miss', usage, costMicroUsd,
      priceVersion: 'test', latencyMs: 10, timeToFirstTokenMs: null, keySource: 'gateway', errorCode: null, user: 'u1',
    },
    { tenantId, correlationId: null, actor: { type: 'key', id: 'key_1' } },
    o.at,
  )
}

let partitionSeq = 0
/** A batch as the log hands it over: `offsets` continue from `first`. */
function batchOf(envelopes: readonly (Envelope | string)[], first = 0, partition = partitionSeq++): MessageBatch {
  return {
    topic: 'supergate.usage.v1',
    partition,
    messages: envelopes.map((e, i) => ({
      topic: 'supergate.usage.v1', partition, offset: first + i, key: typeof e === 'string' ? 't' : e.tenantId, headers: {},
      value: Buffer.from(typeof e === 'string' ? e : JSON.stringify(e)),
    })),
  }
}

async function totals(store: AnalyticsStore, tenantId: string) {
  const [facts] = await store.query<{ n: string; spent: string }>(`SELECT count() AS n, sum(cost_micro_usd) AS spent FROM usage_events WHERE tenant_id = {t:String}`, { t: tenantId })
  const [hourly] = await store.query<{ n: string; spent: string }>(`SELECT sum(requests) AS n, sum(cost_micro_usd) AS spent FROM usage_hourly WHERE tenant_id = {t:String}`, { t: tenantId })
  const [daily] = await store.query<{ n: string; spent: string }>(`SELECT sum(requests) AS n, sum(cost_micro_usd) AS spent FROM usage_daily WHERE tenant_id = {t:String}`, { t: tenantId })
  return { facts: [Number(facts!.n), Number(facts!.spent)], hourly: [Number(hourly!.n), Number(hourly!.spent)], daily: [Number(daily!.n), Number(daily!.spent)] }
}

/** A SQL store whose next offset update fails: the process "dies" between the insert and storing offsets. */
function failingOffsets(sql: SqlStore): SqlStore & { armed: boolean } {
  const wrapped = {
    armed: true,
    adapter: sql.adapter,
    query: sql.query.bind(sql),
    exec: sql.exec.bind(sql),
    check: () => sql.check(),
    close: () => sql.close(),
    transaction: <T>(fn: (tx: SqlExecutor) => Promise<T>, options?: Parameters<SqlStore['transaction']>[1]): Promise<T> =>
      sql.transaction(
        (tx) =>
          fn({
            ...tx,
            exec: tx.exec.bind(tx),
            query: ((text: string, params?: unknown[]) => {
              if (wrapped.armed && text.includes('GREATEST')) {
                wrapped.armed = false
                return Promise.reject(new Error('killed before the offsets were stored'))
              }
              return tx.query(text, params)
            }),
          }),
        options,
      ),
  }
  return wrapped
}

/** An analytics store whose next dedupe-key insert fails: the "crash" between storing offsets and marking. */
function failingMarks(store: AnalyticsStore): AnalyticsStore & { armed: boolean } {
  const wrapped = {
    armed: true,
    adapter: store.adapter,
    command: (sql: string, params?: Record<string, unknown>) => store.command(sql, params),
    query: store.query.bind(store),
    check: () => store.check(),
    close: () => store.close(),
    insert: <Row extends Record<string, unknown>>(table: string, rows: readonly Row[]): Promise<void> => {
      if (table === 'usage_event_ids' && wrapped.armed) {
        wrapped.armed = false
        return Promise.reject(new Error('killed before the dedupe keys were marked'))
      }
      return store.insert(table, rows)
    },
  }
  return wrapped
}

describe.each(stores)('analytics sink on $name', ({ open }) => {
  let store: AnalyticsStore
  let pg: OpenedSqlStore
  const noLog = { identity: () => Promise.resolve('test') } as EventLog

  beforeAll(async () => {
    store = await open()
    await migrateAnalytics(store)
    pg = await openIsolatedPostgres(inject('services').databaseUrl)
    await migrate(pg.store)
  })
  afterAll(async () => {
    await store.close()
    await pg.dispose()
  })

  it('migrates idempotently: a second run applies nothing', async () => {
    await expect(migrateAnalytics(store)).resolves.toEqual([])
  })

  it('writes a batch delivered twice once, in the facts and in both rollups', async () => {
    const tenant = `ten_${randomUUID()}`
    const sink = new UsageSink({ eventLog: noLog, analytics: store, sql: pg.store, topics: [] })
    const batch = batchOf([completed(tenant, 1_000), completed(tenant, 2_500), completed(tenant, 7)])
    expect(await sink.flush([batch])).toEqual({ inserted: 3, skipped: 0, deadLetters: 0 })
    expect(await sink.flush([batch])).toEqual({ inserted: 0, skipped: 3, deadLetters: 0 })
    expect(await totals(store, tenant)).toEqual({ facts: [3, 3_507], hourly: [3, 3_507], daily: [3, 3_507] })
  })

  it('survives a crash between the insert and storing offsets: the batch comes again and is not counted twice', async () => {
    const tenant = `ten_${randomUUID()}`
    const sql = failingOffsets(pg.store)
    const sink = new UsageSink({ eventLog: noLog, analytics: store, sql, topics: [] })
    const events = [completed(tenant, 100), completed(tenant, 200)]
    const first = batchOf(events)
    await expect(sink.flush([first])).rejects.toThrow('killed before the offsets were stored')
    // The rows are in, no offset is stored: the log delivers the same messages again, with one more behind them.
    expect((await totals(store, tenant)).facts).toEqual([2, 300])
    const again = batchOf([...events, completed(tenant, 400)], 0, first.partition)
    expect(await sink.flush([again])).toEqual({ inserted: 1, skipped: 2, deadLetters: 0 })
    expect(await totals(store, tenant)).toEqual({ facts: [3, 700], hourly: [3, 700], daily: [3, 700] })
  })

  it('survives a crash between storing offsets and marking dedupe keys, and skips a later copy of the same event', async () => {
    const tenant = `ten_${randomUUID()}`
    const analytics = failingMarks(store)
    const sink = new UsageSink({ eventLog: noLog, analytics, sql: pg.store, topics: [] })
    const event = completed(tenant, 5_000)
    const batch = batchOf([event])
    await expect(sink.flush([batch])).rejects.toThrow('killed before the dedupe keys were marked')
    expect(await sink.flush([batch])).toEqual({ inserted: 0, skipped: 1, deadLetters: 0 })
    // The producer's spool replays the same event: a new offset, the same id.
    expect(await sink.flush([batchOf([event], 1, batch.partition)])).toEqual({ inserted: 0, skipped: 1, deadLetters: 0 })
    expect(await totals(store, tenant)).toEqual({ facts: [1, 5_000], hourly: [1, 5_000], daily: [1, 5_000] })
  })

  it('parks a message it cannot read as a dead letter and writes the rest of the batch', async () => {
    const tenant = `ten_${randomUUID()}`
    const sink = new UsageSink({ eventLog: noLog, analytics: store, sql: pg.store, topics: [] })
    const bad = { ...completed(tenant, 1), data: { requestId: 'x' } }
    const batch = batchOf([completed(tenant, 10), '{not json', bad, completed(tenant, 20)])
    expect(await sink.flush([batch])).toEqual({ inserted: 2, skipped: 0, deadLetters: 2 })
    const parked = await pg.store.query<{ offset: number; reason: string }>(
      `SELECT "offset", reason FROM projection_dead_letters WHERE projection = $1 AND partition = $2 ORDER BY "offset"`,
      [SINK_NAME, batch.partition],
    )
    expect(parked.rows.map((r) => Number(r.offset))).toEqual([1, 2])
    expect(parked.rows[1]!.reason).toMatch(/Invalid request\.completed v2 data/)
    expect((await totals(store, tenant)).facts).toEqual([2, 30])
  })

  it('holds each delivered batch until the flush that wrote it: by count at once, else after the wait', async () => {
    const tenant = `ten_${randomUUID()}`
    const sink = new UsageSink({ eventLog: noLog, analytics: store, sql: pg.store, topics: [], maxRows: 4, maxWaitMs: 60_000, idleMs: 60_000 })
    let firstDone = false
    const first = sink.handleBatch(batchOf([completed(tenant, 1), completed(tenant, 2)])).then(() => (firstDone = true))
    await new Promise((r) => setTimeout(r, 100))
    // Two of four rows wait; nothing is written and the log has not been told to commit.
    expect(firstDone).toBe(false)
    expect((await totals(store, tenant)).facts).toEqual([0, 0])
    await sink.handleBatch(batchOf([completed(tenant, 3), completed(tenant, 4)]))
    await first
    expect((await totals(store, tenant)).facts).toEqual([4, 10])

    const timed = new UsageSink({ eventLog: noLog, analytics: store, sql: pg.store, topics: [], maxRows: 1_000, maxWaitMs: 50, idleMs: 60_000 })
    await timed.handleBatch(batchOf([completed(tenant, 5)]))
    expect((await totals(store, tenant)).facts).toEqual([5, 15])
  })

  it('writes a batch once when two sinks are handed it at once (a rebalance): the second waits on the offsets and skips it', async () => {
    const tenant = `ten_${randomUUID()}`
    const a = new UsageSink({ eventLog: noLog, analytics: store, sql: pg.store, topics: [] })
    const b = new UsageSink({ eventLog: noLog, analytics: store, sql: pg.store, topics: [] })
    const batch = batchOf([completed(tenant, 1_000), completed(tenant, 2_000)])
    const results = await Promise.all([a.flush([batch]), b.flush([batch])])
    expect(results.map((r) => r.inserted).sort()).toEqual([0, 2])
    expect(await totals(store, tenant)).toEqual({ facts: [2, 3_000], hourly: [2, 3_000], daily: [2, 3_000] })
  })

  it('keeps its offsets per log: what it stored reading one log does not make it skip the same partition of another', async () => {
    const tenant = `ten_${randomUUID()}`
    const embedded = new UsageSink({ eventLog: { identity: () => Promise.resolve('in-process') } as EventLog, analytics: store, sql: pg.store, topics: [] })
    const kafka = new UsageSink({ eventLog: { identity: () => Promise.resolve('kafka:other-cluster') } as EventLog, analytics: store, sql: pg.store, topics: [] })
    const partition = partitionSeq++
    expect((await embedded.flush([batchOf([completed(tenant, 1), completed(tenant, 2), completed(tenant, 4)], 0, partition)])).inserted).toBe(3)
    // The other log numbers its own messages from 0 on the same topic and partition: none of them are written yet.
    expect((await kafka.flush([batchOf([completed(tenant, 10), completed(tenant, 20)], 0, partition)])).inserted).toBe(2)
    expect(await totals(store, tenant)).toEqual({ facts: [5, 37], hourly: [5, 37], daily: [5, 37] })
  })

  it('rebuilds from the facts the rollups an insert missed part-way (a view that failed, a process killed), once', async () => {
    const tenant = `ten_${randomUUID()}`
    const sink = new UsageSink({ eventLog: noLog, analytics: store, sql: pg.store, topics: [] })
    const batch = batchOf([completed(tenant, 1_000), completed(tenant, 2_000)])
    // The daily rollup refuses this tenant's rows: the facts and the hourly rollup take them, then the insert fails.
    await store.command(`ALTER TABLE usage_daily ADD CONSTRAINT refuse_${tenant.replaceAll('-', '_')} CHECK tenant_id != '${tenant}'`)
    try {
      await expect(sink.flush([batch])).rejects.toThrow(/refuse_/)
    } finally {
      await store.command(`ALTER TABLE usage_daily DROP CONSTRAINT refuse_${tenant.replaceAll('-', '_')}`)
    }
    expect((await totals(store, tenant)).daily).toEqual([0, 0])
    // The log delivers the batch again: the tenant-day the failed flush marked is rebuilt, then the batch is found written.
    expect(await sink.flush([batch])).toEqual({ inserted: 0, skipped: 2, deadLetters: 0 })
    expect(await totals(store, tenant)).toEqual({ facts: [2, 3_000], hourly: [2, 3_000], daily: [2, 3_000] })
  })

  it('holds an event written by a newer build: the flush fails, nothing is written or parked, the offset stays', async () => {
    const tenant = `ten_${randomUUID()}`
    const sink = new UsageSink({ eventLog: noLog, analytics: store, sql: pg.store, topics: [] })
    const newer = { ...completed(tenant, 5), version: 99 }
    const batch = batchOf([completed(tenant, 10), newer])
    await expect(sink.flush([batch])).rejects.toThrow(/newer than this build reads/)
    expect((await totals(store, tenant)).facts).toEqual([0, 0])
    const stored = await pg.store.query(`SELECT 1 FROM projection_offsets WHERE projection = $1 AND partition = $2 AND next_offset > 0`, [SINK_NAME, batch.partition])
    expect(stored.rows).toEqual([])
  })

  it('goes on after a failed flush even when its error reporter throws', async () => {
    const tenant = `ten_${randomUUID()}`
    const sink = new UsageSink({ eventLog: noLog, analytics: store, sql: failingOffsets(pg.store), topics: [], maxRows: 1, onError: () => {
      throw new Error('the reporter broke')
    } })
    await expect(sink.handleBatch(batchOf([completed(tenant, 1)]))).rejects.toThrow('killed before the offsets were stored')
    await expect(sink.handleBatch(batchOf([completed(tenant, 2)]))).resolves.toBeUndefined()
    expect((await totals(store, tenant)).facts).toEqual([2, 3])
  })

  it('rejects every batch of a failed flush, so the log delivers them again', async () => {
    const tenant = `ten_${randomUUID()}`
    const sql = failingOffsets(pg.store)
    const errors: unknown[] = []
    const sink = new UsageSink({ eventLog: noLog, analytics: store, sql, topics: [], maxRows: 2, onError: (e) => errors.push(e) })
    const a = sink.handleBatch(batchOf([completed(tenant, 1)]))
    const b = sink.handleBatch(batchOf([completed(tenant, 2)]))
    await expect(a).rejects.toThrow('killed before the offsets were stored')
    await expect(b).rejects.toThrow('killed before the offsets were stored')
    expect(errors).toHaveLength(1)
  })
})

const logs: { name: string; openSql: () => Promise<OpenedSqlStore>; openLog: (sql: SqlStore) => EventLog }[] = [
  { name: 'in-process log', openSql: openPglite, openLog: (sql) => new InProcessEventLog(sql, { pollIntervalMs: 20, batchSize: 50 }) },
  {
    name: 'Kafka',
    openSql: () => openIsolatedPostgres(inject('services').databaseUrl),
    openLog: () => new KafkaEventLog({ brokers: inject('services').kafkaBrokers, clientId: 'sink-contract' }),
  },
]

describe.each(logs)('analytics sink following the $name', ({ openSql, openLog }) => {
  it('writes every event appended to the log, once, across partitions, and reports no lag after', async () => {
    const sql = await openSql()
    await migrate(sql.store)
    const log = openLog(sql.store)
    const store = await ClickHouseAnalyticsStore.open({ chdbPath: ':memory:' })
    const topic = `usage-${randomUUID()}`
    await log.ensureTopics([{ name: topic, partitions: 3 }])
    const tenants = [0, 1, 2, 3, 4].map(() => `ten_${randomUUID()}`)
    const events = Array.from({ length: 300 }, (_, i) => completed(tenants[i % tenants.length]!, i + 1))
    // Two copies of the first ten: a producer that retried after a timeout.
    const appended = [...events, ...events.slice(0, 10)]
    for (let i = 0; i < appended.length; i += 50) {
      await log.append(topic, appended.slice(i, i + 50).map((e) => ({ key: e.tenantId, value: Buffer.from(JSON.stringify(e)) })))
    }
    const sink = new UsageSink({ eventLog: log, analytics: store, sql: sql.store, topics: [topic], idleMs: 10, maxWaitMs: 200 })
    try {
      await sink.start()
      const expected = events.reduce((sum, e) => sum + (e.data as { costMicroUsd: number }).costMicroUsd, 0)
      await expect
        .poll(async () => (await store.query<{ n: string; spent: string }>(`SELECT count() AS n, sum(cost_micro_usd) AS spent FROM usage_events WHERE tenant_id IN {tenants:Array(String)}`, { tenants }))[0], { timeout: 45_000, interval: 100 })
        .toEqual({ n: '300', spent: String(expected) })
      await expect.poll(async () => Object.values(await sink.lag()).reduce((a, b) => a + b, 0), { timeout: 10_000 }).toBe(0)
      const [daily] = await store.query<{ spent: string }>(`SELECT sum(cost_micro_usd) AS spent FROM usage_daily WHERE tenant_id IN {tenants:Array(String)}`, { tenants })
      expect(daily).toEqual({ spent: String(expected) })
    } finally {
      await sink.stop()
      await log.close()
      await store.close()
      await sql.dispose()
    }
  })
})
