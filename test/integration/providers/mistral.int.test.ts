import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chatCompletionRequest } from '../../../gateway/api/chat-completions.ts'
import type { ChatCompletionChunk } from '../../../gateway/api/chat-completions.ts'
import { embeddingsRequest } from '../../../gateway/api/embeddings.ts'
import { mistral } from '../../../gateway/providers/mistral/index.ts'
import { SseParser } from '../../../gateway/providers/sse.ts'
import type { CallContext, NormalizedUsage, UpstreamError, UpstreamRequest } from '../../../gateway/providers/types.ts'
import { mistralMock } from '../../mocks/mistral.ts'
import { startMock } from '../../mocks/mock-server.ts'
import type { RunningMock } from '../../mocks/mock-server.ts'
import { assemble } from '../../support/providers.ts'

/**
 * Round trips between the Mistral adapter and the Mistral mock, with no gateway between them: what the
 * adapter builds must pass the mock's validation (Mistral's rules), and what the mock answers must parse.
 */

let mock: RunningMock
let ctx: CallContext

beforeAll(async () => {
  mock = await startMock(mistralMock())
  ctx = { model: 'mistral-large-latest', credential: { apiKey: 'test-mistral-key', baseUrl: `${mock.url}/v1` }, requestId: 'req_mistral_1', created: 1_750_000_000 }
})
afterAll(async () => {
  await mock.close()
})

async function send(upstream: UpstreamRequest): Promise<Response> {
  return fetch(upstream.url, { method: upstream.method, headers: upstream.headers, body: JSON.stringify(upstream.body) })
}

async function failureOf(response: Response): Promise<UpstreamError> {
  const text = await response.text()
  return mistral.parseError(response.status, JSON.parse(text) as unknown, Object.fromEntries(response.headers))
}

/** Reads a streamed answer as the core does: SSE framing, then the adapter's translator. */
async function readStream(response: Response): Promise<{ chunks: ChatCompletionChunk[]; usage: NormalizedUsage | undefined }> {
  const translator = mistral.chat.stream
  const state = translator.init(ctx)
  const parser = new SseParser()
  const chunks: ChatCompletionChunk[] = []
  const take = (events: ReturnType<SseParser['push']>) => {
    for (const event of events) {
      expect(mistral.streamError?.(event)).toBeUndefined()
      chunks.push(...translator.onEvent(event, state))
    }
  }
  for await (const bytes of response.body! as AsyncIterable<Uint8Array>) take(parser.push(bytes))
  take(parser.end())
  chunks.push(...translator.onEnd(state))
  return { chunks, usage: translator.usage(state) }
}

/** An OpenAI-style conversation: developer role, OpenAI tool-call ids, seed and max_completion_tokens. */
const conversation = (lastUserText: string, stream: boolean) =>
  chatCompletionRequest.parse({
    model: 'mistral/mistral-large-latest',
    stream,
    stream_options: stream ? { include_usage: true } : undefined,
    seed: 42,
    max_completion_tokens: 200,
    tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }],
    tool_choice: 'auto',
    messages: [
      { role: 'developer', content: 'Answer briefly.' },
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_DdmO9pD3xa9XTPNJ32zg2hcA', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_DdmO9pD3xa9XTPNJ32zg2hcA', content: '18°C, sunny' },
      { role: 'assistant', content: 'It is 18°C and sunny in Paris.' },
      { role: 'user', content: [{ type: 'text', text: lastUserText }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] },
    ],
  })

