import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Envelope } from '../../events/envelope.ts'
import { uuidv7 } from '../../events/ids.ts'
import { InProcessEventLog } from '../../events/in-process-event-log.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import type { SqlStore } from '../../infra/postgres/sql-store.ts'
import { readBalance } from '../../projections/balances/balances-projection.ts'
import type { Balance } from '../../projections/balances/balances-projection.ts'
import { killRepeatedly, startChild } from '../support/kill-loop.ts'
import { openIsolatedPostgres } from '../support/sql.ts'
import type { OpenedSqlStore } from '../support/sql.ts'

/**
 * A projection process killed with SIGKILL mid-stream, again and again, then run to the end, must leave
 * exactly the balances computed by hand from the events: nothing lost, nothing counted twice. The
 * event log is the in-process one on PostgreSQL (shared by processes through the database), so a
 * restarted child rejoins its consumer group at once instead of waiting out a Kafka session timeout.
 */
const CHILD = new URL('./projection-kill.child.ts', import.meta.url).pathname
const TENANTS = ['t0', 't1', 't2', 't3', 't4']
const PROJECTS = ['p0', 'p1', 'p2', null]

/** The rest of a request.completed v1 (events/catalogue/schemas.ts), the same for every request here. */
const REQUEST = {
  provider: 'openai',
  model: 'openai/gpt-4o-mini',
  endpoint: 'chat.completions',
  stream: true,
  outcome: 'completed',
  httpStatus: 200,
  cacheOutcome: 'miss',
  usage: { promptTokens: 10, completionTokens: 20, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false },
  priceVersion: 'fault-1',
  latencyMs: 5,
  timeToFirstTokenMs: 2,
  keySource: 'gateway',
  errorCode: null,
}

function envelope(tenantId: string, type: string, data: Record<string, unknown>): Envelope {
  return {
    id: uuidv7(),
    type,
    version: 1,
    tenantId,
    occurredAt: new Date().toISOString(),
    correlationId: null,
    causationId: null,
    actor: { type: 'system', id: 'gateway' },
    data,
  }
}

describe('projection killed with SIGKILL mid-stream', () => {
  const suffix = randomUUID().slice(0, 8)
  const usage = `usage-${suffix}`
  const control = `control-${suffix}`
  const name = `balances-${suffix}`
  let opened: OpenedSqlStore
  let sql: SqlStore
  let url: string

  beforeAll(async () => {
    opened = await openIsolatedPostgres(inject('services').databaseUrl)
    sql = opened.store
    url = opened.url!
    await migrate(sql)
  })
  afterAll(async () => {
    await opened.dispose()
  })

  async function applied(): Promise<number> {
    const r = await sql.query<{ n: number }>('SELECT COALESCE(sum(next_offset), 0)::int AS n FROM projection_offsets WHERE projection = $1', [name])
    return r.rows[0]!.n
  }

  it('reaches exactly the hand-computed balances after repeated kills', async () => {
    const log = new InProcessEventLog(sql)
    await log.ensureTopics([
      { name: usage, partitions: 3 },
      { name: control, partitions: 1 },
    ])
    const expected = new Map<string, { credited: number; spent: number; projects: Map<string, number> }>(
      TENANTS.map((t) => [t, { credited: 0, spent: 0, projects: new Map() }]),
    )
    let total = 0
    async function publishRound(round: number): Promise<void> {
      const grants: Envelope[] = []
      const requests: Envelope[] = []
      for (let i = 0; i < 200; i++) {
        const tenant = TENANTS[i % TENANTS.length]!
        const e = expected.get(tenant)!
        if (i % 10 === 0) {
          const amount = 1_000_000 + round * 1_000 + i
          e.credited += amount
          grants.push(envelope(tenant, 'credits.granted', { tenantId: tenant, grantId: randomUUID(), amountMicroUsd: amount, reason: null }))
        }
        const projectId = PROJECTS[(i + round) % PROJECTS.length]!
        const cost = 1 + ((i * 7919 + round * 104_729) % 50_000)
        e.spent += cost
        if (projectId !== null) e.projects.set(projectId, (e.projects.get(projectId) ?? 0) + cost)
        requests.push(envelope(tenant, 'request.completed', { ...REQUEST, requestId: randomUUID(), projectId, keyId: `k${i % 3}`, costMicroUsd: cost }))
      }
      const toMessages = (list: Envelope[]) => list.map((x) => ({ key: x.tenantId, value: Buffer.from(JSON.stringify(x)) }))
      await log.append(control, toMessages(grants))
      // Appended in slices, so the child sees the stream arrive while it runs.
      for (let i = 0; i < requests.length; i += 50) await log.append(usage, toMessages(requests.slice(i, i + 50)))
      total += grants.length + requests.length
    }

    const { kills, final } = await killRepeatedly({
      rounds: 8,
      publishRound,
      start: () => startChild(CHILD, { DATABASE_URL: url, TOPICS: `${usage},${control}`, PROJECTION_NAME: name }),
      progress: applied,
      total: () => total,
      progressTimeoutMs: 20_000,
      jitterMs: 30,
    })
    expect(kills).toBeGreaterThanOrEqual(8)
    expect(final).toBe(total)

    const dead = await sql.query('SELECT 1 FROM projection_dead_letters WHERE projection = $1', [name])
    const spent = [...expected.values()].reduce((n, e) => n + e.spent, 0)
    const found = (await Promise.all(TENANTS.map((t) => readBalance(sql, t)))).reduce((n, b) => n + b.spentMicroUsd, 0)
    console.error(`[fault] balances projection SIGKILLed ${kills} times: ${total} events (${8 * 200} requests), ${total} applied, spend ${found} of ${spent} µUSD, dead letters ${dead.rowCount}`)
    for (const tenant of TENANTS) {
      const e = expected.get(tenant)!
      const want: Balance = {
        balanceMicroUsd: e.credited - e.spent,
        creditedMicroUsd: e.credited,
        spentMicroUsd: e.spent,
        projects: [...e.projects.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([projectId, spentMicroUsd]) => ({ projectId, spentMicroUsd })),
      }
      expect(await readBalance(sql, tenant)).toEqual(want)
    }
    expect(dead.rowCount).toBe(0)
  })
})
