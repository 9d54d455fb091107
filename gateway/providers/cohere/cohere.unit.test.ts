import { describe, expect, it } from 'vitest'
import { assemble, fixture, jsonFixture, testContext, translateStream } from '../../../test/support/providers.ts'
import { chatCompletionRequest } from '../../api/chat-completions.ts'
import { embeddingsRequest } from '../../api/embeddings.ts'
import { GatewayError } from '../../errors.ts'
import { toClientError } from '../errors.ts'
import { parseSseText } from '../sse.ts'
import { cohere } from './index.ts'

const ctx = testContext('command-a-03-2025')

function build(fields: Record<string, unknown>, stream = false): Record<string, unknown> {
  const request = chatCompletionRequest.parse({ model: 'cohere/command-a-03-2025', messages: [{ role: 'user', content: 'Hi' }], ...fields })
  return cohere.chat.buildRequest(request, { ...ctx, stream }).body as Record<string, unknown>
}

function refusal(fields: Record<string, unknown>): GatewayError {
  try {
    build(fields)
  } catch (error) {
    if (error instanceof GatewayError) return error
    throw error
  }
  throw new Error('expected the request to be refused')
}

const weatherTool = { type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }

describe('cohere: request', () => {
  it('posts to /chat with bearer auth, system for developer, and the conversation in Cohere roles', () => {
    const request = chatCompletionRequest.parse({
      model: 'cohere/command-a-03-2025',
      messages: [
        { role: 'developer', content: 'Be brief.' },
        { role: 'system', content: [{ type: 'text', text: 'Answer in English.' }] },
        { role: 'user', content: [{ type: 'text', text: 'What is here?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } }] },
        { role: 'assistant', content: 'Let me check.', tool_calls: [{ id: 'get_weather_a1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'get_weather_a1', content: '{"temp": 21}' },
        { role: 'assistant', content: [{ type: 'refusal', refusal: 'I cannot say.' }] },
        { role: 'user', content: 'And in https://example.com/cat.png?' },
      ],
    })
    const upstream = cohere.chat.buildRequest(request, { ...ctx, stream: false })
    expect(upstream.url).toBe('http://upstream.test/v1/chat')
    expect(upstream.headers).toMatchObject({ authorization: 'Bearer sk-test-key', 'content-type': 'application/json' })
    expect(upstream.body).toEqual({
      model: 'command-a-03-2025',
      stream: false,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'system', content: [{ type: 'text', text: 'Answer in English.' }] },
        { role: 'user', content: [{ type: 'text', text: 'What is here?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } }] },
        { role: 'assistant', tool_plan: 'Let me check.', tool_calls: [{ id: 'get_weather_a1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'get_weather_a1', content: '{"temp": 21}' },
        { role: 'assistant', content: 'I cannot say.' },
        { role: 'user', content: 'And in https://example.com/cat.png?' },
      ],
    })
  })

  it('translates sampling parameters to Cohere names and ranges', () => {
    expect(build({ max_tokens: 50, max_completion_tokens: 100, stop: 'END', temperature: 0.7, top_p: 1, seed: 7, frequency_penalty: 0.5, presence_penalty: 0 })).toMatchObject({
      max_tokens: 100,
      stop_sequences: ['END'],
      temperature: 0.7,
      p: 0.99,
      seed: 7,
      frequency_penalty: 0.5,
      presence_penalty: 0,
    })
    expect(build({ top_p: 0.5, stop: ['a', 'b'], max_tokens: 20 })).toMatchObject({ p: 0.5, stop_sequences: ['a', 'b'], max_tokens: 20 })
  })

  it('asks for a stream with stream: true and an SSE accept header', () => {
    const request = chatCompletionRequest.parse({ model: 'command-a-03-2025', messages: [{ role: 'user', content: 'Hi' }], stream: true, stream_options: { include_usage: true } })
    const upstream = cohere.chat.buildRequest(request, { ...ctx, stream: true })
    expect(upstream.body).toEqual({ model: 'command-a-03-2025', messages: [{ role: 'user', content: 'Hi' }], stream: true })
    expect(upstream.headers.accept).toBe('text/event-stream')
  })

  it('sends tools with parameters, strict mode for all-strict tools, and upper-case tool_choice', () => {
    const body = build({ tools: [weatherTool, { type: 'function', function: { name: 'now' } }], tool_choice: 'required' })
    expect(body.tools).toEqual([weatherTool, { type: 'function', function: { name: 'now', parameters: { type: 'object', properties: {} } } }])
    expect(body.tool_choice).toBe('REQUIRED')
    expect(body).not.toHaveProperty('strict_tools')
    expect(build({ tools: [weatherTool], tool_choice: 'none' }).tool_choice).toBe('NONE')
    expect(build({ tools: [weatherTool], tool_choice: 'auto' })).not.toHaveProperty('tool_choice')
    const strict = { ...weatherTool, function: { ...weatherTool.function, strict: true } }
    expect(build({ tools: [strict] }).strict_tools).toBe(true)
    expect(build({ tools: [weatherTool], parallel_tool_calls: true })).not.toHaveProperty('parallel_tool_calls')
  })

  it('maps response formats onto json_object, with the schema when there is one', () => {
    const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] }
    expect(build({ response_format: { type: 'json_object' } }).response_format).toEqual({ type: 'json_object' })
    expect(build({ response_format: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } } }).response_format).toEqual({ type: 'json_object', json_schema: schema })
    expect(build({ response_format: { type: 'text' } }).response_format).toEqual({ type: 'text' })
  })

  it('maps reasoning_effort to thinking budgets', () => {
    expect(build({ reasoning_effort: 'none' }).thinking).toEqual({ type: 'disabled' })
    expect(build({ reasoning_effort: 'low' }).thinking).toEqual({ type: 'enabled', token_budget: 4096 })
    expect(build({ reasoning_effort: 'high' }).thinking).toEqual({ type: 'enabled' })
  })

  it('treats null as unset and OpenAI defaults as nothing to refuse', () => {
    const body = build({ temperature: null, stop: null, seed: null, n: 1, logprobs: false, store: false, user: undefined, reasoning_effort: null })
    expect(body).toEqual({ model: 'command-a-03-2025', messages: [{ role: 'user', content: 'Hi' }], stream: false })
  })

  it.each([
    ['n', { n: 2 }],
    ['logprobs', { logprobs: true }],
    ['top_logprobs', { top_logprobs: 3 }],
    ['logit_bias', { logit_bias: { '50256': -100 } }],
    ['parallel_tool_calls', { tools: [weatherTool], parallel_tool_calls: false }],
    ['user', { user: 'user-123' }],
    ['metadata', { metadata: { team: 'a' } }],
    ['store', { store: true }],
    ['service_tier', { service_tier: 'flex' }],
    ['modalities', { modalities: ['text', 'audio'] }],
    ['prediction', { prediction: { type: 'content', content: 'x' } }],
    ['prompt_cache_key', { prompt_cache_key: 'k' }],
    ['safety_identifier', { safety_identifier: 'u' }],
    ['verbosity', { verbosity: 'low' }],
    ['frequency_penalty', { frequency_penalty: -0.5 }],
    ['presence_penalty', { presence_penalty: 1.5 }],
    ['tool_choice', { tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'get_weather' } } }],
    ['tools', { tools: [weatherTool, { type: 'function', function: { name: 'now', strict: true } }] }],
    ['messages[0].name', { messages: [{ role: 'user', content: 'Hi', name: 'alice' }] }],
    ['messages[0].content[0]', { messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }] }],
    ['messages[0].content[1]', { messages: [{ role: 'user', content: [{ type: 'text', text: 'Read' }, { type: 'file', file: { file_id: 'file-1' } }] }] }],
  ])('refuses %s with unsupported_parameter naming it and the provider', (param, fields) => {
    const error = refusal(fields)
    expect(error).toMatchObject({ code: 'unsupported_parameter', status: 400, param })
    expect(error.message).toContain("'cohere'")
  })
})

describe('cohere: response', () => {
  it('reads text, keeps Cohere’s id, and meters billed units', () => {
    const { completion, usage } = cohere.chat.parseResponse(jsonFixture(import.meta.url, 'chat-response.json'), ctx)
    expect(completion).toMatchObject({ id: 'c14c80c3-18eb-4519-9460-6c92edd8cfb4', object: 'chat.completion', created: ctx.created, model: 'command-a-03-2025' })
    expect(completion.choices[0]).toMatchObject({ finish_reason: 'stop', message: { role: 'assistant', refusal: null } })
    expect(completion.choices[0]!.message.content).toMatch(/^LLMs stand for Large Language Models/)
    expect(usage).toEqual({ promptTokens: 5, completionTokens: 26, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false })
  })

  it('returns parallel tool calls with string arguments, and the tool plan as content', () => {
    const { completion, usage } = cohere.chat.parseResponse(jsonFixture(import.meta.url, 'chat-response-tool-calls.json'), ctx)
    const choice = completion.choices[0]!
    expect(choice.finish_reason).toBe('tool_calls')
    expect(choice.message.content).toMatch(/^I will first find the sales summary/)
    expect(choice.message.tool_calls).toEqual([
      { id: 'query_daily_sales_report_hgxxmkby3wta', type: 'function', function: { name: 'query_daily_sales_report', arguments: '{"day": "2023-09-29"}' } },
      { id: 'query_product_catalog_rpg0z5h8yyz2', type: 'function', function: { name: 'query_product_catalog', arguments: '{"category": "Electronics"}' } },
    ])
    expect(usage).toMatchObject({ promptTokens: 127, completionTokens: 69 })
  })

  it('hides thinking, maps MAX_TOKENS to length, and reads cached tokens', () => {
    const { completion, usage } = cohere.chat.parseResponse(jsonFixture(import.meta.url, 'chat-response-thinking.json'), ctx)
    expect(completion.choices[0]).toMatchObject({ finish_reason: 'length', message: { content: '17 × 24 = 408.' } })
    expect(usage).toEqual({ promptTokens: 1204, completionTokens: 387, cachedTokens: 1024, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false })
  })

  it.each([
    ['COMPLETE', 'stop'],
    ['STOP_SEQUENCE', 'stop'],
    ['MAX_TOKENS', 'length'],
    ['TOOL_CALL', 'tool_calls'],
    ['TIMEOUT', 'length'],
    ['ERROR', 'length'],
  ])('maps finish_reason %s to %s', (reason, expected) => {
    const body = { id: 'x', finish_reason: reason, message: { role: 'assistant', content: [{ type: 'text', text: 'Hi' }] } }
    expect(cohere.chat.parseResponse(body, ctx).completion.choices[0]!.finish_reason).toBe(expected)
  })

  it('falls back to `tokens`, then to an estimate, when billed units are missing', () => {
    const message = { role: 'assistant', content: [{ type: 'text', text: 'Hello there, friend' }] }
    const tokens = cohere.chat.parseResponse({ id: 'x', finish_reason: 'COMPLETE', message, usage: { tokens: { input_tokens: 71, output_tokens: 5 } } }, ctx)
    expect(tokens.usage).toMatchObject({ promptTokens: 71, completionTokens: 5, estimated: false })
    const none = cohere.chat.parseResponse({ id: '', finish_reason: 'COMPLETE', message }, ctx)
    expect(none.usage).toMatchObject({ promptTokens: 0, completionTokens: 5, estimated: true })
    expect(none.completion.id).toBe('chatcmpl-req0001')
  })

  it('rejects a body that is not a Cohere chat response', () => {
    expect(() => cohere.chat.parseResponse({ text: 'v1 shape' }, ctx)).toThrow(TypeError)
  })
})

describe('cohere: stream', () => {
  it('translates text deltas with one id, a role chunk first, and a finish reason', () => {
    const { chunks, usage } = translateStream(cohere, fixture(import.meta.url, 'chat-stream.sse'), ctx)
    expect(assemble(chunks)).toEqual({ content: 'LLMs stand for Large Language Models.', toolCalls: [], finishReason: 'stop' })
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' })
    expect(new Set(chunks.map((c) => c.id))).toEqual(new Set(['29f14a5a-11de-4cae-9800-25e4747408ea']))
    expect(chunks.every((c) => c.created === ctx.created && c.model === 'command-a-03-2025' && !('usage' in c))).toBe(true)
    expect(chunks.filter((c) => c.choices[0]!.finish_reason !== null)).toHaveLength(1)
    expect(usage).toEqual({ promptTokens: 5, completionTokens: 8, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false })
  })

  it('translates the tool plan and parallel tool-call argument deltas', () => {
    const { chunks, usage } = translateStream(cohere, fixture(import.meta.url, 'chat-stream-tool-calls.sse'), ctx)
    expect(assemble(chunks)).toEqual({
      content: 'I will check both reports.',
      finishReason: 'tool_calls',
      toolCalls: [
        { id: 'query_daily_sales_report_j3f0adww9pmr', name: 'query_daily_sales_report', arguments: '{"day": "2023-09-29"}' },
        { id: 'query_product_catalog_c66nf11r6s8g', name: 'query_product_catalog', arguments: '{"category": "Electronics"}' },
      ],
    })
    const starts = chunks.flatMap((c) => c.choices[0]!.delta.tool_calls ?? []).filter((t) => t.id !== undefined)
    expect(starts).toEqual([
      { index: 0, id: 'query_daily_sales_report_j3f0adww9pmr', type: 'function', function: { name: 'query_daily_sales_report', arguments: '' } },
      { index: 1, id: 'query_product_catalog_c66nf11r6s8g', type: 'function', function: { name: 'query_product_catalog', arguments: '' } },
    ])
    expect(usage).toMatchObject({ promptTokens: 126, completionTokens: 84 })
  })

  it('does not forward thinking, and reads cached tokens from message-end', () => {
    const { chunks, usage } = translateStream(cohere, fixture(import.meta.url, 'chat-stream-thinking.sse'), ctx)
    expect(assemble(chunks)).toEqual({ content: '17 × 24 = 408.', toolCalls: [], finishReason: 'stop' })
    expect(usage).toMatchObject({ promptTokens: 1204, completionTokens: 41, cachedTokens: 1024 })
  })

  it('estimates partial usage when the stream is cut before message-end, without inventing a finish', () => {
    const text = fixture(import.meta.url, 'chat-stream-thinking.sse')
    const cut = text.slice(0, text.indexOf('event: message-end'))
    const { chunks, usage } = translateStream(cohere, cut, ctx)
    expect(assemble(chunks)).toEqual({ content: '17 × 24 = 408.', toolCalls: [], finishReason: null })
    expect(usage).toEqual({ promptTokens: 0, completionTokens: 11, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 7, estimated: true })
  })

  it('recognises a message-end with finish_reason ERROR as a stream error, and nothing else', () => {
    const events = parseSseText(fixture(import.meta.url, 'chat-stream-error.sse'))
    const errors = events.map((e) => cohere.streamError?.(e))
    expect(errors.slice(0, -1).every((e) => e === undefined)).toBe(true)
    expect(errors.at(-1)).toEqual({ upstreamStatus: 0, providerCode: 'ERROR', message: 'internal server error, this has been reported to our developers', param: null })
    const done = parseSseText(fixture(import.meta.url, 'chat-stream.sse')).at(-1)!
    expect(cohere.streamError?.(done)).toBeUndefined()
  })
})

describe('cohere: errors', () => {
  it('maps a 429 with retry-after to a rate-limit error the client can act on', () => {
    const error = cohere.parseError(429, jsonFixture(import.meta.url, 'error-429.json'), { 'retry-after': '1' })
    expect(error).toMatchObject({ upstreamStatus: 429, providerCode: 'too_many_requests', retryAfterMs: 1000 })
    expect(error.message).toBe('You are past the per minute request limit, please wait and try again later.')
    expect(toClientError('cohere', error)).toMatchObject({ code: 'upstream_rate_limited', retryAfterMs: 1000 })
  })

  it('reports a 503 as overloaded', () => {
    const error = cohere.parseError(503, jsonFixture(import.meta.url, 'error-503.json'), {})
    expect(error).toMatchObject({ upstreamStatus: 503, overloaded: true })
    expect(toClientError('cohere', error)).toMatchObject({ code: 'provider_overloaded', status: 503 })
  })

  it.each([
    [400, 'error-400.json', 'upstream_bad_request', 'invalid request: p must be between 0.01 and 0.99'],
    [401, 'error-401.json', 'upstream_authentication_failed', 'invalid api token'],
    [500, 'error-500.json', 'upstream_error', 'internal server error, this has been reported to our developers'],
  ])('maps %i to %s with Cohere’s message', (status, name, code, message) => {
    const error = cohere.parseError(status, jsonFixture(import.meta.url, name), {})
    expect(error).toMatchObject({ upstreamStatus: status, message })
    expect(error.overloaded).toBeUndefined()
    expect(toClientError('cohere', error).code).toBe(code)
  })

  it('reads a body without an id, and a non-JSON body', () => {
    expect(cohere.parseError(400, { message: 'invalid request: messages must not be empty' }, {}).message).toBe('invalid request: messages must not be empty')
    expect(cohere.parseError(502, '<html>Bad Gateway</html>', {}).message).toBe('<html>Bad Gateway</html>')
  })
})

describe('cohere: embeddings', () => {
  it('sends texts with the default input type and float embeddings, and dimensions as output_dimension', () => {
    const request = embeddingsRequest.parse({ model: 'embed-v4.0', input: ['hello', 'goodbye'], dimensions: 256, encoding_format: 'base64' })
    const upstream = cohere.embeddings!.buildRequest(request, testContext('embed-v4.0'))
    expect(upstream.url).toBe('http://upstream.test/v1/embed')
    expect(upstream.headers.authorization).toBe('Bearer sk-test-key')
    expect(upstream.body).toEqual({ model: 'embed-v4.0', texts: ['hello', 'goodbye'], input_type: 'search_document', embedding_types: ['float'], output_dimension: 256 })
  })

  it('refuses token arrays, more than 96 texts, and user', () => {
    const refuse = (input: Record<string, unknown>) => () => cohere.embeddings!.buildRequest(embeddingsRequest.parse({ model: 'embed-v4.0', ...input }), ctx)
    expect(refuse({ input: [[1, 2, 3]] })).toThrow(expect.objectContaining({ code: 'unsupported_parameter', param: 'input' }) as Error)
    expect(refuse({ input: Array.from({ length: 97 }, (_, i) => `t${i}`) })).toThrow(/at most 96/)
    expect(refuse({ input: 'hi', user: 'u1' })).toThrow(expect.objectContaining({ param: 'user' }) as Error)
  })

  it('reads float vectors in order and billed input tokens', () => {
    const result = cohere.embeddings!.parseResponse(jsonFixture(import.meta.url, 'embed-response.json'), { ...ctx, inputCount: 2 })
    expect(result.vectors).toEqual([
      [0.016296387, -0.008354187, -0.04699707, -0.07104492],
      [-0.007247925, -0.041229248, -0.023223877, -0.08392334],
    ])
    expect(result.usage).toMatchObject({ promptTokens: 2, completionTokens: 0, estimated: false })
  })

  it('rejects a response with the wrong number of vectors', () => {
    expect(() => cohere.embeddings!.parseResponse(jsonFixture(import.meta.url, 'embed-response.json'), { ...ctx, inputCount: 3 })).toThrow(TypeError)
  })
})
