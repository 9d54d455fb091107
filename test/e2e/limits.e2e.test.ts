import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { startMock } from '../mocks/mock-server.ts'
import type { RunningMock } from '../mocks/mock-server.ts'
import { openAiMock } from '../mocks/openai.ts'
import { startGateway } from '../support/gateway-process.ts'
import type { RunningGateway } from '../support/gateway-process.ts'

/**
 * Rate limits and budget admission across two gateway processes sharing PostgreSQL and Redis (issue 6):
 * a limit is one limit however many processes serve the tenant, and concurrent calls cannot spend past a
 * budget.
 */
const ADMIN = 'sg-admin-limits-e2e-token-000000000001'
const gateways: RunningGateway[] = []
let mock: RunningMock

beforeAll(async () => {
  mock = await startMock(openAiMock())
  const services = inject('services')
  const env = {
    SUPERGATE_DATABASE_URL: services.databaseUrl,
    SUPERGATE_REDIS_URL: services.redisUrl,
    SUPERGATE_ADMIN_TOKEN: ADMIN,
    SUPERGATE_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
    SUPERGATE_OPENAI_API_KEY: 'upstream-limits-e2e',
    SUPERGATE_OPENAI_BASE_URL: `${mock.url}/v1`,
  }
  gateways.push(await startGateway(env), await startGateway({ ...env, SUPERGATE_OUTBOX_RELAY: 'off' }))
}, 90_000)

afterAll(async () => {
  for (const g of gateways) expect(await g.stop()).toBe(0)
  await mock.close()
})

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${gateways[0]!.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await response.text()
  return { status: response.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) }
}

/** A tenant with one developer key, and the settings given, in force on both processes. */
async function tenantWith(name: string, settings: (tenantId: string, keyId: string) => Promise<void>): Promise<{ tenantId: string; keyId: string; key: string }> {
  const tenant = await admin('POST', '/tenants', { name: `${name}-${Date.now()}` })
  const tenantId = String(tenant.json.id)
  const issued = await admin('POST', `/tenants/${tenantId}/keys`, { name, role: 'developer' })
  const keyId = String(issued.json.id)
  await settings(tenantId, keyId)
  // Both processes load the tenant at the key's first use; wait until the key works on each, then let their
  // change feeds (200 ms) pass, so that neither holds the tenant from before the settings.
  for (const g of gateways) {
    await expect.poll(() => fetch(`${g.url}/v1/models`, { headers: { authorization: `Bearer ${String(issued.json.key)}` } }).then((r) => r.status), { timeout: 10_000 }).toBe(200)
  }
  await new Promise((r) => setTimeout(r, 600))
  return { tenantId, keyId, key: String(issued.json.key) }
}

const chat = (gateway: RunningGateway, key: string, maxTokens?: number) =>
  fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], ...(maxTokens === undefined ? {} : { max_tokens: maxTokens }) }),
  })

describe('limits across two gateway processes on one Redis', () => {
  it('admits exactly the requests-per-minute limit across both processes, with OpenAI rate-limit headers and retry-after', async () => {
    const { key } = await tenantWith('rpm', async (tenantId, keyId) => {
      expect((await admin('PUT', `/tenants/${tenantId}/rate-limits/key:${keyId}`, { requestsPerMinute: 10 })).status).toBe(200)
      await expect.poll(async () => (await admin('GET', `/tenants/${tenantId}/rate-limits`)).json.data, { timeout: 5_000 }).toHaveLength(1)
    })
    const [a, b] = gateways as [RunningGateway, RunningGateway]
    // Six through one process, then ten through the other: the second may only have what the first left.
    const first = await Promise.all(Array.from({ length: 6 }, () => chat(a, key)))
    const second = await Promise.all(Array.from({ length: 10 }, () => chat(b, key)))
    const rest = await Promise.all(Array.from({ length: 14 }, (_, i) => chat(gateways[i % 2]!, key)))
    const responses = [...first, ...second, ...rest]
    console.error(`[limits e2e] 30 calls over 2 processes, limit 10/min: ${responses.filter((r) => r.status === 200).length} admitted`)
    expect(first.map((r) => r.status)).toEqual(Array(6).fill(200))
    expect(second.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 429, 429, 429, 429, 429, 429])
    expect(rest.map((r) => r.status)).toEqual(Array(14).fill(429))
    const admitted = responses.filter((r) => r.status === 200)
    expect(admitted.every((r) => r.headers.get('x-ratelimit-limit-requests') === '10')).toBe(true)
    expect(admitted.map((r) => Number(r.headers.get('x-ratelimit-remaining-requests'))).sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    const refused = responses.find((r) => r.status === 429)!
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0')
    expect(refused.headers.get('x-ratelimit-reset-requests')).toMatch(/^(\d+m)?\d+(\.\d+)?s$/)
    expect(((await refused.json()) as { error: { code: string; type: string } }).error).toMatchObject({ code: 'rate_limit_exceeded', type: 'rate_limit_error' })
  })

  it('never lets 200 concurrent calls spend past a small budget', { timeout: 60_000 }, async () => {
    const LIMIT = 500
    const { tenantId } = await tenantWith('budget', async (tenantId) => {
      expect((await admin('PUT', `/tenants/${tenantId}/budgets/tenant`, { period: 'day', limitMicroUsd: LIMIT })).status).toBe(200)
      await expect.poll(async () => (await admin('GET', `/tenants/${tenantId}/budgets`)).json.data, { timeout: 5_000 }).toHaveLength(1)
    })
    const { key } = await (async () => {
      const issued = await admin('POST', `/tenants/${tenantId}/keys`, { name: 'spender', role: 'developer' })
      return { key: String(issued.json.key) }
    })()
    // Each call: 19 prompt + 10 completion tokens of gpt-4o-mini = 9 µUSD; its worst case, with max_tokens 10
    // and a prompt bound of 33 tokens, is about 11 µUSD.
    const responses = await Promise.all(Array.from({ length: 200 }, (_, i) => chat(gateways[i % 2]!, key, 10)))
    const statuses = responses.map((r) => r.status)
    const admitted = statuses.filter((s) => s === 200).length
    expect(admitted + statuses.filter((s) => s === 402).length).toBe(200)
    const bodies = await Promise.all(responses.filter((r) => r.status === 402).map((r) => r.json() as Promise<{ error: { code: string; type: string } }>))
    expect(new Set(bodies.map((b) => `${b.error.code}/${b.error.type}`))).toEqual(new Set(['budget_exceeded/insufficient_quota']))
    // Every admitted call is spent, as the budget projection counts it from the usage events.
    const status = async () => ((await admin('GET', `/tenants/${tenantId}/budgets/status`)).json.data as { spentMicroUsd: number }[])[0]?.spentMicroUsd
    await expect.poll(status, { timeout: 20_000 }).toBe(admitted * 9)
    const spent = admitted * 9
    console.error(`[limits e2e] 200 concurrent calls over 2 processes against a ${LIMIT} µUSD budget: ${admitted} admitted, ${spent} µUSD spent, overshoot ${Math.max(0, spent - LIMIT)} µUSD`)
    expect(spent).toBeLessThanOrEqual(LIMIT)
    // Admission refuses only what cannot fit: at least as many calls as fit at their worst case.
    expect(admitted).toBeGreaterThanOrEqual(Math.floor(LIMIT / 11))
  })
})
