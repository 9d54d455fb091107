import { describe, expect, it } from 'vitest'
import { assemble, fixture, jsonFixture, testContext, translateStream } from '../../../test/support/providers.ts'
import { chatCompletionRequest } from '../../api/chat-completions.ts'
import { embeddingsRequest } from '../../api/embeddings.ts'
import { GatewayError } from '../../errors.ts'
import { toClientError } from '../errors.ts'
import { parseSseText } from '../sse.ts'
import { mistral } from './index.ts'
import { mistralToolCallId } from './messages.ts'

const ctx = testContext('mistral-large-latest')
const request = (body: Record<string, unknown>) => chatCompletionRequest.parse({ model: 'mistral/mistral-large-latest', ...body })
const hi = [{ role: 'user', content: 'Hi' }]
const build = (body: Record<string, unknown>, stream = false) => mistral.chat.buildRequest(request(body), { ...ctx, stream }).body as Record<string, unknown>

describe('mistral: request', () => {
  it('sends OpenAI-like fields under Mistral’s names, with bearer auth, and never stream_options', () => {
    const upstream = mistral.chat.buildRequest(
      request({
        messages: [{ role: 'developer', content: 'Be brief.' }, ...hi],
        seed: 7,
        max_completion_tokens: 100,
        temperature: 0.3,
        top_p: 0.9,
        stop: ['END'],
        frequency_penalty: 0.5,
        presence_penalty: 0.2,
        n: 2,
        stream: true,
        stream_options: { include_usage: true },
      }),
      { ...ctx, stream: true },
    )
    expect(upstream.url).toBe('http://upstream.test/v1/chat/completions')
    expect(upstream.headers.authorization).toBe('Bearer sk-test-key')
    expect(upstream.body).toEqual({
      model: 'mistral-large-latest',
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }],
      random_seed: 7,
      max_tokens: 100,
      temperature: 0.3,
      top_p: 0.9,
      stop: ['END'],
      frequency_penalty: 0.5,
      presence_penalty: 0.2,
      n: 2,
      stream: true,
    })
  })

  it('omits stream when not streaming and treats null as unset', () => {
    expect(build({ messages: hi, stream: false, seed: null, logit_bias: null, max_tokens: null })).toEqual({ model: 'mistral-large-latest', messages: hi })
  })

  it('maps foreign tool-call ids to the same 9-character id in the assistant call and the tool result', () => {
    const body = build({
      messages: [
        ...hi,
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_DdmO9pD3xa9XTPNJ32zg2hcA', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } },
            { id: 'gSIMJiOkT', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Rome"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_DdmO9pD3xa9XTPNJ32zg2hcA', content: 'sunny' },
        { role: 'tool', tool_call_id: 'gSIMJiOkT', content: [{ type: 'text', text: 'rainy' }] },
      ],
    })
    const messages = body.messages as { role: string; tool_calls?: { id: string }[]; tool_call_id?: string; content?: unknown }[]
    const [mapped, native] = messages[1]!.tool_calls!.map((c) => c.id)
    expect(mapped).toMatch(/^[A-Za-z0-9]{9}$/)
    expect(native).toBe('gSIMJiOkT')
    expect(messages[1]!.content).toBe('')
    expect(messages[2]).toEqual({ role: 'tool', tool_call_id: mapped, content: 'sunny' })
    expect(messages[3]!.tool_call_id).toBe('gSIMJiOkT')
    // The next turn of the conversation maps the same id again.
    expect(mistralToolCallId('call_DdmO9pD3xa9XTPNJ32zg2hcA')).toBe(mapped)
    expect(mistralToolCallId('toolu_01A09q90qw90lq917835lq9')).not.toBe(mapped)
  })

  it('translates images, audio and PDF documents', () => {
    const body = build({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'high' } },
            { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
            { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'a.pdf' } },
          ],
        },
      ],
    })
    expect((body.messages as { content: unknown }[])[0]!.content).toEqual([
      { type: 'text', text: 'What is this?' },
      { type: 'image_url', image_url: 'https://example.com/cat.png' },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'high' } },
      { type: 'input_audio', input_audio: 'UklGRg==' },
      { type: 'document_url', document_url: 'data:application/pdf;base64,JVBERi0=', document_name: 'a.pdf' },
    ])
  })

  it('translates tools, tool_choice, parallel calls, structured output, reasoning, tiers and predictions', () => {
    const body = build({
      messages: hi,
      tools: [
        { type: 'function', function: { name: 'now', strict: null } },
        { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { location: { type: 'string' } } }, strict: true } },
      ],
      tool_choice: 'required',
      parallel_tool_calls: false,
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' }, strict: true } },
      reasoning_effort: 'high',
      service_tier: 'default',
      prediction: { type: 'content', content: [{ type: 'text', text: 'draft' }] },
      prompt_cache_key: 'session-42',
    })
    expect(body).toMatchObject({
      tools: [
        { type: 'function', function: { name: 'now', parameters: { type: 'object', properties: {} } } },
        { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { location: { type: 'string' } } }, strict: true } },
      ],
      tool_choice: 'required',
      parallel_tool_calls: false,
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' }, strict: true } },
      reasoning_effort: 'high',
      service_tier: 'standard_only',
      prediction: { type: 'content', content: 'draft' },
      prompt_cache_key: 'session-42',
    })
    expect((body.tools as { function: object }[])[0]!.function).not.toHaveProperty('strict')
    expect(build({ messages: hi, response_format: { type: 'json_object' } }).response_format).toEqual({ type: 'json_object' })
  })

  it.each([
    ['user', { user: 'u-1' }],
    ['logit_bias', { logit_bias: { '50256': -100 } }],
    ['logprobs', { logprobs: true }],
    ['top_logprobs', { top_logprobs: 2 }],
    ['metadata', { metadata: { team: 'a' } }],
    ['store', { store: true }],
    ['safety_identifier', { safety_identifier: 'x' }],
    ['verbosity', { verbosity: 'low' }],
    ['modalities', { modalities: ['text', 'audio'] }],
    ['reasoning_effort', { reasoning_effort: 'low' }],
    ['service_tier', { service_tier: 'flex' }],
    ['response_format.json_schema.schema', { response_format: { type: 'json_schema', json_schema: { name: 'x' } } }],
    ['messages[0].name', { messages: [{ role: 'user', content: 'Hi', name: 'alice' }] }],
    ['messages[0].content[0]', { messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-abc' } }] }] }],
    ['messages', { messages: [...hi, { role: 'assistant', content: 'Sure, ' }] }],
  ])('refuses %s with an unsupported_parameter error naming it', (param, fields) => {
    const attempt = () => build({ messages: hi, ...fields })
    expect(attempt).toThrow(GatewayError)
    expect(attempt).toThrow(expect.objectContaining({ code: 'unsupported_parameter', param, status: 400 }) as Error)
  })

  it('rejects max_tokens and max_completion_tokens that disagree', () => {
    expect(() => build({ messages: hi, max_tokens: 10, max_completion_tokens: 20 })).toThrow(expect.objectContaining({ code: 'invalid_request' }) as Error)
    expect(build({ messages: hi, max_tokens: 10 }).max_tokens).toBe(10)
  })
})

