import type { ChatCompletionChunk, ChunkToolCallDelta, FinishReason } from '../../api/chat-completions.ts'
import { streamChunk } from '../chunks.ts'
import type { ChunkDelta } from '../chunks.ts'
import { alphanumericId, completionId, estimateTokens } from '../ids.ts'
import type { CallContext, NormalizedUsage, SseEvent, StreamTranslator } from '../types.ts'
import { argumentsString, mapFinishReason, normalizeMistralUsage, textOfMistralContent, validToolCallId } from './response.ts'
import type { MistralContent, MistralToolCall, MistralUsage } from './response.ts'

interface MistralChunk {
  id?: string
  model?: string
  choices?: { index: number; delta: { role?: string | null; content?: MistralContent; tool_calls?: MistralToolCall[] | null }; finish_reason: string | null }[]
  usage?: MistralUsage | null
}

interface ChoiceState {
  begun: boolean
  finished: boolean
  /** Tool-call ids by the OpenAI index this stream gave them. */
  callIds: string[]
  /** Mistral's own `index` of a call (incremental streams only) → our index. */
  byUpstreamIndex: Map<number, number>
}

export interface MistralStreamState {
  id: string
  created: number
  model: string
  /** An upstream chunk arrived: id and model now come from Mistral. */
  seen: boolean
  /** `[DONE]` arrived: the stream ended cleanly. */
  done: boolean
  choices: Map<number, ChoiceState>
  /** Text and arguments sent so far, to estimate usage when the stream is cut before its usage chunk. */
  produced: string
  usage: NormalizedUsage | undefined
}

function choiceState(state: MistralStreamState, index: number): ChoiceState {
  let choice = state.choices.get(index)
  if (choice === undefined) {
    choice = { begun: false, finished: false, callIds: [], byUpstreamIndex: new Map() }
    state.choices.set(index, choice)
  }
  return choice
}

/**
 * Mistral usually sends each tool call whole in one delta (id, name and all arguments, no `index`); some
 * models stream the arguments in later deltas keyed by `index`. Both become OpenAI's form: a first delta
 * with our index, id, type and name, then argument deltas with the same index.
 */
function toolCallDeltas(choice: ChoiceState, calls: readonly MistralToolCall[]): ChunkToolCallDelta[] {
  const out: ChunkToolCallDelta[] = []
  for (const call of calls) {
    const upstreamId = validToolCallId(call.id)
    const upstreamIndex = call.index ?? undefined
    const known =
      upstreamId !== undefined
        ? choice.callIds.indexOf(upstreamId)
        : upstreamIndex === undefined
          ? -1
          : (choice.byUpstreamIndex.get(upstreamIndex) ?? -1)
    const args = argumentsString(call.function?.arguments)
    if (known === -1) {
      const id = upstreamId ?? alphanumericId(9)
      const index = choice.callIds.push(id) - 1
      if (upstreamIndex !== undefined) choice.byUpstreamIndex.set(upstreamIndex, index)
      out.push({ index, id, type: 'function', function: { name: call.function?.name ?? '', arguments: args } })
    } else if (args !== '') {
      out.push({ index: known, function: { arguments: args } })
    }
  }
  return out
}

const chunkOf = (state: MistralStreamState, index: number, delta: ChunkDelta, finish: FinishReason | null) => streamChunk(state, delta, finish, index)

/**
 * Mistral's chunks are OpenAI-shaped with these differences: usage rides on the last content chunk (often
 * the one with finish_reason) rather than a separate `choices: []` chunk; content may be a list of chunks
 * with `thinking` parts; tool calls arrive whole; finish_reason may be 'model_length' or 'error' (the
 * latter is reported by mistralStreamError before this translator sees it).
 */
export const mistralStream: StreamTranslator<MistralStreamState> = {
  init: (ctx: CallContext) => ({
    id: completionId(ctx.requestId),
    created: ctx.created,
    model: ctx.model,
    seen: false,
    done: false,
    choices: new Map(),
    produced: '',
    usage: undefined,
  }),

  onEvent(event: SseEvent, state: MistralStreamState): ChatCompletionChunk[] {
    if (event.data === '[DONE]') {
      state.done = true
      return []
    }
    const chunk = JSON.parse(event.data) as MistralChunk
    if (!state.seen) {
      state.seen = true
      state.id = chunk.id === undefined || chunk.id === '' ? state.id : chunk.id
      state.model = chunk.model ?? state.model
    }
    if (chunk.usage !== null && chunk.usage !== undefined) state.usage = normalizeMistralUsage(chunk.usage)
    const out: ChatCompletionChunk[] = []
    for (const upstream of chunk.choices ?? []) {
      const choice = choiceState(state, upstream.index)
      const text = textOfMistralContent(upstream.delta.content)
      const calls = toolCallDeltas(choice, upstream.delta.tool_calls ?? [])
      const reason = upstream.finish_reason === null ? null : mapFinishReason(upstream.finish_reason)
      const finish = reason === 'error' ? null : reason
      const delta: ChatCompletionChunk['choices'][number]['delta'] = {}
      if (!choice.begun) {
        choice.begun = true
        delta.role = 'assistant'
        delta.content = text
      } else if (text !== '') {
        delta.content = text
      }
      if (calls.length > 0) delta.tool_calls = calls
      if (finish !== null) choice.finished = true
      state.produced += text + calls.map((c) => c.function?.arguments ?? '').join('')
      // Thinking-only deltas carry nothing an OpenAI client can show.
      if (Object.keys(delta).length === 0 && finish === null) continue
      out.push(chunkOf(state, upstream.index, delta, finish))
    }
    return out
  },

  onEnd(state: MistralStreamState): ChatCompletionChunk[] {
    // A clean end without a finish_reason (never seen, but cheap to cover) still tells the client it ended.
    if (!state.done) return []
    return [...state.choices.entries()].filter(([, c]) => c.begun && !c.finished).map(([index]) => chunkOf(state, index, {}, 'stop'))
  },

  usage(state: MistralStreamState): NormalizedUsage | undefined {
    if (state.usage !== undefined) return state.usage
    if (!state.seen) return undefined
    return {
      promptTokens: 0,
      completionTokens: estimateTokens(state.produced),
      cachedTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
      estimated: true,
    }
  },
}
