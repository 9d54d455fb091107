import type { GatewayError } from '../errors.ts'
import type { NormalizedUsage } from '../providers/types.ts'
import type { Target } from '../routing/dispatch.ts'
import type { ChatStream } from './proxy.ts'

/** What one proxied call cost in tokens and time; events (issue 5) are built from these. */
export interface UsageRecord {
  requestId: string
  tenantId: string
  keyId: string
  projectId: string | null
  /** The end user the client named (gateway/routes/v1.ts `endUser`); null when none. */
  user: string | null
  /** Whose provider key served the call; null when no provider was reached. */
  keySource: 'gateway' | 'byok' | null
  /** The status the client received (200 for a stream that started, even if it failed later). */
  httpStatus: number
  endpoint: 'chat.completions' | 'embeddings' | 'messages'
  /** `provider/model` that served the call (after fallbacks), or the requested model when none did. */
  model: string
  provider: string | undefined
  stream: boolean
  outcome: 'completed' | 'failed' | 'client_disconnected'
  usage: NormalizedUsage | undefined
  /** Attempts across retries and fallbacks. */
  attempts: number
  latencyMs: number
  /** Streams: time until the first chunk reached the client. */
  timeToFirstTokenMs?: number
  errorCode?: string
  /** The response cache's part: a hit costs nothing and saves what the cached call cost. Absent: bypass. */
  cache?: { outcome: 'miss' } | { outcome: 'exact_hit' | 'semantic_hit'; savedMicroUsd: number }
}

/** Where finished calls are reported; must not block or throw (the call has already been answered). */
export interface UsageMeter {
  record(entry: UsageRecord): void
}

export type RecordBase = Pick<UsageRecord, 'requestId' | 'tenantId' | 'keyId' | 'projectId' | 'user' | 'endpoint' | 'stream' | 'model'>

/** The record of a call answered in one piece. */
export function completedRecord(base: RecordBase, outcome: { target: Target; usage: NormalizedUsage; attempts: number }, started: number): UsageRecord {
  return {
    ...base,
    model: outcome.target.resolved.qualified,
    provider: outcome.target.resolved.provider.name,
    keySource: outcome.target.credential.source ?? 'gateway',
    httpStatus: 200,
    outcome: 'completed',
    usage: outcome.usage,
    attempts: outcome.attempts,
    latencyMs: performance.now() - started,
  }
}

/** The record of a call that failed before any answer, or whose client went away first. */
export function failedRecord(base: RecordBase, error: GatewayError, clientGone: boolean, started: number): UsageRecord {
  return {
    ...base,
    provider: undefined,
    keySource: null,
    httpStatus: clientGone ? 499 : error.status,
    outcome: clientGone ? 'client_disconnected' : 'failed',
    usage: undefined,
    attempts: 0,
    latencyMs: performance.now() - started,
    errorCode: error.code,
  }
}

/** The record of a streamed call once its stream has ended, however it ended. */
export function streamedRecord(
  base: RecordBase,
  stream: ChatStream,
  end: { outcome: UsageRecord['outcome']; started: number; firstAt: number | undefined; errorCode: string | undefined },
): UsageRecord {
  return {
    ...base,
    model: stream.target.resolved.qualified,
    provider: stream.target.resolved.provider.name,
    keySource: stream.target.credential.source ?? 'gateway',
    httpStatus: 200,
    outcome: end.outcome,
    usage: stream.usage(),
    attempts: stream.attempts,
    latencyMs: performance.now() - end.started,
    ...(end.firstAt === undefined ? {} : { timeToFirstTokenMs: end.firstAt - end.started }),
    ...(end.errorCode === undefined ? {} : { errorCode: end.errorCode }),
  }
}
