import type { ChatCompletion, FinishReason, ToolCall } from '../../api/chat-completions.ts'
import { completionId, estimateTokens } from '../ids.ts'
import type { CallContext, ChatResult, NormalizedUsage } from '../types.ts'
import type { CohereChatResponse, CohereFinishReason, CohereToolCall, CohereUsage } from './wire.ts'

/**
 * Cohere's finish reasons → OpenAI's. ERROR and TIMEOUT end a generation early without a word for it in
 * OpenAI's set; `length` is the one that tells a client the answer is incomplete (a stream reports an
 * ERROR as a stream error instead: see cohereStreamError).
 */
export function toFinishReason(reason: CohereFinishReason | undefined, hasToolCalls: boolean): FinishReason {
  switch (reason) {
    case 'MAX_TOKENS':
    case 'TIMEOUT':
    case 'ERROR':
      return 'length'
    case 'TOOL_CALL':
      return 'tool_calls'
    default:
      return hasToolCalls ? 'tool_calls' : 'stop'
  }
}

/**
 * Metered from `billed_units`, what Cohere charges: `tokens` also counts the system prompt Cohere adds
 * itself (71 tokens against 5 billed for a one-line question) and citation markup it does not bill. A
 * field missing from billed_units falls back to `tokens`. Cohere reports no reasoning split (thinking
 * is inside output_tokens); cached_tokens are a part of the input.
 */
export function normalizeCohereUsage(usage: CohereUsage | undefined): NormalizedUsage | undefined {
  const input = usage?.billed_units?.input_tokens ?? usage?.tokens?.input_tokens
  const output = usage?.billed_units?.output_tokens ?? usage?.tokens?.output_tokens
  if (input === undefined && output === undefined) return undefined
  const promptTokens = input ?? 0
  return {
    promptTokens,
    completionTokens: output ?? 0,
    cachedTokens: Math.min(usage?.cached_tokens ?? 0, promptTokens),
    cacheWriteTokens: 0,
    reasoningTokens: 0,
    estimated: false,
  }
}

export function toToolCall(call: CohereToolCall): ToolCall {
  // A tool without parameters may come back with empty arguments; OpenAI always sends a JSON object.
  const args = call.function.arguments === '' ? '{}' : call.function.arguments
  return { id: call.id, type: 'function', function: { name: call.function.name, arguments: args } }
}

function isChatResponse(body: unknown): body is CohereChatResponse {
  const b = body as Partial<CohereChatResponse> | null
  return b !== null && typeof b === 'object' && typeof b.message === 'object' && b.message !== null && typeof b.finish_reason === 'string'
}

/**
 * Text parts become the content; thinking parts are dropped, as OpenAI returns no reasoning text. A
 * tool plan ("I will look up…") is the model's visible text before its tool calls, so it becomes the
 * content when there is no other text, as Anthropic's text-before-tool_use does.
 */
export function parseCohereChatResponse(body: unknown, ctx: CallContext): ChatResult {
  if (!isChatResponse(body)) throw new TypeError('not a Cohere chat response')
  const message = body.message
  const text = (message.content ?? []).map((p) => (p.type === 'text' ? p.text : '')).join('')
  const content = text !== '' ? text : (message.tool_plan ?? '')
  const toolCalls = (message.tool_calls ?? []).map(toToolCall)
  const completion: ChatCompletion = {
    id: typeof body.id === 'string' && body.id !== '' ? body.id : completionId(ctx.requestId),
    object: 'chat.completion',
    created: ctx.created,
    // Cohere does not echo the model in a chat response.
    model: ctx.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: content === '' && toolCalls.length > 0 ? null : content, refusal: null, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) },
        finish_reason: toFinishReason(body.finish_reason, toolCalls.length > 0),
        logprobs: null,
      },
    ],
  }
  const usage = normalizeCohereUsage(body.usage) ?? {
    promptTokens: 0,
    completionTokens: estimateTokens(content + toolCalls.map((c) => c.function.arguments).join('')),
    cachedTokens: 0,
    cacheWriteTokens: 0,
    reasoningTokens: 0,
    estimated: true,
  }
  return { completion, usage }
}
