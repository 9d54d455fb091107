import type { ChatCompletionChunk, FinishReason } from '../../api/chat-completions.ts'
import { streamChunk } from '../chunks.ts'
import type { ChunkDelta } from '../chunks.ts'
import { completionId } from '../ids.ts'
import type { CallContext, NormalizedUsage, SseEvent, StreamTranslator } from '../types.ts'
import { blockedPromptMessage, estimatedUsage, mapFinishReason, normalizeGeminiUsage, readParts, toToolCall } from './response.ts'
import type { GeminiGenerateContentResponse } from './wire.ts'

export interface GeminiStreamState {
  id: string
  created: number
  model: string
  started: boolean
  finished: boolean
  toolCalls: number
  /** Gemini's usageMetadata is a running total in every chunk: the last one seen is the usage so far. */
  usage: NormalizedUsage | undefined
  /** What was streamed, for an estimate if the stream dies before any usage arrived. */
  output: string
}

const chunk = (state: GeminiStreamState, delta: ChunkDelta, finishReason: FinishReason | null = null) => streamChunk(state, delta, finishReason)

/**
 * With `alt=sse` every `data:` frame is a whole GenerateContentResponse holding the next piece of the
 * answer; there is no `[DONE]` and no event names; the last chunk carries `finishReason`. Function calls
 * arrive whole in one chunk, so each becomes one tool-call delta with its complete arguments.
 */
export const geminiStream: StreamTranslator<GeminiStreamState> = {
  init: (ctx: CallContext) => ({
    id: completionId(ctx.requestId),
    created: ctx.created,
    model: ctx.model,
    started: false,
    finished: false,
    toolCalls: 0,
    usage: undefined,
    output: '',
  }),

  onEvent(event: SseEvent, state: GeminiStreamState): ChatCompletionChunk[] {
    if (event.data.trim() === '') return []
    const response = JSON.parse(event.data) as GeminiGenerateContentResponse
    if (response.usageMetadata !== undefined) state.usage = normalizeGeminiUsage(response.usageMetadata)
    const out: ChatCompletionChunk[] = []
    if (!state.started) {
      // Every chunk names the same model: Gemini's own version name when the first chunk has it.
      if (typeof response.modelVersion === 'string' && response.modelVersion !== '') state.model = response.modelVersion
      out.push(chunk(state, { role: 'assistant', content: '' }))
      state.started = true
    }
    if (state.finished) return out
    const blocked = blockedPromptMessage(response)
    if (blocked !== undefined) {
      state.finished = true
      return [...out, chunk(state, { refusal: blocked }), chunk(state, {}, 'content_filter')]
    }
    const candidate = response.candidates?.[0]
    const { text, calls } = readParts(candidate?.content?.parts)
    if (text !== '') {
      state.output += text
      out.push(chunk(state, { content: text }))
    }
    for (const call of calls) {
      const toolCall = toToolCall(call)
      state.output += toolCall.function.arguments
      out.push(chunk(state, { tool_calls: [{ index: state.toolCalls++, ...toolCall }] }))
    }
    const finishReason = mapFinishReason(candidate?.finishReason, state.toolCalls > 0)
    if (finishReason !== undefined) {
      state.finished = true
      out.push(chunk(state, {}, finishReason))
    }
    return out
  },

  // A stream that ends without a finishReason was cut short: no finish is invented for it.
  onEnd: () => [],

  usage: (state) => state.usage ?? (state.started ? estimatedUsage(state.output) : undefined),
}
