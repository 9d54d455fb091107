import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Envelope } from '../../events/envelope.ts'
import { InProcessEventLog } from '../../events/in-process-event-log.ts'
import { SqlEventStore } from '../../events/sql-event-store.ts'
import { buildApp } from '../../gateway/app.ts'
import type { Dependencies } from '../../gateway/dependencies.ts'
import { MemoryRateLimiter } from '../../gateway/limits/memory-rate-limiter.ts'
import { USAGE_TOPIC } from '../../gateway/proxy/usage-events.ts'
import { createGateway } from '../../gateway/wiring.ts'
import type { GatewayParts } from '../../gateway/wiring.ts'
import { ClickHouseAnalyticsStore } from '../../infra/clickhouse/clickhouse-analytics-store.ts'
import { loadConfig } from '../../infra/config/config.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import { createLogger } from '../../infra/telemetry/logger.ts'
import { startMock } from '../mocks/mock-server.ts'
import type { RunningMock } from '../mocks/mock-server.ts'
import { openAiMock } from '../mocks/openai.ts'
import { openPglite } from '../support/sql.ts'
import type { OpenedSqlStore } from '../support/sql.ts'

/**
 * The response cache through the embedded gateway (issue 6): exact and semantic hits, scoped to the tenant,
 * the model and the parameters; cache-control; streamed replay through the official SDK; hit events.
 */
const ADMIN = 'sg-admin-cache-test-token-000000000000001'
let opened: OpenedSqlStore
let mock: RunningMock
let gateway: GatewayParts
let app: FastifyInstance
let baseUrl: string
const usageEvents: Envelope[] = []

beforeAll(async () => {
  opened = await openPglite()
  await migrate(opened.store)
  mock = await startMock(openAiMock())
  const eventLog = new InProcessEventLog(opened.store, { pollIntervalMs: 20 })
  const deps: Dependencies = {
    sql: opened.store,
    eventStore: new SqlEventStore(opened.store),
    eventLog,
    rateLimiter: new MemoryRateLimiter(),
    analytics: await ClickHouseAnalyticsStore.open({ chdbPath: ':memory:' }),
  }
  const config = loadConfig({ SUPERGATE_ADMIN_TOKEN: ADMIN, SUPERGATE_OPENAI_API_KEY: 'upstream', SUPERGATE_OPENAI_BASE_URL: `${mock.url}/v1` })
  const logger = createLogger({ level: process.env.TEST_LOG_LEVEL === undefined ? 'silent' : 'warn' })
  gateway = createGateway(config, { logger, deps, adminToken: ADMIN, masterKeys: [{ version: 1, key: Buffer.alloc(32, 4) }] })
  await gateway.start()
  await eventLog.subscribe({
    groupId: 'cache-test',
    topics: [USAGE_TOPIC],
    fromBeginning: true,
    handleBatch: (batch) => {
      for (const m of batch.messages) usageEvents.push(JSON.parse(m.value.toString('utf8')) as Envelope)
      return Promise.resolve()
    },
  })
  app = buildApp({ deps, logger, gateway, admin: { controlPlane: gateway.controlPlane, keys: gateway.keys, sql: deps.sql } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}, 60_000)

afterAll(async () => {
  await app.close()
  await gateway.close()
  await mock.close()
  await opened.dispose()
})

async function admin(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const response = await app.inject({ method: method as 'GET', url: `/admin/v1${path}`, headers: { authorization: `Bearer ${ADMIN}` }, ...(body === undefined ? {} : { payload: body as object }) })
  expect(response.statusCode, response.body).toBeLessThan(300)
  return response.json<Record<string, unknown>>()
}

/** A tenant with a key, its cache set as given; returns the key once the settings are in force. */
async function tenantWithCache(settings: Record<string, unknown>): Promise<{ tenantId: string; key: string }> {
  const tenantId = String((await admin('POST', '/tenants', { name: `cache-${Date.now()}` })).id)
  await admin('PUT', `/tenants/${tenantId}/cache-settings`, settings)
  // The gateway reads the settings with the tenant at the key's first use: wait until they are projected.
  await expect.poll(async () => (await admin('GET', `/tenants/${tenantId}/cache-settings`)).mode, { timeout: 5_000 }).toBe(settings.mode)
  const key = String((await admin('POST', `/tenants/${tenantId}/keys`, { name: 'app', role: 'developer' })).key)
  return { tenantId, key }
}

const upstreamCalls = () => mock.requests.filter((r) => r.path.endsWith('/chat/completions')).length

async function ask(key: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/chat/completions',
    headers: { authorization: `Bearer ${key}`, ...headers },
    payload: { model: 'openai/gpt-4o-mini', ...body },
  })
  expect(response.statusCode, response.body).toBe(200)
  return { cache: response.headers['x-supergate-cache'], similarity: response.headers['x-supergate-cache-similarity'], json: response.json<{ id: string; choices: { message: { content: string } }[] }>() }
}

