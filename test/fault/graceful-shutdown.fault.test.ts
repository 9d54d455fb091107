import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, fetch } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMock } from '../mocks/mock-server.ts'
import type { RunningMock } from '../mocks/mock-server.ts'
import { openAiMock } from '../mocks/openai.ts'
import { startGateway } from '../support/gateway-process.ts'
import type { RunningGateway } from '../support/gateway-process.ts'

/**
 * Graceful shutdown (issue 9): SIGTERM while streamed completions are in flight. The gateway stops taking
 * requests (a new connection is refused, a request on a kept-alive one gets a 503 in the OpenAI error shape),
 * lets the open streams run to [DONE] within SUPERGATE_SHUTDOWN_TIMEOUT_MS, flushes the usage producer and
 * exits 0. A gateway started again on the same data folder (embedded PGlite and chdb) finds every call's
 * usage event, once. A stream longer than the deadline is cut there; the process still exits, and the
 * calls that had completed keep their usage.
 */
const ADMIN = 'sg-admin-graceful-shutdown-token-00000001'
const MODEL = 'openai/gpt-4o-mini'
/** The mock's `slow_stream`: 6 frames, 300 ms apart. */
const SLOW_STREAM_MS = 1_800
const CLIENT_TIMEOUT_MS = 20_000

let mock: RunningMock
const folders: string[] = []
/** Clients keep connections alive as a load balancer does, far longer than a drain: the gateway must not wait on them. */
const pool = new Agent({ keepAliveTimeout: 120_000, keepAliveMaxTimeout: 120_000 })

beforeAll(async () => {
  mock = await startMock(openAiMock())
})

afterAll(async () => {
  await pool.close()
  await mock.close()
  for (const folder of folders) rmSync(folder, { recursive: true, force: true })
})

function dataFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'supergate-shutdown-'))
  folders.push(folder)
  return folder
}

function gatewayOn(folder: string, shutdownTimeoutMs: number): Promise<RunningGateway> {
  return startGateway({
    SUPERGATE_DATA_DIR: folder,
    SUPERGATE_ADMIN_TOKEN: ADMIN,
    SUPERGATE_MASTER_KEY: Buffer.alloc(32, 11).toString('base64'),
    SUPERGATE_OPENAI_API_KEY: 'sk-upstream-graceful-shutdown',
    SUPERGATE_OPENAI_BASE_URL: `${mock.url}/v1`,
    SUPERGATE_SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs),
  })
}

async function admin<T>(gateway: RunningGateway, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${gateway.url}/admin/v1${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    dispatcher: pool,
  })
  if (response.status >= 300) throw new Error(`${path} answered ${response.status}: ${await response.text()}`)
  return (await response.json()) as T
}

async function tenantWithKey(gateway: RunningGateway): Promise<{ id: string; key: string }> {
  const id = (await admin<{ id: string }>(gateway, '/tenants', { name: `shutdown-${Date.now()}` })).id
  const key = (await admin<{ key: string }>(gateway, `/tenants/${id}/keys`, { name: 'app', role: 'developer' })).key
  return { id, key }
}

const chatBody = (prompt: string, stream: boolean) =>
  JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: prompt }], ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}) })

async function complete(gateway: RunningGateway, key: string, id: string, stream = false): Promise<number> {
  const response = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-request-id': id },
    body: chatBody('Hello', stream),
    signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
    dispatcher: pool,
  })
  await response.text()
  return response.status
}

interface StreamEnd {
  id: string
  events: string[]
  /** How the body ended: cleanly, or with the error the client saw (a cut connection). */
  error: string | undefined
  endedAt: number
}

/** A streamed completion read as it arrives; `started` resolves once what came in matches `startedWhen` (its first chunk). */
function openStream(gateway: RunningGateway, key: string, id: string, startedWhen = /chat\.completion\.chunk/): { started: Promise<void>; ended: Promise<StreamEnd> } {
  let markStarted!: () => void
  const started = new Promise<void>((resolve) => (markStarted = resolve))
  const ended = (async (): Promise<StreamEnd> => {
    const events: string[] = []
    let error: string | undefined
    try {
      const response = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-request-id': id },
        body: chatBody('Tell me slowly [scenario:slow_stream]', true),
        signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
        dispatcher: pool,
      })
      expect(response.status).toBe(200)
      let text = ''
      const decoder = new TextDecoder()
      for await (const bytes of response.body! as AsyncIterable<Uint8Array>) {
        text += decoder.decode(bytes, { stream: true })
        if (startedWhen.test(text)) markStarted()
      }
      events.push(...[...text.matchAll(/^data: (.*)$/gm)].map((m) => m[1]!))
    } catch (e) {
      error = String((e as Error).cause ?? e)
    }
    markStarted()
    return { id, events, error, endedAt: Date.now() }
  })()
  return { started, ended }
}

/**
 * A streamed completion on a raw keep-alive connection, then, once `second()` is called, a second request
 * pipelined behind it on the same connection: what a load balancer's pooled connection would carry in.
 */
