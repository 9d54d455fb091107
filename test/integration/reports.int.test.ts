import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { InProcessEventLog } from '../../events/in-process-event-log.ts'
import { SqlEventStore } from '../../events/sql-event-store.ts'
import { buildApp } from '../../gateway/app.ts'
import type { Dependencies } from '../../gateway/dependencies.ts'
import { MemoryRateLimiter } from '../../gateway/limits/memory-rate-limiter.ts'
import { createGateway } from '../../gateway/wiring.ts'
import type { GatewayParts } from '../../gateway/wiring.ts'
import { ClickHouseAnalyticsStore } from '../../infra/clickhouse/clickhouse-analytics-store.ts'
import { loadConfig } from '../../infra/config/config.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import { createLogger } from '../../infra/telemetry/logger.ts'
import { startMock } from '../mocks/mock-server.ts'
import type { RunningMock } from '../mocks/mock-server.ts'
import { openAiMock } from '../mocks/openai.ts'
import { openIsolatedPostgres } from '../support/sql.ts'
import type { OpenedSqlStore } from '../support/sql.ts'

/**
 * Chargeback and reconciliation over the admin API, after a mixed run through the whole gateway: plain and
 * streamed calls in two projects, exact cache hits, and calls refused for budget and for an unknown model.
 * PostgreSQL holds the balances (real server), chdb the facts; the sink and the balances read the same log.
 */
const ADMIN = 'sg-admin-reports-test-token-000000000001'
let opened: OpenedSqlStore
let mock: RunningMock
let gateway: GatewayParts
let app: FastifyInstance
let deps: Dependencies

beforeAll(async () => {
  opened = await openIsolatedPostgres(inject('services').databaseUrl)
  await migrate(opened.store)
  mock = await startMock(openAiMock())
  deps = {
    sql: opened.store,
    eventStore: new SqlEventStore(opened.store),
    eventLog: new InProcessEventLog(opened.store, { pollIntervalMs: 20 }),
    rateLimiter: new MemoryRateLimiter(),
    analytics: await ClickHouseAnalyticsStore.open({ chdbPath: ':memory:' }),
  }
  const config = loadConfig({ SUPERGATE_ADMIN_TOKEN: ADMIN, SUPERGATE_OPENAI_API_KEY: 'upstream', SUPERGATE_OPENAI_BASE_URL: `${mock.url}/v1` })
  const logger = createLogger({ level: 'silent' })
  gateway = createGateway(config, { logger, deps, adminToken: ADMIN, masterKeys: [{ version: 1, key: Buffer.alloc(32, 5) }] })
  await gateway.start()
  app = buildApp({
    deps,
    logger,
    gateway,
    admin: { controlPlane: gateway.controlPlane, keys: gateway.keys, sql: deps.sql, analytics: { store: deps.analytics, pending: () => gateway.pending() } },
    metrics: gateway.metrics,
  })
})

afterAll(async () => {
  await app.close()
  await gateway.close()
  await mock.close()
  await deps.analytics.close()
  await opened.dispose()
})

const call = async (method: 'GET' | 'POST' | 'PUT', url: string, token: string, payload?: object, headers: Record<string, string> = {}) => {
  const response = await app.inject({ method, url, headers: { authorization: `Bearer ${token}`, ...headers }, ...(payload === undefined ? {} : { payload }) })
  return { status: response.statusCode, headers: response.headers, body: response.body, json: () => response.json<Record<string, unknown>>() }
}
/** Polls `read` until `ok` holds of its answer (expect.poll works only inside a test, not in its set-up). */
async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (ok(value)) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const created = async (url: string, payload: object) => {
  const r = await call('POST', `/admin/v1${url}`, ADMIN, payload)
  expect(r.status, r.body).toBe(201)
  return r.json()
}