const user = (content: string) => ({ messages: [{ role: 'user', content }] })

describe('exact cache', () => {
  it('answers an identical request from the cache, and nothing that differs in tenant, model or parameters', async () => {
    const a = await tenantWithCache({ mode: 'exact' })
    const b = await tenantWithCache({ mode: 'exact' })
    const before = upstreamCalls()
    const first = await ask(a.key, user('Hello'))
    expect(first.cache).toBe('miss')
    await expect.poll(async () => (await ask(a.key, user('Hello'))).cache, { timeout: 5_000 }).toBe('hit-exact')
    const hit = await ask(a.key, user('Hello'))
    expect(hit.json.choices).toEqual(first.json.choices)
    expect(hit.json.id).not.toBe(first.json.id)
    const afterHits = upstreamCalls()
    expect(afterHits - before).toBe(1)

    // Another tenant, another model, another temperature, another prompt: all go to the provider.
    expect((await ask(b.key, user('Hello'))).cache).toBe('miss')
    expect((await ask(a.key, { ...user('Hello'), model: 'openai/gpt-4o' })).cache).toBe('miss')
    expect((await ask(a.key, { ...user('Hello'), temperature: 0.2 })).cache).toBe('miss')
    expect((await ask(a.key, user('Hello!'))).cache).toBe('miss')
    expect(upstreamCalls() - afterHits).toBe(4)
  })

  it('honours cache-control: no-store neither reads nor writes, no-cache writes a fresh answer without reading', async () => {
    const { key } = await tenantWithCache({ mode: 'exact' })
    expect((await ask(key, user('Bonjour'), { 'cache-control': 'no-store' })).cache).toBe('bypass')
    await new Promise((r) => setTimeout(r, 300))
    expect((await ask(key, user('Bonjour'), { 'cache-control': 'no-cache' })).cache).toBe('bypass')
    await expect.poll(async () => (await ask(key, user('Bonjour'))).cache, { timeout: 5_000 }).toBe('hit-exact')
    expect((await ask(key, user('Bonjour'), { 'cache-control': 'no-cache' })).cache).toBe('bypass')
    // A tenant without a cache: never read, never written.
    const off = await tenantWithCache({ mode: 'off' })
    expect((await ask(off.key, user('Bonjour'))).cache).toBe('bypass')
  })

  it('records a hit as a request that cost nothing and a cache.hit event with the cost it saved', async () => {
    const { tenantId, key } = await tenantWithCache({ mode: 'exact' })
    await ask(key, user('Count me'))
    await expect.poll(async () => (await ask(key, user('Count me'))).cache, { timeout: 5_000 }).toBe('hit-exact')
    await expect.poll(() => usageEvents.filter((e) => e.tenantId === tenantId && e.type === 'cache.hit').length, { timeout: 5_000 }).toBeGreaterThanOrEqual(1)
    const mine = usageEvents.filter((e) => e.tenantId === tenantId)
    const completed = mine.filter((e) => e.type === 'request.completed').map((e) => e.data as { cacheOutcome: string; costMicroUsd: number })
    // 19 input + 10 output tokens of gpt-4o-mini: 9 µUSD the first time, 0 for every hit.
    expect(completed[0]).toMatchObject({ cacheOutcome: 'miss', costMicroUsd: 9 })
    expect(completed.slice(1).every((c) => c.cacheOutcome === 'exact_hit' && c.costMicroUsd === 0)).toBe(true)
    expect(mine.find((e) => e.type === 'cache.hit')?.data).toMatchObject({ cacheOutcome: 'exact_hit', savedMicroUsd: 9, model: 'openai/gpt-4o-mini' })
    const balance = async () => (await admin('GET', `/tenants/${tenantId}/balance`)).spentMicroUsd
    await expect.poll(balance, { timeout: 5_000 }).toBe(9)
  })

  it('replays a cached answer as an SSE stream the official SDK reads like any other', async () => {
    const { key } = await tenantWithCache({ mode: 'exact' })
    const client = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: key, maxRetries: 0 })
    const body = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Stream me' }] }
    const direct = await client.chat.completions.create(body)
    await expect.poll(async () => (await ask(key, user('Stream me'))).cache, { timeout: 5_000 }).toBe('hit-exact')
    const { data: stream, response } = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } }).withResponse()
    expect(response.headers.get('x-supergate-cache')).toBe('hit-exact')
    let text = ''
    let usage: OpenAI.CompletionUsage | null | undefined
    let finish: string | null = null
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? ''
      finish = chunk.choices[0]?.finish_reason ?? finish
      usage = chunk.usage ?? usage
    }
    expect(text).toBe(direct.choices[0]!.message.content)
    expect(finish).toBe('stop')
    expect(usage).toMatchObject({ prompt_tokens: 19, completion_tokens: 10 })
  })

  it('fills the cache from a streamed call too', async () => {
    const { tenantId, key } = await tenantWithCache({ mode: 'exact' })
    const client = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: key, maxRetries: 0 })
    const stream = await client.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Streamed first' }], stream: true })
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
    // The entry is written after the stream ends; a plain call before that would miss and store its own.
    const entries = async () => (await opened.store.query<{ n: number }>('SELECT count(*)::int AS n FROM response_cache WHERE tenant_id = $1', [tenantId])).rows[0]!.n
    await expect.poll(entries, { timeout: 5_000 }).toBe(1)
    const hit = await ask(key, user('Streamed first'))
    expect(hit.cache).toBe('hit-exact')
    expect(hit.json.choices[0]!.message.content).toBe(text)
  })
})

