import type { AddressInfo } from 'node:net'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FuzzTally, expectSafe, headerValue, hostileJson, hostileNumber, nearValid, nested, pathSegment, queryString, toJsonText } from '../support/fuzz.ts'
import type { ErrorShape } from '../support/fuzz.ts'
import { REQUEST_TIMEOUT_MS, startFuzzGateway } from '../support/fuzz-gateway.ts'
import type { FuzzGateway } from '../support/fuzz-gateway.ts'
import { CHAT_BODIES, EMBEDDING_BODIES, MESSAGES_BODIES, STREAM_BODIES, validChat, validEmbeddings, validMessages } from '../support/fuzz-requests.ts'
import { parseRaw, rawExchange, rawHead } from '../support/raw-http.ts'

/**
 * Issue 9, hostile input on the public API: property-based fuzzing of every data-plane endpoint's body,
 * headers, query and path, then what `inject()` cannot send (bad UTF-8 bytes, raw CR/LF in a header, slow
 * and oversized bodies, 100k levels of nesting) over a real socket. Every answer: no 5xx, the API's error
 * shape, no stack trace, no secret; and the process still answers at the end.
 */

const SEED = 9_0001
let gw: FuzzGateway
let base: string
const tally = new FuzzTally()

beforeAll(async () => {
  gw = await startFuzzGateway()
  // The exact cache on: generated requests also go through its keys, lookups and replays.
  await gw.admin('PUT', `/tenants/${gw.tenantId}/cache-settings`, { mode: 'exact' })
  // Limits high enough to admit ordinary calls: generated ones still go through every admission check, and
  // a huge max_tokens meets a budget and a prepaid balance.
  await gw.admin('POST', `/tenants/${gw.tenantId}/credits`, { amountMicroUsd: 1_000_000_000_000 })
  await gw.admin('PUT', `/tenants/${gw.tenantId}/budgets/tenant`, { period: 'day', limitMicroUsd: 1_000_000_000_000 })
  await gw.admin('PUT', `/tenants/${gw.tenantId}/rate-limits/tenant`, { requestsPerMinute: 1_000_000_000, tokensPerMinute: 1_000_000_000, concurrentRequests: 1_000 })
  await gw.app.listen({ port: 0, host: '127.0.0.1' })
  base = `http://127.0.0.1:${(gw.app.server.address() as AddressInfo).port}`
}, 60_000)

afterAll(async () => {
  console.error(tally.summary('public API'))
  await gw?.close()
})

interface Sent {
  method: 'GET' | 'HEAD' | 'POST' | 'OPTIONS' | 'DELETE'
  url: string
  headers?: Record<string, string>
  payload?: string
}

async function send(endpoint: string, shape: ErrorShape, request: Sent): Promise<{ statusCode: number; body: string }> {
  const answer = await gw.app.inject(request)
  tally.record(endpoint, answer.statusCode)
  const sent = `${request.method} ${request.url} ${JSON.stringify(request.headers ?? {}).slice(0, 300)} ${(request.payload ?? '').slice(0, 300)}`
  expectSafe(answer, shape, gw.secrets, sent, { head: request.method === 'HEAD' })
  if (answer.statusCode === 200 && String(answer.headers['content-type']).startsWith('text/event-stream')) {
    // A stream that already answered 200 reports failures in a frame: never the gateway's own fault either.
    expect(answer.body, sent).not.toMatch(/"internal_error"|"api_error"/)
  }
  return answer
}

const json = (token: string, payload: unknown, headers: Record<string, string> = {}) => ({
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
  payload: toJsonText(payload),
})

/** Who calls: mostly a key that may call models, sometimes one that may not, none, or junk. */
const caller = (): fc.Arbitrary<string | undefined> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constant(gw.developerKey) },
    { weight: 1, arbitrary: fc.constantFrom(gw.ownerKey, gw.viewerKey, `${gw.developerKey}x`, 'sg-not-a-key') },
    { weight: 1, arbitrary: fc.constant(undefined) },
  )

