import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chatCompletionRequest } from '../../../gateway/api/chat-completions.ts'
import type { ChatCompletionChunk } from '../../../gateway/api/chat-completions.ts'
import { embeddingsRequest } from '../../../gateway/api/embeddings.ts'
import { toClientError } from '../../../gateway/providers/errors.ts'
import { cohere } from '../../../gateway/providers/cohere/index.ts'
import { SseParser } from '../../../gateway/providers/sse.ts'
import type { CallContext, NormalizedUsage, UpstreamRequest } from '../../../gateway/providers/types.ts'
import { cohereMock } from '../../mocks/cohere.ts'
import { startMock } from '../../mocks/mock-server.ts'
import type { RunningMock } from '../../mocks/mock-server.ts'
import { assemble } from '../../support/providers.ts'

/**
 * Round trips between the Cohere adapter and the Cohere mock, with no gateway in between: what the
 * adapter sends must pass the mock's validation of Cohere's v2 API, and what the mock replies must parse.
 */
let mock: RunningMock
let ctx: CallContext

beforeAll(async () => {
  mock = await startMock(cohereMock())
  ctx = { model: 'command-a-03-2025', credential: { apiKey: 'co-test-key', baseUrl: `${mock.url}/v2` }, requestId: 'req_int_1', created: 1_750_000_000 }
})
afterAll(async () => {
  await mock.close()
})

async function send(upstream: UpstreamRequest): Promise<{ status: number; headers: Record<string, string>; response: Response }> {
  const response = await fetch(upstream.url, { method: upstream.method, headers: upstream.headers, body: JSON.stringify(upstream.body) })
  return { status: response.status, headers: Object.fromEntries(response.headers), response }
}

function chat(fields: Record<string, unknown>) {
  return chatCompletionRequest.parse({ model: 'cohere/command-a-03-2025', ...fields })
}

const weatherTool = { type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }

async function streamed(fields: Record<string, unknown>): Promise<{ chunks: ChatCompletionChunk[]; usage: NormalizedUsage | undefined }> {
  const { status, response } = await send(cohere.chat.buildRequest(chat({ ...fields, stream: true }), { ...ctx, stream: true }))
  expect(status).toBe(200)
  const translator = cohere.chat.stream
  const state = translator.init(ctx)
  const parser = new SseParser()
  const chunks: ChatCompletionChunk[] = []
  const onEvents = (events: ReturnType<SseParser['push']>) => {
    for (const event of events) {
      const failure = cohere.streamError?.(event)
      if (failure !== undefined) throw new Error(failure.message)
      chunks.push(...translator.onEvent(event, state))
    }
  }
  for await (const bytes of response.body! as AsyncIterable<Uint8Array>) onEvents(parser.push(bytes))
  onEvents(parser.end())
  chunks.push(...translator.onEnd(state))
  return { chunks, usage: translator.usage(state) }
}