describe('mistral adapter ↔ mistral mock', () => {
  it('completes a multi-turn conversation with OpenAI-style history', async () => {
    const response = await send(mistral.chat.buildRequest(conversation('And now?', false), { ...ctx, stream: false }))
    expect(response.status).toBe(200)
    const { completion, usage } = mistral.chat.parseResponse(await response.json(), ctx)
    expect(completion.choices[0]!.message.content).toBe('Hello, world! This is a test response.')
    expect(usage).toMatchObject({ promptTokens: 13, completionTokens: 8, estimated: false })
  })

  it('returns tool calls', async () => {
    const response = await send(mistral.chat.buildRequest(conversation('Rome and Paris? [scenario:tool_call]', false), { ...ctx, stream: false }))
    const { completion } = mistral.chat.parseResponse(await response.json(), ctx)
    expect(completion.choices[0]!.finish_reason).toBe('tool_calls')
    expect(completion.choices[0]!.message.tool_calls?.map((c) => [c.id, c.function.arguments])).toEqual([
      ['gSIMJiOkT', '{"location": "Paris"}'],
      ['D681PevKs', '{"location": "Rome"}'],
    ])
  })

  it('streams text and reads the usage of the last chunk', async () => {
    const response = await send(mistral.chat.buildRequest(conversation('And now?', true), { ...ctx, stream: true }))
    expect(response.headers.get('content-type')).toContain('text/event-stream')
    const { chunks, usage } = await readStream(response)
    expect(assemble(chunks)).toEqual({ content: 'Hello there!', toolCalls: [], finishReason: 'stop' })
    expect(usage).toMatchObject({ promptTokens: 9, completionTokens: 3, estimated: false })
  })

  it('streams tool calls as OpenAI deltas', async () => {
    const response = await send(mistral.chat.buildRequest(conversation('Rome and Paris? [scenario:tool_call]', true), { ...ctx, stream: true }))
    const { chunks } = await readStream(response)
    expect(assemble(chunks).toolCalls.map((c) => c.id)).toEqual(['gSIMJiOkT', 'D681PevKs'])
  })

  it('embeds a batch', async () => {
    const request = embeddingsRequest.parse({ model: 'mistral/codestral-embed', input: ['one', 'two'], dimensions: 4 })
    const response = await send(mistral.embeddings!.buildRequest(request, { ...ctx, model: 'codestral-embed' }))
    expect(response.status).toBe(200)
    const result = mistral.embeddings!.parseResponse(await response.json(), { ...ctx, inputCount: 2 })
    expect(result.vectors).toHaveLength(2)
    expect(result.vectors[0]).toHaveLength(4)
    expect(result.usage.promptTokens).toBe(8)
  })

  it('maps a rate limit and an overload from the mock', async () => {
    const limited = await failureOf(await send(mistral.chat.buildRequest(conversation('[scenario:error_429]', false), { ...ctx, stream: false })))
    expect(limited).toMatchObject({ upstreamStatus: 429, retryAfterMs: 1000, providerCode: '1300' })
    const overloaded = await failureOf(await send(mistral.chat.buildRequest(conversation('[scenario:overloaded]', false), { ...ctx, stream: false })))
    expect(overloaded).toMatchObject({ upstreamStatus: 429, overloaded: true })
  })

  it('is rejected by the mock when sent OpenAI’s request untranslated', async () => {
    const raw = conversation('Hi', true)
    const untranslated = await failureOf(await send({ method: 'POST', url: `${ctx.credential.baseUrl}/chat/completions`, headers: { authorization: 'Bearer k', 'content-type': 'application/json' }, body: raw }))
    expect(untranslated.upstreamStatus).toBe(422)
    expect(untranslated.message).toMatch(/developer/)
    const fields = await failureOf(
      await send({
        method: 'POST',
        url: `${ctx.credential.baseUrl}/chat/completions`,
        headers: { authorization: 'Bearer k', 'content-type': 'application/json' },
        body: { ...raw, model: 'mistral-large-latest', messages: [{ role: 'user', content: 'Hi' }] },
      }),
    )
    expect(fields.upstreamStatus).toBe(422)
    for (const field of ['stream_options', 'seed', 'max_completion_tokens']) expect(fields.message).toContain(`${field}: Extra inputs are not permitted`)
  })
})
