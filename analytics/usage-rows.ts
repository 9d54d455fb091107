import { InvalidEventError, parseEvent } from '../events/catalogue/registry.ts'

/** One row of `usage_events` (analytics/schema.ts), as inserted with JSONEachRow. */
// A type, not an interface: the store's insert takes records with an index signature.
export type UsageRow = {
  tenant_id: string
  /** 'YYYY-MM-DD hh:mm:ss.sss' in UTC: what DateTime64(3, 'UTC') reads without best-effort parsing. */
  occurred_at: string
  event_id: string
  kind: 'request' | 'cache_hit' | 'rejection'
  request_id: string
  project_id: string
  key_id: string
  user: string
  provider: string
  model: string
  endpoint: string
  stream: boolean
  outcome: string
  http_status: number
  cache_outcome: string
  key_source: string
  reject_reason: string
  error_code: string
  prompt_tokens: number
  completion_tokens: number
  cached_tokens: number
  reasoning_tokens: number
  cost_micro_usd: number
  saved_micro_usd: number
  price_version: string
  latency_ms: number
}

/** The usage event types the sink writes; anything else on the topic is not a usage fact. */
export const USAGE_FACT_TYPES: ReadonlySet<string> = new Set(['request.completed', 'cache.hit', 'request.rejected'])

export class UnreadableUsageEvent extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UnreadableUsageEvent'
  }
}

function clickhouseTime(iso: string): string {
  const at = new Date(iso)
  if (Number.isNaN(at.getTime())) throw new UnreadableUsageEvent(`occurredAt ${iso} is not a time`)
  return at.toISOString().replace('T', ' ').replace('Z', '')
}

/** A call answered from the cache reached no provider; its model still names the one it would have. */
function providerOf(model: string): string {
  const provider = model.slice(0, model.indexOf('/'))
  return provider === 'unresolved' ? '' : provider
}

const EMPTY = {
  request_id: '',
  project_id: '',
  key_id: '',
  user: '',
  provider: '',
  model: '',
  endpoint: '',
  stream: false,
  outcome: '',
  http_status: 0,
  cache_outcome: '',
  key_source: '',
  reject_reason: '',
  error_code: '',
  prompt_tokens: 0,
  completion_tokens: 0,
  cached_tokens: 0,
  reasoning_tokens: 0,
  cost_micro_usd: 0,
  saved_micro_usd: 0,
  price_version: '',
  latency_ms: 0,
}

/**
 * A usage event (any version, upcast by the catalogue) as a fact row. A request that was answered from
 * the cache is two events: its `request.completed` (cost 0, with the tokens the client received) and its
 * `cache.hit` (what it saved); the hit row carries no tokens, so none are counted twice. Throws
 * UnreadableUsageEvent for an event the catalogue refuses: the sink parks it as a dead letter.
 */
export function usageRow(message: unknown): UsageRow {
  const row = rowOf(message)
  // A lone surrogate in a client's user id or model name makes ClickHouse refuse the whole insert, which would
  // hold the partition for ever: such a string is stored with U+FFFD in its place (the gateway refuses them at
  // the door; this is for events written before it did, or by another producer).
  for (const [field, value] of Object.entries(row)) {
    if (typeof value === 'string' && !value.isWellFormed()) (row as Record<string, unknown>)[field] = value.toWellFormed()
  }
  return row
}

function rowOf(message: unknown): UsageRow {
  let event: ReturnType<typeof parseEvent>
  try {
    event = parseEvent(message)
  } catch (error) {
    if (error instanceof InvalidEventError) throw new UnreadableUsageEvent(error.message)
    throw error
  }
  const base = { ...EMPTY, tenant_id: event.tenantId, occurred_at: clickhouseTime(event.occurredAt), event_id: event.id }
  switch (event.type) {
    case 'request.completed': {
      const d = event.data
      return {
        ...base,
        kind: 'request',
        request_id: d.requestId,
        project_id: d.projectId ?? '',
        key_id: d.keyId,
        user: d.user ?? '',
        provider: d.provider ?? providerOf(d.model),
        model: d.model,
        endpoint: d.endpoint,
        stream: d.stream,
        outcome: d.outcome,
        http_status: d.httpStatus,
        cache_outcome: d.cacheOutcome,
        key_source: d.keySource,
        error_code: d.errorCode ?? '',
        prompt_tokens: d.usage.promptTokens,
        completion_tokens: d.usage.completionTokens,
        cached_tokens: d.usage.cachedTokens,
        reasoning_tokens: d.usage.reasoningTokens,
        cost_micro_usd: d.costMicroUsd,
        price_version: d.priceVersion,
        latency_ms: d.latencyMs,
      }
    }
    case 'cache.hit': {
      const d = event.data
      return {
        ...base,
        kind: 'cache_hit',
        request_id: d.requestId,
        project_id: d.projectId ?? '',
        key_id: d.keyId,
        user: d.user ?? '',
        provider: providerOf(d.model),
        model: d.model,
        cache_outcome: d.cacheOutcome,
        saved_micro_usd: d.savedMicroUsd,
      }
    }
    case 'request.rejected': {
      const d = event.data
      return {
        ...base,
        kind: 'rejection',
        request_id: d.requestId,
        project_id: d.projectId ?? '',
        key_id: d.keyId ?? '',
        user: d.user ?? '',
        provider: d.model === null ? '' : providerOf(d.model),
        model: d.model ?? '',
        endpoint: d.endpoint,
        http_status: d.httpStatus,
        reject_reason: d.reason,
        error_code: d.errorCode,
      }
    }
    default:
      throw new UnreadableUsageEvent(`${event.type} is not a usage fact`)
  }
}
