import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GROUP_BY } from '../../analytics/chargeback.ts'
import { ADMIN_PREFIX } from '../../gateway/admin/openapi.ts'
import { ADMIN_ROUTES } from '../../gateway/admin/routes/index.ts'
import { FuzzTally, expectSafe, headerValue, hostileJson, nearValid, pathSegment, percentEncode, queryString, toJsonText } from '../support/fuzz.ts'
import { ADMIN_TOKEN, startFuzzGateway } from '../support/fuzz-gateway.ts'
import type { FuzzGateway } from '../support/fuzz-gateway.ts'

/**
 * Issue 9, hostile input on the admin API: every route of ADMIN_ROUTES, its path parameters, query, body
 * and headers, from junk and from mutations of valid requests, with the admin token, the tenant's keys of
 * several roles, no key and a wrong one. Every answer: no 5xx, the OpenAI error shape, no stack trace, no
 * secret, and a 2xx JSON answer in the shape the OpenAPI document gives.
 */

const SEED = 9_0002
const RUNS_PER_ROUTE = 400
let gw: FuzzGateway
const tally = new FuzzTally()
const BYOK_KEY = 'sk-ant-byok-fuzz-secret-0000000000000003'

/** Real ids of things the fuzzing may change or delete, so that valid requests find them. */
interface Fixtures {
  otherTenantId: string
  spareProjectId: string
  spareKeyId: string
  memberId: string
  ruleId: string
}
let fx: Fixtures

beforeAll(async () => {
  gw = await startFuzzGateway()
  const t = `/tenants/${gw.tenantId}`
  const otherTenantId = String((await gw.admin('POST', '/tenants', { name: 'Other' })).id)
  const spareProjectId = String((await gw.admin('POST', `${t}/projects`, { name: 'spare' })).id)
  const spare = await gw.admin('POST', `${t}/keys`, { name: 'spare', role: 'developer' })
  const memberId = String((await gw.admin('POST', `${t}/members`, { email: 'fuzz@example.com', role: 'developer' })).id)
  const ruleId = String((await gw.admin('POST', `${t}/alert-rules`, { kind: 'absolute_spend', scope: 'tenant', threshold: 10, period: 'day', webhookUrl: 'http://127.0.0.1:1/hook' })).id)
  await gw.admin('PUT', `${t}/credentials/anthropic`, { apiKey: BYOK_KEY, baseUrl: 'http://127.0.0.1:1/v1' })
  await gw.admin('POST', `${t}/credits`, { amountMicroUsd: 1_000_000 })
  await gw.admin('PUT', `${t}/budgets/tenant`, { period: 'day', limitMicroUsd: 1_000 })
  await gw.admin('PUT', `${t}/price-overrides/openai/gpt-4o-mini`, { markupBasisPoints: 100 })
  gw.secrets.push(BYOK_KEY, String(spare.key))
  fx = { otherTenantId, spareProjectId, spareKeyId: String(spare.id), memberId, ruleId }
}, 60_000)

afterAll(async () => {
  console.error(tally.summary('admin API'))
  await gw?.close()
})

type Route = (typeof ADMIN_ROUTES)[number]
const routeName = (route: Pick<Route, 'method' | 'path'>) => `${route.method} ${ADMIN_PREFIX}${route.path}`

