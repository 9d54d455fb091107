import type { ChatCompletion, FinishReason, ToolCall } from '../../api/chat-completions.ts'
import { completionId } from '../ids.ts'
import { toCompletionUsage } from '../usage.ts'
import type { CallContext, ChatResult, NormalizedUsage } from '../types.ts'
import type { Message, StopReason, Usage } from './wire.ts'

/**
 * Anthropic's `input_tokens` excludes the tokens read from and written to the prompt cache, which are
 * reported beside it; OpenAI's prompt_tokens includes them. Thinking tokens are part of output_tokens.
 */
export function normalizeAnthropicUsage(usage: Partial<Usage>): NormalizedUsage {
  const cachedTokens = usage.cache_read_input_tokens ?? 0
  const cacheWriteTokens = usage.cache_creation_input_tokens ?? 0
  return {
    promptTokens: (usage.input_tokens ?? 0) + cachedTokens + cacheWriteTokens,
    completionTokens: usage.output_tokens ?? 0,
    cachedTokens,
    cacheWriteTokens,
    reasoningTokens: usage.output_tokens_details?.thinking_tokens ?? 0,
    estimated: false,
  }
}

/**
 * `pause_turn` only follows Anthropic's own server tools, which the gateway never sends: the turn
 * ended, so 'stop'. Running out of context window is a length limit like max_tokens.
 */
export function finishReasonOf(reason: StopReason | null | undefined): FinishReason {
  switch (reason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length'
    case 'tool_use':
      return 'tool_calls'
    case 'refusal':
      return 'content_filter'
    default:
      return 'stop'
  }
}

function isMessage(body: unknown): body is Message {
  const b = body as Partial<Message> | null
  return b !== null && typeof b === 'object' && b.type === 'message' && Array.isArray(b.content) && typeof b.usage === 'object'
}

/** Text blocks become the content and tool_use blocks the tool calls; thinking is not content. */
export function parseAnthropicChatResponse(body: unknown, ctx: CallContext): ChatResult {
  if (!isMessage(body)) throw new TypeError('not an Anthropic message')
  let text = ''
  const toolCalls: ToolCall[] = []
  for (const block of body.content) {
    if (block.type === 'text' && 'text' in block) text += block.text
    if (block.type === 'tool_use' && 'input' in block) {
      toolCalls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } })
    }
  }
  const usage = normalizeAnthropicUsage(body.usage)
  const completion: ChatCompletion = {
    // Anthropic's message id is unique and is what its support asks for.
    id: body.id || completionId(ctx.requestId),
    object: 'chat.completion',
    created: ctx.created,
    model: body.model || ctx.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: text === '' && toolCalls.length > 0 ? null : text,
          refusal: null,
          ...(toolCalls.length === 0 ? {} : { tool_calls: toolCalls }),
        },
        finish_reason: finishReasonOf(body.stop_reason),
        logprobs: null,
      },
    ],
    usage: toCompletionUsage(usage),
  }
  return { completion, usage }
}
