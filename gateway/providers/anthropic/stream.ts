import type { ChatCompletionChunk, FinishReason } from '../../api/chat-completions.ts'
import { streamChunk } from '../chunks.ts'
import type { ChunkDelta } from '../chunks.ts'
import { completionId, estimateTokens } from '../ids.ts'
import type { CallContext, NormalizedUsage, SseEvent, StreamTranslator } from '../types.ts'
import { finishReasonOf, normalizeAnthropicUsage } from './response.ts'
import type { StreamEvent, Usage } from './wire.ts'

export interface AnthropicStreamState {
  id: string
  model: string
  created: number
  /** Content block index → OpenAI tool call index: tool calls are numbered among tool_use blocks only. */
  toolCalls: Map<number, { index: number; sentArguments: boolean }>
  /** Cumulative usage: message_start's, then overwritten field by field by message_delta. */
  usage: Partial<Usage> | undefined
  /** message_delta arrived, so usage is Anthropic's final count rather than message_start's opening one. */
  usageFinal: boolean
  /** What was streamed so far, to estimate the output of a stream cut before its final usage. */
  produced: string
  thought: string
}

const chunk = (state: AnthropicStreamState, delta: ChunkDelta, finishReason: FinishReason | null = null) => streamChunk(state, delta, finishReason)

function text(state: AnthropicStreamState, content: string): ChatCompletionChunk[] {
  if (content === '') return []
  state.produced += content
  return [chunk(state, { content })]
}

function toolArguments(state: AnthropicStreamState, block: number, args: string): ChatCompletionChunk[] {
  const call = state.toolCalls.get(block)
  if (call === undefined || args === '') return []
  call.sentArguments = true
  state.produced += args
  return [chunk(state, { tool_calls: [{ index: call.index, function: { arguments: args } }] })]
}

function onBlockStart(state: AnthropicStreamState, event: Extract<StreamEvent, { type: 'content_block_start' }>): ChatCompletionChunk[] {
  const block = event.content_block
  if (block.type === 'text' && 'text' in block) return text(state, block.text)
  if (block.type === 'thinking' && 'thinking' in block) state.thought += block.thinking
  if (block.type !== 'tool_use' || !('input' in block)) return []
  const index = state.toolCalls.size
  state.toolCalls.set(event.index, { index, sentArguments: false })
  state.produced += block.name
  const opening = chunk(state, { tool_calls: [{ index, id: block.id, type: 'function', function: { name: block.name, arguments: '' } }] })
  // The input normally starts empty and arrives as input_json_delta; keep one that does not.
  const input = block.input as Record<string, unknown> | null
  const initial = input !== null && typeof input === 'object' && Object.keys(input).length > 0 ? JSON.stringify(input) : ''
  return [opening, ...toolArguments(state, event.index, initial)]
}

/**
 * Anthropic's stream, event by event: message_start (id, model, input usage), content blocks (text,
 * tool_use with input_json_delta, thinking, which is not content), message_delta (stop_reason and
 * cumulative usage), message_stop. `ping` and `event: error` produce nothing here; the core reads
 * errors through streamError.
 */
export const anthropicStream: StreamTranslator<AnthropicStreamState> = {
  init: (ctx: CallContext) => ({
    id: completionId(ctx.requestId),
    model: ctx.model,
    created: ctx.created,
    toolCalls: new Map(),
    usage: undefined,
    usageFinal: false,
    produced: '',
    thought: '',
  }),

  onEvent(event: SseEvent, state: AnthropicStreamState): ChatCompletionChunk[] {
    if (event.event === 'error' || event.event === 'ping') return []
    const data = JSON.parse(event.data) as StreamEvent
    switch (data.type) {
      case 'message_start':
        if (data.message.id) state.id = data.message.id
        if (data.message.model) state.model = data.message.model
        state.usage = { ...data.message.usage }
        return [chunk(state, { role: 'assistant', content: '' })]
      case 'content_block_start':
        return onBlockStart(state, data)
      case 'content_block_delta':
        if (data.delta.type === 'text_delta') return text(state, data.delta.text)
        if (data.delta.type === 'input_json_delta') return toolArguments(state, data.index, data.delta.partial_json)
        if (data.delta.type === 'thinking_delta') state.thought += data.delta.thinking
        return []
      case 'content_block_stop': {
        // A tool called without arguments may get no input_json_delta at all; OpenAI clients expect '{}'.
        const call = state.toolCalls.get(data.index)
        return call !== undefined && !call.sentArguments ? toolArguments(state, data.index, '{}') : []
      }
      case 'message_delta': {
        const usage = { ...state.usage }
        for (const [field, value] of Object.entries(data.usage)) if (value !== null && value !== undefined) Object.assign(usage, { [field]: value })
        state.usage = usage
        state.usageFinal = true
        return [chunk(state, {}, finishReasonOf(data.delta.stop_reason))]
      }
      default:
        return []
    }
  },

  // A stream cut before message_delta gets no invented finish_reason: the client can tell it was cut.
  onEnd: () => [],

  usage(state: AnthropicStreamState): NormalizedUsage | undefined {
    if (state.usage === undefined) return undefined
    const usage = normalizeAnthropicUsage(state.usage)
    if (state.usageFinal) return usage
    // message_start counts the whole input but only the first output token or so: estimate what was produced.
    const thought = estimateTokens(state.thought)
    const completionTokens = Math.max(usage.completionTokens, estimateTokens(state.produced) + thought)
    return { ...usage, completionTokens, reasoningTokens: thought, estimated: completionTokens !== usage.completionTokens || thought > 0 }
  },
}
