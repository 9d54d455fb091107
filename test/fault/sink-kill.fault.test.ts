import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
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
import { PgSqlStore } from '../../infra/postgres/pg-sql-store.ts'

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
  const schema = `t_${randomBytes(6).toString('hex')}`
  const suffix = randomUUID().slice(0, 8)
  const topic = `usage-${suffix}`
  const group = `sink-${suffix}`
  const chdbPath = mkdtempSync(join(tmpdir(), 'sg-sink-kill-'))
  let admin: PgSqlStore
  let sql: PgSqlStore
  let url: string

  beforeAll(async () => {
    const base = inject('services').databaseUrl
    admin = new PgSqlStore({ url: base, maxConnections: 1 })
    await admin.exec(`CREATE SCHEMA ${schema}`)
    const scoped = new URL(base)
    scoped.searchParams.set('options', `-c search_path=${schema},public`)
    url = scoped.toString()
    sql = new PgSqlStore({ url })
    await migrate(sql)
  })
  afterAll(async () => {
    await sql.close()
    await admin.exec(`DROP SCHEMA ${schema} CASCADE`)
    await admin.close()
    rmSync(chdbPath, { recursive: true, force: true })
  })

  function startChild(): Promise<ChildProcess> {
    const child = spawn(process.execPath, [CHILD], {
      env: { ...process.env, DATABASE_URL: url, TOPICS: topic, GROUP: group, CHDB_PATH: chdbPath },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    return new Promise((resolve, reject) => {
      child.once('error', reject)
      child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)))
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('started')) resolve(child)
      })
    })
  }
  const stopped = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())))
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

    let kills = 0
    for (let round = 0; round < 6; round++) {
      await publishRound(round)
      for (let attempt = 0; attempt < 2; attempt++) {
        const child = await startChild()
        const from = await written()
        // Killed once it has written something more, at a random moment after, before it has written all.
        const deadline = Date.now() + 30_000
        while ((await written()) === from && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2))
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 40)))
        child.kill('SIGKILL')
        await stopped(child)
        if ((await written()) < total) kills++
      }
    }
    expect(kills).toBeGreaterThanOrEqual(6)

    const last = await startChild()
    const deadline = Date.now() + 60_000
    while ((await written()) < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    last.kill('SIGTERM')
    await stopped(last)
    expect(await written()).toBe(total)

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