describe('cache settings', () => {
  it('refuses malformed settings by name and keeps the ones in force', async () => {
    const { tenantId } = await tenantWithCache({ mode: 'exact', ttlSeconds: 600 })
    const put = (body: unknown) => app.inject({ method: 'PUT', url: `/admin/v1/tenants/${tenantId}/cache-settings`, headers: { authorization: `Bearer ${ADMIN}` }, payload: body as object })
    const tooMany = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`openai/model-${i}`, 0.9]))
    for (const [body, param] of [
      [{ mode: 'fuzzy' }, 'mode'],
      [{ similarityThreshold: 1.5 }, 'similarityThreshold'],
      [{ ttlSeconds: 0 }, 'ttlSeconds'],
      [{ modelThresholds: { 'not a model': 0.9 } }, 'modelThresholds'],
      [{ modelThresholds: tooMany }, 'modelThresholds'],
      [{ embeddingModel: 'x'.repeat(300) }, 'embeddingModel'],
      [{ mode: 'exact', surprise: true }, null],
    ] as const) {
      const answer = await put(body)
      expect(answer.statusCode, JSON.stringify(body).slice(0, 80)).toBe(400)
      const error = answer.json<{ error: { code: string; message: string } }>().error
      expect(error.code).toBe('invalid_request')
      if (param !== null) expect(error.message).toContain(param)
    }
    expect(await admin('GET', `/tenants/${tenantId}/cache-settings`)).toMatchObject({ mode: 'exact', ttlSeconds: 600, similarityThreshold: 0.9 })
  })
})

