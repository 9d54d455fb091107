import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chatCompletionRequest } from '../../../gateway/api/chat-completions.ts'
import type { ChatCompletionChunk } from '../../../gateway/api/chat-completions.ts'
import { anthropic } from '../../../gateway/providers/anthropic/index.ts'
import { toClientError } from '../../../gateway/providers/errors.ts'
import { SseParser } from '../../../gateway/providers/sse.ts'
import type { CallContext, UpstreamError } from '../../../gateway/providers/types.ts'
import { assemble } from '../../support/providers.ts'
import { anthropicMock } from '../../mocks/anthropic.ts'
import { startMock } from '../../mocks/mock-server.ts'
import type { RunningMock } from '../../mocks/mock-server.ts'

/** Adapter → wire → mock → wire → adapter, with no gateway in between. */
describe('anthropic adapter against the Anthropic mock', () => {
  let mock: RunningMock
  beforeAll(async () => {
    mock = await startMock(anthropicMock())
  })
  afterAll(async () => {
    await mock.close()
  })

  const context = (model: string): CallContext => ({
    model,
    credential: { apiKey: 'sk-ant-api03-test', baseUrl: `${mock.url}/v1` },
    requestId: 'req_int_1',
    created: 1_750_000_000,
  })

  async function send(request: Record<string, unknown>, stream: boolean, model = 'claude-sonnet-5-5'): Promise<Response> {
    const parsed = chatCompletionRequest.parse({ model: `anthropic/${model}`, ...request })
    const upstream = anthropic.chat.buildRequest(parsed, { ...context(model), stream })
    return fetch(upstream.url, { method: upstream.method, headers: upstream.headers, body: JSON.stringify(upstream.body) })
  }

  async function failure(response: Response): Promise<UpstreamError> {
    const text = await response.text()
    let body: unknown = text
    try {
      body = JSON.parse(text)
    } catch {
      // Not JSON: parseError takes the text as it is.
    }
    return anthropic.parseError(response.status, body, Object.fromEntries(response.headers))
  }

  async function chat(request: Record<string, unknown>, model?: string) {
    const response = await send(request, false, model)
    if (!response.ok) throw new Error(`unexpected ${response.status}: ${JSON.stringify(await failure(response))}`)
    return anthropic.chat.parseResponse(await response.json(), context(model ?? 'claude-sonnet-5-5'))
  }

  async function stream(request: Record<string, unknown>) {
    const translator = anthropic.chat.stream
    const state = translator.init(context('claude-sonnet-5-5'))
    const parser = new SseParser()
    const chunks: ChatCompletionChunk[] = []
    let error: UpstreamError | undefined
    let cut = false
    const consume = (events: ReturnType<SseParser['push']>) => {
      for (const event of events) {
        error ??= anthropic.streamError!(event)
        if (error === undefined) chunks.push(...translator.onEvent(event, state))
      }
    }
    // A dropped connection fails the fetch itself when the drop arrives with the headers.
    const response = await send(request, true).catch(() => undefined)
    if (response === undefined) return { chunks, usage: translator.usage(state), error, cut: true }
    expect(response.status).toBe(200)
    try {
      for await (const bytes of response.body! as AsyncIterable<Uint8Array>) consume(parser.push(bytes))
      consume(parser.end())
      chunks.push(...translator.onEnd(state))
    } catch {
      cut = true
    }
    return { chunks, usage: translator.usage(state), error, cut }
  }

  const user = (content: string) => ({ messages: [{ role: 'user', content }] })

  it('answers a text request sent with bearer auth and the current API version', async () => {
    const { completion, usage } = await chat({ messages: [{ role: 'developer', content: 'Be brief.' }, { role: 'user', content: 'Hello' }] })
    expect(completion.choices[0]).toMatchObject({ message: { content: 'Hello! How can I help you today?' }, finish_reason: 'stop' })
    expect(usage).toMatchObject({ promptTokens: 12, completionTokens: 12, estimated: false })
    const seen = mock.requests.at(-1)!
    expect(seen.headers).toMatchObject({ authorization: 'Bearer sk-ant-api03-test', 'anthropic-version': '2026-10-21' })
    expect(seen.body).toMatchObject({ system: [{ type: 'text', text: 'Be brief.' }], max_tokens: 16384 })
  })

  it('carries a tool-call round trip: the calls come back, and the results sent after them pass validation', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }]
    const first = await chat({ tools, parallel_tool_calls: true, ...user('Weather in Paris and Rome? [scenario:tool_call]') })
    const message = first.completion.choices[0]!.message
    expect(first.completion.choices[0]!.finish_reason).toBe('tool_calls')
    expect(message.tool_calls?.map((c) => JSON.parse(c.function.arguments) as unknown)).toEqual([
      { location: 'Paris, France', unit: 'celsius' },
      { location: 'Rome, Italy', unit: 'celsius' },
    ])
    const second = await chat({
      tools,
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        { role: 'assistant', content: message.content, tool_calls: message.tool_calls },
        ...message.tool_calls!.map((call, i) => ({ role: 'tool', tool_call_id: call.id, content: i === 0 ? '18°C, sunny' : '24°C, clear' })),
        { role: 'user', content: 'Which is warmer?' },
      ],
    })
    expect(second.completion.choices[0]!.finish_reason).toBe('stop')
    expect((mock.requests.at(-1)!.body as { messages: unknown[] }).messages).toHaveLength(3)
  })

  it('sends every translated feature in a shape the API accepts', async () => {
    const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'], additionalProperties: false }
    const request = {
      messages: [
        { role: 'system', content: 'You compare pictures.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What differs?' },
            { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/4AAQSkZJRg==' } },
            { type: 'image_url', image_url: { url: 'https://example.com/b.png' } },
            { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0xLjQ=', filename: 'spec.pdf' } },
          ],
        },
      ],
      tools: [{ type: 'function', function: { name: 'lookup', strict: true } }],
      tool_choice: 'auto',
      parallel_tool_calls: false,
      stop: ['END'],
      user: 'user-42',
      max_completion_tokens: 6000,
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema } },
      temperature: 1,
    }
    await chat({ ...request, reasoning_effort: 'medium' }, 'claude-opus-4-7')
    expect(mock.requests.at(-1)!.body).toMatchObject({ thinking: { type: 'adaptive' }, output_config: { effort: 'medium', format: { type: 'json_schema', schema } } })
    await chat({ ...request, reasoning_effort: 'low', response_format: undefined }, 'claude-haiku-4-5')
    expect(mock.requests.at(-1)!.body).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 2048 }, max_tokens: 6000 })
  })

  it('streams text, with usage from message_start and message_delta', async () => {
    const { chunks, usage, error } = await stream(user('Hello'))
    expect(error).toBeUndefined()
    expect(assemble(chunks)).toEqual({ content: 'Hello there!', toolCalls: [], finishReason: 'stop' })
    expect(usage).toMatchObject({ promptTokens: 1049, cachedTokens: 1024, completionTokens: 6, estimated: false })
  })

  it('streams tool calls after a text block, numbering them from 0', async () => {
    const { chunks } = await stream(user('Weather? [scenario:tool_call]'))
    const assembled = assemble(chunks)
    expect(assembled.finishReason).toBe('tool_calls')
    expect(assembled.toolCalls.map((c) => [c.name, c.arguments])).toEqual([
      ['get_weather', '{"location": "Paris, France"}'],
      ['get_weather', '{"location": "Rome, Italy"}'],
      ['get_time', '{}'],
    ])
  })

  it('reports an error event inside a 200 stream as overload, keeping the text sent before it', async () => {
    const { chunks, error } = await stream(user('Tell a story [scenario:stream_error]'))
    expect(error).toMatchObject({ upstreamStatus: 0, overloaded: true })
    expect(assemble(chunks)).toMatchObject({ content: 'Once upon a time, in a quiet village by the sea,', finishReason: null })
  })

  it('gives partial usage for a stream that ends early or whose connection drops', async () => {
    const truncated = await stream(user('Hello [scenario:truncated]'))
    expect(truncated.cut).toBe(false)
    expect(assemble(truncated.chunks).finishReason).toBeNull()
    expect(truncated.usage).toMatchObject({ promptTokens: 1049, estimated: true })
    const dropped = await stream(user('Hello [scenario:drop]'))
    expect(dropped.cut).toBe(true)
    expect(assemble(dropped.chunks).finishReason).toBeNull()
  })

  it('maps rate limits with retry-after, overload, and a bad credential', async () => {
    const limited = await failure(await send(user('Hi [scenario:error_429]'), false))
    expect(limited).toMatchObject({ upstreamStatus: 429, providerCode: 'rate_limit_error', retryAfterMs: 1000 })
    const overloaded = await failure(await send(user('Hi [scenario:overloaded]'), false))
    expect(toClientError('anthropic', overloaded)).toMatchObject({ status: 503, code: 'provider_overloaded' })
    const auth = await failure(await send(user('Hi [scenario:error_401]'), false))
    expect(toClientError('anthropic', auth)).toMatchObject({ code: 'upstream_authentication_failed' })
  })

  it('rejects, as Anthropic does, what the adapter must never send', async () => {
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${mock.url}/v1/messages`, {
        method: 'POST',
        // A header given as '' is left out.
        headers: Object.fromEntries(
          Object.entries({ authorization: 'Bearer sk-ant-api03-test', 'anthropic-version': '2026-10-21', 'content-type': 'application/json', ...headers }).filter(([, v]) => v !== ''),
        ),
        body: JSON.stringify(body),
      })
    const base = { model: 'claude-sonnet-5-5', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] }
    const sampling = await failure(await post({ ...base, temperature: 0.5 }))
    expect(sampling).toMatchObject({ upstreamStatus: 400, providerCode: 'invalid_request_error', message: 'temperature: Extra inputs are not permitted' })
    const noMax = await failure(await post({ ...base, max_tokens: undefined }))
    expect(noMax.message).toMatch(/^max_tokens:/)
    const repeated = await failure(await post({ ...base, messages: [...base.messages, { role: 'user', content: 'Again' }] }))
    expect(repeated.message).toContain('alternate')
    const noVersion = await failure(await post(base, { 'anthropic-version': '' }))
    expect(noVersion).toMatchObject({ upstreamStatus: 400, message: 'anthropic-version: header is required' })
    const noKey = await failure(await post(base, { authorization: '' }))
    expect(noKey).toMatchObject({ upstreamStatus: 401, providerCode: 'authentication_error' })
  })

  it('offers no embeddings, since Anthropic has no embeddings API', () => {
    expect(anthropic.embeddings).toBeUndefined()
  })
})
