import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMock } from '../mocks/mock-server.ts'
import type { RunningMock } from '../mocks/mock-server.ts'
import { openAiMock } from '../mocks/openai.ts'
import { freePort, startGateway } from '../support/gateway-process.ts'
import type { RunningGateway } from '../support/gateway-process.ts'
import { OutageClient } from '../support/outage-client.ts'

/**
 * /metrics after a short run through a gateway process (issue 10): every family a dashboard needs is there,
 * and its figures agree with what the run did and with the balances the projections computed.
 */
const ADMIN = 'sg-admin-metrics-e2e-token-000000000001'
let mock: RunningMock
let gateway: RunningGateway

beforeAll(async () => {
  mock = await startMock(openAiMock())
  gateway = await startGateway({
    SUPERGATE_ADMIN_TOKEN: ADMIN,
    SUPERGATE_MASTER_KEY: Buffer.alloc(32, 12).toString('base64'),
    SUPERGATE_OPENAI_API_KEY: 'upstream-metrics-e2e',
    SUPERGATE_OPENAI_BASE_URL: `${mock.url}/v1`,
    SUPERGATE_UPSTREAM_RETRIES: '0',
    SUPERGATE_BREAKER_FAILURES: '2',
    SUPERGATE_BREAKER_COOLDOWN_MS: '600000',
  })
}, 60_000)

afterAll(async () => {
  await gateway.stop()
  await mock.close()
})

const client = new OutageClient(() => gateway.url, ADMIN)
const admin = (method: string, path: string, body?: unknown) => client.admin(method, path, body)

async function tenantWithKey(name: string): Promise<{ id: string; key: string; keyId: string }> {
  const id = String((await admin('POST', '/tenants', { name })).id)
  const issued = await admin('POST', `/tenants/${id}/keys`, { name: 'app', role: 'developer' })
  return { id, key: String(issued.key), keyId: String(issued.id) }
}

async function chat(key: string, content: string, stream = false): Promise<number> {
  const response = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }], max_tokens: 10, stream }),
  })
  await response.arrayBuffer()
  return response.status
}

/** Sample lines of the exposition, as name{labels} → value. */
async function scrape(): Promise<Map<string, number>> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text()
  return new Map(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]))
}

function sum(samples: Map<string, number>, prefix: string, ...contains: string[]): number {
  let total = 0
  for (const [series, value] of samples) if (series.startsWith(prefix) && contains.every((c) => series.includes(c))) total += value
  return total
}