describe('mistral: response', () => {
  it('translates a text answer with Mistral’s id and model and the gateway’s created time', () => {
    const { completion, usage } = mistral.chat.parseResponse(jsonFixture(import.meta.url, 'chat-completion.json'), ctx)
    expect(completion).toEqual({
      id: '5319bd0299614c679a0068a4f2c8ffd0',
      object: 'chat.completion',
      created: ctx.created,
      model: 'mistral-small-latest',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello, world! This is a test response.', refusal: null }, finish_reason: 'stop', logprobs: null }],
    })
    expect(usage).toEqual({ promptTokens: 13, completionTokens: 8, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false })
  })

  it('translates parallel tool calls and reads cached tokens', () => {
    const { completion, usage } = mistral.chat.parseResponse(jsonFixture(import.meta.url, 'chat-completion-tool-calls.json'), ctx)
    const choice = completion.choices[0]!
    expect(choice.finish_reason).toBe('tool_calls')
    expect(choice.message.content).toBeNull()
    expect(choice.message.tool_calls).toEqual([
      { id: 'gSIMJiOkT', type: 'function', function: { name: 'get_weather', arguments: '{"location": "Paris"}' } },
      { id: 'D681PevKs', type: 'function', function: { name: 'get_weather', arguments: '{"location": "Rome"}' } },
    ])
    expect(usage).toMatchObject({ promptTokens: 1124, completionTokens: 46, cachedTokens: 1024 })
  })

  it('keeps the answer of a reasoning model and counts its reasoning tokens', () => {
    const { completion, usage } = mistral.chat.parseResponse(jsonFixture(import.meta.url, 'chat-completion-reasoning.json'), ctx)
    expect(completion.choices[0]!.message.content).toBe('3')
    expect(usage).toMatchObject({ completionTokens: 112, reasoningTokens: 104 })
  })

  it('normalises object arguments, maps model_length, estimates missing usage and fails on finish_reason error', () => {
    const body = (reason: string, usage?: object) => ({
      id: 'x',
      object: 'chat.completion',
      model: 'mistral-small-latest',
      choices: [{ index: 0, message: { role: 'assistant', content: 'abcdefgh', tool_calls: [{ id: 'aaaaaaaaa', function: { name: 'f', arguments: { a: 1 } } }] }, finish_reason: reason }],
      ...(usage === undefined ? {} : { usage }),
    })
    const { completion, usage } = mistral.chat.parseResponse(body('model_length'), ctx)
    expect(completion.choices[0]!.finish_reason).toBe('length')
    expect(completion.choices[0]!.message.tool_calls![0]!.function.arguments).toBe('{"a":1}')
    expect(usage).toMatchObject({ completionTokens: 2, estimated: true })
    expect(() => mistral.chat.parseResponse(body('error', { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }), ctx)).toThrow(/error/)
  })
})

