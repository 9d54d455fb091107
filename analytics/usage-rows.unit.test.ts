import { describe, expect, it } from 'vitest'
import { buildEvent } from '../events/catalogue/registry.ts'
import { UnreadableUsageEvent, usageRow } from './usage-rows.ts'

const meta = { tenantId: 'ten_1', correlationId: 'req_1', actor: { type: 'key' as const, id: 'key_1' } }
const usage = { promptTokens: 1200, completionTokens: 300, cachedTokens: 1000, cacheWriteTokens: 0, reasoningTokens: 120, estimated: false }
const at = new Date('2026-11-24T10:00:00.123Z')

describe('usage events as fact rows', () => {
  it('a completed request carries its cost, tokens and every dimension; a v1 event has no user', () => {
    const event = buildEvent('request.completed', {
      requestId: 'req_1', projectId: null, keyId: 'key_1', provider: 'anthropic', model: 'anthropic/claude-haiku-4-5', endpoint: 'messages',
      stream: true, outcome: 'client_disconnected', httpStatus: 200, cacheOutcome: 'miss', usage, costMicroUsd: 3_375, priceVersion: 'v1',
      latencyMs: 812, timeToFirstTokenMs: 95, keySource: 'byok', errorCode: null, user: 'alice',
    }, meta, at)
    expect(usageRow(JSON.parse(JSON.stringify(event)))).toMatchObject({
      tenant_id: 'ten_1', occurred_at: '2026-11-24 10:00:00.123', event_id: event.id, kind: 'request', project_id: '', user: 'alice',
      provider: 'anthropic', model: 'anthropic/claude-haiku-4-5', stream: true, outcome: 'client_disconnected', prompt_tokens: 1200,
      completion_tokens: 300, cached_tokens: 1000, reasoning_tokens: 120, cost_micro_usd: 3_375, saved_micro_usd: 0, key_source: 'byok',
    })
    const v1 = { ...JSON.parse(JSON.stringify(event)), version: 1, data: { ...event.data, user: undefined } } as unknown
    expect(usageRow(JSON.parse(JSON.stringify(v1)))).toMatchObject({ user: '', cost_micro_usd: 3_375 })
  })

  it('a cache hit saves money and counts no tokens (its free request.completed carries them); its provider comes from the model', () => {
    const hit = buildEvent('cache.hit', { requestId: 'r', projectId: 'prj', keyId: 'k', model: 'openai/gpt-4o', cacheOutcome: 'semantic_hit', savedMicroUsd: 9_000, usage, user: null }, meta, at)
    expect(usageRow(hit)).toMatchObject({ kind: 'cache_hit', provider: 'openai', saved_micro_usd: 9_000, prompt_tokens: 0, cost_micro_usd: 0, cache_outcome: 'semantic_hit' })
  })

  it('a rejection keeps its reason; an event with an offset time is stored in UTC', () => {
    const rejected = buildEvent('request.rejected', { requestId: 'r', projectId: null, keyId: null, model: null, endpoint: 'embeddings', reason: 'rate_limit', errorCode: 'rate_limit_exceeded', httpStatus: 429, user: null }, meta, at)
    expect(usageRow({ ...rejected, occurredAt: '2026-11-24T11:00:00.123+01:00' })).toMatchObject({ kind: 'rejection', reject_reason: 'rate_limit', key_id: '', model: '', http_status: 429, occurred_at: '2026-11-24 10:00:00.123' })
  })

  it('refuses what the catalogue refuses, and types that are not usage facts', () => {
    expect(() => usageRow({ type: 'request.completed' })).toThrow(UnreadableUsageEvent)
    const alert = buildEvent('alert.triggered', { ruleId: 'a', kind: 'absolute_spend', scope: 'tenant', period: 'day', threshold: 1, periodStart: '2026-11-24T00:00:00.000Z', spentMicroUsd: 2, budgetMicroUsd: null, webhook: false }, meta, at)
    expect(() => usageRow(alert)).toThrow(/not a usage fact/)
  })

  it('stores a lone surrogate in a string as U+FFFD, so that ClickHouse takes the row', () => {
    const rejected = buildEvent('request.rejected', { requestId: 'r', projectId: null, keyId: 'k', model: null, endpoint: 'chat.completions', reason: 'validation', errorCode: 'invalid_request', httpStatus: 400, user: 'u\ud800x' }, meta, at)
    expect(usageRow(JSON.parse(JSON.stringify(rejected)))).toMatchObject({ user: 'u\ufffdx' })
  })
})
