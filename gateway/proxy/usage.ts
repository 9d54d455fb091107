import type { NormalizedUsage } from '../providers/types.ts'
import type { ChatStream } from './proxy.ts'

/** What one proxied call cost in tokens and time; events (issue 5) are built from these. */
export interface UsageRecord {
  requestId: string
  tenantId: string
  keyId: string
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
}

/** Where finished calls are reported; must not block or throw (the call has already been answered). */
export interface UsageMeter {
  record(entry: UsageRecord): void
}

/** The record of a streamed call once its stream has ended, however it ended. */
export function streamedRecord(
  base: Pick<UsageRecord, 'requestId' | 'tenantId' | 'keyId' | 'endpoint' | 'stream'>,
  stream: ChatStream,
  end: { outcome: UsageRecord['outcome']; started: number; firstAt: number | undefined; errorCode: string | undefined },
): UsageRecord {
  return {
    ...base,
    model: stream.target.resolved.qualified,
    provider: stream.target.resolved.provider.name,
    outcome: end.outcome,
    usage: stream.usage(),
    attempts: stream.attempts,
    latencyMs: performance.now() - end.started,
    ...(end.firstAt === undefined ? {} : { timeToFirstTokenMs: end.firstAt - end.started }),
    ...(end.errorCode === undefined ? {} : { errorCode: end.errorCode }),
  }
}
