import type { ChatCompletionChunk, ChunkToolCallDelta, FinishReason } from '../../api/chat-completions.ts'
import { streamChunk } from '../chunks.ts'
import type { ChunkDelta } from '../chunks.ts'
import { completionId, estimateTokens } from '../ids.ts'
import type { CallContext, NormalizedUsage, SseEvent, StreamTranslator } from '../types.ts'
import { normalizeCohereUsage, toFinishReason } from './response.ts'
import type { CohereStreamEvent } from './wire.ts'

export interface CohereStreamState {
  id: string
  created: number
  model: string
  /** The role chunk has gone out. */
  started: boolean
  /** Cohere's tool-call `index` → the OpenAI tool_calls index (0, 1, … in order of appearance). */
  toolIndexes: Map<number, number>
  finished: boolean
  usage: NormalizedUsage | undefined
  /** What the model has produced so far, for a partial usage estimate if the stream is cut. */
  producedText: string
  producedThinking: string
  seenEvents: boolean
}

type Delta = ChunkDelta

const chunk = (state: CohereStreamState, delta: Delta, finishReason: FinishReason | null = null) => streamChunk(state, delta, finishReason)

/** The role chunk first, whatever event comes first. */
function emit(state: CohereStreamState, delta: Delta, finishReason: FinishReason | null = null): ChatCompletionChunk[] {
  const out: ChatCompletionChunk[] = []
  if (!state.started) {
    state.started = true
    out.push(chunk(state, { role: 'assistant', content: '' }))
  }
  out.push(chunk(state, delta, finishReason))
  return out
}

function toolDelta(state: CohereStreamState, event: CohereStreamEvent): ChatCompletionChunk[] {
  const call = event.delta?.message?.tool_calls
  const cohereIndex = event.index ?? state.toolIndexes.size
  const args = call?.function?.arguments ?? ''
  state.producedText += args
  if (event.type === 'tool-call-start') {
    const index = state.toolIndexes.size
    state.toolIndexes.set(cohereIndex, index)
    const start: ChunkToolCallDelta = { index, id: call?.id ?? '', type: 'function', function: { name: call?.function?.name ?? '', arguments: args } }
    return emit(state, { tool_calls: [start] })
  }
  // A delta without an index belongs to the call opened last.
  const index = state.toolIndexes.get(cohereIndex) ?? state.toolIndexes.size - 1
  if (args === '' || index < 0) return []
  return emit(state, { tool_calls: [{ index, function: { arguments: args } }] })
}

/**
 * Cohere v2 stream → OpenAI chunks. Events: message-start (id), content-start/-delta/-end (text or
 * thinking), tool-plan-delta, tool-call-start/-delta/-end, citation-start/-end, message-end (finish
 * reason and usage). Text and tool plan become `content` (see parseCohereChatResponse); thinking and
 * citations have no OpenAI counterpart and are not forwarded.
 */
export const cohereStream: StreamTranslator<CohereStreamState> = {
  init: (ctx: CallContext) => ({
    id: completionId(ctx.requestId),
    created: ctx.created,
    model: ctx.model,
    started: false,
    toolIndexes: new Map(),
    finished: false,
    usage: undefined,
    producedText: '',
    producedThinking: '',
    seenEvents: false,
  }),

  onEvent(event: SseEvent, state: CohereStreamState): ChatCompletionChunk[] {
    // Cohere's SDK treats `[DONE]` as the end; the v2 stream ends without one, but a proxy may add it.
    if (event.data === '[DONE]') return []
    const parsed = JSON.parse(event.data) as CohereStreamEvent
    state.seenEvents = true
    const message = parsed.delta?.message
    switch (parsed.type) {
      case 'message-start':
        if (state.started) return []
        // Cohere's generation id, taken before any chunk has gone out, so every chunk carries the same id.
        if (typeof parsed.id === 'string' && parsed.id !== '') state.id = parsed.id
        state.started = true
        return [chunk(state, { role: 'assistant', content: '' })]
      case 'content-start':
      case 'content-delta': {
        state.producedThinking += message?.content?.thinking ?? ''
        const text = message?.content?.text ?? ''
        if (text === '') return []
        state.producedText += text
        return emit(state, { content: text })
      }
      case 'tool-plan-delta': {
        const plan = message?.tool_plan ?? ''
        if (plan === '') return []
        state.producedText += plan
        return emit(state, { content: plan })
      }
      case 'tool-call-start':
      case 'tool-call-delta':
        return toolDelta(state, parsed)
      case 'message-end': {
        state.usage = normalizeCohereUsage(parsed.delta?.usage) ?? state.usage
        if (state.finished) return []
        state.finished = true
        return emit(state, {}, toFinishReason(parsed.delta?.finish_reason, state.toolIndexes.size > 0))
      }
      default:
        // content-end, tool-call-end, citation-start/-end, debug: nothing a client of OpenAI's API sees.
        return []
    }
  },

  // A stream that ends without message-end was cut: no finish_reason is invented for it.
  onEnd: () => [],

  usage(state: CohereStreamState): NormalizedUsage | undefined {
    if (state.usage !== undefined) return state.usage
    if (!state.seenEvents) return undefined
    // Cohere reports usage only in message-end: before it, what was produced is all there is to count.
    const reasoningTokens = estimateTokens(state.producedThinking)
    return {
      promptTokens: 0,
      completionTokens: estimateTokens(state.producedText) + reasoningTokens,
      cachedTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens,
      estimated: true,
    }
  },
}