function keptAliveConnection(gateway: RunningGateway, key: string, id: string) {
  const { port } = new URL(gateway.url)
  const socket = connect(Number(port), '127.0.0.1')
  let raw = ''
  let markStarted!: () => void
  const started = new Promise<void>((resolve) => (markStarted = resolve))
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(raw)))
  socket.on('data', (bytes: Buffer) => {
    raw += bytes.toString()
    if (raw.includes('chat.completion.chunk')) markStarted()
  })
  socket.on('error', () => {})
  const send = (requestId: string, body: string) =>
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nauthorization: Bearer ${key}\r\ncontent-type: application/json\r\n` +
        `x-request-id: ${requestId}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    )
  send(id, chatBody('Tell me slowly [scenario:slow_stream]', true))
  return { started, second: () => send(`${id}-late`, chatBody('Too late?', false)), closed }
}

/** A request on a new connection: refused outright, or answered (status and body). */
function onNewConnection(gateway: RunningGateway, key: string): Promise<{ refused: true } | { refused: false; status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request(`${gateway.url}/v1/chat/completions`, { method: 'POST', agent: false, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } }, (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => (body += chunk.toString()))
      res.on('end', () => resolve({ refused: false, status: res.statusCode ?? 0, body }))
    })
    req.on('error', () => resolve({ refused: true }))
    req.end(chatBody('Anyone there?', false))
  })
}

interface Metered {
  requestId: string
  outcome: string
  costMicroUsd: number
  usage?: { completionTokens: number }
}
const metered = (gateway: RunningGateway): Metered[] =>
  gateway
    .output()
    .split('\n')
    .filter((line) => line.includes('"call metered"'))
    .map((line) => (JSON.parse(line) as { metered: Metered }).metered)

/** What the stores of a gateway started again on the folder hold for the tenant, once its consumers caught up. */
async function recorded(gateway: RunningGateway, tenantId: string) {
  const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10)
  await expect
    .poll(async () => (await admin<{ pending: { sink: number; balances: number } | null }>(gateway, `/tenants/${tenantId}/reports/reconciliation`)).pending, { timeout: 30_000, interval: 250 })
    .toEqual({ sink: 0, balances: 0 })
  const report = await admin<{ totals: { requests: number; completionTokens: number; costMicroUsd: number } }>(gateway, `/tenants/${tenantId}/reports/chargeback?groupBy=model&from=${day(-1)}&to=${day(1)}`)
  const balance = await admin<{ spentMicroUsd: number }>(gateway, `/tenants/${tenantId}/balance`)
  return { requests: report.totals.requests, completionTokens: report.totals.completionTokens, costMicroUsd: report.totals.costMicroUsd, spent: balance.spentMicroUsd }
}

const sum = (records: Metered[], of: (m: Metered) => number) => records.reduce((total, m) => total + of(m), 0)