/** A valid body of every route that takes one: the seeds of the near-valid mutations. */
const VALID_BODIES: Record<string, () => object> = {
  'POST /tenants': () => ({ name: 'Fuzz tenant', keyMode: 'gateway' }),
  'PATCH /tenants/{tenantId}': () => ({ name: 'Fuzzed, renamed', keyMode: 'byok_with_fallback' }),
  'POST /tenants/{tenantId}/projects': () => ({ name: 'fuzz project' }),
  'POST /tenants/{tenantId}/members': () => ({ email: 'member@example.com', role: 'viewer' }),
  'PATCH /tenants/{tenantId}/members/{memberId}': () => ({ role: 'billing' }),
  'POST /tenants/{tenantId}/keys': () => ({
    name: 'fuzz key',
    role: 'developer',
    projectId: gw.projectId,
    allowedModels: ['openai/*', 'anthropic/claude-sonnet-4-6'],
    fallbackModels: ['openai/gpt-4o-mini'],
    limits: { requestsPerMinute: 60, tokensPerMinute: 10_000, concurrentRequests: 2 },
    expiresAt: '2030-01-01T00:00:00Z',
  }),
  'POST /tenants/{tenantId}/keys/{keyId}/rotate': () => ({ gracePeriodSeconds: 60 }),
  'PUT /tenants/{tenantId}/credentials/{provider}': () => ({ apiKey: 'sk-fuzz-credential', baseUrl: 'http://127.0.0.1:1/v1' }),
  'POST /tenants/{tenantId}/credits': () => ({ amountMicroUsd: 1_000, reason: 'fuzz' }),
  'PUT /tenants/{tenantId}/budgets/{scope}': () => ({ period: 'month', limitMicroUsd: 5_000 }),
  'PUT /tenants/{tenantId}/rate-limits/{scope}': () => ({ requestsPerMinute: 600, tokensPerMinute: null, concurrentRequests: 10 }),
  'PUT /tenants/{tenantId}/limits-policy': () => ({ onLimiterUnavailable: 'fail_closed' }),
  'PUT /tenants/{tenantId}/cache-settings': () => ({
    mode: 'semantic',
    ttlSeconds: 3_600,
    maxEntries: 1_000,
    similarityThreshold: 0.9,
    modelThresholds: { 'openai/gpt-4o-mini': 0.95 },
    perProject: true,
    semanticWithTools: false,
    semanticMaxTemperature: 1,
    embeddingModel: 'local',
  }),
  'POST /tenants/{tenantId}/alert-rules': () => ({ kind: 'budget_percent', scope: `project:${gw.projectId}`, threshold: 80, period: 'month', webhookUrl: 'http://127.0.0.1:1/alerts' }),
  'PUT /tenants/{tenantId}/price-overrides/{model}': () => ({ inputMicroUsdPerMillion: 100, outputMicroUsdPerMillion: null, cachedInputMicroUsdPerMillion: 50, markupBasisPoints: 250 }),
}

const isoTime = fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString())
const isoDay = isoTime.map((t) => t.slice(0, 10))

/** A valid query of every route that takes one. */
const VALID_QUERIES: Record<string, () => fc.Arbitrary<Record<string, string>>> = {
  'GET /tenants/{tenantId}/alerts': () => fc.record({ limit: fc.integer({ min: 1, max: 1_000 }).map(String) }, { requiredKeys: [] }),
  'GET /tenants/{tenantId}/webhook-deliveries': () => fc.record({ limit: fc.integer({ min: 1, max: 1_000 }).map(String) }, { requiredKeys: [] }),
  'DELETE /tenants/{tenantId}/budgets/{scope}': () => fc.record({ period: fc.constantFrom('day', 'month') }),
  'GET /tenants/{tenantId}/audit': () =>
    fc.record(
      {
        from: isoTime,
        to: isoTime,
        actor: fc.constantFrom('bootstrap', fx.spareKeyId),
        type: fc.constantFrom('apikey.issued', 'tenant.created'),
        limit: fc.integer({ min: 1, max: 1_000 }).map(String),
        after: fc.nat().map(String),
        format: fc.constantFrom('json', 'jsonl'),
      },
      { requiredKeys: [] },
    ),
  'GET /tenants/{tenantId}/reports/chargeback': () =>
    fc.record(
      {
        from: fc.oneof(isoDay, isoTime),
        to: fc.oneof(isoDay, isoTime),
        groupBy: fc.subarray([...GROUP_BY], { minLength: 1, maxLength: 3 }).map((g) => g.join(',')),
        format: fc.constantFrom('json', 'csv'),
      },
      { requiredKeys: [] },
    ),
}