describe('who may call models', () => {
  it('refuses billing and viewer keys on every model endpoint, even for an answer the cache holds', async () => {
    const { tenantId, key } = await tenantWithCache({ mode: 'exact' })
    await ask(key, user('Cached for the developer'))
    await expect.poll(async () => (await ask(key, user('Cached for the developer'))).cache, { timeout: 5_000 }).toBe('hit-exact')
    for (const role of ['billing', 'viewer']) {
      const other = String((await admin('POST', `/tenants/${tenantId}/keys`, { name: role, role })).key)
      const headers = { authorization: `Bearer ${other}`, 'anthropic-version': '2023-06-01' }
      const chat = await app.inject({ method: 'POST', url: '/v1/chat/completions', headers, payload: { model: 'openai/gpt-4o-mini', ...user('Cached for the developer') } })
      expect([chat.statusCode, chat.json<{ error: { code: string } }>().error.code]).toEqual([403, 'permission_denied'])
      const embed = await app.inject({ method: 'POST', url: '/v1/embeddings', headers, payload: { model: 'openai/text-embedding-3-small', input: 'x' } })
      expect(embed.statusCode).toBe(403)
      const messages = await app.inject({ method: 'POST', url: '/v1/messages', headers, payload: { model: 'openai/gpt-4o-mini', max_tokens: 10, ...user('Cached for the developer') } })
      expect([messages.statusCode, messages.json<{ error: { type: string } }>().error.type]).toEqual([403, 'permission_error'])
    }
  })
})

describe("the cache behind Anthropic's /v1/messages", () => {
  it('answers a repeated message from the cache, as JSON and as a replayed stream the Anthropic SDK reads', async () => {
    const { key } = await tenantWithCache({ mode: 'exact' })
    const client = new Anthropic({ baseURL: baseUrl, apiKey: key, maxRetries: 0 })
    const request = { model: 'openai/gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user' as const, content: 'Hola' }] }
    const first = await client.messages.create(request).withResponse()
    expect(first.response.headers.get('x-supergate-cache')).toBe('miss')
    const text = (first.data.content[0] as { text: string }).text
    await expect.poll(async () => (await client.messages.create(request).withResponse()).response.headers.get('x-supergate-cache'), { timeout: 5_000 }).toBe('hit-exact')
    const hit = await client.messages.create(request)
    expect(hit).toMatchObject({ type: 'message', role: 'assistant', content: [{ type: 'text', text }], stop_reason: 'end_turn' })
    const stream = client.messages.stream(request)
    const streamed = await stream.finalMessage()
    expect(streamed.content.map((block) => (block.type === 'text' ? block.text : block.type))).toEqual([text])
    expect(streamed.stop_reason).toBe('end_turn')
    expect(streamed.usage).toMatchObject({ input_tokens: 19, output_tokens: 10 })
  })
})

