import type { ChatCompletionChunk, FinishReason } from '../api/chat-completions.ts'

export type ChunkDelta = ChatCompletionChunk['choices'][number]['delta']

/** One canonical chunk; every chunk of a stream carries the same id, created and model (kept in the state). */
export function streamChunk(
  stream: { id: string; created: number; model: string },
  delta: ChunkDelta,
  finishReason: FinishReason | null = null,
  index = 0,
): ChatCompletionChunk {
  return {
    id: stream.id,
    object: 'chat.completion.chunk',
    created: stream.created,
    model: stream.model,
    choices: [{ index, delta, finish_reason: finishReason, logprobs: null }],
  }
}