/** Values for each path parameter: mostly real ones, sometimes another tenant's, unknown or junk. */
function paramValues(name: string): fc.Arbitrary<string> {
  const real: Record<string, string[]> = {
    tenantId: [gw.tenantId, gw.tenantId, gw.tenantId, fx.otherTenantId, 'ten_unknown'],
    projectId: [fx.spareProjectId, 'prj_unknown'],
    keyId: [fx.spareKeyId, 'key_unknown'],
    memberId: [fx.memberId, 'mem_unknown'],
    ruleId: [fx.ruleId, 'rul_unknown'],
    scope: ['tenant', `project:${gw.projectId}`, `key:${fx.spareKeyId}`, 'project:unknown', 'key:'],
    provider: ['openai', 'anthropic', 'gemini', 'cohere', 'mistral', 'azure'],
    model: ['openai/gpt-4o-mini', 'gpt-4o', 'anthropic/claude-sonnet-4-6', 'openai%2Fgpt-4o', 'a/b/c/d'],
  }
  const junk = name === 'model' ? fc.array(pathSegment, { minLength: 1, maxLength: 3 }).map((s) => s.join('/')) : pathSegment
  return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...(real[name] ?? ['x'])) }, { weight: 1, arbitrary: junk })
}

function pathArbitrary(route: Route): fc.Arbitrary<string> {
  const names = [...route.path.matchAll(/\{([A-Za-z]+)\}/g)].map((m) => m[1]!)
  return fc.tuple(...names.map(paramValues)).map((values) => {
    let path = route.path
    names.forEach((name, i) => (path = path.replace(`{${name}}`, values[i]!)))
    return path
  })
}

/** A query object as a query string: arrays repeat their key, objects and odd values are stringified. */
function toQuery(query: unknown): string {
  if (query === null || typeof query !== 'object') return query === undefined ? '' : `q=${percentEncode(typeof query === 'string' ? query : JSON.stringify(query))}`
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) for (const item of Array.isArray(v) ? v : [v]) params.append(k, typeof item === 'string' ? item : JSON.stringify(item) ?? '')
  return params.toString()
}

function queryArbitrary(key: string): fc.Arbitrary<string> {
  const valid = VALID_QUERIES[key]?.()
  if (valid === undefined) return fc.oneof({ weight: 3, arbitrary: fc.constant('') }, { weight: 1, arbitrary: queryString })
  return fc.oneof({ weight: 3, arbitrary: valid.map(toQuery) }, { weight: 2, arbitrary: valid.chain(nearValid).map(toQuery) }, { weight: 1, arbitrary: queryString })
}

function bodyArbitrary(key: string): fc.Arbitrary<unknown> {
  const valid = VALID_BODIES[key]
  if (valid === undefined) return fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: hostileJson })
  return fc.oneof({ weight: 2, arbitrary: fc.constant(valid()) }, { weight: 5, arbitrary: nearValid(valid()) }, { weight: 1, arbitrary: hostileJson }, { weight: 1, arbitrary: fc.anything() })
}

type Headers = Record<string, string>
const bearer = (token: string): Headers => ({ authorization: `Bearer ${token}` })

/** Who calls: mostly the admin token or the tenant's owner, sometimes a lesser key, none or junk. */
const callerArbitrary = (): fc.Arbitrary<Headers> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant(bearer(ADMIN_TOKEN)) },
    { weight: 3, arbitrary: fc.constant(bearer(gw.ownerKey)) },
    { weight: 1, arbitrary: fc.constantFrom(gw.viewerKey, gw.developerKey).map(bearer) },
    { weight: 1, arbitrary: fc.constantFrom<Headers>({}, bearer(`${ADMIN_TOKEN}x`), { 'x-api-key': 'sg-junk' }) },
    { weight: 1, arbitrary: headerValue.map((v): Headers => ({ authorization: v })) },
  )

