import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { EventStore, ExpectedVersion, NewEvent } from '../../events/event-store.ts'
import { SqlEventStore } from '../../events/sql-event-store.ts'
import { adminRoutes } from '../../gateway/admin/admin-routes.ts'
import { ADMIN_ROUTES } from '../../gateway/admin/routes/index.ts'
import type { KeyResolver } from '../../gateway/auth/api-keys.ts'
import { ControlPlane, hashApiKey } from '../../gateway/control/control-plane.ts'
import type { Role } from '../../gateway/control/roles.ts'
import { errorsPlugin } from '../../gateway/plugins/errors.ts'
import { maskSecret } from '../../gateway/security/envelope-encryption.ts'
import type { MasterKey } from '../../gateway/security/envelope-encryption.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import type { SqlStore } from '../../infra/postgres/sql-store.ts'
import { createLogger } from '../../infra/telemetry/logger.ts'
import { appendAuditRecords } from '../../projections/audit/audit-trail.ts'
import { ControlProjector } from '../../projections/control/control-projector.ts'
import { sqlAdapters } from '../support/sql.ts'
import type { OpenedSqlStore } from '../support/sql.ts'

const USER_AGENT = 'supergate-test/1'

/** Resolves the admin token to `platform` and API keys through the read model, by the hash of the whole key. */
function testKeys(sql: SqlStore, adminToken: string): KeyResolver {
  return {
    async authenticate(secret) {
      if (secret === adminToken) return { keyId: 'admin', name: 'bootstrap admin', tenantId: 'default', role: 'platform' }
      const rows = await sql.query<{ id: string; tenant_id: string; name: string; role: Role; project_id: string | null }>(
        `SELECT id, tenant_id, name, role, project_id FROM api_keys
         WHERE (secret_hash = $1 OR (previous_hash = $1 AND previous_valid_until > now()))
           AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
        [hashApiKey(secret)],
      )
      const row = rows.rows[0]
      return row === undefined ? undefined : { keyId: row.id, name: row.name, tenantId: row.tenant_id, role: row.role, projectId: row.project_id }
    },
  }
}

/** Holds readers of one stream until two have read it: both then decide on the same version, deterministically. */
class RendezvousEventStore implements EventStore {
  readonly adapter: EventStore['adapter']
  readonly #inner: EventStore
  readonly #streamId: string
  readonly #waiting: (() => void)[] = []

  constructor(inner: EventStore, streamId: string) {
    this.#inner = inner
    this.#streamId = streamId
    this.adapter = inner.adapter
  }

  async readStream(streamId: string, options?: { fromVersion?: number }) {
    const events = await this.#inner.readStream(streamId, options)
    if (streamId === this.#streamId) {
      await new Promise<void>((resolve) => {
        this.#waiting.push(resolve)
        if (this.#waiting.length === 2) for (const release of this.#waiting.splice(0)) release()
      })
    }
    return events
  }

  appendToStream(streamId: string, events: readonly NewEvent[], expected: ExpectedVersion) {
    return this.#inner.appendToStream(streamId, events, expected)
  }

  readAll(options?: { after?: number; limit?: number }) {
    return this.#inner.readAll(options)
  }

  check() {
    return this.#inner.check()
  }

  close() {
    return this.#inner.close()
  }
}

interface Answer {
  status: number
  body: unknown
  text: string
  headers: Record<string, unknown>
}

type ErrorAnswer = { error: { code: string; param: string | null; message: string; type: string } }

describe.each(sqlAdapters(inject('services').databaseUrl))('admin API on $name', ({ open }) => {
  const adminToken = `sg-admin-${randomBytes(24).toString('base64url')}`
  const logLines: string[] = []
  const answers: { url: string; text: string }[] = []
  /** Each secret, with the one answer allowed to show it (the issuing one). */
  const secrets = new Map<string, number | null>([[adminToken, null]])
  let opened: OpenedSqlStore
  let sql: SqlStore
  let masterKeys: MasterKey[] = [{ version: 1, key: Buffer.alloc(32, 1) }]
  let app: FastifyInstance
  let tenantA: string
  let tenantB: string
  const keysOfA = {} as Record<Role, { id: string; key: string }>

  function buildAdminApp(controlPlane: ControlPlane): FastifyInstance {
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logLines.push(chunk.toString())
        callback()
      },
    })
    const logger: FastifyBaseLogger = createLogger({ level: 'trace', destination })
    const instance = Fastify({ loggerInstance: logger })
    void instance.register(errorsPlugin)
    adminRoutes(instance, { controlPlane, keys: testKeys(sql, adminToken), sql })
    return instance
  }

  function controlPlane(eventStore: EventStore = new SqlEventStore(sql)): ControlPlane {
    const projector = new ControlProjector(sql, { alsoApply: appendAuditRecords })
    return new ControlPlane({ eventStore, sql, projector, masterKeys: () => masterKeys })
  }

  async function call(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    options: { token?: string | null; body?: unknown; headers?: Record<string, string>; on?: FastifyInstance } = {},
  ): Promise<Answer> {
    const token = options.token === undefined ? adminToken : options.token
    const response = await (options.on ?? app).inject({
      method,
      url: `/admin/v1${path}`,
      headers: {
        'user-agent': USER_AGENT,
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
      ...(options.body === undefined ? {} : { payload: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }),
    })
    answers.push({ url: `${method} ${path}`, text: response.body })
    const isJson = String(response.headers['content-type'] ?? '').startsWith('application/json')
    return { status: response.statusCode, body: isJson ? response.json<unknown>() : undefined, text: response.body, headers: response.headers }
  }

  /** Remembers a one-time secret and the answer that showed it. */
  function issued(answer: Answer): { id: string; key: string } {
    const body = answer.body as { id: string; key: string }
    secrets.set(body.key, answers.length - 1)
    return body
  }

  async function issueKey(tenantId: string, role: Role, token = adminToken, extra: Record<string, unknown> = {}): Promise<{ id: string; key: string }> {
    const answer = await call('POST', `/tenants/${tenantId}/keys`, { token, body: { name: `${role} key`, role, ...extra } })
    expect(answer.status, answer.text).toBe(201)
    return issued(answer)
  }

  const errorOf = (answer: Answer) => (answer.body as ErrorAnswer).error

  beforeAll(async () => {
    opened = await open()
    sql = opened.store
    await migrate(sql)
    app = buildAdminApp(controlPlane())
    tenantA = ((await call('POST', '/tenants', { body: { name: 'Tenant A' } })).body as { id: string }).id
    tenantB = ((await call('POST', '/tenants', { body: { name: 'Tenant B', keyMode: 'byok_only' } })).body as { id: string }).id
    for (const role of ['owner', 'admin', 'developer', 'billing', 'viewer'] as const) keysOfA[role] = await issueKey(tenantA, role)
  })
  afterAll(async () => {
    await app.close()
    await opened.dispose()
  })

  it('serves its OpenAPI 3.1 document, without credentials', async () => {
    const answer = await call('GET', '/openapi.json', { token: null })
    expect(answer.status).toBe(200)
    const doc = answer.body as { openapi: string; paths: Record<string, Record<string, unknown>> }
    expect(doc.openapi).toBe('3.1.0')
    for (const route of ADMIN_ROUTES) expect(doc.paths[route.path]?.[route.method.toLowerCase()], `${route.method} ${route.path}`).toBeDefined()
  })

  it('answers 401 without a token or with an unknown one', async () => {
    for (const token of [null, 'sg-admin-wrong', `${keysOfA.owner.key.slice(0, -1)}${keysOfA.owner.key.endsWith('x') ? 'y' : 'x'}`]) {
      const answer = await call('GET', `/tenants/${tenantA}`, { token })
      expect(answer.status).toBe(401)
      expect(errorOf(answer)).toMatchObject({ code: 'invalid_api_key', type: 'authentication_error' })
    }
  })

  it('creates a tenant (bootstrap admin only), reads it and updates it', async () => {
    const created = await call('POST', '/tenants', { body: { name: 'Acme' } })
    expect(created.status).toBe(201)
    const { id } = created.body as { id: string }
    expect(created.body).toEqual({ id, name: 'Acme', keyMode: 'gateway' })
    const patched = await call('PATCH', `/tenants/${id}`, { body: { name: 'Acme Inc', keyMode: 'byok_with_fallback' } })
    expect(patched.status).toBe(200)
    expect(patched.body).toMatchObject({ id, name: 'Acme Inc', keyMode: 'byok_with_fallback' })
    expect((await call('GET', `/tenants/${id}`)).body).toEqual(patched.body)

    const byOwner = await call('POST', '/tenants', { token: keysOfA.owner.key, body: { name: 'Sneaky' } })
    expect(byOwner.status).toBe(403)
    expect(errorOf(byOwner).code).toBe('permission_denied')
  })

  it('creates, lists and archives projects', async () => {
    const created = await call('POST', `/tenants/${tenantA}/projects`, { body: { name: 'search' } })
    expect(created.status).toBe(201)
    const { id } = created.body as { id: string }
    expect(created.body).toEqual({ id, name: 'search' })
    expect((await call('DELETE', `/tenants/${tenantA}/projects/${id}`)).status).toBe(204)
    const listed = (await call('GET', `/tenants/${tenantA}/projects`)).body as { data: { id: string; archived: boolean }[] }
    expect(listed.data.find((p) => p.id === id)).toMatchObject({ name: 'search', archived: true })
    expect((await call('DELETE', `/tenants/${tenantA}/projects/prj_nothing`)).status).toBe(404)
  })

  it('adds, lists, re-roles and removes members', async () => {
    const added = await call('POST', `/tenants/${tenantA}/members`, { body: { email: 'ada@example.com', role: 'developer' } })
    expect(added.status).toBe(201)
    const member = added.body as { id: string }
    expect(added.body).toEqual({ id: member.id, email: 'ada@example.com', role: 'developer' })
    expect((await call('POST', `/tenants/${tenantA}/members`, { body: { email: 'ada@example.com', role: 'viewer' } })).status).toBe(409)
    const changed = await call('PATCH', `/tenants/${tenantA}/members/${member.id}`, { body: { role: 'billing' } })
    expect(changed.body).toEqual({ id: member.id, email: 'ada@example.com', role: 'billing' })
    expect(((await call('GET', `/tenants/${tenantA}/members`)).body as { data: unknown[] }).data).toContainEqual({ id: member.id, email: 'ada@example.com', role: 'billing' })
    expect((await call('DELETE', `/tenants/${tenantA}/members/${member.id}`)).status).toBe(204)
    expect(((await call('GET', `/tenants/${tenantA}/members`)).body as { data: { id: string }[] }).data.map((m) => m.id)).not.toContain(member.id)
    expect((await call('DELETE', `/tenants/${tenantA}/members/${member.id}`)).status).toBe(404)
  })

  it('issues a key whose secret is shown once, lists keys without secrets, rotates with a grace period and revokes', async () => {
    const project = (await call('POST', `/tenants/${tenantA}/projects`, { body: { name: 'bots' } })).body as { id: string }
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString()
    const key = await issueKey(tenantA, 'developer', adminToken, {
      projectId: project.id,
      allowedModels: ['openai/*'],
      fallbackModels: ['anthropic/claude-sonnet-4'],
      limits: { requestsPerMinute: 60, concurrentRequests: 2 },
      expiresAt,
    })
    expect(key.key).toMatch(/^sg_[A-Za-z0-9]{12}_[A-Za-z0-9]{43}$/)

    const listed = await call('GET', `/tenants/${tenantA}/keys`)
    expect((listed.body as { data: unknown[] }).data).toContainEqual({
      id: key.id,
      name: 'developer key',
      role: 'developer',
      projectId: project.id,
      allowedModels: ['openai/*'],
      fallbackModels: ['anthropic/claude-sonnet-4'],
      limits: { requestsPerMinute: 60, concurrentRequests: 2 },
      expiresAt: new Date(expiresAt).toISOString(),
      createdAt: expect.any(String) as string,
      revokedAt: null,
      previousKeyValidUntil: null,
      status: 'active',
    })
    expect(listed.text).not.toContain(hashApiKey(key.key))

    const rotatedAnswer = await call('POST', `/tenants/${tenantA}/keys/${key.id}/rotate`, { body: { gracePeriodSeconds: 600 } })
    expect(rotatedAnswer.status).toBe(200)
    const rotated = issued(rotatedAnswer)
    const validUntil = Date.parse((rotatedAnswer.body as { previousKeyValidUntil: string }).previousKeyValidUntil)
    expect(validUntil).toBeGreaterThan(Date.now() + 590_000)
    expect(rotated.id).toBe(key.id)
    expect(rotated.key).not.toBe(key.key)
    // The old secret works during the grace period, the new one from now on.
    expect((await call('GET', `/tenants/${tenantA}/keys`, { token: key.key })).status).toBe(200)
    expect((await call('GET', `/tenants/${tenantA}/keys`, { token: rotated.key })).status).toBe(200)

    expect((await call('DELETE', `/tenants/${tenantA}/keys/${key.id}`)).status).toBe(204)
    expect((await call('GET', `/tenants/${tenantA}/keys`, { token: rotated.key })).status).toBe(401)
    const after = (await call('GET', `/tenants/${tenantA}/keys`)).body as { data: { id: string; status: string }[] }
    expect(after.data.find((k) => k.id === key.id)?.status).toBe('revoked')
    expect((await call('POST', `/tenants/${tenantA}/keys/${key.id}/rotate`, { body: {} })).status).toBe(409)
    expect((await call('DELETE', `/tenants/${tenantA}/keys/key_nothing`)).status).toBe(404)
  })

  it('stores provider credentials shown only masked, deletes them and re-wraps them under a new master key', async () => {
    const apiKey = `sk-proj-${randomBytes(24).toString('hex')}`
    secrets.set(apiKey, null)
    const set = await call('PUT', `/tenants/${tenantA}/credentials/openai`, { body: { apiKey, baseUrl: 'https://openai.internal.example/v1' } })
    expect(set.status).toBe(200)
    expect(set.body).toEqual({ provider: 'openai', masked: maskSecret(apiKey), baseUrl: 'https://openai.internal.example/v1' })
    const masked = (set.body as { masked: string }).masked
    const listed = await call('GET', `/tenants/${tenantA}/credentials`)
    expect((listed.body as { data: unknown[] }).data).toEqual([
      { provider: 'openai', masked, baseUrl: 'https://openai.internal.example/v1', updatedAt: expect.any(String) as string },
    ])
    expect(listed.text).not.toContain('ciphertext')

    masterKeys = [...masterKeys, { version: 2, key: Buffer.alloc(32, 2) }]
    const rewrapped = await call('POST', '/credentials/rewrap')
    expect(rewrapped.status).toBe(200)
    expect((rewrapped.body as { rewrapped: number }).rewrapped).toBeGreaterThanOrEqual(1)
    expect((await call('POST', '/credentials/rewrap')).body).toEqual({ rewrapped: 0 })
    expect((await call('POST', '/credentials/rewrap', { token: keysOfA.owner.key })).status).toBe(403)

    expect((await call('DELETE', `/tenants/${tenantA}/credentials/openai`)).status).toBe(204)
    expect((await call('GET', `/tenants/${tenantA}/credentials`)).body).toEqual({ data: [] })
    expect((await call('DELETE', `/tenants/${tenantA}/credentials/openai`)).status).toBe(404)
  })

  it('grants credits in whole micro-USD and lists them with their total', async () => {
    const tenant = ((await call('POST', '/tenants', { body: { name: 'Credits' } })).body as { id: string }).id
    const granted = await call('POST', `/tenants/${tenant}/credits`, { body: { amountMicroUsd: 25_000_000, reason: 'Q3 prepaid' } })
    expect(granted.status).toBe(201)
    expect(granted.body).toMatchObject({ amountMicroUsd: 25_000_000 })
    await call('POST', `/tenants/${tenant}/credits`, { body: { amountMicroUsd: 1 } })
    const listed = (await call('GET', `/tenants/${tenant}/credits`)).body as { data: { amountMicroUsd: number; reason: string | null }[]; totalMicroUsd: number }
    expect(listed.totalMicroUsd).toBe(25_000_001)
    expect(listed.data.map((g) => g.reason).sort()).toEqual(['Q3 prepaid', null].sort())
  })

  it('sets, lists and removes budgets per scope and period', async () => {
    const project = (await call('POST', `/tenants/${tenantA}/projects`, { body: { name: 'budgeted' } })).body as { id: string }
    const scope = `project:${project.id}`
    const set = await call('PUT', `/tenants/${tenantA}/budgets/${scope}`, { body: { period: 'month', limitMicroUsd: 5_000_000 } })
    expect(set.status).toBe(200)
    expect(set.body).toEqual({ scope, period: 'month', limitMicroUsd: 5_000_000 })
    await call('PUT', `/tenants/${tenantA}/budgets/tenant`, { body: { period: 'day', limitMicroUsd: 1_000_000 } })
    const listed = (await call('GET', `/tenants/${tenantA}/budgets`)).body as { data: unknown[] }
    expect(listed.data).toContainEqual({ scope, period: 'month', limitMicroUsd: 5_000_000 })
    expect(listed.data).toContainEqual({ scope: 'tenant', period: 'day', limitMicroUsd: 1_000_000 })
    expect((await call('DELETE', `/tenants/${tenantA}/budgets/${scope}?period=month`)).status).toBe(204)
    expect(((await call('GET', `/tenants/${tenantA}/budgets`)).body as { data: unknown[] }).data).not.toContainEqual({ scope, period: 'month', limitMicroUsd: 5_000_000 })
    expect((await call('DELETE', `/tenants/${tenantA}/budgets/${scope}?period=month`)).status).toBe(404)
  })

  it('sets, lists and removes rate limits per scope, and the policy for an unreachable limiter', async () => {
    const key = await issueKey(tenantA, 'developer')
    const scope = `key:${key.id}`
    const set = await call('PUT', `/tenants/${tenantA}/rate-limits/${scope}`, { body: { requestsPerMinute: 60, concurrentRequests: 4 } })
    expect(set.status, set.text).toBe(200)
    expect(set.body).toEqual({ scope, requestsPerMinute: 60, tokensPerMinute: null, concurrentRequests: 4 })
    await call('PUT', `/tenants/${tenantA}/rate-limits/tenant`, { body: { tokensPerMinute: 100_000 } })
    const listed = (await call('GET', `/tenants/${tenantA}/rate-limits`)).body as { data: unknown[] }
    expect(listed.data).toContainEqual({ scope, requestsPerMinute: 60, tokensPerMinute: null, concurrentRequests: 4 })
    expect(listed.data).toContainEqual({ scope: 'tenant', requestsPerMinute: null, tokensPerMinute: 100_000, concurrentRequests: null })
    // No limit at all, a fractional or zero limit, a scope of no one here: refused by name.
    expect(errorOf(await call('PUT', `/tenants/${tenantA}/rate-limits/tenant`, { body: {} }))).toMatchObject({ code: 'invalid_request' })
    expect(errorOf(await call('PUT', `/tenants/${tenantA}/rate-limits/tenant`, { body: { requestsPerMinute: 1.5 } }))).toMatchObject({ param: 'requestsPerMinute' })
    expect(errorOf(await call('PUT', `/tenants/${tenantA}/rate-limits/tenant`, { body: { concurrentRequests: 0 } }))).toMatchObject({ param: 'concurrentRequests' })
    expect((await call('PUT', `/tenants/${tenantA}/rate-limits/key:key_nobody`, { body: { requestsPerMinute: 1 } })).status).toBe(404)
    expect((await call('DELETE', `/tenants/${tenantA}/rate-limits/${scope}`)).status).toBe(204)
    expect(((await call('GET', `/tenants/${tenantA}/rate-limits`)).body as { data: { scope: string }[] }).data.map((r) => r.scope)).not.toContain(scope)
    expect((await call('DELETE', `/tenants/${tenantA}/rate-limits/${scope}`)).status).toBe(404)

    expect((await call('GET', `/tenants/${tenantA}/limits-policy`)).body).toEqual({ onLimiterUnavailable: 'fail_open' })
    expect((await call('PUT', `/tenants/${tenantA}/limits-policy`, { body: { onLimiterUnavailable: 'fail_closed' } })).status).toBe(200)
    expect((await call('GET', `/tenants/${tenantA}/limits-policy`)).body).toEqual({ onLimiterUnavailable: 'fail_closed' })
    expect(errorOf(await call('PUT', `/tenants/${tenantA}/limits-policy`, { body: { onLimiterUnavailable: 'maybe' } }))).toMatchObject({ param: 'onLimiterUnavailable' })
  })

  it('creates, lists and deletes alert rules', async () => {
    const rule = { kind: 'budget_percent', scope: 'tenant', threshold: 80, period: 'month', webhookUrl: 'https://hooks.example/alerts' }
    const created = await call('POST', `/tenants/${tenantA}/alert-rules`, { body: rule })
    expect(created.status).toBe(201)
    const { id } = created.body as { id: string }
    const listed = (await call('GET', `/tenants/${tenantA}/alert-rules`)).body as { data: unknown[] }
    expect(listed.data).toContainEqual({ id, ...rule, createdAt: expect.any(String) as string })
    expect((await call('DELETE', `/tenants/${tenantA}/alert-rules/${id}`)).status).toBe(204)
    expect((await call('DELETE', `/tenants/${tenantA}/alert-rules/${id}`)).status).toBe(404)
  })

  it('sets, lists and removes a price override for a model id that holds a slash', async () => {
    const set = await call('PUT', `/tenants/${tenantA}/price-overrides/${encodeURIComponent('openai/gpt-4o')}`, {
      body: { inputMicroUsdPerMillion: 2_000_000, markupBasisPoints: 1500 },
    })
    expect(set.status).toBe(200)
    const expected = { model: 'openai/gpt-4o', inputMicroUsdPerMillion: 2_000_000, outputMicroUsdPerMillion: null, cachedInputMicroUsdPerMillion: null, markupBasisPoints: 1500 }
    expect(set.body).toEqual(expected)
    expect(((await call('GET', `/tenants/${tenantA}/price-overrides`)).body as { data: unknown[] }).data).toContainEqual(expected)
    // Unencoded works too.
    expect((await call('DELETE', `/tenants/${tenantA}/price-overrides/openai/gpt-4o`)).status).toBe(204)
    expect(((await call('GET', `/tenants/${tenantA}/price-overrides`)).body as { data: unknown[] }).data).not.toContainEqual(expected)
  })

  it('records who changed what, from where and why; pages, exports as JSONL and verifies the chain', async () => {
    const reason = 'ticket OPS-42: new project for the search team'
    const made = await call('POST', `/tenants/${tenantA}/projects`, { token: keysOfA.admin.key, body: { name: 'audited' }, headers: { 'x-supergate-reason': reason } })
    expect(made.status).toBe(201)

    const page = await call('GET', `/tenants/${tenantA}/audit?type=project.created&actor=${keysOfA.admin.id}`)
    expect(page.status).toBe(200)
    const records = (page.body as { data: Record<string, unknown>[]; next: number | null }).data
    expect(records).toHaveLength(1)
    expect(records[0]).toMatchObject({ tenantId: tenantA, type: 'project.created', actorType: 'key', actorId: keysOfA.admin.id, sourceIp: '127.0.0.1', userAgent: USER_AGENT, reason })
    expect((await call('GET', `/tenants/${tenantA}/audit?type=tenant.created`)).body).toMatchObject({ data: [{ actorType: 'admin', actorId: 'bootstrap' }] })

    const first = (await call('GET', `/tenants/${tenantA}/audit?limit=2`)).body as { data: { seq: number }[]; next: number }
    expect(first.data.map((r) => r.seq)).toEqual([1, 2])
    expect(first.next).toBe(2)
    const second = (await call('GET', `/tenants/${tenantA}/audit?limit=2&after=${first.next}`)).body as { data: { seq: number }[] }
    expect(second.data.map((r) => r.seq)).toEqual([3, 4])

    const exported = await call('GET', `/tenants/${tenantA}/audit?format=jsonl`)
    expect(exported.status).toBe(200)
    expect(exported.headers['content-type']).toMatch(/^application\/x-ndjson/)
    const lines = exported.text.trimEnd().split('\n').map((line) => JSON.parse(line) as { seq: number })
    expect(lines.map((l) => l.seq)).toEqual(lines.map((_l, i) => i + 1))
    expect(lines.length).toBeGreaterThan(4)

    expect((await call('GET', `/tenants/${tenantA}/audit/verify`)).body).toEqual({ ok: true, records: lines.length })
  })

  describe('malformed input', () => {
    const cases: [string, 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', (t: string) => string, unknown, string][] = [
      ['unknown body field', 'POST', () => '/tenants', { name: 'x', colour: 'red' }, 'colour'],
      ['missing name', 'POST', () => '/tenants', {}, 'name'],
      ['unknown keyMode', 'POST', () => '/tenants', { name: 'x', keyMode: 'sometimes' }, 'keyMode'],
      ['empty tenant update', 'PATCH', (t) => `/tenants/${t}`, {}, 'name'],
      ['tenant id with odd characters', 'GET', () => '/tenants/ten$1', undefined, 'tenantId'],
      ['unknown role', 'POST', (t) => `/tenants/${t}/keys`, { name: 'k', role: 'root' }, 'role'],
      ['nested limit', 'POST', (t) => `/tenants/${t}/keys`, { name: 'k', role: 'viewer', limits: { requestsPerMinute: 0 } }, 'limits.requestsPerMinute'],
      ['unknown nested field', 'POST', (t) => `/tenants/${t}/keys`, { name: 'k', role: 'viewer', limits: { rpm: 5 } }, 'limits.rpm'],
      ['expiry not a timestamp', 'POST', (t) => `/tenants/${t}/keys`, { name: 'k', role: 'viewer', expiresAt: 'tomorrow' }, 'expiresAt'],
      ['expiry in the past', 'POST', (t) => `/tenants/${t}/keys`, { name: 'k', role: 'viewer', expiresAt: '2020-01-01T00:00:00Z' }, 'expiresAt'],
      ['negative grace period', 'POST', (t) => `/tenants/${t}/keys/key_x/rotate`, { gracePeriodSeconds: -1 }, 'gracePeriodSeconds'],
      ['unknown provider', 'PUT', (t) => `/tenants/${t}/credentials/acme-llm`, { apiKey: 'k' }, 'provider'],
      ['empty provider key', 'PUT', (t) => `/tenants/${t}/credentials/openai`, { apiKey: '' }, 'apiKey'],
      ['base URL not http', 'PUT', (t) => `/tenants/${t}/credentials/openai`, { apiKey: 'k', baseUrl: 'file:///etc/passwd' }, 'baseUrl'],
      ['fractional micro-USD', 'POST', (t) => `/tenants/${t}/credits`, { amountMicroUsd: 1.5 }, 'amountMicroUsd'],
      ['negative credits', 'POST', (t) => `/tenants/${t}/credits`, { amountMicroUsd: -5 }, 'amountMicroUsd'],
      ['credits as a string', 'POST', (t) => `/tenants/${t}/credits`, { amountMicroUsd: '100' }, 'amountMicroUsd'],
      ['unknown budget scope', 'PUT', (t) => `/tenants/${t}/budgets/everything`, { period: 'day', limitMicroUsd: 1 }, 'scope'],
      ['unknown period', 'PUT', (t) => `/tenants/${t}/budgets/tenant`, { period: 'week', limitMicroUsd: 1 }, 'period'],
      ['budget removal without a period', 'DELETE', (t) => `/tenants/${t}/budgets/tenant`, undefined, 'period'],
      ['percent threshold above 1000', 'POST', (t) => `/tenants/${t}/alert-rules`, { kind: 'budget_percent', scope: 'tenant', threshold: 5000, period: 'day' }, 'threshold'],
      ['fractional markup', 'PUT', (t) => `/tenants/${t}/price-overrides/m`, { markupBasisPoints: 1.5 }, 'markupBasisPoints'],
      ['audit page size 0', 'GET', (t) => `/tenants/${t}/audit?limit=0`, undefined, 'limit'],
      ['audit page size with export', 'GET', (t) => `/tenants/${t}/audit?format=jsonl&limit=5`, undefined, 'limit'],
      ['audit from not a timestamp', 'GET', (t) => `/tenants/${t}/audit?from=yesterday`, undefined, 'from'],
      ['unknown query parameter', 'GET', (t) => `/tenants/${t}/audit?colour=red`, undefined, 'colour'],
    ]
    it.each(cases)('%s: 400 naming the param', async (_name, method, path, body, param) => {
      const answer = await call(method, path(tenantA), { body })
      expect(answer.status, answer.text).toBe(400)
      expect(errorOf(answer)).toMatchObject({ code: 'invalid_request', type: 'invalid_request_error', param })
    })

    it('a reason header over 1000 characters: 400 naming the header', async () => {
      const answer = await call('POST', `/tenants/${tenantA}/projects`, { body: { name: 'p' }, headers: { 'x-supergate-reason': 'x'.repeat(1001) } })
      expect(answer.status).toBe(400)
      expect(errorOf(answer).param).toBe('x-supergate-reason')
    })

    it('broken JSON: 400 invalid_json', async () => {
      const answer = await call('POST', `/tenants/${tenantA}/projects`, { body: '{"name":' })
      expect(answer.status).toBe(400)
      expect(errorOf(answer).code).toBe('invalid_json')
    })

    it('a scope or project of no one here: 404 naming the param', async () => {
      const budget = await call('PUT', `/tenants/${tenantA}/budgets/project:prj_nothing`, { body: { period: 'day', limitMicroUsd: 1 } })
      expect(budget.status).toBe(404)
      expect(errorOf(budget)).toMatchObject({ code: 'not_found', param: 'scope' })
      const key = await call('POST', `/tenants/${tenantA}/keys`, { body: { name: 'k', role: 'viewer', projectId: 'prj_nothing' } })
      expect(errorOf(key)).toMatchObject({ code: 'not_found', param: 'projectId' })
    })
  })

  describe('the permission matrix, cell by cell', () => {
    /** One endpoint per action, and the roles that may call it (gateway/control/roles.ts, written out again here). */
    const cells: { action: string; allowed: string; request: (t: string, role: Role) => [Parameters<typeof call>[0], string, unknown?] }[] = [
      { action: 'tenant.read', allowed: 'owner admin developer billing viewer', request: (t) => ['GET', `/tenants/${t}`] },
      { action: 'tenant.update', allowed: 'owner admin', request: (t, r) => ['PATCH', `/tenants/${t}`, { name: `Tenant A (${r})` }] },
      { action: 'project.write', allowed: 'owner admin', request: (t, r) => ['POST', `/tenants/${t}/projects`, { name: `by ${r}` }] },
      { action: 'project.read', allowed: 'owner admin developer billing viewer', request: (t) => ['GET', `/tenants/${t}/projects`] },
      { action: 'member.write', allowed: 'owner admin', request: (t, r) => ['POST', `/tenants/${t}/members`, { email: `${r}@matrix.example`, role: 'viewer' }] },
      { action: 'member.read', allowed: 'owner admin viewer', request: (t) => ['GET', `/tenants/${t}/members`] },
      { action: 'key.write', allowed: 'owner admin developer', request: (t, r) => ['POST', `/tenants/${t}/keys`, { name: `by ${r}`, role: 'viewer' }] },
      { action: 'key.read', allowed: 'owner admin developer viewer', request: (t) => ['GET', `/tenants/${t}/keys`] },
      { action: 'credential.write', allowed: 'owner admin', request: (t) => ['PUT', `/tenants/${t}/credentials/mistral`, { apiKey: 'mistral-matrix-key' }] },
      { action: 'credential.read', allowed: 'owner admin developer viewer', request: (t) => ['GET', `/tenants/${t}/credentials`] },
      { action: 'budget.write', allowed: 'owner admin billing', request: (t) => ['PUT', `/tenants/${t}/budgets/tenant`, { period: 'month', limitMicroUsd: 9_000_000 }] },
      { action: 'budget.read', allowed: 'owner admin developer billing viewer', request: (t) => ['GET', `/tenants/${t}/budgets`] },
      { action: 'limits.write', allowed: 'owner admin', request: (t) => ['PUT', `/tenants/${t}/rate-limits/tenant`, { requestsPerMinute: 1_000_000 }] },
      { action: 'limits.read', allowed: 'owner admin developer billing viewer', request: (t) => ['GET', `/tenants/${t}/rate-limits`] },
      { action: 'credits.write', allowed: 'owner billing', request: (t) => ['POST', `/tenants/${t}/credits`, { amountMicroUsd: 1000 }] },
      { action: 'balance.read', allowed: 'owner admin billing viewer', request: (t) => ['GET', `/tenants/${t}/credits`] },
      { action: 'alert.write', allowed: 'owner admin billing', request: (t) => ['POST', `/tenants/${t}/alert-rules`, { kind: 'absolute_spend', scope: 'tenant', threshold: 1000, period: 'day' }] },
      { action: 'alert.read', allowed: 'owner admin developer billing viewer', request: (t) => ['GET', `/tenants/${t}/alert-rules`] },
      { action: 'price.write', allowed: 'owner billing', request: (t) => ['PUT', `/tenants/${t}/price-overrides/cohere%2Fcommand-r`, { markupBasisPoints: 100 }] },
      { action: 'price.read', allowed: 'owner admin developer billing viewer', request: (t) => ['GET', `/tenants/${t}/price-overrides`] },
      { action: 'audit.read', allowed: 'owner admin', request: (t) => ['GET', `/tenants/${t}/audit/verify`] },
      { action: 'tenant.create', allowed: '', request: (_t, r) => ['POST', '/tenants', { name: `by ${r}` }] },
    ]
    const roles = ['owner', 'admin', 'developer', 'billing', 'viewer'] as const
    beforeAll(() => {
      secrets.set('mistral-matrix-key', null)
    })
    it.each(cells.flatMap((cell) => roles.map((role) => ({ ...cell, role }))))('$action as $role', async ({ allowed, request, role }) => {
      const [method, path, body] = request(tenantA, role)
      const answer = await call(method, path, { token: keysOfA[role].key, body })
      if (allowed.split(' ').includes(role)) {
        expect(answer.status, answer.text).toBeLessThan(300)
        if (path.endsWith('/keys') && method === 'POST') issued(answer)
      } else {
        expect(answer.status, answer.text).toBe(403)
        expect(errorOf(answer)).toMatchObject({ code: 'permission_denied', type: 'permission_error' })
      }
    })
  })

  it('lets no key hand out, or act on, a role above its own', async () => {
    const ownerKey = await issueKey(tenantA, 'owner')
    const escalations: [Role, Parameters<typeof call>[0], string, unknown?][] = [
      ['admin', 'POST', `/tenants/${tenantA}/keys`, { name: 'mine now', role: 'owner' }],
      ['admin', 'POST', `/tenants/${tenantA}/members`, { email: 'boss@example.com', role: 'owner' }],
      ['admin', 'POST', `/tenants/${tenantA}/keys/${ownerKey.id}/rotate`, {}],
      ['admin', 'DELETE', `/tenants/${tenantA}/keys/${ownerKey.id}`],
      ['developer', 'POST', `/tenants/${tenantA}/keys`, { name: 'mine now', role: 'admin' }],
      ['developer', 'POST', `/tenants/${tenantA}/keys/${keysOfA.admin.id}/rotate`, {}],
    ]
    for (const [role, method, path, body] of escalations) {
      const answer = await call(method, path, { token: keysOfA[role].key, body })
      expect(answer.status, `${role} ${method} ${path}`).toBe(403)
      expect(errorOf(answer).code).toBe('permission_denied')
    }
    const owner = await call('POST', `/tenants/${tenantA}/members`, { body: { email: 'boss@example.com', role: 'owner' } })
    const demote = await call('PATCH', `/tenants/${tenantA}/members/${(owner.body as { id: string }).id}`, { token: keysOfA.admin.key, body: { role: 'viewer' } })
    expect(demote.status).toBe(403)
    expect((await call('GET', `/tenants/${tenantA}/keys`, { token: ownerKey.key })).status).toBe(200)
    issued(await call('POST', `/tenants/${tenantA}/keys`, { token: keysOfA.developer.key, body: { name: 'peer', role: 'developer' } }))
  })

  it("answers 404 to a key of another tenant on every one of that tenant's paths, revealing and changing nothing", async () => {
    const project = (await call('POST', `/tenants/${tenantB}/projects`, { body: { name: 'secret-project-b' } })).body as { id: string }
    const key = await issueKey(tenantB, 'owner')
    const member = (await call('POST', `/tenants/${tenantB}/members`, { body: { email: 'bob@tenant-b.example', role: 'admin' } })).body as { id: string }
    const rule = (await call('POST', `/tenants/${tenantB}/alert-rules`, { body: { kind: 'spend_rate', scope: 'tenant', threshold: 5, period: 'day' } })).body as { id: string }
    const providerKey = `sk-ant-${randomBytes(16).toString('hex')}`
    secrets.set(providerKey, null)
    await call('PUT', `/tenants/${tenantB}/credentials/anthropic`, { body: { apiKey: providerKey } })
    await call('PUT', `/tenants/${tenantB}/budgets/tenant`, { body: { period: 'day', limitMicroUsd: 7 } })
    await call('PUT', `/tenants/${tenantB}/price-overrides/${encodeURIComponent('openai/gpt-4o')}`, { body: { markupBasisPoints: 7 } })
    const before = await Promise.all(['', '/projects', '/keys', '/members', '/credentials', '/budgets', '/alert-rules', '/price-overrides', '/credits'].map((p) => call('GET', `/tenants/${tenantB}${p}`)))

    const tenantPaths = ADMIN_ROUTES.filter((route) => route.path.includes('{tenantId}'))
    expect(tenantPaths.length).toBeGreaterThan(25)
    for (const route of tenantPaths) {
      const path = route.path
        .replace('{tenantId}', tenantB)
        .replace('{projectId}', project.id)
        .replace('{keyId}', key.id)
        .replace('{memberId}', member.id)
        .replace('{ruleId}', rule.id)
        .replace('{provider}', 'anthropic')
        .replace('{scope}', 'tenant')
        .replace('{model}', encodeURIComponent('openai/gpt-4o'))
      const query = route.method === 'DELETE' && route.path.includes('/budgets/') ? '?period=day' : ''
      const body = route.method === 'GET' || route.method === 'DELETE' ? undefined : { name: 'x', role: 'owner', apiKey: 'x', amountMicroUsd: 1, period: 'day', limitMicroUsd: 1 }
      const answer = await call(route.method, path + query, { token: keysOfA.owner.key, body })
      expect(answer.status, `${route.method} ${route.path}`).toBe(404)
      expect(errorOf(answer)).toEqual({ code: 'not_found', type: 'not_found_error', param: null, message: 'No such tenant' })
      for (const secretOfB of [tenantB, project.id, key.id, member.id, rule.id, 'Tenant B', 'secret-project-b', 'bob@tenant-b']) expect(answer.text).not.toContain(secretOfB)
    }
    const after = await Promise.all(['', '/projects', '/keys', '/members', '/credentials', '/budgets', '/alert-rules', '/price-overrides', '/credits'].map((p) => call('GET', `/tenants/${tenantB}${p}`)))
    expect(after.map((a) => a.body)).toEqual(before.map((a) => a.body))
    expect((await call('GET', `/tenants/${tenantB}/keys`, { token: key.key })).status).toBe(200)
  })

  it('answers 404 for a tenant that does not exist, to the bootstrap admin too', async () => {
    for (const [method, path, body] of [
      ['GET', '/tenants/ten_nothing'],
      ['POST', '/tenants/ten_nothing/projects', { name: 'orphan' }],
      ['POST', '/tenants/ten_nothing/keys', { name: 'orphan', role: 'owner' }],
    ] as const) {
      const answer = await call(method, path, { body })
      expect(answer.status).toBe(404)
      expect(errorOf(answer).code).toBe('not_found')
    }
  })

  it('lets one of two concurrent edits of a tenant win and answers the other 409 conflict', async () => {
    const tenant = ((await call('POST', '/tenants', { body: { name: 'Contended' } })).body as { id: string }).id
    const racing = buildAdminApp(controlPlane(new RendezvousEventStore(new SqlEventStore(sql), `tenant-${tenant}`)))
    try {
      const answers = await Promise.all(['Left', 'Right'].map((name) => call('PATCH', `/tenants/${tenant}`, { body: { name }, on: racing })))
      expect(answers.map((a) => a.status).sort()).toEqual([200, 409])
      const lost = answers.find((a) => a.status === 409)!
      expect(errorOf(lost)).toMatchObject({ code: 'conflict', type: 'invalid_request_error' })
      const won = answers.find((a) => a.status === 200)!.body as { name: string }
      expect((await call('GET', `/tenants/${tenant}`)).body).toMatchObject({ name: won.name })
    } finally {
      await racing.close()
    }
  })

  it('answers two concurrent edits on the plain app with one 200 and one 409, or two 200s when they serialise', async () => {
    const tenant = ((await call('POST', '/tenants', { body: { name: 'Busy' } })).body as { id: string }).id
    const statuses = (await Promise.all(['One', 'Two'].map((name) => call('PATCH', `/tenants/${tenant}`, { body: { name } })))).map((a) => a.status).sort()
    expect([[200, 409], [200, 200]]).toContainEqual(statuses)
  })

  it('never shows a secret: no answer but the issuing one holds a key, and no log line holds any', () => {
    expect(secrets.size).toBeGreaterThan(10)
    expect(logLines.length).toBeGreaterThan(100)
    const logs = logLines.join('')
    for (const [secret, allowedIn] of secrets) {
      expect(logs.includes(secret), 'a secret in the logs').toBe(false)
      const shownIn = answers.flatMap((a, i) => (a.text.includes(secret) ? [i] : []))
      expect(shownIn, 'a secret in an answer').toEqual(allowedIn === null ? [] : [allowedIn])
    }
  })
})
