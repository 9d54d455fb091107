import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyWebhook } from '../../projections/alerts/webhooks.ts'
import { ALERTS_TOPIC } from '../../projections/alerts/alert-events.ts'
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
import { openPglite } from '../support/sql.ts'
import type { OpenedSqlStore } from '../support/sql.ts'

/**
 * The whole path as the embedded gateway runs it: a credit grant (control event → outbox → control topic)
 * and priced calls (usage events) arrive at the balances and budgets projections, read over the admin API.
 */
const ADMIN = 'sg-admin-balances-test-token-00000000001'
let opened: OpenedSqlStore
let mock: RunningMock
let gateway: GatewayParts
let app: FastifyInstance

beforeAll(async () => {
  opened = await openPglite()
  await migrate(opened.store)
  mock = await startMock(openAiMock())
  const deps: Dependencies = {
    sql: opened.store,
    eventStore: new SqlEventStore(opened.store),
    eventLog: new InProcessEventLog(opened.store, { pollIntervalMs: 20 }),
    rateLimiter: new MemoryRateLimiter(),
    analytics: await ClickHouseAnalyticsStore.open({ chdbPath: ':memory:' }),
  }
  const config = loadConfig({ SUPERGATE_ADMIN_TOKEN: ADMIN, SUPERGATE_OPENAI_API_KEY: 'upstream', SUPERGATE_OPENAI_BASE_URL: `${mock.url}/v1` })
  const logger = createLogger({ level: 'silent' })
  gateway = createGateway(config, { logger, deps, adminToken: ADMIN, masterKeys: [{ version: 1, key: Buffer.alloc(32, 3) }] })
  await gateway.start()
  app = buildApp({ deps, logger, gateway, admin: { controlPlane: gateway.controlPlane, keys: gateway.keys, sql: deps.sql }, metrics: gateway.metrics })
})

afterAll(async () => {
  await app.close()
  await gateway.close()
  await mock.close()
  await opened.dispose()
})

const call = async (method: 'GET' | 'POST' | 'PUT', url: string, token: string, payload?: object) => {
  const response = await app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload === undefined ? {} : { payload }) })
  return { status: response.statusCode, json: response.json<Record<string, unknown>>() }
}

