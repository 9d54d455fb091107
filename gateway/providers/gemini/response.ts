import type { ChatCompletion, FinishReason, ToolCall } from '../../api/chat-completions.ts'
import { alphanumericId, completionId, estimateTokens } from '../ids.ts'
import type { CallContext, ChatResult, NormalizedUsage } from '../types.ts'
import type { GeminiFunctionCall, GeminiGenerateContentResponse, GeminiPart, GeminiUsageMetadata } from './wire.ts'

/**
 * Gemini's usageMetadata → NormalizedUsage. `promptTokenCount` already includes cached tokens
 * (`cachedContentTokenCount`); `candidatesTokenCount` excludes thinking, which `thoughtsTokenCount` counts
 * and is billed as output, so completion tokens are the two added.
 */
export function normalizeGeminiUsage(usage: GeminiUsageMetadata): NormalizedUsage {
  const thoughts = usage.thoughtsTokenCount ?? 0
  return {
    promptTokens: (usage.promptTokenCount ?? 0) + (usage.toolUsePromptTokenCount ?? 0),
    completionTokens: (usage.candidatesTokenCount ?? 0) + thoughts,
    cachedTokens: usage.cachedContentTokenCount ?? 0,
    cacheWriteTokens: 0,
    reasoningTokens: thoughts,
    estimated: false,
  }
}

export function estimatedUsage(outputText: string): NormalizedUsage {
  return { promptTokens: 0, completionTokens: estimateTokens(outputText), cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: true }
}

const FILTERED = new Set(['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY', 'IMAGE_PROHIBITED_CONTENT', 'IMAGE_RECITATION'])

/**
 * Gemini's FinishReason → OpenAI's. STOP with function calls is `tool_calls` (Gemini says STOP either way);
 * CONTINUATION (the per-request token limit, more to come) is `length`; the blocked-content reasons are
 * `content_filter`; anything else (OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL, …) ended the answer: `stop`.
 * Undefined while the model is still generating.
 */
export function mapFinishReason(reason: string | undefined, hasToolCalls: boolean): FinishReason | undefined {
  if (reason === undefined || reason === '' || reason === 'FINISH_REASON_UNSPECIFIED') return undefined
  if (reason === 'MAX_TOKENS' || reason === 'CONTINUATION') return 'length'
  if (FILTERED.has(reason)) return 'content_filter'
  return hasToolCalls ? 'tool_calls' : 'stop'
}

/** The answer's text (thought parts excluded: they are reasoning, not content) and its function calls. */
export function readParts(parts: readonly GeminiPart[] | undefined): { text: string; calls: GeminiFunctionCall[] } {
  let text = ''
  const calls: GeminiFunctionCall[] = []
  for (const part of parts ?? []) {
    if (part.functionCall !== undefined) calls.push(part.functionCall)
    else if (typeof part.text === 'string' && part.thought !== true) text += part.text
  }
  return { text, calls }
}

/** Gemini's call id when it sends one; otherwise minted in OpenAI's format, since clients echo it back. */
export function toToolCall(call: GeminiFunctionCall): ToolCall {
  return {
    id: typeof call.id === 'string' && call.id !== '' ? call.id : `call_${alphanumericId(24)}`,
    type: 'function',
    function: { name: call.name, arguments: JSON.stringify(call.args ?? {}) },
  }
}

export function blockedPromptMessage(response: GeminiGenerateContentResponse): string | undefined {
  const reason = response.promptFeedback?.blockReason
  if (reason === undefined || (response.candidates?.length ?? 0) > 0) return undefined
  return `Gemini blocked the prompt (${reason})${response.promptFeedback?.blockReasonMessage === undefined ? '' : `: ${response.promptFeedback.blockReasonMessage}`}`
}

export function isGenerateContentResponse(body: unknown): body is GeminiGenerateContentResponse {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return false
  const b = body as GeminiGenerateContentResponse
  return Array.isArray(b.candidates) || b.promptFeedback !== undefined
}

/**
 * A GenerateContentResponse → one chat.completion. The id is the gateway's (from the request id), not
 * Gemini's `responseId`, which no Gemini API takes back and which would not tie the completion to the
 * gateway's own logs and events. A prompt Gemini blocked (promptFeedback.blockReason,
 * no candidates) is answered, not failed: the request was processed and its input tokens billed, so it
 * is `content_filter` with the reason in `refusal`, as OpenAI reports its own filtering.
 */
export function parseGeminiChatResponse(body: unknown, ctx: CallContext): ChatResult {
  if (!isGenerateContentResponse(body)) throw new TypeError('not a GenerateContentResponse')
  const blocked = blockedPromptMessage(body)
  const candidate = body.candidates?.[0]
  const { text, calls } = readParts(candidate?.content?.parts)
  const toolCalls = calls.map(toToolCall)
  const finishReason: FinishReason = blocked !== undefined ? 'content_filter' : (mapFinishReason(candidate?.finishReason, toolCalls.length > 0) ?? 'stop')
  const emptyAnswer = toolCalls.length > 0 || finishReason === 'content_filter'
  const completion: ChatCompletion = {
    id: completionId(ctx.requestId),
    object: 'chat.completion',
    created: ctx.created,
    model: body.modelVersion ?? ctx.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: text === '' && emptyAnswer ? null : text,
          refusal: blocked ?? null,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        },
        finish_reason: finishReason,
        logprobs: null,
      },
    ],
  }
  const usage = body.usageMetadata === undefined ? estimatedUsage(text + toolCalls.map((c) => c.function.arguments).join('')) : normalizeGeminiUsage(body.usageMetadata)
  return { completion, usage }
}
