import type { CompletionUsage } from '../api/chat-completions.ts'
import type { NormalizedUsage } from './types.ts'

/** Normalised usage in OpenAI's `usage` shape, as every canonical response carries it. */
export function toCompletionUsage(usage: NormalizedUsage): CompletionUsage {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedTokens },
    completion_tokens_details: { reasoning_tokens: usage.reasoningTokens },
  }
}