describe('balances and budgets from events', () => {
  it('shows credits minus the exact cost of every call, per tenant, project and budget', async () => {
    const tenant = String((await call('POST', '/admin/v1/tenants', ADMIN, { name: 'Balances' })).json.id)
    const project = String((await call('POST', `/admin/v1/tenants/${tenant}/projects`, ADMIN, { name: 'web' })).json.id)
    const key = String((await call('POST', `/admin/v1/tenants/${tenant}/keys`, ADMIN, { name: 'app', role: 'developer', projectId: project })).json.key)
    expect((await call('POST', `/admin/v1/tenants/${tenant}/credits`, ADMIN, { amountMicroUsd: 1_000_000 })).status).toBe(201)
    expect((await call('PUT', `/admin/v1/tenants/${tenant}/budgets/${encodeURIComponent(`project:${project}`)}`, ADMIN, { period: 'day', limitMicroUsd: 100 })).status).toBe(200)

    for (let i = 0; i < 3; i++) {
      // max_tokens keeps each call's worst case (about 11 µUSD) within the 100 µUSD budget it reserves against.
      const answer = await call('POST', '/v1/chat/completions', key, { model: 'openai/gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'Hello' }] })
      expect(answer.status).toBe(200)
    }
    // Each call: 19 input + 10 output tokens of gpt-4o-mini = 9 µUSD (see usage-events.int.test.ts).
    await expect
      .poll(async () => (await call('GET', `/admin/v1/tenants/${tenant}/balance`, ADMIN)).json, { timeout: 10_000 })
      .toEqual({ balanceMicroUsd: 1_000_000 - 27, creditedMicroUsd: 1_000_000, spentMicroUsd: 27, projects: [{ projectId: project, spentMicroUsd: 27 }] })
    const budgets = await call('GET', `/admin/v1/tenants/${tenant}/budgets/status`, key)
    expect(budgets.json.data).toEqual([{ scope: `project:${project}`, period: 'day', limitMicroUsd: 100, spentMicroUsd: 27, remainingMicroUsd: 73 }])
  })

  it('fires a spend alert once, as a signed webhook, when a call crosses its threshold', async () => {
    const received: { body: string; signature: string; at: number }[] = []
    const receiver = createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString()))
      req.on('end', () => {
        received.push({ body, signature: String(req.headers['supergate-signature']), at: performance.now() })
        res.writeHead(204).end()
      })
    })
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r))
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`
    try {
      const tenant = String((await call('POST', '/admin/v1/tenants', ADMIN, { name: 'Alerted' })).json.id)
      const key = String((await call('POST', `/admin/v1/tenants/${tenant}/keys`, ADMIN, { name: 'app', role: 'developer' })).json.key)
      const rule = await call('POST', `/admin/v1/tenants/${tenant}/alert-rules`, ADMIN, { kind: 'absolute_spend', scope: 'tenant', threshold: 10, period: 'day', webhookUrl: url })
      expect(rule.status).toBe(201)
      const secret = String((await call('GET', `/admin/v1/tenants/${tenant}/webhook-secret`, ADMIN)).json.secret)
      const ask = () => call('POST', '/v1/chat/completions', key, { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] })
      expect((await ask()).status).toBe(200)
      await new Promise((r) => setTimeout(r, 300))
      expect(received).toHaveLength(0)
      // 9 µUSD, then 18: this call crosses 10.
      const crossingAt = performance.now()
      expect((await ask()).status).toBe(200)
      await expect.poll(() => received.length, { timeout: 10_000 }).toBe(1)
      console.error(`[alerts] threshold-crossing request → webhook received in ${(received[0]!.at - crossingAt).toFixed(0)} ms`)
      for (let i = 0; i < 3; i++) expect((await ask()).status).toBe(200)
      await new Promise((r) => setTimeout(r, 500))
      expect(received).toHaveLength(1)
      const hook = received[0]!
      expect(verifyWebhook(secret, hook.signature, hook.body, Math.floor(Date.now() / 1000))).toBe(true)
      expect(JSON.parse(hook.body)).toMatchObject({ type: 'alert.triggered', tenantId: tenant, threshold: 10, spentMicroUsd: 18 })
      const deliveries = await call('GET', `/admin/v1/tenants/${tenant}/webhook-deliveries`, ADMIN)
      expect(deliveries.json.data).toMatchObject([{ status: 'delivered', attempts: 1 }])

      // The same alert, once, as an alert.triggered event on the alerts topic, under the webhook's id.
      const onTopic: Record<string, unknown>[] = []
      const sub = await new InProcessEventLog(opened.store, { pollIntervalMs: 20 }).subscribe({
        groupId: `test-alerts-${tenant}`,
        topics: [ALERTS_TOPIC],
        fromBeginning: true,
        handleBatch: (batch) => {
          for (const m of batch.messages) if (m.key === tenant) onTopic.push(JSON.parse(m.value.toString('utf8')) as Record<string, unknown>)
          return Promise.resolve()
        },
      })
      try {
        await expect.poll(() => onTopic.length, { timeout: 10_000 }).toBe(1)
        expect(onTopic[0]).toMatchObject({ id: (JSON.parse(hook.body) as { id: string }).id, type: 'alert.triggered', tenantId: tenant, data: { kind: 'absolute_spend', threshold: 10, spentMicroUsd: 18, webhook: true } })
      } finally {
        await sub.stop()
      }
    } finally {
      await new Promise((r) => receiver.close(r))
    }
  })

  it("prices a tenant's calls with its own price override and markup", async () => {
    const tenant = String((await call('POST', '/admin/v1/tenants', ADMIN, { name: 'Marked up' })).json.id)
    const key = String((await call('POST', `/admin/v1/tenants/${tenant}/keys`, ADMIN, { name: 'app', role: 'developer' })).json.key)
    // 100% markup on the table price: 8.85 µUSD × 2 = 17.7 → 18 µUSD a call.
    const set = await call('PUT', `/admin/v1/tenants/${tenant}/price-overrides/${encodeURIComponent('openai/gpt-4o-mini')}`, ADMIN, { markupBasisPoints: 10_000 })
    expect(set.status).toBe(200)
    // Gateways pick control changes up within their poll interval (200 ms).
    await new Promise((r) => setTimeout(r, 400))
    for (let i = 0; i < 2; i++) {
      expect((await call('POST', '/v1/chat/completions', key, { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] })).status).toBe(200)
    }
    await expect.poll(async () => (await call('GET', `/admin/v1/tenants/${tenant}/balance`, ADMIN)).json.spentMicroUsd, { timeout: 10_000 }).toBe(36)
  })

  it('exposes each projection\'s lag at /metrics: it grows while the projection is stopped and returns to 0', async () => {
    const lagOf = async (projection: string): Promise<number | undefined> => {
      const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
      const line = text.split('\n').find((l) => l.startsWith(`supergate_projection_lag_messages{projection="${projection}"}`))
      return line === undefined ? undefined : Number(line.split(' ').at(-1))
    }
    const tenant = String((await call('POST', '/admin/v1/tenants', ADMIN, { name: 'Lagging' })).json.id)
    const key = String((await call('POST', `/admin/v1/tenants/${tenant}/keys`, ADMIN, { name: 'app', role: 'developer' })).json.key)
    await expect.poll(() => lagOf('balances'), { timeout: 10_000 }).toBe(0)

    const balances = gateway.runners.find((r) => r.name === 'balances')!
    await balances.stop()
    try {
      for (let i = 0; i < 4; i++) {
        expect((await call('POST', '/v1/chat/completions', key, { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] })).status).toBe(200)
      }
      // The four usage events reach the log; balances, stopped, applies none of them while budgets goes on.
      await expect.poll(() => lagOf('balances'), { timeout: 10_000 }).toBe(4)
      await expect.poll(() => lagOf('budgets'), { timeout: 10_000 }).toBe(0)
    } finally {
      await balances.start()
    }
    await expect.poll(() => lagOf('balances'), { timeout: 10_000 }).toBe(0)
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
    expect(metrics).toMatch(/^supergate_event_spool_events 0$/m)
    expect(metrics).toMatch(/^supergate_events_dropped 0$/m)
  })
})
