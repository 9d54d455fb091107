import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, expect, inject, it } from 'vitest'
import { startMock } from '../mocks/mock-server.ts'
import type { RunningMock } from '../mocks/mock-server.ts'
import { openAiMock } from '../mocks/openai.ts'
import { startGateway } from '../support/gateway-process.ts'
import type { RunningGateway } from '../support/gateway-process.ts'

/**
 * Redis stopped under load (issue 6): a fail_open tenant keeps being served, unlimited; a fail_closed tenant
 * is refused with 503 limits_unavailable; both are logged and counted at /metrics; once Redis is back the
 * limits apply again. It stops the shared Redis, so it runs in the `fault` tier, alone.
 */
const repoRoot = new URL('../../', import.meta.url).pathname
const redis = (action: 'up' | 'down') => execFileSync('bash', ['infra/services.sh', action, 'redis'], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] })
const ADMIN = 'sg-admin-limiter-outage-token-0000000001'
let gateway: RunningGateway
let mock: RunningMock

beforeAll(async () => {
  mock = await startMock(openAiMock())
  const services = inject('services')
  gateway = await startGateway({
    SUPERGATE_DATABASE_URL: services.databaseUrl,
    SUPERGATE_REDIS_URL: services.redisUrl,
    SUPERGATE_ADMIN_TOKEN: ADMIN,
    SUPERGATE_MASTER_KEY: Buffer.alloc(32, 5).toString('base64'),
    SUPERGATE_OPENAI_API_KEY: 'upstream-limiter-outage',
    SUPERGATE_OPENAI_BASE_URL: `${mock.url}/v1`,
    SUPERGATE_LOG_LEVEL: 'warn',
  })
}, 60_000)

afterAll(async () => {
  redis('up')
  await gateway.stop()
  await mock.close()
})

async function admin(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${gateway.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  expect(response.status).toBeLessThan(300)
  return (await response.json()) as Record<string, unknown>
}

async function tenant(policy: 'fail_open' | 'fail_closed'): Promise<string> {
  const id = String((await admin('POST', '/tenants', { name: `outage-${policy}-${Date.now()}` })).id)
  await admin('PUT', `/tenants/${id}/limits-policy`, { onLimiterUnavailable: policy })
  await admin('PUT', `/tenants/${id}/rate-limits/tenant`, { requestsPerMinute: 100_000 })
  return String((await admin('POST', `/tenants/${id}/keys`, { name: 'app', role: 'developer' })).key)
}

const chat = async (key: string): Promise<{ status: number; code: string | undefined; limited: boolean }> => {
  const response = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 10 }),
  })
  const body = (await response.json()) as { error?: { code: string } }
  return { status: response.status, code: body.error?.code, limited: response.headers.get('x-ratelimit-limit-requests') !== null }
}

const counted = async (policy: string) => {
  const metrics = await (await fetch(`${gateway.url}/metrics`)).text()
  return Number(new RegExp(`^supergate_limiter_unavailable_calls\\{policy="${policy}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0)
}

it('serves fail_open tenants unlimited and refuses fail_closed ones while Redis is down, then limits again', { timeout: 90_000 }, async () => {
  const open = await tenant('fail_open')
  const closed = await tenant('fail_closed')
  // Both limited through Redis before the outage (the settings reach the gateway within its change feed).
  await expect.poll(async () => (await chat(open)).limited, { timeout: 10_000 }).toBe(true)
  await expect.poll(async () => (await chat(closed)).limited, { timeout: 10_000 }).toBe(true)

  // Calls keep coming while Redis stops and starts again.
  const during: { open: Awaited<ReturnType<typeof chat>>[]; closed: Awaited<ReturnType<typeof chat>>[] } = { open: [], closed: [] }
  let running = true
  const load = (async () => {
    // A call the gateway fails to answer at all is recorded as status 0, and fails the test below.
    const safely = (key: string) => chat(key).catch((error: unknown) => ({ status: 0, code: String(error), limited: false }))
    while (running) {
      const [o, c] = await Promise.all([safely(open), safely(closed)])
      during.open.push(o)
      during.closed.push(c)
    }
  })()
  redis('down')
  const whileDown = async () => {
    const [o, c] = await Promise.all([chat(open), chat(closed)])
    return { o, c }
  }
  // The gateway's Redis client notices the stop at its next command; from then on every call sees it.
  await expect.poll(async () => (await whileDown()).o.limited, { timeout: 5_000 }).toBe(false)
  const down = await whileDown()
  expect(down.o).toEqual({ status: 200, code: undefined, limited: false })
  expect(down.c).toEqual({ status: 503, code: 'limits_unavailable', limited: false })
  await new Promise((r) => setTimeout(r, 1_000))
  expect(await counted('fail_open')).toBeGreaterThan(0)
  expect(await counted('fail_closed')).toBeGreaterThan(0)
  redis('up')
  await expect.poll(async () => (await chat(closed)).status, { timeout: 15_000 }).toBe(200)
  running = false
  await load
  expect((await chat(closed)).limited).toBe(true)
  expect((await chat(open)).limited).toBe(true)

  // Under load: the open tenant never saw an error; the closed one saw only 200s and 503 limits_unavailable.
  expect(during.open.every((r) => r.status === 200)).toBe(true)
  expect(new Set(during.closed.map((r) => `${r.status}/${r.code ?? ''}`))).toEqual(new Set(['200/', '503/limits_unavailable']))
  console.error(
    `[limiter outage] ${during.open.length} calls per tenant under load; fail_open: all 200 (${during.open.filter((r) => !r.limited).length} unlimited); ` +
      `fail_closed: ${during.closed.filter((r) => r.status === 503).length} refused with 503; counted: open ${await counted('fail_open')}, closed ${await counted('fail_closed')}`,
  )
  expect(gateway.output()).toContain('limiter unreachable')
})