describe('semantic cache', () => {
  const cold = { temperature: 0 }

  it('answers a paraphrase from the cache, but not a question that differs in meaning', async () => {
    const { key } = await tenantWithCache({ mode: 'semantic', similarityThreshold: 0.8 })
    expect((await ask(key, { ...user('What is the capital of France?'), ...cold })).cache).toBe('miss')
    await expect.poll(async () => (await ask(key, { ...user('What is the capital of France?'), ...cold })).cache, { timeout: 5_000 }).toBe('hit-exact')
    const paraphrase = await ask(key, { ...user('Tell me the capital city of France'), ...cold })
    expect(paraphrase.cache).toBe('hit-semantic')
    expect(Number(paraphrase.similarity)).toBeGreaterThanOrEqual(0.8)
    expect((await ask(key, { ...user('What is the capital of Germany?'), ...cold })).cache).toBe('miss')
  })

  it('keeps semantic reuse away from high temperature and tools unless the tenant opts in', async () => {
    const question = user('How do I reverse a list in Python?')
    const paraphrase = user("What's the way to reverse a Python list?")
    const tools = [{ type: 'function', function: { name: 'run', parameters: { type: 'object', properties: {} } } }]
    /** Seeds the cache with `question` (until it hits exactly), then asks the paraphrase with the same parameters. */
    const paraphraseAfter = async (key: string, params: Record<string, unknown>) => {
      await ask(key, { ...question, ...params })
      await expect.poll(async () => (await ask(key, { ...question, ...params })).cache, { timeout: 5_000 }).toBe('hit-exact')
      return (await ask(key, { ...paraphrase, ...params })).cache
    }
    const strict = await tenantWithCache({ mode: 'semantic', similarityThreshold: 0.8 })
    // An unset temperature is 1, above the default limit of 0.5; tools are exact-only by default.
    expect(await paraphraseAfter(strict.key, {})).toBe('miss')
    expect(await paraphraseAfter(strict.key, { temperature: 0.9 })).toBe('miss')
    expect(await paraphraseAfter(strict.key, { ...cold, tools })).toBe('miss')
    expect(await paraphraseAfter(strict.key, { temperature: 0.3 })).toBe('hit-semantic')
    const opted = await tenantWithCache({ mode: 'semantic', similarityThreshold: 0.8, semanticMaxTemperature: 1, semanticWithTools: true })
    expect(await paraphraseAfter(opted.key, {})).toBe('hit-semantic')
    expect(await paraphraseAfter(opted.key, { ...cold, tools })).toBe('hit-semantic')
  })

  it('never serves one tenant the semantic neighbour of another', async () => {
    const a = await tenantWithCache({ mode: 'semantic', similarityThreshold: 0.5 })
    const b = await tenantWithCache({ mode: 'semantic', similarityThreshold: 0.5 })
    await ask(a.key, { ...user('Summarize this article about climate change'), ...cold })
    await expect.poll(async () => (await ask(a.key, { ...user('Give me a summary of this climate change article'), ...cold })).cache, { timeout: 5_000 }).toBe('hit-semantic')
    expect((await ask(b.key, { ...user('Give me a summary of this climate change article'), ...cold })).cache).toBe('miss')
  })

  it("embeds prompts with a provider model through the tenant's own key, billed to the tenant", async () => {
    // A tenant that only ever uses its own provider keys.
    const tenantId = String((await admin('POST', '/tenants', { name: `cache-byok-${Date.now()}`, keyMode: 'byok_only' })).id)
    await admin('PUT', `/tenants/${tenantId}/credentials/openai`, { apiKey: 'sk-tenant-own-openai-key' })
    await admin('PUT', `/tenants/${tenantId}/cache-settings`, { mode: 'semantic', similarityThreshold: 0.99, embeddingModel: 'openai/text-embedding-3-small' })
    await expect.poll(async () => (await admin('GET', `/tenants/${tenantId}/credentials`)).data, { timeout: 5_000 }).toHaveLength(1)
    await expect.poll(async () => (await admin('GET', `/tenants/${tenantId}/cache-settings`)).mode, { timeout: 5_000 }).toBe('semantic')
    const key = String((await admin('POST', `/tenants/${tenantId}/keys`, { name: 'app', role: 'developer' })).key)
    const embeddingCalls = () => mock.requests.filter((r) => r.path.endsWith('/embeddings') && (r.body as { model?: string }).model === 'text-embedding-3-small')
    const before = embeddingCalls().length
    expect((await ask(key, { ...user('Is it raining in Paris?'), ...cold })).cache).toBe('miss')
    await expect.poll(async () => (await ask(key, { ...user('Is it raining in Paris?'), ...cold })).cache, { timeout: 5_000 }).toBe('hit-exact')
    // The mock embeds by letters and digits only: the same words, other case and punctuation, embed alike.
    expect((await ask(key, { ...user('is it RAINING in paris'), ...cold })).cache).toBe('hit-semantic')
    const calls = embeddingCalls().slice(before)
    expect(calls.length).toBeGreaterThanOrEqual(2)
    expect(calls.every((c) => c.headers.authorization === 'Bearer sk-tenant-own-openai-key')).toBe(true)
    expect(calls.every((c) => (c.body as { dimensions?: number }).dimensions === 384)).toBe(true)
    await expect
      .poll(() => usageEvents.filter((e) => e.tenantId === tenantId && e.type === 'request.completed' && (e.data as { endpoint: string }).endpoint === 'embeddings').length, { timeout: 5_000 })
      .toBeGreaterThanOrEqual(2)
  })
})
