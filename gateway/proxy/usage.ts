import type { CompletionUsage } from '../api/chat-completions.ts'
import type { NormalizedUsage } from '../providers/types.ts'

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

export function toOpenAiUsage(usage: NormalizedUsage): CompletionUsage {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedTokens },
    completion_tokens_details: { reasoning_tokens: usage.reasoningTokens },
  }
}
