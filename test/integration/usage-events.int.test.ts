import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { parseEvent } from '../../events/catalogue/registry.ts'
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

/** Every call the gateway answers becomes a priced `request.completed` event on the usage topic. */
const KEY = 'sg-usage-events-test-key-000001'
let opened: OpenedSqlStore
let mock: RunningMock
let gateway: GatewayParts
let app: FastifyInstance
let log: InProcessEventLog

beforeAll(async () => {
  opened = await openPglite()
  await migrate(opened.store)
  mock = await startMock(openAiMock())
  log = new InProcessEventLog(opened.store, { pollIntervalMs: 20 })
  const deps: Dependencies = {
    sql: opened.store,
    eventStore: new SqlEventStore(opened.store),
    eventLog: log,
    rateLimiter: new MemoryRateLimiter(),
    analytics: await ClickHouseAnalyticsStore.open({ chdbPath: ':memory:' }),
  }
  const config = loadConfig({ SUPERGATE_API_KEYS: KEY, SUPERGATE_OPENAI_API_KEY: 'upstream', SUPERGATE_OPENAI_BASE_URL: `${mock.url}/v1`, SUPERGATE_OUTBOX_RELAY: 'off', SUPERGATE_UPSTREAM_RETRIES: '0' })
  const logger = createLogger({ level: 'silent' })
  gateway = createGateway(config, { logger, deps })
  app = buildApp({ deps, logger, gateway })
})

afterAll(async () => {
  await app.close()
  await gateway.close()
  await mock.close()
  await opened.dispose()
})

async function eventsFor(requestIds: string[]): Promise<Map<string, Envelope>> {
  await gateway.publisher.flush()
  const found = new Map<string, Envelope>()
  const subscription = await log.subscribe({
    groupId: `test-${Date.now()}-${Math.random()}`,
    topics: [USAGE_TOPIC],
    handleBatch: (batch) => {
      for (const m of batch.messages) {
        const event = parseEvent(JSON.parse(m.value.toString()) as unknown)
        found.set(String((event.data as { requestId: string }).requestId), event)
      }
      return Promise.resolve()
    },
  })
  await expect.poll(() => requestIds.every((id) => found.has(id)), { timeout: 5_000 }).toBe(true)
  await subscription.stop()
  return found
}

const chat = (body: object, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...headers }, payload: body })

describe('usage events', () => {
  it('records completed, streamed and failed calls, priced in integer micro-USD', async () => {
    const plain = await chat({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] })
    const tools = await chat({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: '[scenario:tool_call] weather?' }] })
    const streamed = await chat({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], stream: true })
    const missing = await chat({ model: 'no-such-model', messages: [{ role: 'user', content: 'Hello' }] })
    expect([plain.statusCode, tools.statusCode, streamed.statusCode, missing.statusCode]).toEqual([200, 200, 200, 404])
    const ids = [plain, tools, streamed, missing].map((r) => String(r.headers['x-request-id']))
    const events = await eventsFor(ids)
    const [p, t, s, m] = ids.map((id) => events.get(id)!)

    expect(p).toMatchObject({ type: 'request.completed', version: 2, tenantId: 'default', correlationId: ids[0] })
    // gpt-4o-mini: $0.15 and $0.60 per million tokens; 19 in + 10 out = 2.85 + 6 = 8.85 µUSD, rounded half up once.
    expect(p!.data).toMatchObject({ model: 'openai/gpt-4o-mini', outcome: 'completed', httpStatus: 200, keySource: 'gateway', costMicroUsd: 9, stream: false })
    expect(p!.data.usage).toEqual({ promptTokens: 19, completionTokens: 10, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false })
    // 58 uncached × 0.15 + 1024 cached × 0.075 + 230 × 0.60 = 8.7 + 76.8 + 138 = 223.5 → 224 µUSD.
    expect(t!.data).toMatchObject({ costMicroUsd: 224 })
    expect(s!.data).toMatchObject({ stream: true, outcome: 'completed', usage: { promptTokens: 9, completionTokens: 3 } })
    expect(typeof s!.data.timeToFirstTokenMs).toBe('number')
    expect(m).toMatchObject({ type: 'request.rejected', data: { reason: 'validation', httpStatus: 404, errorCode: 'model_not_found', model: null } })
  })

  it('names the end user from the x-supergate-user header, else the body, and refuses an id too long to keep whole', async () => {
    const hello = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] }
    const byHeader = await chat({ ...hello, user: 'from-body' }, { 'x-supergate-user': 'alice@example.com' })
    const byBody = await chat({ ...hello, user: 'bob' })
    const bySafetyId = await chat({ ...hello, safety_identifier: 'hash-carol' })
    const anonymous = await chat(hello)
    // UTF-8 bytes in the header (Node reads them as Latin-1) name the same user as the body's string.
    const accented = await chat(hello, { 'x-supergate-user': Buffer.from('josé', 'utf8').toString('latin1') })
    const tooLong = await chat(hello, { 'x-supergate-user': 'x'.repeat(257) })
    expect([byHeader, byBody, bySafetyId, anonymous, accented].map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200])
    expect(tooLong.statusCode).toBe(400)
    expect(tooLong.json()).toMatchObject({ error: { type: 'invalid_request_error', param: 'x-supergate-user', message: expect.stringContaining('256') as string } })
    const ids = [byHeader, byBody, bySafetyId, anonymous, accented].map((r) => String(r.headers['x-request-id']))
    const events = await eventsFor(ids)
    expect(ids.map((id) => events.get(id)!.data.user)).toEqual(['alice@example.com', 'bob', 'hash-carol', null, 'josé'])
  })
})