describe('graceful shutdown', () => {
  it('drains in-flight streams to [DONE] on SIGTERM, refuses new requests, flushes their usage and exits 0', { timeout: 90_000 }, async () => {
    const folder = dataFolder()
    const gateway = await gatewayOn(folder, 10_000)
    const { id: tenantId, key } = await tenantWithKey(gateway)
    const before = ['gs-before-1', 'gs-before-2', 'gs-before-3']
    for (const [i, id] of before.entries()) expect(await complete(gateway, key, id, i === 2)).toBe(200)

    const streams = Array.from({ length: 5 }, (_, i) => openStream(gateway, key, `gs-drain-${i}`))
    const pooled = keptAliveConnection(gateway, key, 'gs-pooled')
    await Promise.all([...streams.map((s) => s.started), pooled.started])
    const signalledAt = Date.now()
    const exited = gateway.stop()
    await expect.poll(() => gateway.output().includes('shutting down: draining requests'), { timeout: 5_000, interval: 20 }).toBe(true)

    // While draining: nothing new is taken in, and whatever answers, answers in the API's error shape.
    const late = await onNewConnection(gateway, key)
    if (!late.refused) {
      expect(late.status).toBe(503)
      expect(JSON.parse(late.body)).toEqual({ error: { message: expect.any(String) as string, type: 'service_unavailable_error', param: null, code: 'service_unavailable' } })
    }
    pooled.second()

    const ends = await Promise.all(streams.map((s) => s.ended))
    const code = await exited
    const exitedAt = Date.now()
    const raw = await pooled.closed

    // Every stream ran to its end: content, the usage chunk, [DONE]; none was cut.
    for (const end of ends) {
      expect({ id: end.id, error: end.error, last: end.events.at(-1) }).toEqual({ id: end.id, error: undefined, last: '[DONE]' })
      expect(end.events.some((e) => e.includes('"usage":{"prompt_tokens"'))).toBe(true)
    }
    expect(Math.max(...ends.map((e) => e.endedAt)) - signalledAt).toBeGreaterThan(SLOW_STREAM_MS / 2)
    // The stream on the kept-alive connection finished too; the request pipelined behind it got a clean 503, and the connection closed.
    expect(raw).toContain('data: [DONE]')
    const refusal = /HTTP\/1\.1 503 [^\r]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(raw)
    expect(refusal).not.toBeNull()
    expect(refusal![1]!.toLowerCase()).toContain('connection: close')
    expect(JSON.parse(refusal![2]!)).toEqual({ error: { message: expect.any(String) as string, type: 'service_unavailable_error', param: null, code: 'service_unavailable' } })

    // Out as soon as the last stream is done: its kept-alive connection, idle now, does not hold the exit up.
    expect(code).toBe(0)
    expect(gateway.output()).toContain('shut down cleanly')
    expect(exitedAt - Math.max(...ends.map((e) => e.endedAt))).toBeLessThan(2_000)

    // The gateway's own record: the calls before the signal and the drained streams, once each; the refused ones not at all.
    const drained = [...before, ...ends.map((e) => e.id), 'gs-pooled']
    const records = metered(gateway)
    expect(records.map((m) => m.requestId).sort()).toEqual([...drained].sort())
    expect(records.every((m) => m.outcome === 'completed')).toBe(true)

    // Started again on the same folder: every one of those events reached ClickHouse and the balances, none twice.
    const again = await gatewayOn(folder, 10_000)
    try {
      const found = await recorded(again, tenantId)
      expect(found).toEqual({
        requests: drained.length,
        completionTokens: sum(records, (m) => m.usage?.completionTokens ?? 0),
        costMicroUsd: sum(records, (m) => m.costMicroUsd),
        spent: sum(records, (m) => m.costMicroUsd),
      })
      console.error(
        `[fault] graceful shutdown (drain): ${drained.length + 2} requests (${before.length} before SIGTERM, ${ends.length + 1} streams drained to [DONE], exit ${code} ${exitedAt - signalledAt} ms after it, 2 refused while draining), ` +
          `${drained.length} events expected, ${found.requests} found after restart (ClickHouse), spend ${found.spent} of ${sum(records, (m) => m.costMicroUsd)} micro-USD in balances, ` +
          `0 duplicates, 0 unexpected 5xx; during the drain a new connection was ${late.refused ? 'refused' : `answered ${late.status}`}, a kept-alive one 503 service_unavailable`,
      )
    } finally {
      await again.stop()
    }
  })

  it('cuts the streams that outlive the deadline, meters what they produced, and exits 1 with every event kept', { timeout: 90_000 }, async () => {
    const folder = dataFolder()
    const deadlineMs = 600
    const gateway = await gatewayOn(folder, deadlineMs)
    const { id: tenantId, key } = await tenantWithKey(gateway)
    const completed = ['gd-done-1', 'gd-done-2', 'gd-done-3']
    for (const [i, id] of completed.entries()) expect(await complete(gateway, key, id, i === 2)).toBe(200)

    // Each has sent some text when the signal comes, and has a second of text to go: longer than the deadline.
    const streams = Array.from({ length: 2 }, (_, i) => openStream(gateway, key, `gd-long-${i}`, /"content":"[^"]+"/))
    await Promise.all(streams.map((s) => s.started))
    const signalledAt = Date.now()
    const code = await gateway.stop()
    const exitedAt = Date.now()
    const ends = await Promise.all(streams.map((s) => s.ended))

    // Cut at the deadline, not run to their end: the client sees the connection end without [DONE].
    for (const end of ends) expect({ id: end.id, cut: end.error !== undefined && !end.events.includes('[DONE]') }).toEqual({ id: end.id, cut: true })
    expect(exitedAt - signalledAt).toBeGreaterThanOrEqual(deadlineMs)
    expect(exitedAt - signalledAt).toBeLessThan(deadlineMs + 3_000)
    expect(code).toBe(1)
    expect(gateway.output()).toContain('shutdown deadline passed')
    expect(gateway.output()).toContain('shut down after cutting requests at the deadline')

    // Metered once each: the completed calls, and the cut streams with the tokens they had produced.
    const records = metered(gateway)
    expect(records.map((m) => `${m.requestId} ${m.outcome}`).sort()).toEqual([
      ...completed.map((id) => `${id} completed`),
      ...ends.map((e) => `${e.id} client_disconnected`),
    ])
    for (const m of records.filter((r) => r.requestId.startsWith('gd-long-'))) expect(m.usage!.completionTokens).toBeGreaterThan(0)

    // Started again on the same folder: all of them in ClickHouse and the balances, none twice.
    const again = await gatewayOn(folder, 10_000)
    try {
      const found = await recorded(again, tenantId)
      expect(found).toEqual({
        requests: records.length,
        completionTokens: sum(records, (m) => m.usage?.completionTokens ?? 0),
        costMicroUsd: sum(records, (m) => m.costMicroUsd),
        spent: sum(records, (m) => m.costMicroUsd),
      })
      console.error(
        `[fault] graceful shutdown (deadline ${deadlineMs} ms): ${records.length} requests (${completed.length} completed before SIGTERM, ${ends.length} streams cut at the deadline, exit ${code} after ${exitedAt - signalledAt} ms), ` +
          `${records.length} events expected, ${found.requests} found after restart (ClickHouse), spend ${found.spent} of ${sum(records, (m) => m.costMicroUsd)} micro-USD in balances, 0 duplicates, 0 unexpected 5xx`,
      )
    } finally {
      await again.stop()
    }
  })
})
