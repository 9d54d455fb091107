import { afterAll, beforeAll, expect, it } from 'vitest'
import { ERROR_CODES } from '../../gateway/errors.ts'
import { startMock } from '../mocks/mock-server.ts'
import type { RunningMock } from '../mocks/mock-server.ts'
import { openAiMock } from '../mocks/openai.ts'
import { startGateway } from '../support/gateway-process.ts'
import type { RunningGateway } from '../support/gateway-process.ts'

/**
 * Provider faults (issue 9) against a real gateway process on the embedded adapters, upstream the OpenAI
 * wire-format mock: timeouts, resets, malformed JSON, 5xx bursts, streams dropped, truncated or stalled
 * mid-way. Each fault ends in a clean OpenAI-shaped error (an SSE error event once a stream has started) or
 * a successful fallback, never a hang or a 500; a burst opens the circuit breaker, which half-opens after its
 * cooldown and closes on success; and every call is metered once, partial streams with the tokens produced,
 * as the gateway's log, ClickHouse (chargeback) and the PostgreSQL balances all agree.
 *
 * Each fault gets its own tenant with its own upstream key (BYOK), so each has its own breaker and its own
 * totals in the reports; no external service is needed.
 */
const ADMIN = 'sg-admin-provider-faults-token-0000000001'
const UPSTREAM_TIMEOUT_MS = 500
const UPSTREAM_IDLE_TIMEOUT_MS = 1_000
const RETRIES = 2
const BREAKER_FAILURES = 8
const BREAKER_COOLDOWN_MS = 1_500
const MODEL = 'openai/gpt-4o-mini'
/** How long the mock's `slow` scenario takes to answer (test/mocks/openai.ts). */
const SLOW_UPSTREAM_MS = 5_000
/** A call that has not finished by then hangs, and fails the test. */
const CLIENT_TIMEOUT_MS = 20_000

let mock: RunningMock
let gateway: RunningGateway

beforeAll(async () => {
  mock = await startMock(openAiMock())
  gateway = await startGateway({
    SUPERGATE_ADMIN_TOKEN: ADMIN,
    SUPERGATE_MASTER_KEY: Buffer.alloc(32, 9).toString('base64'),
    SUPERGATE_UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS),
    SUPERGATE_UPSTREAM_IDLE_TIMEOUT_MS: String(UPSTREAM_IDLE_TIMEOUT_MS),
    SUPERGATE_UPSTREAM_RETRIES: String(RETRIES),
    SUPERGATE_BREAKER_FAILURES: String(BREAKER_FAILURES),
    SUPERGATE_BREAKER_COOLDOWN_MS: String(BREAKER_COOLDOWN_MS),
  })
}, 60_000)

afterAll(async () => {
  await gateway.stop()
  await mock.close()
})

async function admin<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${gateway.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  if (response.status >= 300) throw new Error(`${method} ${path} answered ${response.status}: ${await response.text()}`)
  return (await response.json()) as T
}

interface Tenant {
  name: string
  id: string
  key: string
  /** The tenant's own OpenAI key: the mock's calls for this tenant are the ones that carry it. */
  upstreamKey: string
  calls: Call[]
}

interface Call {
  id: string
  stream: boolean
  status: number
  headers: Headers
  /** The JSON body of a non-streamed answer or of an error answer. */
  body: { error?: { message: string; type: string; param: unknown; code: string } } | undefined
  /** The `data:` payloads of a streamed answer, in order. */
  events: string[]
  ms: number
}

async function tenant(name: string, fallbackModels?: string[]): Promise<Tenant> {
  const id = (await admin<{ id: string }>('POST', '/tenants', { name: `faults-${name}`, keyMode: 'byok_only' })).id
  const upstreamKey = `sk-faults-${name}-upstream`
  await admin('PUT', `/tenants/${id}/credentials/openai`, { apiKey: upstreamKey, baseUrl: `${mock.url}/v1` })
  const key = (await admin<{ key: string }>('POST', `/tenants/${id}/keys`, { name: 'app', role: 'developer', ...(fallbackModels === undefined ? {} : { fallbackModels }) })).key
  return { name, id, key, upstreamKey, calls: [] }
}

