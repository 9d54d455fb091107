import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMock } from '../mocks/mock-server.ts'
import type { RunningMock } from '../mocks/mock-server.ts'
import { openAiMock } from '../mocks/openai.ts'
import { startGateway } from '../support/gateway-process.ts'
import type { RunningGateway } from '../support/gateway-process.ts'
import { startOtlpReceiver } from '../support/otlp-receiver.ts'
import { OutageClient } from '../support/outage-client.ts'
import type { OtlpReceiver, ReceivedSpan } from '../support/otlp-receiver.ts'

/**
 * OpenTelemetry traces (issue 10): a gateway process exports, over OTLP/HTTP to an in-test receiver, a server
 * span per API request under the caller's traceparent and a GenAI client span for the provider call, with
 * the semantic conventions' attributes and nothing secret or private.
 */
const ADMIN = 'sg-admin-tracing-e2e-token-000000000001'
const UPSTREAM_KEY = 'upstream-tracing-e2e-secret'
const PROMPT = 'Hello, this prompt is private: 4111-1111-1111-1111'
const SPAN_KIND_SERVER = 2
const SPAN_KIND_CLIENT = 3
let mock: RunningMock
let receiver: OtlpReceiver
let gateway: RunningGateway

beforeAll(async () => {
  mock = await startMock(openAiMock())
  receiver = await startOtlpReceiver()
  gateway = await startGateway({
    SUPERGATE_ADMIN_TOKEN: ADMIN,
    SUPERGATE_MASTER_KEY: Buffer.alloc(32, 13).toString('base64'),
    SUPERGATE_OPENAI_API_KEY: UPSTREAM_KEY,
    SUPERGATE_OPENAI_BASE_URL: `${mock.url}/v1`,
    SUPERGATE_OTLP_ENDPOINT: receiver.url,
  })
}, 60_000)

afterAll(async () => {
  await gateway.stop()
  await receiver.close()
  await mock.close()
})

const client = new OutageClient(() => gateway.url, ADMIN)
const admin = (method: string, path: string, body?: unknown) => client.admin(method, path, body)

/** The call's status and the usage its answer reported (streams: in the last chunk, asked for with include_usage). */
async function chat(key: string, traceparent: string, stream: boolean): Promise<{ status: number; model: string | undefined; usage: { prompt_tokens: number; completion_tokens: number } | undefined }> {
  const response = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', traceparent },
    body: JSON.stringify({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: PROMPT }],
      max_tokens: 10,
      temperature: 0.2,
      stream,
      ...(stream ? { stream_options: { include_usage: true } } : {}),
    }),
  })
  const text = await response.text()
  const bodies = stream ? text.split('\n').filter((l) => l.startsWith('data: {')).map((l) => l.slice(6)) : [text]
  const parsed = bodies.map((b) => JSON.parse(b) as { model?: string; usage?: { prompt_tokens: number; completion_tokens: number } })
  return { status: response.status, model: parsed[0]?.model, usage: parsed.map((b) => b.usage).findLast((u) => u != null) }
}

async function spansOf(traceId: string, count: number): Promise<ReceivedSpan[]> {
  await expect.poll(() => receiver.spans.filter((s) => s.traceId === traceId).length, { timeout: 15_000 }).toBeGreaterThanOrEqual(count)
  return receiver.spans.filter((s) => s.traceId === traceId)
}

describe('OpenTelemetry traces over OTLP', () => {
  it('exports the request and its provider call under the caller’s trace, with GenAI attributes and no secret or prompt', { timeout: 60_000 }, async () => {
    const tenantId = String((await admin('POST', '/tenants', { name: `tracing-${Date.now()}` })).id)
    const key = String((await admin('POST', `/tenants/${tenantId}/keys`, { name: 'app', role: 'developer' })).key)
    await fetch(`${gateway.url}/health`)

    for (const stream of [false, true]) {
      const traceId = randomBytes(16).toString('hex')
      const callerSpan = randomBytes(8).toString('hex')
      const answered = await chat(key, `00-${traceId}-${callerSpan}-01`, stream)
      expect(answered.status).toBe(200)
      expect(answered.usage?.prompt_tokens).toBeGreaterThan(0)
      const spans = await spansOf(traceId, 2)
      const server = spans.find((s) => s.kind === SPAN_KIND_SERVER)!
      const client = spans.find((s) => s.kind === SPAN_KIND_CLIENT)!
      expect({ name: server.name, parent: server.parentSpanId }).toEqual({ name: 'POST /v1/chat/completions', parent: callerSpan })
      expect(server.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/v1/chat/completions', 'http.response.status_code': 200, 'supergate.tenant.id': tenantId })
      expect(server.attributes['supergate.cost_micro_usd']).toBeGreaterThan(0)
      expect({ name: client.name, parent: client.parentSpanId }).toEqual({ name: 'chat gpt-4o-mini', parent: server.spanId })
      expect(client.attributes).toMatchObject({
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o-mini',
        'gen_ai.request.max_tokens': 10,
        'gen_ai.request.temperature': 0.2,
        'gen_ai.usage.input_tokens': answered.usage!.prompt_tokens,
        'gen_ai.usage.output_tokens': answered.usage!.completion_tokens,
        'supergate.stream': stream,
      })
      // An answer in one piece also gives its id, model and finish reasons.
      if (!stream) expect(client.attributes).toMatchObject({ 'gen_ai.response.finish_reasons': ['stop'], 'gen_ai.response.model': answered.model })
      if (!stream) expect(String(client.attributes['gen_ai.response.id'])).toMatch(/^chatcmpl-/)
    }

    // Probes are not traced; paths no route serves share one span name, whatever a client makes up.
    expect((await fetch(`${gateway.url}/made/up/path-${Date.now()}`)).status).toBe(404)
    await expect.poll(() => receiver.spans.some((s) => s.name === 'GET unmatched' && s.attributes['http.response.status_code'] === 404), { timeout: 15_000 }).toBe(true)
    expect(receiver.spans.some((s) => s.name === 'GET /health' || s.name.includes('made/up'))).toBe(false)
    const exported = receiver.raw.join('\n')
    for (const secret of [key, ADMIN, UPSTREAM_KEY, '4111-1111-1111-1111']) expect(exported).not.toContain(secret)
    // Nor is the prompt in the gateway's logs, which leave prompts out by default (SUPERGATE_LOG_PROMPTS).
    expect(gateway.output()).not.toContain('4111-1111-1111-1111')
    console.error(`[tracing e2e] ${receiver.spans.length} spans in ${receiver.raw.length} OTLP exports; server and GenAI client spans for a plain and a streamed call`)
  })
})
