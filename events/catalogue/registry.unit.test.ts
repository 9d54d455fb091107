import { describe, expect, it } from 'vitest'
import { buildEvent, CURRENT_VERSIONS, InvalidEventError, NewerEventVersionError, parseEvent } from './registry.ts'
import type { AlertTriggeredV1, CacheHitV1, CacheHitV2, RequestCompletedV0, RequestCompletedV1, RequestCompletedV2, RequestRejectedV1, RequestRejectedV2 } from './schemas.ts'

const meta = { tenantId: 'ten_1', correlationId: 'req_1', actor: { type: 'key' as const, id: 'key_1' } }
const usage = { promptTokens: 1200, completionTokens: 300, cachedTokens: 1000, cacheWriteTokens: 0, reasoningTokens: 120, estimated: false }

const completed: RequestCompletedV1 = {
  requestId: 'req_1',
  projectId: 'proj_1',
  keyId: 'key_1',
  provider: 'openai',
  model: 'openai/gpt-5',
  endpoint: 'chat.completions',
  stream: true,
  outcome: 'client_disconnected',
  httpStatus: 200,
  cacheOutcome: 'miss',
  usage,
  costMicroUsd: 3_375,
  priceVersion: '2026-11-24.1',
  latencyMs: 812,
  timeToFirstTokenMs: 95,
  keySource: 'byok',
  errorCode: null,
}
const completedV2: RequestCompletedV2 = { ...completed, user: 'user-42' }
const cacheHit: CacheHitV1 = { requestId: 'req_2', projectId: null, keyId: 'key_1', model: 'anthropic/claude-opus-4-8', cacheOutcome: 'semantic_hit', savedMicroUsd: 9_000, usage }
const cacheHitV2: CacheHitV2 = { ...cacheHit, user: 'user-42' }
const rejected: RequestRejectedV1 = { requestId: 'req_3', projectId: null, keyId: null, model: null, endpoint: 'messages', reason: 'auth', errorCode: 'invalid_api_key', httpStatus: 401 }
const rejectedV2: RequestRejectedV2 = { ...rejected, user: null }
const alert: AlertTriggeredV1 = {
  ruleId: 'alr_1',
  kind: 'budget_percent',
  scope: 'project:proj_1',
  period: 'month',
  threshold: 80,
  periodStart: '2026-11-01T00:00:00.000Z',
  spentMicroUsd: 8_000_000,
  budgetMicroUsd: 10_000_000,
  webhook: true,
}

/** What a message on the topic looks like: the envelope serialised to JSON and read back. */
function overTheWire(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value))
}