/** A body: generated valid, a valid one mutated, or junk. */
const bodies = (seeds: readonly object[], valid: fc.Arbitrary<object>) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...seeds).chain(nearValid) },
    { weight: 2, arbitrary: valid },
    { weight: 2, arbitrary: valid.chain(nearValid) },
    { weight: 1, arbitrary: hostileJson },
    { weight: 1, arbitrary: fc.anything() },
  )

const bodyProperty = (endpoint: string, url: string, shape: ErrorShape, body: fc.Arbitrary<unknown>) =>
  fc.asyncProperty(caller(), body, async (token, payload) => {
    const headers = { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) }
    await send(endpoint, shape, { method: 'POST', url, headers, payload: toJsonText(payload) })
  })

/** Headers a data-plane call reads, each junk or left out, around a valid body. */
const fuzzedHeaders = fc.record(
  {
    authorization: fc.oneof(headerValue, fc.constant('Bearer KEY'), headerValue.map((v) => `Bearer KEY${v}`)),
    'x-api-key': fc.oneof(headerValue, fc.constant('KEY')),
    'content-type': fc.oneof(fc.constant('application/json'), headerValue),
    'x-supergate-user': headerValue,
    'x-supergate-fallback-models': fc.oneof(headerValue, fc.array(fc.constantFrom('openai/gpt-4o-mini', 'anthropic/claude-sonnet-4-6', 'nope/x', '', ' ', '*'), { maxLength: 8 }).map((m) => m.join(','))),
    'anthropic-version': fc.oneof(fc.constantFrom('2023-06-01', '2026-10-21'), headerValue),
    'x-request-id': headerValue,
    'cache-control': fc.oneof(fc.constantFrom('no-store', 'no-cache', 'max-age=0'), headerValue),
    'content-encoding': fc.constantFrom('gzip', 'br', 'identity', 'x-junk'),
    'transfer-encoding': fc.constantFrom('chunked', 'x-junk'),
  },
  { requiredKeys: [] },
)

const headersProperty = (endpoint: string, url: string, shape: ErrorShape, valid: object) =>
  fc.asyncProperty(fuzzedHeaders, async (fuzzed) => {
    const headers = Object.fromEntries(Object.entries(fuzzed).map(([k, v]) => [k, v.replaceAll('KEY', gw.developerKey)]))
    await send(endpoint, shape, { method: 'POST', url, headers, payload: toJsonText(valid) })
  })