describe('mistral: stream', () => {
  it('translates text chunks, keeps one id, and records the usage of the last chunk', () => {
    const { chunks, usage } = translateStream(mistral, fixture(import.meta.url, 'chat-stream.sse'), ctx)
    expect(assemble(chunks)).toEqual({ content: 'Hello there!', toolCalls: [], finishReason: 'stop' })
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' })
    expect(new Set(chunks.map((c) => `${c.id} ${c.created} ${c.model}`))).toEqual(new Set([`f798ebd5c41a45d88bb079635121cade ${ctx.created} mistral-small-latest`]))
    expect(chunks.every((c) => !('usage' in c))).toBe(true)
    expect(usage).toEqual({ promptTokens: 9, completionTokens: 3, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false })
  })

  it('turns whole parallel tool calls into indexed OpenAI tool-call deltas', () => {
    const { chunks, usage } = translateStream(mistral, fixture(import.meta.url, 'chat-stream-tool-calls.sse'), ctx)
    expect(assemble(chunks)).toEqual({
      content: '',
      finishReason: 'tool_calls',
      toolCalls: [
        { id: 'gSIMJiOkT', name: 'get_weather', arguments: '{"location": "Paris"}' },
        { id: 'D681PevKs', name: 'get_weather', arguments: '{"location": "Rome"}' },
      ],
    })
    expect(chunks[1]!.choices[0]!.delta.tool_calls![1]).toEqual({ index: 1, id: 'D681PevKs', type: 'function', function: { name: 'get_weather', arguments: '{"location": "Rome"}' } })
    expect(usage).toMatchObject({ promptTokens: 124, completionTokens: 44, cachedTokens: 64 })
  })

  it('forwards argument deltas of an incrementally streamed tool call under one index', () => {
    const { chunks } = translateStream(mistral, fixture(import.meta.url, 'chat-stream-tool-call-deltas.sse'), ctx)
    expect(assemble(chunks)).toEqual({
      content: '',
      finishReason: 'tool_calls',
      toolCalls: [{ id: 'Xk3pQ9wLm', name: 'web_search', arguments: '{"query": "current Berlin weather"}' }],
    })
    expect(chunks[1]!.choices[0]!.delta).toEqual({ tool_calls: [{ index: 0, function: { arguments: '{"query": "current ' } }] })
  })

  it('drops thinking chunks, maps model_length and counts reasoning tokens', () => {
    const { chunks, usage } = translateStream(mistral, fixture(import.meta.url, 'chat-stream-reasoning.sse'), ctx)
    expect(assemble(chunks)).toEqual({ content: '2 + 2 = 4', toolCalls: [], finishReason: 'length' })
    expect(usage).toMatchObject({ completionTokens: 46, reasoningTokens: 40 })
  })

  it('reports the tokens produced so far when the stream is cut before its usage', () => {
    const text = fixture(import.meta.url, 'chat-stream.sse').split('\n\n').slice(0, 3).join('\n\n')
    const { chunks, usage } = translateStream(mistral, text, ctx)
    expect(assemble(chunks)).toMatchObject({ content: 'Hello there!', finishReason: null })
    expect(usage).toEqual({ promptTokens: 0, completionTokens: 3, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: true })
  })

  it('recognises errors inside a stream and nothing else', () => {
    const events = parseSseText(fixture(import.meta.url, 'chat-stream.sse'))
    expect(events.map((e) => mistral.streamError?.(e))).toEqual(events.map(() => undefined))
    const broken = '{"id":"a","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}'
    expect(mistral.streamError?.({ data: broken })).toMatchObject({ upstreamStatus: 0, providerCode: 'error' })
    const error = mistral.streamError?.({ data: JSON.stringify(jsonFixture(import.meta.url, 'error-500.json')) })
    expect(error).toMatchObject({ upstreamStatus: 0, message: 'Internal server error', providerCode: '1000' })
  })
})