describe('/metrics after a short run', () => {
  it('exposes requests, latency, tokens, spend, cache, rejections, upstream errors, breakers, the producer and lag', { timeout: 120_000 }, async () => {
    const a = await tenantWithKey(`metrics-a-${Date.now()}`)
    await admin('PUT', `/tenants/${a.id}/cache-settings`, { mode: 'exact' })
    await expect.poll(async () => (await admin('GET', `/tenants/${a.id}/cache-settings`)).mode, { timeout: 5_000 }).toBe('exact')
    const limited = await tenantWithKey(`metrics-b-${Date.now()}`)
    await admin('PUT', `/tenants/${limited.id}/rate-limits/key:${limited.keyId}`, { requestsPerMinute: 1 })
    const broke = await tenantWithKey(`metrics-c-${Date.now()}`)
    await admin('PUT', `/tenants/${broke.id}/budgets/tenant`, { period: 'day', limitMicroUsd: 1 })
    await expect.poll(async () => ((await admin('GET', `/tenants/${limited.id}/rate-limits`)).data as unknown[]).length, { timeout: 5_000 }).toBe(1)
    await expect.poll(async () => ((await admin('GET', `/tenants/${broke.id}/budgets`)).data as unknown[]).length, { timeout: 5_000 }).toBe(1)

    // Tenant a: 4 plain calls of one prompt (a miss, then hits once the entry is written), a stream.
    expect(await chat(a.key, 'Hello')).toBe(200)
    await new Promise((r) => setTimeout(r, 300))
    for (let i = 0; i < 3; i++) expect(await chat(a.key, 'Hello')).toBe(200)
    expect(await chat(a.key, 'Tell me a story', true)).toBe(200)
    // The rate-limited key: one call admitted, one refused. The broke tenant: refused by its budget.
    expect([await chat(limited.key, 'one'), await chat(limited.key, 'two')]).toEqual([200, 429])
    expect(await chat(broke.key, 'Hello')).toBe(402)
    // Two provider failures open the breaker (threshold 2); the next call is not sent.
    expect(await chat(a.key, '[scenario:error_500] one')).toBeGreaterThanOrEqual(500)
    expect(await chat(a.key, '[scenario:error_500] two')).toBeGreaterThanOrEqual(500)
    expect(await chat(a.key, 'after the breaker opened')).toBe(503)

    const route = 'provider="openai",model="openai/gpt-4o-mini",endpoint="chat.completions"'
    const tenantA = `tenant="${a.id}"`
    // Projections catch up in this process: the balance's spend is what /metrics counted.
    let samples = await scrape()
    const spent = sum(samples, 'supergate_spend_micro_usd_total{', tenantA)
    expect(spent).toBeGreaterThan(0)
    await expect.poll(async () => (await admin('GET', `/tenants/${a.id}/balance`)).spentMicroUsd, { timeout: 20_000 }).toBe(spent)
    samples = await scrape()

    expect(sum(samples, 'supergate_requests_total{', tenantA, 'status="200"')).toBe(5)
    expect(sum(samples, 'supergate_requests_total{', tenantA)).toBe(8)
    expect(sum(samples, 'supergate_tokens_total{', tenantA, 'type="prompt"')).toBeGreaterThan(0)
    expect(sum(samples, 'supergate_tokens_total{', tenantA, 'type="completion"')).toBeGreaterThan(0)
    expect(sum(samples, 'supergate_cache_lookups_total{', tenantA, 'outcome="exact_hit"')).toBe(3)
    expect(sum(samples, 'supergate_cache_lookups_total{', tenantA, 'outcome="miss"')).toBeGreaterThanOrEqual(1)
    expect(sum(samples, 'supergate_cache_savings_micro_usd_total{', tenantA)).toBeGreaterThan(0)
    expect(samples.get(`supergate_request_duration_seconds_count{${route}}`)).toBeGreaterThanOrEqual(9)
    expect(samples.get(`supergate_request_duration_seconds_bucket{${route},le="+Inf"}`)).toBe(samples.get(`supergate_request_duration_seconds_count{${route}}`))
    expect(samples.get(`supergate_time_to_first_token_seconds_count{${route}}`)).toBe(1)
    expect(samples.get(`supergate_rejections_total{tenant="${limited.id}",reason="rate_limit",status="429"}`)).toBe(1)
    expect(samples.get(`supergate_rejections_total{tenant="${broke.id}",reason="budget",status="402"}`)).toBe(1)
    expect(samples.get('supergate_upstream_errors_total{provider="openai",kind="5xx"}')).toBe(2)
    expect(samples.get('supergate_circuit_breakers{provider="openai",state="open"}')).toBe(1)
    for (const gauge of ['supergate_event_publisher_queued_events', 'supergate_event_spool_events', 'supergate_events_delivered']) expect(samples.has(gauge), gauge).toBe(true)
    for (const projection of ['balances', 'budgets', 'alerts', 'analytics-sink']) {
      expect(samples.has(`supergate_projection_lag_messages{projection="${projection}"}`), projection).toBe(true)
    }
    // Bounded labels: no API key id unless SUPERGATE_METRICS_KEY_LABELS is on.
    expect([...samples.keys()].filter((s) => s.includes(a.keyId) || s.includes('key="'))).toEqual([])
    console.error(`[metrics e2e] ${samples.size} samples; tenant a: 8 calls, ${spent} µUSD spent (= its balance), 3 exact hits; 1 rate-limited, 1 over budget; 2 upstream 5xx, breaker open`)
  })

  it('serves /metrics only on SUPERGATE_METRICS_PORT when it is set, not on the API port', { timeout: 60_000 }, async () => {
    const metricsPort = await freePort()
    const separate = await startGateway({ SUPERGATE_ADMIN_TOKEN: ADMIN, SUPERGATE_METRICS_PORT: String(metricsPort) })
    try {
      const onApiPort = await fetch(`${separate.url}/metrics`)
      expect(onApiPort.status).toBe(404)
      const scraped = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
      expect(scraped.status).toBe(200)
      expect(scraped.headers.get('content-type')).toMatch(/^text\/plain/)
      expect(await scraped.text()).toContain('# TYPE supergate_requests_total counter')
      expect((await fetch(`http://127.0.0.1:${metricsPort}/v1/models`)).status).toBe(404)
    } finally {
      await separate.stop()
    }
  })
})
