import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { InProcessEventLog } from '../../events/in-process-event-log.ts'
import { SqlEventStore } from '../../events/sql-event-store.ts'
import { ADMIN_ROUTES } from '../../gateway/admin/routes/index.ts'
import { buildApp } from '../../gateway/app.ts'
import type { Dependencies } from '../../gateway/dependencies.ts'
import { MemoryRateLimiter } from '../../gateway/limits/memory-rate-limiter.ts'
import { createGateway } from '../../gateway/wiring.ts'
import type { GatewayParts } from '../../gateway/wiring.ts'
import { ClickHouseAnalyticsStore } from '../../infra/clickhouse/clickhouse-analytics-store.ts'
import { loadConfig } from '../../infra/config/config.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import { createLogger } from '../../infra/telemetry/logger.ts'
import { sqlAdapters } from '../support/sql.ts'
import type { OpenedSqlStore } from '../support/sql.ts'

/**
 * Tenant isolation over HTTP, with the gateway as it is wired in production: every admin endpoint and
 * the data endpoints, called with tenant A's owner key against tenant B's tenant and resource ids. Every
 * attempt must be denied, change nothing of B's, and reveal nothing of B's in its answer.
 */
const ADMIN_TOKEN = 'sg-admin-isolation-suite-token-000000001'
const masterKey = Buffer.alloc(32, 5)