/** The other headers the admin API reads: a reason for the audit trail, the user agent, the content type. */
const extraHeaders: fc.Arbitrary<Headers> = fc.record(
  {
    'x-supergate-reason': fc.oneof({ weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 100 }).map((s) => Buffer.from(s, 'utf8').toString('latin1')) }, { weight: 1, arbitrary: headerValue }),
    'user-agent': headerValue,
    'content-type': fc.oneof({ weight: 5, arbitrary: fc.constant('application/json') }, { weight: 1, arbitrary: headerValue }),
  },
  { requiredKeys: [] },
)

function routeProperty(route: Route) {
  const key = `${route.method} ${route.path}`
  return fc.asyncProperty(pathArbitrary(route), queryArbitrary(key), bodyArbitrary(key), callerArbitrary(), extraHeaders, async (path, query, body, caller, extra) => {
    const url = `${ADMIN_PREFIX}${path}${query === '' ? '' : `?${query}`}`
    const payload = body === undefined ? undefined : toJsonText(body)
    const headers = { ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...extra, ...caller }
    const answer = await gw.app.inject({ method: route.method, url, headers, ...(payload === undefined ? {} : { payload }) })
    tally.record(routeName(route), answer.statusCode)
    const sent = `${route.method} ${url} ${JSON.stringify(headers).slice(0, 300)} ${(payload ?? '').slice(0, 300)}`
    expectSafe(answer, 'openai', gw.secrets, sent)
    const json = String(answer.headers['content-type']).startsWith('application/json')
    if (answer.statusCode < 300 && json && route.response !== undefined) {
      const parsed = route.response.safeParse(answer.json())
      expect(parsed.success, `${sent} → ${answer.statusCode} ${answer.body.slice(0, 500)}: not the documented shape`).toBe(true)
    }
  })
}

describe('fuzzing the admin API (fast-check, fixed seeds)', () => {
  it('has a valid body for every route that takes one, valid by the route’s own schema', () => {
    const withBody = ADMIN_ROUTES.filter((r) => r.body !== undefined).map((r) => `${r.method} ${r.path}`)
    expect(withBody.filter((k) => VALID_BODIES[k] === undefined)).toEqual([])
    for (const route of ADMIN_ROUTES.filter((r) => r.body !== undefined)) {
      expect(route.body!.safeParse(VALID_BODIES[`${route.method} ${route.path}`]!()).success, routeName(route)).toBe(true)
    }
    const withQuery = ADMIN_ROUTES.filter((r) => r.query !== undefined).map((r) => `${r.method} ${r.path}`)
    expect(withQuery.filter((k) => VALID_QUERIES[k] === undefined)).toEqual([])
  })

  it.each(ADMIN_ROUTES.map((route, i) => [routeName(route), route, i] as const))('%s', async (_name, route, i) => {
    await fc.assert(routeProperty(route), { seed: SEED + i, numRuns: RUNS_PER_ROUTE })
  })

  it('GET /admin/v1/openapi.json and unknown admin routes', async () => {
    const property = fc.asyncProperty(fc.oneof(fc.constant('openapi.json'), pathSegment), queryString, callerArbitrary(), async (path, query, caller) => {
      const answer = await gw.app.inject({ method: 'GET', url: `${ADMIN_PREFIX}/${path}${query === '' ? '' : `?${query}`}`, headers: caller })
      tally.record(path === 'openapi.json' ? `GET ${ADMIN_PREFIX}/openapi.json` : `GET ${ADMIN_PREFIX}/<unknown>`, answer.statusCode)
      expectSafe(answer, 'openai', gw.secrets, `GET ${ADMIN_PREFIX}/${path}?${query}`)
    })
    await fc.assert(property, { seed: SEED + 100, numRuns: 200 })
  })
})

describe('after the fuzzing', () => {
  it('is still up, and its tenant still answers', async () => {
    expect((await gw.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200)
    const tenant = await gw.app.inject({ method: 'GET', url: `${ADMIN_PREFIX}/tenants/${gw.tenantId}`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    expect(tenant.statusCode).toBe(200)
  })
})