describe('cohere adapter ⇄ cohere mock', () => {
  it('round-trips a text completion with every translatable parameter', async () => {
    const request = chat({
      messages: [
        { role: 'developer', content: 'Answer in JSON.' },
        { role: 'user', content: [{ type: 'text', text: 'Describe this.' }, { type: 'image_url', image_url: { url: 'https://cohere.com/favicon-32x32.png', detail: 'auto' } }] },
      ],
      max_completion_tokens: 200,
      temperature: 0.3,
      top_p: 1,
      stop: ['END'],
      seed: 42,
      frequency_penalty: 0.2,
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object', properties: { text: { type: 'string' } } } } },
      reasoning_effort: 'low',
    })
    const { status, response } = await send(cohere.chat.buildRequest(request, { ...ctx, stream: false }))
    expect(status).toBe(200)
    const { completion, usage } = cohere.chat.parseResponse(await response.json(), ctx)
    expect(completion.choices[0]!.message.content).toMatch(/^LLMs stand for/)
    expect(completion.choices[0]!.finish_reason).toBe('stop')
    expect(usage).toMatchObject({ promptTokens: 5, completionTokens: 26, estimated: false })
    expect(mock.requests.at(-1)!.headers.authorization).toBe('Bearer co-test-key')
  })

  it('round-trips a tool call, then the tool results in the next turn', async () => {
    const first = chat({ messages: [{ role: 'user', content: 'Sales and catalog? [scenario:tool_call]' }], tools: [weatherTool], tool_choice: 'required' })
    const { status, response } = await send(cohere.chat.buildRequest(first, { ...ctx, stream: false }))
    expect(status).toBe(200)
    const { completion } = cohere.chat.parseResponse(await response.json(), ctx)
    const message = completion.choices[0]!.message
    expect(completion.choices[0]!.finish_reason).toBe('tool_calls')
    expect(message.tool_calls?.map((c) => JSON.parse(c.function.arguments) as unknown)).toEqual([{ day: '2023-09-29' }, { category: 'Electronics' }])

    const second = chat({
      messages: [
        { role: 'user', content: 'Sales and catalog?' },
        { role: 'assistant', content: message.content, tool_calls: message.tool_calls },
        ...message.tool_calls!.map((c) => ({ role: 'tool', tool_call_id: c.id, content: [{ type: 'text', text: '{"ok": true}' }] })),
      ],
      tools: [weatherTool],
    })
    const next = await send(cohere.chat.buildRequest(second, { ...ctx, stream: false }))
    expect(next.status).toBe(200)
    expect(cohere.chat.parseResponse(await next.response.json(), ctx).completion.choices[0]!.finish_reason).toBe('stop')
  })

  it('round-trips a text stream with usage from message-end', async () => {
    const { chunks, usage } = await streamed({ messages: [{ role: 'user', content: 'Tell me about LLMs' }] })
    expect(assemble(chunks)).toEqual({ content: 'LLMs stand for Large Language Models.', toolCalls: [], finishReason: 'stop' })
    expect(usage).toMatchObject({ promptTokens: 5, completionTokens: 8, estimated: false })
  })

  it('round-trips a stream of parallel tool calls', async () => {
    const { chunks } = await streamed({ messages: [{ role: 'user', content: 'Both, please [scenario:tool_call]' }], tools: [weatherTool] })
    const result = assemble(chunks)
    expect(result.finishReason).toBe('tool_calls')
    expect(result.toolCalls.map((c) => c.name)).toEqual(['query_daily_sales_report', 'query_product_catalog'])
    expect(result.toolCalls.map((c) => JSON.parse(c.arguments) as unknown)).toEqual([{ day: '2023-09-29' }, { category: 'Electronics' }])
  })

  it('leaves a truncated stream without a finish reason and with estimated usage', async () => {
    const { chunks, usage } = await streamed({ messages: [{ role: 'user', content: 'Tell me [scenario:truncated]' }] })
    expect(assemble(chunks)).toMatchObject({ content: 'LLMs stand for Large Language Models.', finishReason: null })
    expect(usage).toMatchObject({ completionTokens: 10, estimated: true })
  })

  it('round-trips embeddings with output dimensions', async () => {
    const request = embeddingsRequest.parse({ model: 'embed-v4.0', input: ['hello', 'goodbye', 'again'], dimensions: 256 })
    const embedCtx = { ...ctx, model: 'embed-v4.0' }
    const { status, response } = await send(cohere.embeddings!.buildRequest(request, embedCtx))
    expect(status).toBe(200)
    const result = cohere.embeddings!.parseResponse(await response.json(), { ...embedCtx, inputCount: 3 })
    expect(result.vectors.map((v) => v.length)).toEqual([256, 256, 256])
    expect(result.usage).toMatchObject({ promptTokens: 6, estimated: false })
  })

  it('maps the mock’s 429 with retry-after and its 503 overload', async () => {
    const limited = await send(cohere.chat.buildRequest(chat({ messages: [{ role: 'user', content: 'x [scenario:error_429]' }] }), { ...ctx, stream: false }))
    const rateLimit = cohere.parseError(limited.status, await limited.response.json(), limited.headers)
    expect(rateLimit).toMatchObject({ upstreamStatus: 429, retryAfterMs: 1000 })
    expect(toClientError('cohere', rateLimit).code).toBe('upstream_rate_limited')

    const busy = await send(cohere.embeddings!.buildRequest(embeddingsRequest.parse({ model: 'embed-v4.0', input: '[scenario:overloaded]' }), ctx))
    expect(cohere.parseError(busy.status, await busy.response.json(), busy.headers)).toMatchObject({ upstreamStatus: 503, overloaded: true })
  })

  it('replays the transport-failure scenarios the gateway’s resilience tests rely on', async () => {
    const once = (content: string, stream = false) => send(cohere.chat.buildRequest(chat({ messages: [{ role: 'user', content }], stream }), { ...ctx, stream }))
    const flaky = [await once('a [scenario:flaky]'), await once('a [scenario:flaky]'), await once('a [scenario:flaky]')]
    expect(flaky.map((r) => r.status)).toEqual([500, 500, 200])
    const malformed = await once('b [scenario:malformed]')
    expect(malformed.status).toBe(200)
    await expect(malformed.response.json()).rejects.toThrow(SyntaxError)
    await expect(once('c [scenario:reset]')).rejects.toThrow()
    await expect(streamed({ messages: [{ role: 'user', content: 'd [scenario:drop]' }] })).rejects.toThrow()
  })

  it('validates like Cohere: casing of enums, unknown fields, auth', async () => {
    const base = { model: 'command-a-03-2025', messages: [{ role: 'user', content: 'Hi' }], stream: false }
    const headers = { authorization: 'Bearer co-test-key', 'content-type': 'application/json' }
    const post = (body: unknown, h: Record<string, string> = headers) => fetch(`${mock.url}/v2/chat`, { method: 'POST', headers: h, body: JSON.stringify(body) })

    const lowerCase = await post({ ...base, tools: [weatherTool], tool_choice: 'required' })
    expect(lowerCase.status).toBe(400)
    expect(cohere.parseError(400, await lowerCase.json(), {}).message).toMatch(/^invalid request: tool_choice/)
    expect((await post({ ...base, top_p: 0.5 })).status).toBe(400)
    expect((await post({ ...base, messages: [{ role: 'developer', content: 'x' }] })).status).toBe(400)
    expect((await post({ model: 'command-a-03-2025' })).status).toBe(400)
    expect((await post(base, { 'content-type': 'application/json' })).status).toBe(401)
    const embed = await fetch(`${mock.url}/v2/embed`, { method: 'POST', headers, body: JSON.stringify({ model: 'embed-v4.0', texts: ['a'] }) })
    expect(embed.status).toBe(400)
  })
})