describe('fuzzing the public API (fast-check, fixed seeds)', () => {
  it('POST /v1/chat/completions: bodies', async () => {
    await fc.assert(bodyProperty('POST /v1/chat/completions', '/v1/chat/completions', 'openai', bodies(CHAT_BODIES, validChat)), { seed: SEED, numRuns: 1_200 })
  })

  it('POST /v1/chat/completions stream:true: bodies', async () => {
    const streamed = validChat.map((b) => ({ ...b, stream: true }))
    await fc.assert(bodyProperty('POST /v1/chat/completions (stream)', '/v1/chat/completions', 'openai', bodies(STREAM_BODIES, streamed)), { seed: SEED + 1, numRuns: 600 })
  })

  it('POST /v1/chat/completions: headers', async () => {
    await fc.assert(headersProperty('POST /v1/chat/completions (headers)', '/v1/chat/completions', 'openai', CHAT_BODIES[0]!), { seed: SEED + 2, numRuns: 300 })
  })

  it('POST /v1/embeddings: bodies and headers', async () => {
    await fc.assert(bodyProperty('POST /v1/embeddings', '/v1/embeddings', 'openai', bodies(EMBEDDING_BODIES, validEmbeddings)), { seed: SEED + 3, numRuns: 600 })
    await fc.assert(headersProperty('POST /v1/embeddings (headers)', '/v1/embeddings', 'openai', EMBEDDING_BODIES[0]!), { seed: SEED + 4, numRuns: 100 })
  })

  it('POST /v1/messages: bodies, in Anthropic’s error shape', async () => {
    await fc.assert(bodyProperty('POST /v1/messages', '/v1/messages', 'anthropic', bodies(MESSAGES_BODIES, validMessages)), { seed: SEED + 5, numRuns: 1_200 })
  })

  it('POST /v1/messages: headers', async () => {
    await fc.assert(headersProperty('POST /v1/messages (headers)', '/v1/messages', 'anthropic', MESSAGES_BODIES[0]!), { seed: SEED + 6, numRuns: 300 })
  })

  it('GET /v1/models and /v1/models/{id}: paths, query and keys', async () => {
    const property = fc.asyncProperty(caller(), fc.option(pathSegment), queryString, async (token, id, query) => {
      const url = `/v1/models${id === null ? '' : `/${id}`}${query === '' ? '' : `?${query}`}`
      await send(id === null ? 'GET /v1/models' : 'GET /v1/models/{id}', 'openai', { method: 'GET', url, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
    })
    await fc.assert(property, { seed: SEED + 7, numRuns: 300 })
  })

  it('GET /health, /ready, /metrics, /openapi.json, /dashboard and unknown routes: paths, query and headers', async () => {
    const paths = ['/health', '/ready', '/metrics', '/openapi.json', '/dashboard', '/dashboard/', '/dashboard/assets/dashboard.js', '/dashboard/assets/chart.umd.min.js']
    const property = fc.asyncProperty(
      fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...paths) }, { weight: 1, arbitrary: fc.array(pathSegment, { minLength: 1, maxLength: 4 }).map((s) => `/${s.join('/')}`) }),
      queryString,
      fc.record({ 'if-none-match': headerValue, authorization: headerValue, accept: headerValue, 'x-request-id': headerValue }, { requiredKeys: [] }),
      fc.constantFrom<Sent['method']>('GET', 'HEAD', 'POST', 'OPTIONS', 'DELETE'),
      async (path, query, headers, method) => {
        const url = `${path}${query === '' ? '' : `?${query}`}`
        const known = paths.includes(path) ? (path.startsWith('/dashboard/assets') ? '/dashboard/assets/*' : path) : 'unknown routes'
        await send(`${known} (GET, HEAD, POST, OPTIONS, DELETE)`, 'openai', { method, url, headers })
      },
    )
    await fc.assert(property, { seed: SEED + 8, numRuns: 400 })
  })
})

