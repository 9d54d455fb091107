import type { ChatCompletionChunk, FinishReason } from '../../../api/chat-completions.ts'
import type { NormalizedUsage } from '../../types.ts'
import { deltaUsage, stopDetailsFor, stopReasonFor, toolUseBlock } from './response.ts'
import type { MessageOut, SseOut, StreamEventOut } from './wire.ts'

export interface MessagesStreamEncoder {
  /** The events one canonical chunk produces (the first call also opens the message). */
  onChunk(chunk: ChatCompletionChunk): SseOut[]
  /** The upstream stream ended: closes every block and the message. Idempotent. */
  finish(usage: NormalizedUsage | undefined, finishReason: FinishReason | null): SseOut[]
}

interface PendingToolCall {
  id: string
  name: string
  args: string
}

/**
 * Canonical chunks → Anthropic's event sequence: message_start, ping, then for each content block
 * content_block_start / content_block_delta… / content_block_stop, then message_delta and message_stop.
 *
 * Text streams as it arrives, in one text block. Tool calls are buffered, one per OpenAI tool-call index,
 * and each becomes a whole tool_use block (start, one input_json_delta with the complete JSON, stop) once
 * the completion finishes, after the text block. Why: Anthropic blocks cannot be reopened, and OpenAI
 * chunks carry no per-call end, so parallel calls may interleave their argument deltas; and the SDK parses
 * each tool block's JSON at content_block_stop and throws on invalid JSON, which a buffer lets us check
 * (see toolInput). This is also what Anthropic itself does without fine-grained tool streaming: tool input
 * is validated before it is sent.
 *
 * Usage: the canonical stream learns it only at the end, so message_start says input_tokens 0 and
 * message_delta carries the final cumulative counts (the SDK overwrites its totals with them).
 */
export function createMessagesStreamEncoder(requestedModel: string, messageId: string): MessagesStreamEncoder {
  let started = false
  let finished = false
  let nextIndex = 0
  let openText: number | undefined
  let pending = new Map<number, PendingToolCall>()
  let toolBlocks = 0
  let refusal = ''
  let finishSeen: FinishReason | null = null

  const sse = (event: StreamEventOut): SseOut => ({ event: event.type, data: JSON.stringify(event) })

  function start(): SseOut[] {
    if (started) return []
    started = true
    const message: MessageOut = {
      id: messageId,
      type: 'message',
      role: 'assistant',
      model: requestedModel,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      stop_details: null,
      container: null,
      diagnostics: null,
      usage: {
        input_tokens: 0,
        output_tokens: 0,
        cache_creation_input_tokens: null,
        cache_read_input_tokens: null,
        cache_creation: null,
        inference_geo: null,
        output_tokens_details: null,
        server_tool_use: null,
        service_tier: null,
        speed: null,
      },
    }
    return [sse({ type: 'message_start', message }), sse({ type: 'ping' })]
  }

  function text(delta: string): SseOut[] {
    const out: SseOut[] = []
    if (openText === undefined) {
      openText = nextIndex++
      out.push(sse({ type: 'content_block_start', index: openText, content_block: { type: 'text', text: '', citations: null } }))
    }
    out.push(sse({ type: 'content_block_delta', index: openText, delta: { type: 'text_delta', text: delta } }))
    return out
  }

  /** Closes the text block and sends every buffered tool call as a complete block, in order of first appearance. */
  function flush(): SseOut[] {
    const out: SseOut[] = []
    if (openText !== undefined) {
      out.push(sse({ type: 'content_block_stop', index: openText }))
      openText = undefined
    }
    for (const [openAiIndex, call] of pending) {
      const index = nextIndex++
      const block = toolUseBlock(call.id === '' ? `toolu_${messageId.replace(/^msg_/, '')}${openAiIndex}` : call.id, call.name, call.args)
      const input = block.input
      out.push(sse({ type: 'content_block_start', index, content_block: { ...block, input: {} } }))
      out.push(sse({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(input) } }))
      out.push(sse({ type: 'content_block_stop', index }))
      toolBlocks++
    }
    pending = new Map()
    return out
  }

  return {
    onChunk(chunk) {
      if (finished) return []
      const out = start()
      const choice = chunk.choices.find((c) => c.index === 0)
      if (choice === undefined) return out
      const delta = choice.delta
      if (typeof delta.content === 'string' && delta.content !== '') out.push(...text(delta.content))
      if (typeof delta.refusal === 'string') refusal += delta.refusal
      for (const call of delta.tool_calls ?? []) {
        const slot = pending.get(call.index) ?? { id: '', name: '', args: '' }
        pending.set(call.index, slot)
        if (call.id !== undefined && slot.id === '') slot.id = call.id
        slot.name += call.function?.name ?? ''
        slot.args += call.function?.arguments ?? ''
      }
      if (choice.finish_reason !== null) {
        finishSeen = choice.finish_reason
        out.push(...flush())
      }
      return out
    },

    finish(usage, finishReason) {
      if (finished) return []
      const out = [...start(), ...flush()]
      finished = true
      const reason = finishReason ?? finishSeen
      const refused = refusal === '' ? null : refusal
      out.push(
        sse({
          type: 'message_delta',
          delta: {
            stop_reason: stopReasonFor(reason, toolBlocks > 0, refused),
            stop_sequence: null,
            stop_details: stopDetailsFor(reason, refused),
            container: null,
          },
          usage: deltaUsage(usage),
        }),
        sse({ type: 'message_stop' }),
      )
      return out
    },
  }
}
