import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { chargebackReport } from '../../analytics/chargeback.ts'
import { buildEvent } from '../../events/catalogue/registry.ts'
import type { Envelope } from '../../events/envelope.ts'
import { InProcessEventLog } from '../../events/in-process-event-log.ts'
import { ClickHouseAnalyticsStore } from '../../infra/clickhouse/clickhouse-analytics-store.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import type { SqlStore } from '../../infra/postgres/sql-store.ts'
import { killRepeatedly, startChild } from '../support/kill-loop.ts'
import { openIsolatedPostgres } from '../support/sql.ts'
import type { OpenedSqlStore } from '../support/sql.ts'

/**
 * The analytics sink killed with SIGKILL mid-stream, again and again, then run to the end: ClickHouse must
 * hold exactly the facts and reports computed by hand from the events, each event once. The child keeps
 * chdb's tables in a folder, so each one resumes where the last was killed, as a restarted gateway would.
 */
const CHILD = new URL('./sink-kill.child.ts', import.meta.url).pathname
const TENANTS = ['t0', 't1', 't2', 't3']
const PROJECTS = ['p0', 'p1', null]
const usage = { promptTokens: 10, completionTokens: 20, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false }

function completed(tenantId: string, projectId: string | null, costMicroUsd: number): Envelope {
  return buildEvent(
    'request.completed',
    {
      requestId: randomUUID(), projectId, keyId: 'k1', provider: 'openai', model: 'openai/gpt-4o-mini', endpoint: 'chat.completions',
      stream: false, outcome: 'completed', httpStatus: 200, cacheOutcome: 'miss', usage, costMicroUsd, priceVersion: 'fault',
      latencyMs: 5, timeToFirstTokenMs: null, keySource: 'gateway', errorCode: null, user: null,
    },
    { tenantId, correlationId: null, actor: { type: 'key', id: 'k1' } },
  )
}

describe('analytics sink killed with SIGKILL mid-stream', () => {
  const suffix = randomUUID().slice(0, 8)
  const topic = `usage-${suffix}`
  const group = `sink-${suffix}`
  const chdbPath = mkdtempSync(join(tmpdir(), 'sg-sink-kill-'))
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
    rmSync(chdbPath, { recursive: true, force: true })
  })

  const written = async () => (await sql.query<{ n: number }>('SELECT COALESCE(sum(next_offset), 0)::int AS n FROM projection_offsets WHERE projection = $1', [group])).rows[0]!.n

  it('reaches exactly the hand-computed facts and reports after repeated kills, each event once', async () => {
    const log = new InProcessEventLog(sql)
    await log.ensureTopics([{ name: topic, partitions: 3 }])
    const expected = new Map<string, Map<string | null, { requests: number; spent: number }>>(TENANTS.map((t) => [t, new Map()]))
    let total = 0
    async function publishRound(round: number): Promise<void> {
      const events: Envelope[] = []
      for (let i = 0; i < 150; i++) {
        const tenant = TENANTS[i % TENANTS.length]!
        const project = PROJECTS[(i + round) % PROJECTS.length]!
        const cost = 1 + ((i * 7919 + round * 104_729) % 50_000)
        const byProject = expected.get(tenant)!
        const entry = byProject.get(project) ?? { requests: 0, spent: 0 }
        entry.requests++
        entry.spent += cost
        byProject.set(project, entry)
        events.push(completed(tenant, project, cost))
      }
      // A tenth of them appended twice, as a producer retrying after a timeout would.
      const withCopies = [...events, ...events.filter((_, i) => i % 10 === 0)]
      const messages = withCopies.map((e) => ({ key: e.tenantId, value: Buffer.from(JSON.stringify(e)) }))
      for (let i = 0; i < messages.length; i += 40) await log.append(topic, messages.slice(i, i + 40))
      total += messages.length
    }

    const { kills, final } = await killRepeatedly({
      rounds: 6,
      publishRound,
      start: () => startChild(CHILD, { DATABASE_URL: url, TOPICS: topic, GROUP: group, CHDB_PATH: chdbPath }),
      progress: written,
      total: () => total,
      progressTimeoutMs: 30_000,
      jitterMs: 40,
    })
    expect(kills).toBeGreaterThanOrEqual(6)
    expect(final).toBe(total)

    // chdb runs one engine per process: the parent opens the folder only once the last child is gone.
    const store = await ClickHouseAnalyticsStore.open({ chdbPath })
    try {
      const [facts] = await store.query<{ rows: string; ids: string }>('SELECT count() AS rows, uniqExact(event_id) AS ids FROM usage_events')
      const unique = [...expected.values()].flatMap((m) => [...m.values()]).reduce((n, e) => n + e.requests, 0)
      console.error(`[sink kill] ${kills} kills; ${total} messages (${total - unique} copies); ${facts!.rows} fact rows, ${facts!.ids} distinct ids`)
      expect({ rows: Number(facts!.rows), ids: Number(facts!.ids) }).toEqual({ rows: unique, ids: unique })
      for (const tenant of TENANTS) {
        const report = await chargebackReport(store, { tenantId: tenant, from: new Date(Date.now() - 86_400_000), to: new Date(Date.now() + 3_600_000), groupBy: ['project'] })
        const got = new Map(report.rows.map((r) => [r.projectId as string | null, { requests: r.requests, spent: r.costMicroUsd }]))
        expect(got).toEqual(expected.get(tenant))
        // Every rollup agrees with the facts too: an insert killed between the facts and the views was rebuilt.
        const spent = [...expected.get(tenant)!.values()].reduce((n, e) => n + e.spent, 0)
        const requests = [...expected.get(tenant)!.values()].reduce((n, e) => n + e.requests, 0)
        for (const table of ['usage_hourly', 'usage_daily', 'usage_daily_users']) {
          const [sums] = await store.query<{ spent: string; requests: string }>(`SELECT sum(cost_micro_usd) AS spent, sum(requests) AS requests FROM ${table} WHERE tenant_id = {t:String}`, { t: tenant })
          expect({ table, spent: Number(sums!.spent), requests: Number(sums!.requests) }).toEqual({ table, spent, requests })
        }
      }
    } finally {
      await store.close()
    }
  })
})