let sequence = 0

async function chat(t: Tenant, options: { prompt: string; stream?: boolean; model?: string; fallbacks?: string; key?: string }): Promise<Call> {
  const id = `pf-${t.name}-${++sequence}`
  const stream = options.stream === true
  const started = performance.now()
  const response = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${options.key ?? t.key}`,
      'content-type': 'application/json',
      'x-request-id': id,
      ...(options.fallbacks === undefined ? {} : { 'x-supergate-fallback-models': options.fallbacks }),
    },
    body: JSON.stringify({
      model: options.model ?? MODEL,
      messages: [{ role: 'user', content: options.prompt }],
      max_tokens: 20,
      ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    }),
    signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
  })
  const text = await response.text()
  const isSse = (response.headers.get('content-type') ?? '').startsWith('text/event-stream')
  const call: Call = {
    id,
    stream,
    status: response.status,
    headers: response.headers,
    body: isSse ? undefined : (JSON.parse(text) as Call['body']),
    events: isSse ? [...text.matchAll(/^data: (.*)$/gm)].map((m) => m[1]!) : [],
    ms: performance.now() - started,
  }
  t.calls.push(call)
  return call
}

const upstreamCalls = (t: Tenant) => mock.requests.filter((r) => r.headers.authorization === `Bearer ${t.upstreamKey}`).length
const parsed = (event: string) => JSON.parse(event) as { error?: { message: string; type: string; param: unknown; code: string }; choices?: unknown[] }
const errorEvent = (call: Call) => call.events.map((e) => (e === '[DONE]' ? {} : parsed(e))).find((e) => e.error !== undefined)?.error
const contentEvents = (call: Call) => call.events.filter((e) => e !== '[DONE]' && (parsed(e).choices?.length ?? 0) > 0).length

/** An error answered as JSON, in the OpenAI shape, with a documented code. */
function expectCleanError(call: Call, status: number, code: string): void {
  expect({ id: call.id, status: call.status }).toEqual({ id: call.id, status })
  expect(call.body?.error).toEqual({ message: expect.any(String) as string, type: ERROR_CODES[code as keyof typeof ERROR_CODES].type, param: null, code })
}

/** A stream that started (200) and then ended with an OpenAI-shaped error event instead of [DONE]. */
function expectStreamError(call: Call, code: string): void {
  expect(call.status).toBe(200)
  expect(contentEvents(call)).toBeGreaterThan(0)
  expect(errorEvent(call)).toEqual({ message: expect.any(String) as string, type: ERROR_CODES[code as keyof typeof ERROR_CODES].type, param: null, code })
  expect(call.events).not.toContain('[DONE]')
}

function expectStreamDone(call: Call): void {
  expect(call.status).toBe(200)
  expect(errorEvent(call)).toBeUndefined()
  expect(call.events.at(-1)).toBe('[DONE]')
}

interface Metered {
  requestId: string
  tenantId: string
  outcome: string
  errorCode?: string
  httpStatus: number
  model: string
  usage?: { promptTokens: number; completionTokens: number; estimated: boolean }
  costMicroUsd: number
}

function metered(): Metered[] {
  return gateway
    .output()
    .split('\n')
    .filter((line) => line.includes('"call metered"'))
    .map((line) => (JSON.parse(line) as { metered: Metered }).metered)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const inParallel = <T>(n: number, make: (i: number) => Promise<T>) => Promise.all(Array.from({ length: n }, (_, i) => make(i)))

it('answers every provider fault cleanly, trips and resets the breaker, and meters every call once', { timeout: 90_000 }, async () => {
  const names = ['baseline', 'slow', 'reset', 'malformed', 'error500', 'flaky', 'fallback', 'drop', 'truncated', 'stall', 'breaker'] as const
  const tenants = Object.fromEntries(
    await Promise.all(names.map(async (n) => [n, await tenant(n, n === 'fallback' ? [MODEL] : undefined)] as const)),
  ) as Record<(typeof names)[number], Tenant>
  const { baseline, slow, reset, malformed, error500, flaky, fallback, drop, truncated, stall, breaker } = tenants

  // The circuit breaker, on its own tenant's key: a burst of 9 failures against a threshold of 8.
  const breakerPhase = async () => {
    const burst = (i: number) => chat(breaker, { prompt: `Breaker call ${i} [scenario:burst_${BREAKER_FAILURES + 1}]` })
    // Two calls spend their retries (3 attempts each); the third opens the breaker on its 2nd attempt.
    for (let i = 0; i < 3; i++) expectCleanError(await burst(i), 502, 'upstream_error')
    expect(upstreamCalls(breaker)).toBe(BREAKER_FAILURES)
    // Open: refused at once, without reaching the provider, with a retry hint.
    const refused = await burst(3)
    expectCleanError(refused, 503, 'provider_unavailable')
    expect(Number(refused.headers.get('retry-after-ms'))).toBeGreaterThan(0)
    expect(refused.ms).toBeLessThan(500)
    expectCleanError(await burst(4), 503, 'provider_unavailable')
    expect(upstreamCalls(breaker)).toBe(BREAKER_FAILURES)
    // Half-open after the cooldown: one trial call, which meets the burst's last failure and opens it again.
    await sleep(BREAKER_COOLDOWN_MS + 100)
    expectCleanError(await burst(5), 502, 'upstream_error')
    expect(upstreamCalls(breaker)).toBe(BREAKER_FAILURES + 1)
    expectCleanError(await burst(6), 503, 'provider_unavailable')
    // The next trial succeeds and closes it: calls go through again.
    await sleep(BREAKER_COOLDOWN_MS + 100)
    for (let i = 7; i < 10; i++) expect((await burst(i)).status).toBe(200)
    expect(upstreamCalls(breaker)).toBe(BREAKER_FAILURES + 1 + 3)
  }

  const attempts = RETRIES + 1
  await Promise.all([
    breakerPhase(),
    // Healthy traffic alongside the faults, streamed and not.
    inParallel(5, async (lane) => {
      for (let i = 0; i < 8; i++) {
        const call = await chat(baseline, { prompt: `Hello ${lane}.${i}`, stream: i % 2 === 1 })
        if (call.stream) expectStreamDone(call)
        else expect(call.status).toBe(200)
      }
    }),
    // A provider that does not answer: the upstream timeout cuts each attempt, retries included, long before its 5 s.
    (async () => {
      const calls = await Promise.all([chat(slow, { prompt: 'Hi [scenario:slow]' }), chat(slow, { prompt: 'Hi [scenario:slow]', stream: true })])
      for (const call of calls) {
        expectCleanError(call, 504, 'upstream_timeout')
        // Three attempts of 500 ms and two backoffs, well inside the 5 s one answer of the mock would take.
        expect(call.ms).toBeGreaterThanOrEqual(attempts * UPSTREAM_TIMEOUT_MS)
        expect(call.ms).toBeLessThan(SLOW_UPSTREAM_MS)
      }
      expect(upstreamCalls(slow)).toBe(2 * attempts)
    })(),
    // Connection reset before any answer: retried, then a clean 502, streamed or not (the stream never started).
    (async () => {
      const calls = await Promise.all([chat(reset, { prompt: 'Hi [scenario:reset]' }), chat(reset, { prompt: 'Hi [scenario:reset]', stream: true })])
      for (const call of calls) expectCleanError(call, 502, 'upstream_error')
      expect(upstreamCalls(reset)).toBe(2 * attempts)
    })(),
    // A 200 whose JSON is cut: retried, then 502; the same bytes where an event stream was expected end the stream with an error.
    (async () => {
      const calls = await Promise.all([chat(malformed, { prompt: 'Hi [scenario:malformed]' }), chat(malformed, { prompt: 'Hi again [scenario:malformed]' })])
      for (const call of calls) {
        expectCleanError(call, 502, 'upstream_error')
        expect(call.body?.error?.message).toContain('malformed')
      }
      const streamed = await chat(malformed, { prompt: 'Hi [scenario:malformed]', stream: true })
      expect(streamed.status).toBe(200)
      expect(errorEvent(streamed)).toMatchObject({ code: 'upstream_error', type: 'api_error' })
      expect(streamed.events).not.toContain('[DONE]')
      expect(upstreamCalls(malformed)).toBe(2 * attempts + 1)
    })(),
    (async () => {
      const calls = await Promise.all([chat(error500, { prompt: 'Hi [scenario:error_500]' }), chat(error500, { prompt: 'Hi [scenario:error_500]', stream: true })])
      for (const call of calls) expectCleanError(call, 502, 'upstream_error')
      expect(upstreamCalls(error500)).toBe(2 * attempts)
    })(),
    // Fails twice per prompt: the retries get it through.
    (async () => {
      const calls = await Promise.all([0, 1, 2].map((i) => chat(flaky, { prompt: `Prompt ${i} [scenario:flaky]`, stream: i === 2 })))
      for (const call of calls) {
        if (call.stream) expectStreamDone(call)
        else expect(call.status).toBe(200)
        expect(call.headers.get('x-supergate-model')).toBe(MODEL)
      }
      expect(upstreamCalls(flaky)).toBe(3 * attempts)
    })(),
    // A model that always fails: the chain moves on to the fallback named in the header, or in the key's settings.
    (async () => {
      const viaHeader = await chat(fallback, { prompt: 'Hello', model: 'openai/broken-model', fallbacks: MODEL })
      const streamed = await chat(fallback, { prompt: 'Hello', model: 'openai/broken-model', fallbacks: MODEL, stream: true })
      const viaKey = await chat(fallback, { prompt: 'Hello', model: 'openai/broken-model' })
      expect(viaHeader.status).toBe(200)
      expectStreamDone(streamed)
      expect(viaKey.status).toBe(200)
      for (const call of [viaHeader, streamed, viaKey]) expect(call.headers.get('x-supergate-model')).toBe(MODEL)
      expect(upstreamCalls(fallback)).toBe(3 * (attempts + 1))
    })(),
    // Mid-stream faults: the connection dropped, the stream ended without finish_reason or [DONE], the provider gone silent.
    (async () => {
      for (const call of await inParallel(3, (i) => chat(drop, { prompt: `Hi ${i} [scenario:drop]`, stream: true }))) expectStreamError(call, 'upstream_error')
      expect(upstreamCalls(drop)).toBe(3)
    })(),
    (async () => {
      for (const call of await inParallel(3, (i) => chat(truncated, { prompt: `Hi ${i} [scenario:truncated]`, stream: true }))) expectStreamError(call, 'upstream_error')
      expect(upstreamCalls(truncated)).toBe(3)
    })(),
    (async () => {
      for (const call of await inParallel(2, (i) => chat(stall, { prompt: `Hi ${i} [scenario:stall]`, stream: true }))) {
        expectStreamError(call, 'upstream_timeout')
        expect(call.ms).toBeLessThan(UPSTREAM_IDLE_TIMEOUT_MS + 2_000)
      }
      expect(upstreamCalls(stall)).toBe(2)
    })(),
  ])

  const all = Object.values(tenants).flatMap((t) => t.calls)
  // Never a 500, never a stack trace.
  expect(all.filter((c) => c.status === 500)).toEqual([])
  for (const c of all) expect(JSON.stringify(c.body ?? c.events)).not.toMatch(/\s+at \S+ \(|node:internal|\.ts:\d+/)

  // The gateway's own record: every call metered exactly once, with its outcome and, for partial streams, what was produced.
  await expect.poll(() => metered().length, { timeout: 10_000 }).toBeGreaterThanOrEqual(all.length)
  const byId = new Map<string, Metered[]>()
  for (const m of metered()) byId.set(m.requestId, [...(byId.get(m.requestId) ?? []), m])
  const duplicates = [...byId.values()].filter((ms) => ms.length > 1).length
  expect(duplicates).toBe(0)
  expect([...byId.keys()].sort()).toEqual(all.map((c) => c.id).sort())
  const record = (c: Call) => byId.get(c.id)![0]!
  for (const t of Object.values(tenants)) {
    for (const c of t.calls) {
      const m = record(c)
      expect(m.tenantId).toBe(t.id)
      const failed = c.status !== 200 || errorEvent(c) !== undefined
      expect({ id: c.id, outcome: m.outcome, errorCode: m.errorCode }).toEqual({
        id: c.id,
        outcome: failed ? 'failed' : 'completed',
        errorCode: failed ? (c.body?.error?.code ?? errorEvent(c)?.code) : undefined,
      })
    }
  }
  for (const c of [...drop.calls, ...truncated.calls, ...stall.calls]) {
    expect(record(c).usage).toMatchObject({ completionTokens: expect.any(Number) as number, estimated: true })
    expect(record(c).usage!.completionTokens).toBeGreaterThan(0)
  }

  // The stores the events feed: ClickHouse (the chargeback report) and the PostgreSQL balances, per tenant.
  const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10)
  type Totals = { requests: number; failedRequests: number; rejectedRequests: number; cacheHits: number; completionTokens: number; costMicroUsd: number }
  const stores = async (t: Tenant) => {
    const [report, balance, reconciliation] = await Promise.all([
      admin<{ totals: Totals }>('GET', `/tenants/${t.id}/reports/chargeback?groupBy=model&from=${day(-1)}&to=${day(1)}`),
      admin<{ spentMicroUsd: number }>('GET', `/tenants/${t.id}/balance`),
      admin<{ reconciled: boolean; pending: { sink: number; balances: number } | null }>('GET', `/tenants/${t.id}/reports/reconciliation`),
    ])
    return { totals: report.totals, spent: balance.spentMicroUsd, reconciliation }
  }
  const expected = (t: Tenant) => {
    const records = t.calls.map(record)
    return {
      requests: t.calls.length,
      failedRequests: records.filter((m) => m.outcome === 'failed').length,
      rejectedRequests: 0,
      cacheHits: 0,
      completionTokens: records.reduce((sum, m) => sum + (m.usage?.completionTokens ?? 0), 0),
      costMicroUsd: records.reduce((sum, m) => sum + m.costMicroUsd, 0),
    }
  }
  await expect
    .poll(async () => {
      const found = await Promise.all(Object.values(tenants).map(stores))
      return found.every((f) => f.reconciliation.pending?.sink === 0 && f.reconciliation.pending.balances === 0)
    }, { timeout: 30_000, interval: 250 })
    .toBe(true)
  let inClickHouse = 0
  let spendMatched = 0
  for (const t of Object.values(tenants)) {
    const found = await stores(t)
    const want = expected(t)
    expect({ tenant: t.name, ...found.totals }).toMatchObject({ tenant: t.name, ...want })
    expect({ tenant: t.name, spent: found.spent }).toEqual({ tenant: t.name, spent: want.costMicroUsd })
    expect(found.reconciliation.reconciled).toBe(true)
    inClickHouse += found.totals.requests
    if (found.spent === want.costMicroUsd) spendMatched += t.calls.length
  }
  const clean5xx = all.filter((c) => c.status >= 502).length
  console.error(
    `[fault] provider faults: ${all.length} requests (${names.length - 1} faults + baseline), ${all.length} events expected, ${byId.size} metered in the log, ` +
      `${inClickHouse} found (ClickHouse), ${spendMatched} spend-matched in balances, ${duplicates} duplicates, ` +
      `${all.filter((c) => c.status === 500).length} unexpected 5xx (${clean5xx} clean 502/503/504, ${all.filter((c) => errorEvent(c) !== undefined).length} SSE error events), ` +
      `breaker: ${breaker.calls.length} calls, ${breaker.calls.filter((c) => c.body?.error?.code === 'provider_unavailable').length} refused while open, ${upstreamCalls(breaker)} reached the provider`,
  )
  expect(gateway.output()).not.toContain('"request failed"')
})