describe('targeted hostile values', () => {
  const chat = (patch: Record<string, unknown>) => ({ ...CHAT_BODIES[0], ...patch })

  it('answers huge, negative, fractional and non-finite numbers without a failure', async () => {
    const property = fc.asyncProperty(fc.constantFrom('max_tokens', 'max_completion_tokens', 'n', 'temperature', 'top_p', 'top_logprobs', 'seed', 'frequency_penalty'), hostileNumber, async (field, value) => {
      const { headers, payload } = json(gw.developerKey, chat({ [field]: value }))
      await send('POST /v1/chat/completions (numbers)', 'openai', { method: 'POST', url: '/v1/chat/completions', headers, payload })
      const messages = json(gw.developerKey, { ...MESSAGES_BODIES[0], max_tokens: value })
      await send('POST /v1/messages (numbers)', 'anthropic', { method: 'POST', url: '/v1/messages', ...messages })
    })
    await fc.assert(property, { seed: SEED + 9, numRuns: 150 })
    for (const max of [2 ** 53 + 2, 1e308, Number.MAX_SAFE_INTEGER]) {
      const answer = await send('POST /v1/chat/completions (numbers)', 'openai', { method: 'POST', url: '/v1/chat/completions', ...json(gw.developerKey, chat({ max_tokens: max })) })
      // Past the per-minute token limit (429) or the budget (402): refused, never a failure.
      expect([200, 400, 402, 429]).toContain(answer.statusCode)
    }
  })

  it('reads a model id percent-decoded once: an encoded slash finds it, a stray % is a 404', async () => {
    for (const [id, status] of [['openai%2Fgpt-4o-mini', 200], ['openai/gpt-4o-mini', 200], ['%25zz', 404], ['%25', 404], ['%2525', 404]] as const) {
      const answer = await send('GET /v1/models/{id}', 'openai', { method: 'GET', url: `/v1/models/${id}`, headers: { authorization: `Bearer ${gw.developerKey}` } })
      expect(answer.statusCode, id).toBe(status)
    }
  })

  it('answers a model named after a member of Object.prototype with a 404', async () => {
    for (const model of ['__proto__', 'constructor', 'toString']) {
      for (const [url, shape, body] of [
        ['/v1/chat/completions', 'openai', { ...CHAT_BODIES[0], model }],
        ['/v1/embeddings', 'openai', { ...EMBEDDING_BODIES[0], model }],
        ['/v1/messages', 'anthropic', { ...MESSAGES_BODIES[0], model }],
      ] as const) {
        const answer = await send(`POST ${url} (prototype model names)`, shape, { method: 'POST', url, ...json(gw.developerKey, body) })
        expect(answer.statusCode, `${url} ${model}`).toBe(404)
      }
    }
  })

  it('refuses an end-user id or a model that no store can hold, on every endpoint', async () => {
    for (const bad of ['u\u0000', 'u\ud800']) {
      const calls: [string, ErrorShape, object][] = [
        ['/v1/chat/completions', 'openai', { ...CHAT_BODIES[0], user: bad }],
        ['/v1/chat/completions', 'openai', { ...CHAT_BODIES[0], model: `openai/${bad}` }],
        ['/v1/embeddings', 'openai', { ...EMBEDDING_BODIES[0], user: bad }],
        ['/v1/messages', 'anthropic', { ...MESSAGES_BODIES[0], metadata: { user_id: bad } }],
        ['/v1/messages', 'anthropic', { ...MESSAGES_BODIES[0], model: bad }],
      ]
      for (const [url, shape, body] of calls) {
        const answer = await send(`POST ${url} (unstorable text)`, shape, { method: 'POST', url, ...json(gw.developerKey, body) })
        expect(answer.statusCode, `${url} ${JSON.stringify(body)}`).toBe(400)
      }
    }
  })

  it('refuses deep nesting wherever a body holds free-form JSON', async () => {
    const places: { url: string; shape: ErrorShape; body: (deep: unknown) => object }[] = [
      { url: '/v1/chat/completions', shape: 'openai', body: (deep) => chat({ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', deep } } }] }) },
      { url: '/v1/chat/completions', shape: 'openai', body: (deep) => chat({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { deep } } } }) },
      { url: '/v1/chat/completions', shape: 'openai', body: (deep) => chat({ prediction: { deep } }) },
      { url: '/v1/chat/completions', shape: 'openai', body: (deep) => chat({ messages: deep }) },
      { url: '/v1/chat/completions', shape: 'openai', body: (deep) => ({ ...STREAM_BODIES[0], tools: [{ type: 'function', function: { name: 'f', parameters: { deep } } }] }) },
      { url: '/v1/embeddings', shape: 'openai', body: (deep) => ({ ...EMBEDDING_BODIES[0], input: deep }) },
      { url: '/v1/messages', shape: 'anthropic', body: (deep) => ({ ...MESSAGES_BODIES[0], tools: [{ name: 'f', input_schema: { type: 'object', deep } }] }) },
      { url: '/v1/messages', shape: 'anthropic', body: (deep) => ({ ...MESSAGES_BODIES[0], messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: { deep } }] }, { role: 'user', content: 'x' }] }) },
      { url: '/v1/messages', shape: 'anthropic', body: (deep) => ({ ...MESSAGES_BODIES[0], container: { deep } }) },
    ]
    for (const place of places) {
      for (const depth of [100, 1_000, 10_000, 100_000]) {
        for (const kind of ['array', 'object'] as const) {
          await send(`POST ${place.url} (deep nesting)`, place.shape, { method: 'POST', url: place.url, ...json(gw.developerKey, place.body(nested(depth, kind))) })
        }
      }
    }
  })
})