describe('mistral: errors', () => {
  it('lists every 422 validation failure by field, and names the first as the parameter', () => {
    const error = mistral.parseError(422, jsonFixture(import.meta.url, 'error-422.json'), {})
    expect(error).toMatchObject({
      upstreamStatus: 422,
      providerCode: 'extra_forbidden',
      message: 'stream_options: Extra inputs are not permitted; temperature: Input should be less than or equal to 1.5',
      param: 'stream_options',
    })
    expect(toClientError('mistral', error)).toMatchObject({ status: 400, code: 'upstream_bad_request', param: 'stream_options' })
  })

  it('reads the older wrapped 422 shape too', () => {
    const body = { object: 'error', message: { detail: [{ type: 'extra_forbidden', loc: ['body', 'messages', 0, 'user', 'name'], msg: 'Extra inputs are not permitted' }] }, type: 'invalid_request_error', param: null, code: null }
    expect(mistral.parseError(422, body, {})).toMatchObject({ message: 'messages.0.user.name: Extra inputs are not permitted', param: 'messages.0.user.name' })
  })

  it('keeps Mistral’s message and code for a 400', () => {
    const error = mistral.parseError(400, jsonFixture(import.meta.url, 'error-400-message-order.json'), {})
    expect(error).toMatchObject({ message: "Unexpected role 'user' after role 'tool'", providerCode: '3230' })
    expect(error.overloaded).toBeUndefined()
  })

  it('maps a rate limit with retry-after, and a capacity 429 as overload', () => {
    const limited = mistral.parseError(429, jsonFixture(import.meta.url, 'error-429.json'), { 'retry-after': '1' })
    expect(limited).toMatchObject({ upstreamStatus: 429, providerCode: '1300', retryAfterMs: 1000 })
    expect(toClientError('mistral', limited).code).toBe('upstream_rate_limited')
    const full = mistral.parseError(429, jsonFixture(import.meta.url, 'error-429-capacity.json'), {})
    expect(full).toMatchObject({ overloaded: true, providerCode: '3505' })
    expect(toClientError('mistral', full).code).toBe('provider_overloaded')
    expect(mistral.parseError(503, 'upstream connect error', {})).toMatchObject({ overloaded: true, message: 'upstream connect error' })
  })

  it('maps a 401 to a credential problem and a 500 to an upstream error', () => {
    expect(toClientError('mistral', mistral.parseError(401, jsonFixture(import.meta.url, 'error-401.json'), {}))).toMatchObject({ code: 'upstream_authentication_failed' })
    expect(toClientError('mistral', mistral.parseError(500, jsonFixture(import.meta.url, 'error-500.json'), {}))).toMatchObject({ code: 'upstream_error', message: 'mistral: Internal server error' })
  })
})

describe('mistral: embeddings', () => {
  const embed = (body: Record<string, unknown>) => mistral.embeddings!.buildRequest(embeddingsRequest.parse({ model: 'codestral-embed', ...body }), testContext('codestral-embed'))

  it('sends the inputs and the dimension under Mistral’s names', () => {
    const upstream = embed({ input: ['a', 'b'], dimensions: 256, encoding_format: 'base64' })
    expect(upstream.url).toBe('http://upstream.test/v1/embeddings')
    expect(upstream.body).toEqual({ model: 'codestral-embed', input: ['a', 'b'], output_dimension: 256 })
  })

  it('refuses token arrays and user', () => {
    expect(() => embed({ input: [1, 2, 3] })).toThrow(expect.objectContaining({ code: 'unsupported_parameter', param: 'input' }) as Error)
    expect(() => embed({ input: 'a', user: 'u' })).toThrow(expect.objectContaining({ code: 'unsupported_parameter', param: 'user' }) as Error)
  })

  it('orders vectors by index and reads usage', () => {
    const result = mistral.embeddings!.parseResponse(jsonFixture(import.meta.url, 'embeddings.json'), { ...ctx, inputCount: 2 })
    expect(result.vectors).toEqual([
      [-0.0389404296875, 0.048065185546875, 0.07159423828125],
      [-0.0535888671875, 0.019500732421875, 0.057464599609375],
    ])
    expect(result.usage).toMatchObject({ promptTokens: 16, estimated: false })
  })
})