describe('chargeback after a mixed run', () => {
  let tenant: string
  let web: string
  let batch: string
  let billingKey: string
  let developerKey: string
  const outcomes = { completed: 0, cacheHits: 0, rejected: 0 }
  /** Calls served per project and per end user ('null': none named), as the client saw them. */
  const served = { web: 0, batch: 0, users: {} as Record<string, number> }

  beforeAll(async () => {
    tenant = String((await created('/tenants', { name: 'Chargeback' })).id)
    web = String((await created(`/tenants/${tenant}/projects`, { name: 'Web shop' })).id)
    batch = String((await created(`/tenants/${tenant}/projects`, { name: 'Batch jobs' })).id)
    const webKey = String((await created(`/tenants/${tenant}/keys`, { name: 'web-app', role: 'developer', projectId: web })).key)
    const batchKey = String((await created(`/tenants/${tenant}/keys`, { name: 'batch-app', role: 'developer', projectId: batch })).key)
    developerKey = webKey
    billingKey = String((await created(`/tenants/${tenant}/keys`, { name: 'finance', role: 'billing' })).key)
    expect((await call('PUT', `/admin/v1/tenants/${tenant}/cache-settings`, ADMIN, { mode: 'exact' })).status).toBe(200)
    await until(async () => (await call('GET', `/admin/v1/tenants/${tenant}/cache-settings`, ADMIN)).json().mode, (mode) => mode === 'exact', 'the cache settings')

    const chat = async (key: string, body: object, user?: string) => {
      const r = await call('POST', '/v1/chat/completions', key, { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], ...body }, user === undefined ? {} : { 'x-supergate-user': user })
      if (r.status === 200) {
        served[key === webKey ? 'web' : 'batch']++
        served.users[String(user ?? null)] = (served.users[String(user ?? null)] ?? 0) + 1
      }
      return r
    }
    // Plain calls, different prompts (no hits), by two users of the web shop.
    for (let i = 0; i < 4; i++) {
      const r = await chat(webKey, { messages: [{ role: 'user', content: `Question ${i}` }] }, i % 2 === 0 ? 'alice' : 'bob')
      expect(r.status, r.body).toBe(200)
      outcomes.completed++
    }
    // Streamed calls from the batch project (streams are not cached).
    for (let i = 0; i < 3; i++) {
      const r = await chat(batchKey, { stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: `Stream ${i}` }] })
      expect(r.status).toBe(200)
      expect(r.body).toContain('[DONE]')
      outcomes.completed++
    }
    // The same question three times: one miss, then hits once the entry is written.
    const same = { messages: [{ role: 'user', content: 'What is the capital of France?' }] }
    expect((await chat(webKey, same, 'alice')).status).toBe(200)
    outcomes.completed++
    // Each try is a call (and is counted); the entry is written behind the first answer, so the first tries miss.
    await until(
      async () => {
        const r = await chat(webKey, same, 'alice')
        outcomes.completed++
        return String(r.headers['x-supergate-cache'])
      },
      (status) => status.includes('hit'),
      'a cache hit',
    )
    outcomes.cacheHits++
    const hit = await chat(webKey, same, 'alice')
    expect(hit.headers['x-supergate-cache']).toMatch(/hit/)
    outcomes.completed++
    outcomes.cacheHits++
    // Refusals: a model nobody serves, and a batch project whose budget is spent.
    expect((await chat(webKey, { model: 'no-such-model' })).status).toBe(404)
    outcomes.rejected++
    expect((await call('PUT', `/admin/v1/tenants/${tenant}/budgets/${encodeURIComponent(`project:${batch}`)}`, ADMIN, { period: 'day', limitMicroUsd: 1 })).status).toBe(200)
    // The budget reaches the hot path within the auth cache's refresh; calls before that are served and counted.
    await until(
      async () => {
        const status = (await chat(batchKey, { messages: [{ role: 'user', content: `over budget ${outcomes.completed}` }] })).status
        if (status === 200) outcomes.completed++
        return status
      },
      (status) => status === 402,
      'a budget refusal',
    )
    outcomes.rejected++
  })

  it('reconciles ClickHouse with the Postgres balances to the micro-USD, once both have read the log', async () => {
    await expect
      .poll(async () => {
        const r = (await call('GET', `/admin/v1/tenants/${tenant}/reports/reconciliation`, billingKey)).json()
        // Refusals cost nothing, so reconciliation cannot tell whether the last one is in; the report can.
        const report = (await call('GET', `/admin/v1/tenants/${tenant}/reports/chargeback?groupBy=project`, billingKey)).json() as { totals: { rejectedRequests: number } }
        return { reconciled: r.reconciled, pending: r.pending, requests: (r.clickhouse as { requests: number }).requests, rejected: report.totals.rejectedRequests }
      }, { timeout: 20_000, interval: 200 })
      .toEqual({ reconciled: true, pending: { sink: 0, balances: 0 }, requests: outcomes.completed, rejected: outcomes.rejected })
    const r = (await call('GET', `/admin/v1/tenants/${tenant}/reports/reconciliation`, billingKey)).json()
    const balance = (await call('GET', `/admin/v1/tenants/${tenant}/balance`, billingKey)).json()
    expect(r.clickhouse).toEqual({ spentMicroUsd: balance.spentMicroUsd, requests: outcomes.completed })
    expect(r.differenceMicroUsd).toBe(0)
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
    const lags = metrics.split('\n').filter((l) => l.startsWith('supergate_projection_lag_messages'))
    expect(lags, lags.join('\n')).toContain('supergate_projection_lag_messages{projection="analytics-sink"} 0')
    expect(Number(/^supergate_analytics_rows_written (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(outcomes.completed + outcomes.cacheHits + outcomes.rejected)
    expect(balance.spentMicroUsd).toBeGreaterThan(0)
    expect(r.projects).toEqual(
      expect.arrayContaining([
        { projectId: web, clickhouseMicroUsd: expect.any(Number) as number, postgresMicroUsd: expect.any(Number) as number, differenceMicroUsd: 0 },
        { projectId: batch, clickhouseMicroUsd: expect.any(Number) as number, postgresMicroUsd: expect.any(Number) as number, differenceMicroUsd: 0 },
      ]),
    )
  })

  it('reports by project and by user with totals equal to the balance, cache hits and refusals counted', async () => {
    const balance = (await call('GET', `/admin/v1/tenants/${tenant}/balance`, billingKey)).json() as { spentMicroUsd: number; projects: { projectId: string; spentMicroUsd: number }[] }
    const byProject = (await call('GET', `/admin/v1/tenants/${tenant}/reports/chargeback?groupBy=project`, billingKey)).json() as {
      rows: { projectId: string; projectName: string; costMicroUsd: number; requests: number; cacheHits: number; rejectedRequests: number; cacheSavingsMicroUsd: number }[]
      totals: { costMicroUsd: number; requests: number; cacheHits: number; rejectedRequests: number; cacheSavingsMicroUsd: number }
    }
    expect(byProject.totals).toMatchObject({ costMicroUsd: balance.spentMicroUsd, requests: outcomes.completed, cacheHits: outcomes.cacheHits, rejectedRequests: outcomes.rejected })
    expect(byProject.totals.cacheSavingsMicroUsd).toBeGreaterThan(0)
    for (const p of balance.projects) {
      expect(byProject.rows.find((r) => r.projectId === p.projectId)?.costMicroUsd).toBe(p.spentMicroUsd)
    }
    expect(byProject.rows.map((r) => r.projectName).sort()).toEqual(['Batch jobs', 'Web shop'])
    expect(byProject.rows.find((r) => r.projectId === web)).toMatchObject({ requests: served.web, cacheHits: outcomes.cacheHits, rejectedRequests: 1 })
    expect(byProject.rows.find((r) => r.projectId === batch)).toMatchObject({ requests: served.batch, cacheHits: 0, rejectedRequests: 1 })

    const byUser = (await call('GET', `/admin/v1/tenants/${tenant}/reports/chargeback?groupBy=user`, billingKey)).json() as { rows: { user: string | null; requests: number }[] }
    expect(Object.fromEntries(byUser.rows.map((r) => [String(r.user), r.requests]))).toEqual(served.users)
  })

  it('answers CSV for spreadsheets, with names and exact decimal USD', async () => {
    const r = await call('GET', `/admin/v1/tenants/${tenant}/reports/chargeback?groupBy=project,model&format=csv`, billingKey)
    expect(r.status).toBe(200)
    expect(r.headers['content-type']).toBe('text/csv; charset=utf-8')
    expect(r.headers['content-disposition']).toMatch(new RegExp(`attachment; filename="chargeback-${tenant}-\\d{4}-\\d{2}-\\d{2}-\\d{4}-\\d{2}-\\d{2}\\.csv"`))
    const [header, ...lines] = r.body.trim().split('\r\n')
    expect(header).toBe('project_id,project_name,model,requests,failed_requests,rejected_requests,cache_hits,prompt_tokens,completion_tokens,cached_tokens,reasoning_tokens,cost_micro_usd,cache_savings_micro_usd,cost_usd,cache_savings_usd')
    const webLine = lines.find((l) => l.startsWith(`${web},Web shop,openai/gpt-4o-mini,`))!
    const cells = webLine.split(',')
    expect(cells[14 - 1]).toBe(`0.${cells[11]!.padStart(6, '0')}`)
  })

  it('lets billing and above read reports of their own tenant only, and says what is wrong with a bad query', async () => {
    const url = `/admin/v1/tenants/${tenant}/reports/chargeback`
    expect((await call('GET', url, developerKey)).status).toBe(403)
    const outsider = String((await created('/tenants', { name: 'Other' })).id)
    const outsiderBilling = String((await created(`/tenants/${outsider}/keys`, { name: 'finance', role: 'billing' })).key)
    expect((await call('GET', url, outsiderBilling)).status).toBe(404)
    expect((await call('GET', `/admin/v1/tenants/${outsider}/reports/chargeback`, outsiderBilling)).json()).toMatchObject({ rows: [], totals: { costMicroUsd: 0 } })
    const error = async (query: string) => (await call('GET', `${url}?${query}`, billingKey)).json().error as { param: string; type: string; message: string }
    expect(await error('groupBy=team')).toMatchObject({ type: 'invalid_request_error', param: 'groupBy' })
    expect(await error('groupBy=project,project')).toMatchObject({ param: 'groupBy' })
    expect(await error('from=2026-02-01&to=2026-01-01')).toMatchObject({ param: 'to', message: expect.stringContaining('after') as string })
    expect(await error('from=yesterday')).toMatchObject({ param: 'from' })
    expect(await error('from=2020-01-01&to=2026-01-01')).toMatchObject({ param: 'to', message: expect.stringContaining('366') as string })
    expect(await error('format=xlsx')).toMatchObject({ param: 'format' })
    expect((await call('GET', '/admin/v1/me', billingKey)).json()).toMatchObject({ tenantId: tenant, role: 'billing', name: 'finance', projectId: null })
  })
  it('limits a key issued for one project to that project, and refuses it the tenant-wide reconciliation', async () => {
    const projectBilling = String((await created(`/tenants/${tenant}/keys`, { name: 'web-finance', role: 'billing', projectId: web })).key)
    const report = (await call('GET', `/admin/v1/tenants/${tenant}/reports/chargeback?groupBy=project`, projectBilling)).json() as { rows: { projectId: string; requests: number }[] }
    expect(report.rows.map((r) => [r.projectId, r.requests])).toEqual([[web, served.web]])
    const refused = await call('GET', `/admin/v1/tenants/${tenant}/reports/reconciliation`, projectBilling)
    expect(refused.status).toBe(403)
  })

  it('takes `to` alone as a month, refuses times ClickHouse cannot hold, and answers 503 when the store is down', async () => {
    const url = `/admin/v1/tenants/${tenant}/reports/chargeback`
    const monthOf = (await call('GET', `${url}?to=2026-02-01`, billingKey)).json()
    expect(monthOf).toMatchObject({ from: '2026-01-01T00:00:00.000Z', to: '2026-02-01T00:00:00.000Z', rows: [] })
    expect((await call('GET', `${url}?from=1960-01-01&to=1960-02-01`, billingKey)).json().error).toMatchObject({ param: 'from', message: expect.stringContaining('1970') as string })

    const down = {
      adapter: 'clickhouse' as const,
      command: () => Promise.reject(new Error('connect ECONNREFUSED http://reports:s3cret@clickhouse:8123')),
      insert: () => Promise.reject(new Error('connect ECONNREFUSED http://reports:s3cret@clickhouse:8123')),
      query: () => Promise.reject(new Error('connect ECONNREFUSED http://reports:s3cret@clickhouse:8123')),
      check: () => Promise.reject(new Error('down')),
      close: () => Promise.resolve(),
    }
    const broken = buildApp({ deps, logger: createLogger({ level: 'silent' }), admin: { controlPlane: gateway.controlPlane, keys: gateway.keys, sql: deps.sql, analytics: { store: down } } })
    try {
      for (const path of ['reports/chargeback', 'reports/reconciliation']) {
        const r = await broken.inject({ method: 'GET', url: `/admin/v1/tenants/${tenant}/${path}`, headers: { authorization: `Bearer ${billingKey}` } })
        expect(r.statusCode).toBe(503)
        expect(r.json()).toMatchObject({ error: { type: 'service_unavailable_error', code: 'service_unavailable' } })
        expect(r.body).not.toContain('s3cret')
      }
    } finally {
      await broken.close()
    }
  })

  it('tells a real difference: a fact that Postgres never counted shows as unreconciled, on its project', async () => {
    const [row] = await deps.analytics.query<Record<string, unknown>>(`SELECT * FROM usage_events WHERE tenant_id = {t:String} AND kind = 'request' LIMIT 1`, { t: tenant })
    await deps.analytics.insert('usage_events', [{ ...row, event_id: 'not-in-postgres', project_id: web, cost_micro_usd: 123 }])
    const r = (await call('GET', `/admin/v1/tenants/${tenant}/reports/reconciliation`, billingKey)).json()
    expect(r).toMatchObject({ reconciled: false, differenceMicroUsd: 123, pending: { sink: 0, balances: 0 } })
    expect((r.projects as { projectId: string; differenceMicroUsd: number }[]).find((p) => p.projectId === web)?.differenceMicroUsd).toBe(123)
  })
})