const raw = (bytes: Buffer | string, options?: Parameters<typeof rawExchange>[2]) => rawExchange(base, bytes, options)

/** A POST head with the developer key, for a JSON body of `body`'s length. */
function request(path: string, body: Buffer | string, headers: Record<string, string> = {}): string {
  const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length
  return rawHead('POST', path, { authorization: `Bearer ${gw.developerKey}`, 'content-type': 'application/json', 'content-length': String(length), ...headers })
}

function expectRawSafe(text: string, shape: ErrorShape, what: string): { status: number; body: string } {
  const answer = parseRaw(text)
  tally.record(`raw socket: ${what}`, answer.status)
  expectSafe({ statusCode: answer.status, headers: answer.headers, body: answer.body }, shape, gw.secrets, what)
  return answer
}

describe('hostile bytes over a real socket', () => {
  it('answers invalid UTF-8 in a JSON body with a 400 in the error shape', async () => {
    const invalid = [Buffer.from([0xc3, 0x28]), Buffer.from([0xff, 0xfe]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]), Buffer.from([0xc0, 0xaf])]
    for (const bad of invalid) {
      for (const [path, shape] of [['/v1/chat/completions', 'openai'], ['/v1/messages', 'anthropic']] as const) {
        const body = Buffer.concat([Buffer.from('{"model":"openai/gpt-4o-mini","max_tokens":8,"messages":[{"role":"user","content":"'), bad, Buffer.from('"}]}')])
        const { text } = await raw(Buffer.concat([Buffer.from(request(path, body)), body]))
        const answer = expectRawSafe(text, shape, `invalid UTF-8 ${bad.toString('hex')} to ${path}`)
        // Replaced by U+FFFD, the text is valid: the call may go through, or be refused; never a 5xx.
        expect([200, 400]).toContain(answer.status)
      }
    }
  })

  it('never reflects a CR/LF header injection into a response header', async () => {
    const injected = ['x-request-id: abc\r\nx-injected: 1', 'x-request-id: abc\rx-injected: 1', 'x-request-id: abc\nx-injected: 1', 'x-supergate-user: a\r\n\r\nHTTP/1.1 200 OK', 'x-request-id: abc%0d%0ax-injected:%201', 'x-request-id: a\u0000b']
    for (const header of injected) {
      const body = toJsonText(CHAT_BODIES[0])
      const head = request('/v1/chat/completions', body).replace('connection: close\r\n', `connection: close\r\n${header}\r\n`)
      const { text } = await raw(head + body)
      expect(text.toLowerCase(), header).not.toMatch(/\r\nx-injected/)
      expectRawSafe(text, 'openai', 'header injection')
      const echoed = /\r\nx-request-id: ([^\r\n]*)/i.exec(text)?.[1]
      if (echoed !== undefined) expect(echoed).toMatch(/^[A-Za-z0-9._:-]{1,128}$/)
    }
  })

  it('answers a body over the limit with a 413 in the error shape, declared or chunked', async () => {
    const size = 32 * 1024 * 1024 + 1024
    const declared = await raw(request('/v1/chat/completions', '', { 'content-length': String(size) }), { waitMs: 10_000 })
    expect(expectRawSafe(declared.text, 'openai', 'oversized body (content-length)').status).toBe(413)
    const chunk = Buffer.alloc(1024 * 1024, 0x20)
    const chunked = await raw(request('/v1/chat/completions', '', { 'content-length': '', 'transfer-encoding': 'chunked' }), {
      waitMs: 15_000,
      then: (socket) => {
        let sent = 0
        const pump = () => {
          while (sent < 40 && !socket.destroyed) {
            sent++
            if (!socket.write(`${chunk.length.toString(16)}\r\n${chunk.toString('latin1')}\r\n`)) return void socket.once('drain', pump)
          }
        }
        pump()
      },
    })
    expect(expectRawSafe(chunked.text, 'openai', 'oversized body (chunked)').status).toBe(413)
    const messages = await raw(request('/v1/messages', '', { 'content-length': String(size) }), { waitMs: 10_000 })
    expect(expectRawSafe(messages.text, 'anthropic', 'oversized body to /v1/messages').status).toBe(413)
  })

  it('answers 100k levels of nesting with a 400, and does not crash', async () => {
    for (const [open, close] of [['[', ']'], ['{"a":', '}']]) {
      for (const [path, shape] of [['/v1/chat/completions', 'openai'], ['/v1/messages', 'anthropic'], ['/v1/embeddings', 'openai']] as const) {
        const body = `{"model":"openai/gpt-4o-mini","max_tokens":8,"messages":${open!.repeat(100_000)}1${close!.repeat(100_000)}}`
        const { text } = await raw(request(path, body) + body, { waitMs: 15_000 })
        expect(expectRawSafe(text, shape, `100k levels of ${open} to ${path}`).status).toBe(400)
      }
      const unclosed = open!.repeat(100_000)
      const { text } = await raw(request('/v1/chat/completions', unclosed) + unclosed, { waitMs: 15_000 })
      expect(expectRawSafe(text, 'openai', `100k unclosed ${open}`).status).toBe(400)
    }
  })

  it('times out a client that trickles its body or stops, and serves others meanwhile', async () => {
    const body = toJsonText(CHAT_BODIES[0])
    const started = performance.now()
    const [trickled, stopped, stalledHeaders, others] = await Promise.all([
      raw(request('/v1/chat/completions', body), {
        waitMs: REQUEST_TIMEOUT_MS * 6,
        then: (socket) => {
          let i = 0
          const tick = setInterval(() => (socket.destroyed || i >= body.length - 1 ? clearInterval(tick) : socket.write(body[i++]!)), 200)
          socket.once('close', () => clearInterval(tick))
        },
      }),
      raw(request('/v1/chat/completions', body) + body.slice(0, 10), { waitMs: REQUEST_TIMEOUT_MS * 6 }),
      raw('POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\ncontent-type: appl', { waitMs: REQUEST_TIMEOUT_MS * 6 }),
      (async () => {
        await new Promise((r) => setTimeout(r, 200))
        const response = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${gw.developerKey}`, 'content-type': 'application/json' }, body })
        return { status: response.status, at: performance.now() - started }
      })(),
    ])
    // Served at once, while three clients hold their sockets open.
    expect(others.status).toBe(200)
    expect(others.at).toBeLessThan(REQUEST_TIMEOUT_MS)
    for (const [name, answer] of [['trickled body', trickled], ['stopped body', stopped], ['stalled headers', stalledHeaders]] as const) {
      expect(answer.closed, `${name}: the server closed the connection`).toBe(true)
      expect(expectRawSafe(answer.text, 'openai', `slow client (${name})`).status).toBe(408)
    }
  })
})

describe('after the fuzzing', () => {
  it('is still up', async () => {
    const health = await gw.app.inject({ method: 'GET', url: '/health' })
    expect(health.statusCode).toBe(200)
    const call = await gw.app.inject({ method: 'POST', url: '/v1/chat/completions', ...json(gw.developerKey, { ...CHAT_BODIES[0], messages: [{ role: 'user', content: 'still there?' }] }) })
    expect(call.statusCode).toBe(200)
    const overSocket = await fetch(`${base}/health`)
    expect(overSocket.status).toBe(200)
  })

  it('has written every usage event to analytics and the balances: no hostile input stuck a pipeline', async () => {
    await expect.poll(() => gw.pending(), { timeout: 30_000, interval: 250 }).toEqual({ sink: 0, balances: 0 })
  })
})
