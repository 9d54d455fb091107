import type { ChatCompletion, CompletionUsage } from '../../api/chat-completions.ts'
import { estimateTokens } from '../ids.ts'
import type { CallContext, ChatResult, NormalizedUsage } from '../types.ts'

export function normalizeOpenAiUsage(usage: CompletionUsage): NormalizedUsage {
  return {
    promptTokens: usage.prompt_tokens,
    completionTokens: usage.completion_tokens,
    cachedTokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
    cacheWriteTokens: 0,
    reasoningTokens: usage.completion_tokens_details?.reasoning_tokens ?? 0,
    estimated: false,
  }
}

export function isChatCompletion(body: unknown): body is ChatCompletion {
  const b = body as Partial<ChatCompletion> | null
  return b !== null && typeof b === 'object' && b.object === 'chat.completion' && Array.isArray(b.choices)
}

export function parseOpenAiChatResponse(body: unknown, _ctx: CallContext): ChatResult {
  if (!isChatCompletion(body)) throw new TypeError('not a chat.completion object')
  const usage =
    body.usage === undefined
      ? {
          promptTokens: 0,
          completionTokens: body.choices.reduce((n, c) => n + estimateTokens(c.message.content ?? ''), 0),
          cachedTokens: 0,
          cacheWriteTokens: 0,
          reasoningTokens: 0,
          estimated: true,
        }
      : normalizeOpenAiUsage(body.usage)
  return { completion: body, usage }
}
