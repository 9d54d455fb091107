import type { ChatCompletionChunk } from '../../api/chat-completions.ts'
import type { CallContext, NormalizedUsage, SseEvent, StreamTranslator } from '../types.ts'
import { normalizeOpenAiUsage } from './response.ts'

export interface OpenAiStreamState {
  usage: NormalizedUsage | undefined
}

/**
 * OpenAI's chunks are already canonical. The usage chunk (`choices: []`, requested by buildRequest) is
 * kept in the state instead of being forwarded: the core sends usage only to clients that asked.
 */
export const openAiStream: StreamTranslator<OpenAiStreamState> = {
  init: (_ctx: CallContext) => ({ usage: undefined }),
  onEvent(event: SseEvent, state: OpenAiStreamState): ChatCompletionChunk[] {
    if (event.data === '[DONE]') return []
    const chunk = JSON.parse(event.data) as ChatCompletionChunk
    if (chunk.usage !== undefined && chunk.usage !== null) state.usage = normalizeOpenAiUsage(chunk.usage)
    if (chunk.choices.length === 0) return []
    const { usage: _usage, ...rest } = chunk
    return [rest]
  },
  onEnd: () => [],
  usage: (state) => state.usage,
}
