import { readFileSync } from 'node:fs'
import type { ChatCompletionChunk } from '../../gateway/api/chat-completions.ts'
import { parseSseText } from '../../gateway/providers/sse.ts'
import type { CallContext, NormalizedUsage, ProviderAdapter } from '../../gateway/providers/types.ts'

/** A call context with fixed ids, so translated output can be compared exactly. */
export function testContext(model: string, overrides: Partial<CallContext> = {}): CallContext {
  return {
    model,
    credential: { apiKey: 'sk-test-key', baseUrl: 'http://upstream.test/v1' },
    requestId: 'req_0001',
    created: 1_750_000_000,
    ...overrides,
  }
}

/** A fixture of a provider folder: `fixture(import.meta.url, 'chat-stream.sse')`. */
export function fixture(moduleUrl: string, name: string): string {
  return readFileSync(new URL(`./fixtures/${name}`, moduleUrl), 'utf8')
}

export function jsonFixture(moduleUrl: string, name: string): unknown {
  return JSON.parse(fixture(moduleUrl, name))
}

/** Runs a whole recorded SSE stream through an adapter's translator, as the core does. */
export function translateStream(
  adapter: ProviderAdapter,
  sseText: string,
  ctx: CallContext,
): { chunks: ChatCompletionChunk[]; usage: NormalizedUsage | undefined } {
  const translator = adapter.chat.stream
  const state = translator.init(ctx)
  const chunks: ChatCompletionChunk[] = []
  for (const event of parseSseText(sseText)) chunks.push(...translator.onEvent(event, state))
  chunks.push(...translator.onEnd(state))
  return { chunks, usage: translator.usage(state) }
}

/** The assistant text and tool calls that a client would assemble from a list of chunks. */
export function assemble(chunks: readonly ChatCompletionChunk[]): {
  content: string
  toolCalls: { id: string; name: string; arguments: string }[]
  finishReason: string | null
} {
  let content = ''
  let finishReason: string | null = null
  const calls: { id: string; name: string; arguments: string }[] = []
  for (const chunk of chunks) {
    for (const choice of chunk.choices) {
      content += choice.delta.content ?? ''
      for (const call of choice.delta.tool_calls ?? []) {
        const slot = (calls[call.index] ??= { id: '', name: '', arguments: '' })
        if (call.id !== undefined) slot.id = call.id
        if (call.function?.name !== undefined) slot.name += call.function.name
        slot.arguments += call.function?.arguments ?? ''
      }
      if (choice.finish_reason !== null) finishReason = choice.finish_reason
    }
  }
  return { content, toolCalls: calls, finishReason }
}
