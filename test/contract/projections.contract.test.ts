import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest'
import type { Envelope } from '../../events/envelope.ts'
import type { EventLog, LogMessage, MessageBatch } from '../../events/event-log.ts'
import { uuidv7 } from '../../events/ids.ts'
import { InProcessEventLog } from '../../events/in-process-event-log.ts'
import { KafkaEventLog } from '../../infra/kafka/kafka-event-log.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import type { SqlStore } from '../../infra/postgres/sql-store.ts'
import { balancesProjection, readBalance } from '../../projections/balances/balances-projection.ts'
import { budgetsProjection, readBudgetStatus } from '../../projections/budgets/budgets-projection.ts'
import { ProjectionRunner } from '../../projections/runner/projection-runner.ts'
import type { Projection } from '../../projections/runner/projection-runner.ts'
import { openIsolatedPostgres, openPglite } from '../support/sql.ts'
import type { OpenedSqlStore } from '../support/sql.ts'

interface Adapter {
  name: string
  openSql(): Promise<OpenedSqlStore>
  openLog(sql: SqlStore): EventLog
  /** Another log on the same database, as after a deployment moved from the embedded log to Kafka or back. */
  openOtherLog(sql: SqlStore): EventLog
}

const adapters: Adapter[] = [
  {
    name: 'in-process log on PGlite',
    openSql: openPglite,
    openLog: (sql) => new InProcessEventLog(sql, { pollIntervalMs: 50, retryDelayMs: 20, batchSize: 4 }),
    openOtherLog: () => new KafkaEventLog({ brokers: inject('services').kafkaBrokers, clientId: 'projections-contract' }),
  },
  {
    name: 'Kafka and PostgreSQL',
    openSql: () => openIsolatedPostgres(inject('services').databaseUrl),
    openLog: () => new KafkaEventLog({ brokers: inject('services').kafkaBrokers, clientId: 'projections-contract' }),
    openOtherLog: (sql) => new InProcessEventLog(sql, { pollIntervalMs: 50, retryDelayMs: 20, batchSize: 4 }),
  },
]

