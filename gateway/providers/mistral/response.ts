import type { ChatCompletion, CompletionUsage, FinishReason, ToolCall } from '../../api/chat-completions.ts'
import { alphanumericId, completionId, estimateTokens } from '../ids.ts'
import { normalizeOpenAiUsage } from '../openai/response.ts'
import type { CallContext, ChatResult, NormalizedUsage } from '../types.ts'

/** Content is a string, or chunks (`text`, and `thinking` from reasoning models) in newer models. */
export type MistralContent = string | { type: string; text?: string }[] | null | undefined

export interface MistralToolCall {
  id?: string | null
  type?: string
  /** Present in some streams (the incremental form); Mistral's own whole-call form has none. */
  index?: number | null
  function?: { name?: string; arguments?: string | Record<string, unknown> | null }
}

/** OpenAI-shaped, with cache reads under any of three names depending on the model and endpoint. */
export interface MistralUsage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
  num_cached_tokens?: number | null
  prompt_tokens_details?: { cached_tokens?: number | null } | null
  prompt_token_details?: { cached_tokens?: number | null } | null
  completion_tokens_details?: { reasoning_tokens?: number | null } | null
}

interface MistralCompletion {
  id?: string
  object: 'chat.completion'
  model?: string
  choices: {
    index: number
    message: { role?: string; content?: MistralContent; tool_calls?: MistralToolCall[] | null }
    finish_reason: string | null
  }[]
  usage?: MistralUsage | null
}

export function normalizeMistralUsage(usage: MistralUsage): NormalizedUsage {
  return {
    ...normalizeOpenAiUsage(usage as CompletionUsage),
    cachedTokens: usage.num_cached_tokens ?? usage.prompt_tokens_details?.cached_tokens ?? usage.prompt_token_details?.cached_tokens ?? 0,
    reasoningTokens: usage.completion_tokens_details?.reasoning_tokens ?? 0,
  }
}

/** The answer's text: `thinking` chunks (the reasoning trace) are not part of it, as in OpenAI's API. */
export function textOfMistralContent(content: MistralContent): string {
  if (content === null || content === undefined) return ''
  if (typeof content === 'string') return content
  return content.map((chunk) => (chunk.type === 'text' ? (chunk.text ?? '') : '')).join('')
}

/** Some responses carry arguments as an object rather than a JSON string. */
export function argumentsString(args: string | Record<string, unknown> | null | undefined): string {
  if (args === null || args === undefined) return ''
  return typeof args === 'string' ? args : JSON.stringify(args)
}

/**
 * Mistral's reasons, mapped to OpenAI's: `model_length` (the context window, not max_tokens, ran out) is
 * still a length stop. 'error' has no OpenAI counterpart: the caller treats it as a failure.
 */
export function mapFinishReason(reason: string): FinishReason | 'error' {
  switch (reason) {
    case 'length':
    case 'model_length':
      return 'length'
    case 'tool_calls':
      return 'tool_calls'
    case 'content_filter':
      return 'content_filter'
    case 'error':
      return 'error'
    default:
      return 'stop'
  }
}

/** Mistral's ids are already 9 alphanumerics; an id it omits is minted in the same format. */
export function validToolCallId(id: string | null | undefined): string | undefined {
  return id === null || id === undefined || id === '' || id === 'null' ? undefined : id
}

function toToolCall(call: MistralToolCall): ToolCall {
  return {
    id: validToolCallId(call.id) ?? alphanumericId(9),
    type: 'function',
    function: { name: call.function?.name ?? '', arguments: argumentsString(call.function?.arguments) },
  }
}

function isMistralCompletion(body: unknown): body is MistralCompletion {
  const b = body as Partial<MistralCompletion> | null
  return typeof b === 'object' && b !== null && b.object === 'chat.completion' && Array.isArray(b.choices)
}

export function parseMistralChatResponse(body: unknown, ctx: CallContext): ChatResult {
  if (!isMistralCompletion(body)) throw new TypeError('not a chat.completion object')
  const choices = body.choices.map((choice): ChatCompletion['choices'][number] => {
    const reason = mapFinishReason(choice.finish_reason ?? 'stop')
    // The core treats a throw as a malformed (retryable) answer, which is what a broken generation is.
    if (reason === 'error') throw new Error('Mistral ended the generation with finish_reason "error"')
    const text = textOfMistralContent(choice.message.content)
    const toolCalls = (choice.message.tool_calls ?? []).map(toToolCall)
    return {
      index: choice.index,
      message: {
        role: 'assistant',
        content: text === '' && toolCalls.length > 0 ? null : text,
        refusal: null,
        ...(toolCalls.length === 0 ? {} : { tool_calls: toolCalls }),
      },
      finish_reason: reason,
      logprobs: null,
    }
  })
  const usage: NormalizedUsage =
    body.usage === null || body.usage === undefined
      ? {
          promptTokens: 0,
          completionTokens: choices.reduce((n, c) => n + estimateTokens(c.message.content ?? ''), 0),
          cachedTokens: 0,
          cacheWriteTokens: 0,
          reasoningTokens: 0,
          estimated: true,
        }
      : normalizeMistralUsage(body.usage)
  const completion: ChatCompletion = {
    id: body.id === undefined || body.id === '' ? completionId(ctx.requestId) : body.id,
    object: 'chat.completion',
    created: ctx.created,
    model: body.model ?? ctx.model,
    choices,
  }
  return { completion, usage }
}
