import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chatCompletionRequest } from '../../../gateway/api/chat-completions.ts'
import type { ChatCompletionChunk } from '../../../gateway/api/chat-completions.ts'
import { embeddingsRequest } from '../../../gateway/api/embeddings.ts'
import { gemini } from '../../../gateway/providers/gemini/index.ts'
import { SseParser } from '../../../gateway/providers/sse.ts'
import type { CallContext, UpstreamRequest } from '../../../gateway/providers/types.ts'
import { geminiMock } from '../../mocks/gemini.ts'
import { startMock } from '../../mocks/mock-server.ts'
import type { RunningMock } from '../../mocks/mock-server.ts'
import { assemble } from '../../support/providers.ts'

/** Round trips between the Gemini adapter and the Gemini mock, with no gateway in between. */
describe('gemini adapter against the Gemini mock', () => {
  let mock: RunningMock
  let requestCount = 0
  beforeAll(async () => {
    mock = await startMock(geminiMock())
  })
  afterAll(async () => {
    await mock.close()
  })

  const context = (model: string): CallContext => ({
    model,
    credential: { apiKey: 'AIzaSy-test-key', baseUrl: `${mock.url}/v1beta` },
    requestId: `req_int_${++requestCount}`,
    created: 1_750_000_000,
  })

  async function send(upstream: UpstreamRequest): Promise<Response> {
    return fetch(upstream.url, { method: upstream.method, headers: upstream.headers, body: JSON.stringify(upstream.body) })
  }

  const headersOf = (response: Response) => Object.fromEntries([...response.headers].map(([k, v]) => [k.toLowerCase(), v]))

  function chat(fields: Record<string, unknown>, model = 'gemini-2.5-flash', stream = false) {
    const ctx = context(model)
    const request = chatCompletionRequest.parse({ model: `gemini/${model}`, messages: [{ role: 'user', content: 'Hello' }], ...fields })
    return { ctx, upstream: gemini.chat.buildRequest(request, { ...ctx, stream }) }
  }

  async function streamed(fields: Record<string, unknown>, model = 'gemini-2.5-flash') {
    const { ctx, upstream } = chat({ ...fields, stream: true }, model, true)
    const response = await send(upstream)
    expect(response.status).toBe(200)
    const translator = gemini.chat.stream
    const state = translator.init(ctx)
    const parser = new SseParser()
    const chunks: ChatCompletionChunk[] = []
    for await (const bytes of response.body!) for (const event of parser.push(bytes as Uint8Array)) chunks.push(...translator.onEvent(event, state))
    for (const event of parser.end()) chunks.push(...translator.onEvent(event, state))
    chunks.push(...translator.onEnd(state))
    return { chunks, usage: translator.usage(state) }
  }

  it('completes a text chat', async () => {
    const { ctx, upstream } = chat({ messages: [{ role: 'system', content: 'Be nice.' }, { role: 'user', content: 'Hello' }] })
    const response = await send(upstream)
    expect(response.status).toBe(200)
    const { completion, usage } = gemini.chat.parseResponse(await response.json(), ctx)
    expect(completion.choices[0]).toMatchObject({ message: { content: 'Hello! How can I help you today?' }, finish_reason: 'stop' })
    expect(completion.model).toBe('gemini-2.5-flash')
    expect(usage).toMatchObject({ promptTokens: 8, completionTokens: 35, reasoningTokens: 26, estimated: false })
    expect(mock.requests.at(-1)?.headers['x-goog-api-key']).toBe('AIzaSy-test-key')
  })

  const weatherTool = {
    type: 'function',
    function: {
      name: 'get_weather',
      strict: true,
      parameters: {
        $schema: 'http://json-schema.org/draft-07/schema#',
        type: 'object',
        $defs: { Unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
        properties: { location: { type: 'string', format: 'uri' }, unit: { anyOf: [{ $ref: '#/$defs/Unit' }, { type: 'null' }] } },
        required: ['location', 'unit'],
        additionalProperties: false,
      },
    },
  }
  const freeFormTool = { type: 'function', function: { name: 'log_event', parameters: { type: 'object', properties: { data: { type: 'object', additionalProperties: true } } } } }

  it.each(['gemini-2.5-flash', 'gemini-3-flash-preview'])('sends a request using every translated feature that %s accepts', async (model) => {
    const { upstream } = chat(
      {
        messages: [
          { role: 'system', content: 'You are a weather bot.' },
          { role: 'developer', content: 'Use metric units.' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Weather where these photos were taken?' },
              { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'low' } },
              { type: 'image_url', image_url: { url: 'https://example.com/rome.webp' } },
            ],
          },
          { role: 'assistant', content: 'Let me check.', tool_calls: [{ id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris","unit":null}' } }] },
          { role: 'tool', tool_call_id: 'call_a', content: 'sunny, 21°C' },
          { role: 'user', content: 'And tomorrow?' },
        ],
        tools: [weatherTool, freeFormTool, { type: 'function', function: { name: 'now', parameters: { type: 'object', properties: {} } } }],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        response_format: { type: 'json_schema', json_schema: { name: 'w', schema: { type: 'object', properties: { t: { type: 'number' } }, additionalProperties: false }, strict: true } },
        reasoning_effort: 'low',
        temperature: 0.3,
        top_p: 0.8,
        max_completion_tokens: 256,
        stop: ['END'],
        seed: 42,
        presence_penalty: 0.1,
      },
      model,
    )
    const response = await send(upstream)
    expect(response.status, JSON.stringify(await response.clone().json())).toBe(200)
  })

  it('round-trips a tool call', async () => {
    const { ctx, upstream } = chat({ messages: [{ role: 'user', content: 'Weather in Paris and Rome? [scenario:tool_call]' }], tools: [weatherTool] })
    const { completion } = gemini.chat.parseResponse(await (await send(upstream)).json(), ctx)
    expect(completion.choices[0]!.finish_reason).toBe('tool_calls')
    expect(completion.choices[0]!.message.tool_calls?.map((c) => JSON.parse(c.function.arguments) as unknown)).toEqual([
      { location: 'Paris, France', unit: 'celsius' },
      { location: 'Rome, Italy', unit: 'celsius' },
    ])
  })

  it('streams text over SSE with CRLF frames', async () => {
    const { chunks, usage } = await streamed({})
    expect(assemble(chunks)).toEqual({ content: 'Hello there! How can I help you today?', toolCalls: [], finishReason: 'stop' })
    expect(usage).toMatchObject({ promptTokens: 8, completionTokens: 31, estimated: false })
    expect(mock.requests.at(-1)?.query.get('alt')).toBe('sse')
  })

  it('streams tool calls with their full arguments', async () => {
    const { chunks } = await streamed({ messages: [{ role: 'user', content: 'Weather? [scenario:tool_call]' }], tools: [weatherTool] }, 'gemini-3-flash-preview')
    const result = assemble(chunks)
    expect(result.finishReason).toBe('tool_calls')
    expect(result.toolCalls.map((c) => c.arguments)).toEqual(['{"location":"Paris"}', '{"location":"Rome"}'])
  })

  it('keeps the partial usage of a truncated stream', async () => {
    const { chunks, usage } = await streamed({ messages: [{ role: 'user', content: 'Hi [scenario:truncated]' }] })
    expect(assemble(chunks)).toMatchObject({ content: 'Hello there! How can I', finishReason: null })
    expect(usage).toMatchObject({ promptTokens: 8, completionTokens: 27 })
  })

  it('embeds texts with the requested dimensions', async () => {
    const ctx = context('gemini-embedding-001')
    const request = embeddingsRequest.parse({ model: 'gemini-embedding-001', input: ['one', 'two words'], dimensions: 4 })
    const response = await send(gemini.embeddings!.buildRequest(request, ctx))
    expect(response.status).toBe(200)
    const result = gemini.embeddings!.parseResponse(await response.json(), { ...ctx, inputCount: 2 })
    expect(result.vectors.map((v) => v.length)).toEqual([4, 4])
    expect(result.vectors[1]![0]).toBe(0.5)
    expect(result.usage).toMatchObject({ promptTokens: 4, estimated: true })
  })

  it('maps the mock’s rate limit, overload and bad-key answers', async () => {
    const error = async (scenario: string) => {
      const response = await send(chat({ messages: [{ role: 'user', content: `Hi [scenario:${scenario}]` }] }).upstream)
      return gemini.parseError(response.status, await response.json(), headersOf(response))
    }
    expect(await error('error_429')).toMatchObject({ upstreamStatus: 429, providerCode: 'RESOURCE_EXHAUSTED', retryAfterMs: 1000 })
    expect(await error('overloaded')).toMatchObject({ upstreamStatus: 503, overloaded: true })
    expect(await error('error_401')).toMatchObject({ upstreamStatus: 401, providerCode: 'API_KEY_INVALID' })
  })

  it('is rejected by the mock, as by Gemini, when the body has fields Gemini does not know or roles it does not have', async () => {
    const { upstream } = chat({})
    const body = upstream.body as { contents: unknown[]; tools?: unknown }
    const unknownField = { ...body, tools: [{ functionDeclarations: [{ name: 'f', parameters: { type: 'OBJECT', properties: { a: { type: 'STRING' } }, additionalProperties: false } }] }] }
    const rejected = await send({ ...upstream, body: unknownField })
    const error = gemini.parseError(rejected.status, await rejected.json(), headersOf(rejected))
    expect(error).toMatchObject({ upstreamStatus: 400, providerCode: 'INVALID_ARGUMENT', param: 'tools[0].function_declarations[0].parameters' })
    expect(error.message).toContain('Unknown name "additionalProperties"')
    const systemRole = await send({ ...upstream, body: { contents: [{ role: 'system', parts: [{ text: 'x' }] }] } })
    expect(systemRole.status).toBe(400)
    const noKey = await send({ ...upstream, headers: { 'content-type': 'application/json' } })
    expect(noKey.status).toBe(403)
  })
})