async function waitFor(condition: () => Promise<boolean>, what: string, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

function envelope(tenantId: string, type: string, data: Record<string, unknown>, occurredAt = new Date().toISOString()): Envelope {
  return {
    id: uuidv7(),
    type,
    version: 1,
    tenantId,
    occurredAt,
    correlationId: `req-${randomUUID()}`,
    causationId: null,
    actor: { type: 'system', id: 'gateway' },
    data,
  }
}

const grant = (tenantId: string, amountMicroUsd: number) =>
  envelope(tenantId, 'credits.granted', { tenantId, grantId: randomUUID(), amountMicroUsd, reason: 'contract' })

const completed = (tenantId: string, o: { projectId: string | null; keyId: string; cost: number; at?: string }) =>
  envelope(
    tenantId,
    'request.completed',
    {
      requestId: randomUUID(),
      projectId: o.projectId,
      keyId: o.keyId,
      provider: 'openai',
      model: 'openai/gpt-4o-mini',
      endpoint: 'chat.completions',
      stream: false,
      outcome: 'completed',
      httpStatus: 200,
      cacheOutcome: 'miss',
      usage: { promptTokens: 10, completionTokens: 5, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false },
      costMicroUsd: o.cost,
      priceVersion: 'contract-1',
      latencyMs: 12,
      timeToFirstTokenMs: null,
      keySource: 'gateway',
      errorCode: null,
    },
    o.at,
  )

const v0Data = {
  requestId: 'r-v0',
  projectId: 'p1',
  keyId: 'k1',
  provider: 'openai',
  model: 'openai/gpt-4o-mini',
  endpoint: 'chat.completions',
  stream: false,
  outcome: 'completed',
  httpStatus: 200,
  cacheOutcome: 'miss',
  promptTokens: 3,
  completionTokens: 4,
  priceVersion: 'v0',
  latencyMs: 9,
  timeToFirstTokenMs: null,
  keySource: 'gateway',
  errorCode: null,
}

const toMessage = (e: Envelope): LogMessage => ({
  key: e.tenantId,
  value: Buffer.from(JSON.stringify(e)),
  headers: { 'event-type': e.type, 'event-id': e.id },
})

describe.each(adapters)('Projections contract: $name', (adapter) => {
  let opened: OpenedSqlStore
  let sql: SqlStore
  let log: EventLog
  let usageTopic: string
  let controlTopic: string
  let suffix: string
  let appended: number
  const cleanups: (() => Promise<void>)[] = []

  beforeEach(async () => {
    opened = await adapter.openSql()
    sql = opened.store
    await migrate(sql)
    log = adapter.openLog(sql)
    suffix = randomUUID().slice(0, 8)
    usageTopic = `usage-${suffix}`
    controlTopic = `control-${suffix}`
    appended = 0
    await log.ensureTopics([
      { name: usageTopic, partitions: 3 },
      { name: controlTopic, partitions: 1 },
    ])
  })

  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
    await log.close()
    await opened.dispose()
  })

  async function publish(topic: string, events: readonly (Envelope | LogMessage)[]): Promise<void> {
    await log.append(topic, events.map((e) => ('value' in e ? e : toMessage(e))))
    appended += events.length
  }

  function runner(name: string, projection: Projection, onError?: (error: unknown) => void): ProjectionRunner {
    const r = new ProjectionRunner({ name: `${name}-${suffix}`, eventLog: log, sql, topics: [usageTopic, controlTopic], projection, onError })
    cleanups.push(() => r.stop())
    return r
  }

  /** Offsets on fresh topics start at 0 and are contiguous, so the stored ones add up to what was appended. */
  async function caughtUp(r: ProjectionRunner, expected = appended): Promise<void> {
    await waitFor(async () => {
      const sum = await sql.query<{ n: number }>(
        'SELECT COALESCE(sum(next_offset), 0)::int AS n FROM projection_offsets WHERE projection = $1',
        [r.name],
      )
      return sum.rows[0]!.n >= expected
    }, `${r.name} to apply ${expected} messages`)
  }

  async function snapshot() {
    const q = async (text: string) => (await sql.query(text)).rows
    return {
      balances: await q('SELECT * FROM tenant_balances ORDER BY tenant_id'),
      projects: await q('SELECT * FROM project_spend ORDER BY tenant_id, project_id'),
      periods: await q("SELECT tenant_id, scope, period, to_char(period_start, 'YYYY-MM-DD') AS start, spent_micro_usd FROM spend_by_period ORDER BY 1, 2, 3, 4"),
    }
  }

  /** Two tenants' grants and requests, with figures worked out by hand in the first test. */
  async function publishMixedStream(a: string, b: string): Promise<void> {
    await publish(controlTopic, [grant(a, 10_000_000), grant(b, 1_000_000), grant(a, 2_500_000)])
    await publish(usageTopic, [
      completed(a, { projectId: 'p1', keyId: 'k1', cost: 1_200_000, at: '2026-05-31T23:59:00Z' }),
      completed(b, { projectId: 'p9', keyId: 'k9', cost: 999_999, at: '2026-06-01T08:00:00Z' }),
      completed(a, { projectId: 'p1', keyId: 'k2', cost: 300_000, at: '2026-06-01T00:00:01Z' }),
      envelope(a, 'cache.hit', { requestId: 'r', projectId: 'p1', keyId: 'k1', model: 'openai/gpt-4o-mini', cacheOutcome: 'exact_hit', savedMicroUsd: 777 }),
      completed(a, { projectId: null, keyId: 'k1', cost: 45_678, at: '2026-06-01T10:00:00+02:00' }),
      completed(a, { projectId: 'p2', keyId: 'k1', cost: 0, at: '2026-06-01T11:00:00Z' }),
      envelope(a, 'request.rejected', { requestId: 'r2', projectId: null, keyId: null, model: null, endpoint: 'chat.completions', reason: 'budget', errorCode: 'budget_exceeded', httpStatus: 402 }),
    ])
  }

  async function expectMixedStreamFigures(a: string, b: string): Promise<void> {
    expect(await readBalance(sql, a)).toEqual({
      balanceMicroUsd: 12_500_000 - 1_545_678,
      creditedMicroUsd: 12_500_000,
      spentMicroUsd: 1_545_678,
      projects: [{ projectId: 'p1', spentMicroUsd: 1_500_000 }],
    })
    expect(await readBalance(sql, b)).toEqual({
      balanceMicroUsd: 1,
      creditedMicroUsd: 1_000_000,
      spentMicroUsd: 999_999,
      projects: [{ projectId: 'p9', spentMicroUsd: 999_999 }],
    })
  }

  it('computes balances and spend per period from a mixed stream of grants and requests', async () => {
    const [a, b] = [`ta-${suffix}`, `tb-${suffix}`]
    await publishMixedStream(a, b)
    const balances = runner('balances', balancesProjection)
    const budgets = runner('budgets', budgetsProjection)
    await balances.start()
    await budgets.start()
    await caughtUp(balances)
    await caughtUp(budgets)

    await expectMixedStreamFigures(a, b)
    expect(await readBalance(sql, `nobody-${suffix}`)).toEqual({ balanceMicroUsd: 0, creditedMicroUsd: 0, spentMicroUsd: 0, projects: [] })

    // The control projector owns `budgets`; these rows stand in for the budgets a tenant set.
    for (const [scope, period, limit] of [
      ['tenant', 'day', 1_000_000],
      ['tenant', 'month', 5_000_000],
      ['project:p1', 'month', 1_000_000],
      ['key:k1', 'day', 100_000],
    ] as const) {
      await sql.query('INSERT INTO budgets (tenant_id, scope, period, limit_micro_usd) VALUES ($1, $2, $3, $4)', [a, scope, period, limit])
    }
    // 10:00+02:00 is 08:00 UTC on 1 June; the 1.2 USD of 31 May counts in May only.
    expect(await readBudgetStatus(sql, a, new Date('2026-06-01T12:00:00Z'))).toEqual([
      { scope: 'key:k1', period: 'day', limitMicroUsd: 100_000, spentMicroUsd: 45_678, remainingMicroUsd: 54_322 },
      { scope: 'project:p1', period: 'month', limitMicroUsd: 1_000_000, spentMicroUsd: 300_000, remainingMicroUsd: 700_000 },
      { scope: 'tenant', period: 'day', limitMicroUsd: 1_000_000, spentMicroUsd: 345_678, remainingMicroUsd: 654_322 },
      { scope: 'tenant', period: 'month', limitMicroUsd: 5_000_000, spentMicroUsd: 345_678, remainingMicroUsd: 4_654_322 },
    ])
    const may = await readBudgetStatus(sql, a, new Date('2026-05-31T20:00:00Z'))
    expect(may.find((s) => s.scope === 'project:p1')).toMatchObject({ spentMicroUsd: 1_200_000, remainingMicroUsd: -200_000 })
    expect(await readBudgetStatus(sql, b, new Date('2026-06-01T12:00:00Z'))).toEqual([])
  })

  it('applies nothing when a batch is delivered again or an event is appended twice', async () => {
    const [a, b] = [`ta-${suffix}`, `tb-${suffix}`]
    await publishMixedStream(a, b)
    const twice = completed(a, { projectId: 'p1', keyId: 'k1', cost: 5, at: '2026-06-01T09:00:00Z' })
    await publish(usageTopic, [twice])
    const balances = runner('balances', balancesProjection)
    await balances.start()
    await caughtUp(balances)
    // Appended again later, as a producer replaying its spool would: a message of its own, at a new offset.
    await publish(usageTopic, [twice])
    await caughtUp(balances)
    const before = await snapshot()
    expect(before.balances.find((r) => r.tenant_id === a)).toMatchObject({ spent_micro_usd: 1_545_678 + 5 })

    // Every batch the log delivers, collected by a group of our own, then handed to the runner again.
    const batches: MessageBatch[] = []
    const tap = await log.subscribe({ groupId: `tap-${suffix}`, topics: [usageTopic, controlTopic], handleBatch: (batch) => Promise.resolve(void batches.push(batch)) })
    cleanups.push(() => tap.stop())
    await waitFor(() => Promise.resolve(batches.reduce((n, x) => n + x.messages.length, 0) >= appended), 'the tap to see every message')
    for (const batch of batches) await balances.applyBatch(batch)
    expect(await snapshot()).toEqual(before)
  })

  it('keeps its offsets per log: offsets stored reading another log on the same database skip nothing of this one', async () => {
    const [a, b] = [`ta-${suffix}`, `tb-${suffix}`]
    const other = adapter.openOtherLog(sql)
    cleanups.push(() => other.close())
    await other.ensureTopics([{ name: usageTopic, partitions: 3 }, { name: controlTopic, partitions: 1 }])
    await other.append(controlTopic, [grant(a, 1_000), grant(a, 2_000), grant(a, 4_000), grant(a, 8_000)].map(toMessage))
    const name = `balances-${suffix}`
    const before = new ProjectionRunner({ name, eventLog: other, sql, topics: [usageTopic, controlTopic], projection: balancesProjection })
    await before.start()
    await caughtUp(before, 4)
    await before.stop()

    // This log's control partition has 3 messages: offset 4, stored above for the other log, must not apply here.
    await publishMixedStream(a, b)
    const after = runner('balances', balancesProjection)
    await after.start()
    await caughtUp(after, appended + 4)
    expect(await readBalance(sql, a)).toMatchObject({ creditedMicroUsd: 12_500_000 + 15_000, spentMicroUsd: 1_545_678 })
    expect(await readBalance(sql, b)).toMatchObject({ creditedMicroUsd: 1_000_000, spentMicroUsd: 999_999 })
    expect(Object.values(await after.lag()).every((x) => x === 0)).toBe(true)
  })

  it('carries on from offsets stored before they were kept per log, claiming only those its log could have given', async () => {
    const a = `ta-${suffix}`
    const name = `balances-${suffix}`
    await publish(controlTopic, [grant(a, 1_000), grant(a, 2_000), grant(a, 4_000)])
    await publish(usageTopic, [completed(a, { projectId: 'p1', keyId: 'k1', cost: 5 })])
    // As migration 0013 leaves a deployment's rows, without a log: the first two grants were applied; the usage
    // partitions' offsets lie past their end, so they were not stored reading this log.
    await sql.query(
      `INSERT INTO projection_offsets (projection, topic, partition, next_offset) VALUES ($1, $2, 0, 2), ($1, $3, 0, 900), ($1, $3, 1, 900), ($1, $3, 2, 900)`,
      [name, controlTopic, usageTopic],
    )
    const balances = runner('balances', balancesProjection)
    await balances.start()
    await expect.poll(() => readBalance(sql, a), { timeout: 45_000 }).toMatchObject({ creditedMicroUsd: 4_000, spentMicroUsd: 5 })
    const rows = await sql.query<{ log: string; topic: string }>('SELECT log, topic FROM projection_offsets WHERE projection = $1', [name])
    const id = await log.identity()
    expect(rows.rows.filter((r) => r.log === id).map((r) => r.topic)).toEqual(expect.arrayContaining([controlTopic, usageTopic]))
    expect(rows.rows.filter((r) => r.log === '').map((r) => r.topic)).toEqual([usageTopic, usageTopic, usageTopic])
  })

  it('reaches the same state when the projection throws mid-batch and the runner restarts', async () => {
    const [a, b] = [`ta-${suffix}`, `tb-${suffix}`]
    await publishMixedStream(a, b)
    let batches = 0
    const errors: unknown[] = []
    const flaky: Projection = {
      ...balancesProjection,
      async applyBatch(tx, events, reject) {
        // The first batch fails once, after its spend was written and its events recorded as applied:
        // unless all of that rolls back, the retry either counts them twice or skips them.
        await balancesProjection.applyBatch(tx, events, reject)
        if (++batches === 1) throw new Error('projection crashed mid-batch')
      },
    }
    const first = runner('balances', flaky, (error) => errors.push(error))
    await first.start()
    await caughtUp(first)
    expect(errors).toHaveLength(1)
    await expectMixedStreamFigures(a, b)
    await first.stop()

    const again = runner('balances', balancesProjection)
    await again.start()
    await publish(controlTopic, [grant(b, 42)])
    await caughtUp(again)
    expect(await readBalance(sql, b)).toMatchObject({ creditedMicroUsd: 1_000_042, balanceMicroUsd: 43 })
    expect(await readBalance(sql, a)).toMatchObject({ spentMicroUsd: 1_545_678 })
  })

  it('rebuilds from offset 0 to the identical state', async () => {
    const [a, b] = [`ta-${suffix}`, `tb-${suffix}`]
    await publishMixedStream(a, b)
    const balances = runner('balances', balancesProjection)
    const budgets = runner('budgets', budgetsProjection)
    await balances.start()
    await budgets.start()
    await caughtUp(balances)
    await caughtUp(budgets)
    const live = await snapshot()

    await budgets.stop()
    await budgets.rebuild()
    expect((await snapshot()).periods).toEqual([])
    await balances.rebuild()
    await budgets.start()
    await caughtUp(balances)
    await caughtUp(budgets)
    expect(await snapshot()).toEqual(live)
  })

  it('records a poison message as a dead letter and applies the rest', async () => {
    const a = `ta-${suffix}`
    await publish(controlTopic, [grant(a, 1_000)])
    await publish(usageTopic, [
      { key: a, value: Buffer.from('{"not json') },
      { key: a, value: Buffer.from(JSON.stringify({ type: 'request.completed', data: { costMicroUsd: 1 } })) },
      completed(a, { projectId: 'p1', keyId: 'k1', cost: 1.5 }),
      completed(a, { projectId: 'p1', keyId: 'k1', cost: 400 }),
      // Version 0, from before the envelope settled: still money, upcast to 123 micro-USD.
      { ...envelope(a, 'request.completed', { ...v0Data, costUsd: '0.000123' }), version: 0 },
    ])
    const balances = runner('balances', balancesProjection)
    await balances.start()
    await caughtUp(balances)
    expect(await readBalance(sql, a)).toEqual({ balanceMicroUsd: 477, creditedMicroUsd: 1_000, spentMicroUsd: 523, projects: [{ projectId: 'p1', spentMicroUsd: 523 }] })
    const dead = await sql.query<{ reason: string; offset: number }>(
      'SELECT reason, "offset" FROM projection_dead_letters WHERE projection = $1 ORDER BY "offset"',
      [balances.name],
    )
    expect(dead.rows.map((r) => r.reason)).toEqual([
      expect.stringMatching(/^not JSON/),
      expect.stringMatching(/^not an envelope/),
      expect.stringMatching(/^invalid request\.completed v1: [\s\S]*costMicroUsd/),
    ])
  })

  it('reports lag per partition, down to 0 once caught up', async () => {
    const [a, b] = [`ta-${suffix}`, `tb-${suffix}`]
    await publishMixedStream(a, b)
    const balances = runner('balances', balancesProjection)
    const before = await balances.lag()
    expect(Object.values(before).reduce((n, x) => n + x, 0)).toBe(appended)
    expect(before[`${controlTopic}:0`]).toBe(3)
    await balances.start()
    await caughtUp(balances)
    const after = await balances.lag()
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort())
    expect(Object.values(after).every((x) => x === 0)).toBe(true)
  })
})
