import type { ChatCompletion, FinishReason } from '../../../api/chat-completions.ts'
import type { NormalizedUsage } from '../../types.ts'
import type { ContentBlockOut, MessageDeltaUsage, MessageOut, MessageUsage, RefusalStopDetails, StopReason, ToolUseBlockOut } from './wire.ts'

/** `msg_` + the letters and digits of the completion id: the same completion always gets the same id. */
export function messageIdFor(completionId: string): string {
  return `msg_${completionId.replace(/^chatcmpl-/, '').replace(/[^A-Za-z0-9]/g, '')}`
}

/**
 * A canonical completion → Anthropic's Message. Content is the text block (if any text) then one
 * tool_use block per tool call, the order Anthropic itself uses. `stop_sequence` is always null: OpenAI-
 * style providers report a stop sequence only as finish_reason 'stop', so stop_reason is 'end_turn' then.
 */
export function toMessagesResponse(completion: ChatCompletion, usage: NormalizedUsage, requestedModel: string): MessageOut {
  const choice = completion.choices[0]
  const message = choice?.message
  const content: ContentBlockOut[] = []
  if (message?.content !== undefined && message.content !== null && message.content !== '') {
    content.push({ type: 'text', text: message.content, citations: null })
  }
  for (const call of message?.tool_calls ?? []) content.push(toolUseBlock(call.id, call.function.name, call.function.arguments))
  const refusal = message?.refusal ?? null
  const toolCalls = message?.tool_calls?.length ?? 0
  return {
    id: messageIdFor(completion.id),
    type: 'message',
    role: 'assistant',
    model: requestedModel,
    content,
    stop_reason: stopReasonFor(choice?.finish_reason ?? null, toolCalls > 0, refusal),
    stop_sequence: null,
    stop_details: stopDetailsFor(choice?.finish_reason ?? null, refusal),
    container: null,
    diagnostics: null,
    usage: messageUsage(usage),
  }
}

export function toolUseBlock(id: string, name: string, args: string): ToolUseBlockOut {
  return { type: 'tool_use', id, name, input: toolInput(args), caller: { type: 'direct' } }
}

/**
 * Tool-call arguments (a JSON string) → Anthropic's `input` (always an object). Empty arguments are `{}`.
 * Anything that is not a JSON object is kept, not dropped, under `INVALID_JSON` — the wrapping Anthropic's
 * docs suggest for malformed tool input — so the client's schema check fails and the raw text survives.
 */
export function toolInput(args: string): Record<string, unknown> {
  if (args.trim() === '') return {}
  try {
    const parsed: unknown = JSON.parse(args)
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>
  } catch {
    // Falls through to the wrapper below.
  }
  return { INVALID_JSON: args }
}

/**
 * finish_reason → stop_reason: stop → end_turn (tool_use if the model did call tools: some providers
 * say 'stop' then), length → max_tokens, tool_calls → tool_use, content_filter or a refusal → refusal.
 * A stream that ended without a finish_reason gets what its content implies.
 */
export function stopReasonFor(finishReason: FinishReason | null, hasToolCalls: boolean, refusal: string | null): StopReason {
  if (finishReason === 'content_filter' || (refusal !== null && refusal !== '')) return 'refusal'
  if (finishReason === 'length') return 'max_tokens'
  if (finishReason === 'tool_calls' || finishReason === 'function_call' || hasToolCalls) return 'tool_use'
  return 'end_turn'
}

/** A refusal's text (OpenAI's `refusal` field) becomes Anthropic's `stop_details.explanation`. */
export function stopDetailsFor(finishReason: FinishReason | null, refusal: string | null): RefusalStopDetails | null {
  const explanation = refusal === null || refusal === '' ? null : refusal
  if (explanation === null && finishReason !== 'content_filter') return null
  return { type: 'refusal', category: null, explanation }
}

/** Anthropic's input_tokens EXCLUDES cache reads and writes; the canonical promptTokens includes both. */
export function messageUsage(usage: NormalizedUsage): MessageUsage {
  return {
    ...deltaUsage(usage),
    input_tokens: uncachedInput(usage),
    cache_creation: null,
    inference_geo: null,
    service_tier: null,
    speed: null,
  }
}

export function deltaUsage(usage: NormalizedUsage | undefined): MessageDeltaUsage {
  if (usage === undefined) {
    return { input_tokens: null, output_tokens: 0, cache_creation_input_tokens: null, cache_read_input_tokens: null, output_tokens_details: null, server_tool_use: null }
  }
  return {
    input_tokens: uncachedInput(usage),
    output_tokens: usage.completionTokens,
    cache_creation_input_tokens: usage.cacheWriteTokens,
    cache_read_input_tokens: usage.cachedTokens,
    output_tokens_details: { thinking_tokens: usage.reasoningTokens },
    server_tool_use: null,
  }
}

function uncachedInput(usage: NormalizedUsage): number {
  return Math.max(0, usage.promptTokens - usage.cachedTokens - usage.cacheWriteTokens)
}