describe('buildEvent → parseEvent round trips', () => {
  it.each([
    ['request.completed', completedV2],
    ['cache.hit', cacheHitV2],
    ['request.rejected', rejectedV2],
    ['alert.triggered', alert],
  ] as const)('%s comes back identical', (type, data) => {
    const event = buildEvent(type, data as never, meta, new Date('2026-11-24T10:00:00.000Z'))
    expect(event).toMatchObject({ type, version: CURRENT_VERSIONS[type], tenantId: 'ten_1', correlationId: 'req_1', causationId: null, actor: meta.actor, occurredAt: '2026-11-24T10:00:00.000Z' })
    expect(parseEvent(overTheWire(event))).toEqual(event)
  })

  it('gives each event a fresh UUIDv7 id carrying its time', () => {
    const at = new Date('2026-11-24T10:00:00.000Z')
    const a = buildEvent('request.rejected', rejectedV2, meta, at)
    const b = buildEvent('request.rejected', rejectedV2, meta, at)
    expect(a.id).not.toBe(b.id)
    expect(a.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(parseInt(a.id.replaceAll('-', '').slice(0, 12), 16)).toBe(at.getTime())
  })

  it('refuses to build an event whose data breaks the contract', () => {
    expect(() => buildEvent('request.completed', { ...completedV2, costMicroUsd: 12.5 }, meta)).toThrow(/request\.completed v2[\s\S]*costMicroUsd/)
    expect(() => buildEvent('request.completed', { ...completedV2, user: 'u'.repeat(257) }, meta)).toThrow(/request\.completed v2[\s\S]*user/)
    expect(() => buildEvent('cache.hit', { ...cacheHitV2, cacheOutcome: 'miss' } as never, meta)).toThrow(InvalidEventError)
    expect(() => buildEvent('request.rejected', rejectedV2, { ...meta, tenantId: '' })).toThrow(/metadata[\s\S]*tenantId/)
  })
})

describe('every stored version parses', () => {
  const envelope = (type: string, version: number, data: unknown) => ({
    id: '01937a4c-5b2e-7c3d-8e4f-0123456789ab',
    type,
    version,
    tenantId: 'ten_1',
    occurredAt: '2025-06-01T00:00:00Z',
    correlationId: 'req_1',
    causationId: null,
    actor: { type: 'system', id: 'gateway' },
    data,
  })

  it('request.completed v0 is upcast to the current version, its decimal cost exact to the micro-USD', () => {
    const v0: RequestCompletedV0 = {
      requestId: 'req_0', projectId: null, keyId: 'key_9', provider: 'anthropic', model: 'anthropic/claude-haiku-4-5',
      endpoint: 'messages', stream: false, outcome: 'completed', httpStatus: 200, cacheOutcome: 'bypass',
      promptTokens: 1000, completionTokens: 200, costUsd: '0.000123', priceVersion: '2025-05-01.1',
      latencyMs: 400, timeToFirstTokenMs: null, keySource: 'gateway', errorCode: null,
    }
    const event = parseEvent(envelope('request.completed', 0, v0))
    expect(event.version).toBe(2)
    expect(event.data).toEqual({
      requestId: 'req_0', projectId: null, keyId: 'key_9', provider: 'anthropic', model: 'anthropic/claude-haiku-4-5',
      endpoint: 'messages', stream: false, outcome: 'completed', httpStatus: 200, cacheOutcome: 'bypass',
      usage: { promptTokens: 1000, completionTokens: 200, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false },
      costMicroUsd: 123, priceVersion: '2025-05-01.1', latencyMs: 400, timeToFirstTokenMs: null, keySource: 'gateway', errorCode: null,
      user: null,
    })
  })

  it.each([
    ['request.completed', completed],
    ['cache.hit', cacheHit],
    ['request.rejected', rejected],
  ] as const)('%s v1 is upcast to v2 with no end user', (type, v1) => {
    const event = parseEvent(envelope(type, 1, v1))
    expect(event.version).toBe(2)
    expect(event.data).toEqual({ ...v1, user: null })
  })
  it.each([
    ['request.completed', completedV2],
    ['cache.hit', cacheHitV2],
    ['request.rejected', rejectedV2],
  ] as const)('%s v2 parses as is, and v1 may not carry a user', (type, v2) => {
    expect(parseEvent(envelope(type, 2, v2)).data).toEqual(v2)
    expect(() => parseEvent(envelope(type, 1, v2))).toThrow(/user/)
  })
  it('alert.triggered v1 parses as is, and refuses a fractional amount', () => {
    expect(parseEvent(envelope('alert.triggered', 1, alert)).data).toEqual(alert)
    expect(() => parseEvent(envelope('alert.triggered', 1, { ...alert, spentMicroUsd: 0.5 }))).toThrow(/spentMicroUsd/)
  })

  it('rejects a version nobody ever wrote, and a type that is not a data-plane event', () => {
    expect(() => parseEvent(envelope('cache.hit', 0, cacheHit))).toThrow(InvalidEventError)
    // A version newer than this build: held for an upgraded process, not parked as invalid.
    expect(() => parseEvent(envelope('request.completed', 7, completed))).toThrow(NewerEventVersionError)
    expect(() => parseEvent(envelope('request.completed', 7, completed))).toThrow(/newer than this build reads \(up to v2\)/)
    expect(() => parseEvent(envelope('cache.hit', 0, cacheHit))).toThrow('Unknown version 0 of cache.hit')
    expect(() => parseEvent(envelope('tenant.created', 1, {}))).toThrow('Unknown data-plane event type "tenant.created"')
  })

  it('says which event and which field is wrong', () => {
    const bad = { ...completed, usage: { ...usage, promptTokens: -1 } }
    expect(() => parseEvent(envelope('request.completed', 1, bad))).toThrow(/Invalid request\.completed v1 data \(event 01937a4c-[\s\S]*usage\.promptTokens/)
    expect(() => parseEvent(envelope('request.rejected', 1, { ...rejected, reason: 'quota' }))).toThrow(/reason/)
    expect(() => parseEvent(envelope('request.rejected', 1, { ...rejected, extra: 1 }))).toThrow(/extra/)
    expect(() => parseEvent({ ...envelope('cache.hit', 1, cacheHit), id: 'not-a-uuid' })).toThrow(/Invalid event envelope[\s\S]*id/)
    expect(() => parseEvent(envelope('request.completed', 0, { ...completed }))).toThrow(/Invalid request\.completed v0 data/)
  })
})