describe.each(sqlAdapters(inject('services').databaseUrl))('tenant isolation on $name', ({ open }) => {
  let opened: OpenedSqlStore
  let gateway: GatewayParts
  let app: FastifyInstance
  const b = { tenant: '', project: '', key: '', keyId: '', member: '', rule: '', providerKey: 'sk-ant-tenant-b-private-provider-key-0042' }
  const a = { tenant: '', key: '' }
  let attempts = 0
  let denials = 0

  const call = async (method: string, url: string, token: string, body?: unknown) => {
    const response = await app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${token}` }, ...(body === undefined ? {} : { payload: body as object }) })
    return { status: response.statusCode, text: response.body, json: (response.body === '' ? {} : JSON.parse(response.body)) as Record<string, unknown> }
  }
  const asAdmin = (method: string, url: string, body?: unknown) => call(method, `/admin/v1${url}`, ADMIN_TOKEN, body)

  /** One attempt of A's against B: denied, and nothing of B's in the answer. */
  const attack = async (method: string, url: string, body?: unknown, denied: number[] = [404]) => {
    const answer = await call(method, url, a.key, body)
    attempts++
    expect(denied, `${method} ${url} answered ${answer.status}: ${answer.text}`).toContain(answer.status)
    denials++
    for (const secret of [b.tenant, b.project, b.keyId, b.member, b.rule, b.providerKey, 'Tenant B', 'private-project', 'bob@tenant-b']) {
      if (secret !== '') expect(answer.text, `${method} ${url} leaks ${secret}`).not.toContain(secret)
    }
  }

  beforeAll(async () => {
    opened = await open()
    await migrate(opened.store)
    const deps: Dependencies = {
      sql: opened.store,
      eventStore: new SqlEventStore(opened.store),
      eventLog: new InProcessEventLog(opened.store),
      rateLimiter: new MemoryRateLimiter(),
      analytics: await ClickHouseAnalyticsStore.open({ chdbPath: ':memory:' }),
    }
    const config = loadConfig({ SUPERGATE_ADMIN_TOKEN: ADMIN_TOKEN, SUPERGATE_OUTBOX_RELAY: 'off', SUPERGATE_OPENAI_API_KEY: 'gateway-openai-key' })
    const logger = createLogger({ level: 'silent' })
    gateway = createGateway(config, { logger, deps, adminToken: ADMIN_TOKEN, masterKeys: [{ version: 1, key: masterKey }] })
    await gateway.auth.refresh()
    app = buildApp({ deps, logger, gateway, admin: { controlPlane: gateway.controlPlane, keys: gateway.keys, sql: opened.store } })

    b.tenant = String((await asAdmin('POST', '/tenants', { name: 'Tenant B', keyMode: 'byok_only' })).json.id)
    b.project = String((await asAdmin('POST', `/tenants/${b.tenant}/projects`, { name: 'private-project' })).json.id)
    const keyOfB = await asAdmin('POST', `/tenants/${b.tenant}/keys`, { name: 'b-owner', role: 'owner' })
    b.key = String(keyOfB.json.key)
    b.keyId = String(keyOfB.json.id)
    b.member = String((await asAdmin('POST', `/tenants/${b.tenant}/members`, { email: 'bob@tenant-b.example', role: 'admin' })).json.id)
    b.rule = String((await asAdmin('POST', `/tenants/${b.tenant}/alert-rules`, { kind: 'spend_rate', scope: 'tenant', threshold: 5, period: 'day' })).json.id)
    expect((await asAdmin('PUT', `/tenants/${b.tenant}/credentials/anthropic`, { apiKey: b.providerKey })).status).toBe(200)
    a.tenant = String((await asAdmin('POST', '/tenants', { name: 'Tenant A', keyMode: 'byok_only' })).json.id)
    a.key = String((await asAdmin('POST', `/tenants/${a.tenant}/keys`, { name: 'a-owner', role: 'owner' })).json.key)
  })

  afterAll(async () => {
    console.error(`[isolation] ${opened.store.adapter}: ${attempts} cross-tenant attempts, ${denials} denied`)
    await app.close()
    await gateway.close()
    await opened.dispose()
  })

  it("denies every admin endpoint on B's tenant, and every endpoint on A's tenant that names B's resources", async () => {
    const snapshot = () => Promise.all(['', '/projects', '/keys', '/members', '/credentials', '/alert-rules', '/credits'].map((p) => asAdmin('GET', `/tenants/${b.tenant}${p}`).then((r) => r.text)))
    const before = await snapshot()
    // A valid body for each endpoint, so that a denial is about whose resource it is, not about the input.
    const bodyFor = (method: string, path: string): unknown => {
      if (method === 'GET' || method === 'DELETE') return undefined
      const bodies: [RegExp, unknown][] = [
        [/\/members\/\{memberId\}$/, { role: 'viewer' }],
        [/\/members$/, { email: 'x@y.z', role: 'viewer' }],
        [/\/keys\/\{keyId\}\/rotate$/, { gracePeriodSeconds: 0 }],
        [/\/keys$/, { name: 'x', role: 'viewer' }],
        [/\/projects$/, { name: 'x' }],
        [/\/credentials\/\{provider\}$/, { apiKey: 'sk-ant-intruder-0000000000' }],
        [/\/credits$/, { amountMicroUsd: 1 }],
        [/\/budgets\/\{scope\}$/, { period: 'day', limitMicroUsd: 1 }],
        [/\/alert-rules$/, { kind: 'spend_rate', scope: 'tenant', threshold: 1, period: 'day' }],
        [/\/price-overrides\/\{model\}$/, { markupBasisPoints: 1 }],
        [/^\/tenants\/\{tenantId\}$/, { name: 'x' }],
      ]
      return bodies.find(([pattern]) => pattern.test(path))?.[1] ?? {}
    }
    const fill = (path: string, tenant: string) =>
      path
        .replace('{tenantId}', tenant)
        .replace('{projectId}', b.project)
        .replace('{keyId}', b.keyId)
        .replace('{memberId}', b.member)
        .replace('{ruleId}', b.rule)
        .replace('{provider}', 'anthropic')
        .replace('{scope}', 'tenant')
        .replace('{model}', encodeURIComponent('openai/gpt-4o'))
    for (const route of ADMIN_ROUTES.filter((r) => r.path.includes('{tenantId}'))) {
      const query = route.method === 'DELETE' && route.path.includes('/budgets/') ? '?period=day' : ''
      const payload = bodyFor(route.method, route.path)
      await attack(route.method, `/admin/v1${fill(route.path, b.tenant)}${query}`, payload)
      if (/\{(projectId|keyId|memberId|ruleId)\}/.test(route.path)) {
        await attack(route.method, `/admin/v1${fill(route.path, a.tenant)}`, payload)
      }
    }
    // Platform-only endpoints: a tenant's owner key is refused.
    await attack('POST', '/admin/v1/tenants', { name: 'intruder' }, [403])
    await attack('POST', '/admin/v1/credentials/rewrap', {}, [403])
    expect(await snapshot()).toEqual(before)
  })

  it("never lets A's calls reach B's provider credentials", async () => {
    await attack('POST', '/v1/chat/completions', { model: 'anthropic/claude-sonnet-4-6', messages: [{ role: 'user', content: 'hi' }] })
    await attack('POST', '/v1/messages', { model: 'anthropic/claude-sonnet-4-6', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })
    await attack('GET', '/v1/models/anthropic/claude-sonnet-4-6')
    const models = await call('GET', '/v1/models', a.key)
    expect(models.status).toBe(200)
    expect(models.text).not.toContain('anthropic/')
    // B itself does see its own provider.
    expect((await call('GET', '/v1/models', b.key)).text).toContain('anthropic/')
  })

  it("does not accept B's key on A's tenant either", async () => {
    const answer = await call('GET', `/admin/v1/tenants/${a.tenant}/keys`, b.key)
    expect(answer.status).toBe(404)
    expect(answer.text).not.toContain(a.tenant)
  })
})
