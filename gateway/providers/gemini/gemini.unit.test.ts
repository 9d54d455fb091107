import { describe, expect, it } from 'vitest'
import { assemble, fixture, jsonFixture, testContext, translateStream } from '../../../test/support/providers.ts'
import { chatCompletionRequest } from '../../api/chat-completions.ts'
import type { ChatCompletionRequest } from '../../api/chat-completions.ts'
import { embeddingsRequest } from '../../api/embeddings.ts'
import { GatewayError } from '../../errors.ts'
import { toClientError } from '../errors.ts'
import { parseSseText } from '../sse.ts'
import type { GeminiGenerateContentRequest } from './wire.ts'
import { gemini } from './index.ts'

const ctx = testContext('gemini-2.5-flash')
const CALL_ID = /^call_[A-Za-z0-9]{24}$/

function build(fields: Record<string, unknown>, model = 'gemini-2.5-flash', stream = false) {
  const request = chatCompletionRequest.parse({ model: `gemini/${model}`, messages: [{ role: 'user', content: 'Hi' }], ...fields })
  return gemini.chat.buildRequest(request, { ...testContext(model), stream })
}
const bodyOf = (fields: Record<string, unknown>, model?: string) => build(fields, model).body as GeminiGenerateContentRequest

function refusal(fn: () => unknown): GatewayError {
  try {
    fn()
  } catch (error) {
    if (error instanceof GatewayError) return error
    throw error
  }
  throw new Error('expected a GatewayError')
}

describe('gemini: request', () => {
  it('posts to generateContent, or streamGenerateContent with alt=sse, with the key only in x-goog-api-key', () => {
    const plain = build({})
    expect(plain.url).toBe('http://upstream.test/v1/models/gemini-2.5-flash:generateContent')
    expect(plain.headers).toEqual({ 'x-goog-api-key': 'sk-test-key', 'content-type': 'application/json' })
    const streamed = build({ stream: true }, 'gemini-2.5-flash', true)
    expect(streamed.url).toBe('http://upstream.test/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse')
    expect(streamed.body).toEqual({ contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] })
  })

  it('moves system and developer messages to systemInstruction and merges consecutive turns of one role', () => {
    const body = bodyOf({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        { role: 'user', content: [{ type: 'text', text: 'How are you?' }] },
        { role: 'assistant', content: 'Bien.' },
        { role: 'user', content: 'Merci' },
      ],
    })
    expect(body.systemInstruction).toEqual({ parts: [{ text: 'Be brief.' }, { text: 'Answer in French.' }] })
    expect(body.contents).toEqual([
      { role: 'user', parts: [{ text: 'Hi' }, { text: 'How are you?' }] },
      { role: 'model', parts: [{ text: 'Bien.' }] },
      { role: 'user', parts: [{ text: 'Merci' }] },
    ])
  })

  it('sends data: URLs inline, https image URLs as fileData, audio and files inline', () => {
    const body = bodyOf({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'high' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.JPG?size=large' } },
            { type: 'image_url', image_url: { url: 'https://example.com/render' } },
            { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
            { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'a.pdf' } },
          ],
        },
      ],
    })
    expect(body.contents[0]!.parts).toEqual([
      { text: 'What is this?' },
      { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
      { fileData: { mimeType: 'image/jpeg', fileUri: 'https://example.com/cat.JPG?size=large' } },
      { fileData: { fileUri: 'https://example.com/render' } },
      { inlineData: { mimeType: 'audio/wav', data: 'UklGRg==' } },
      { inlineData: { mimeType: 'application/pdf', data: 'JVBERi0=' } },
    ])
    expect(body.generationConfig?.mediaResolution).toBe('MEDIA_RESOLUTION_HIGH')
  })

  it('refuses plain http image URLs and OpenAI file ids, naming the message part', () => {
    const http = refusal(() => build({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://example.com/a.png' } }] }] }))
    expect(http).toMatchObject({ code: 'unsupported_parameter', param: 'messages[0].content[0]' })
    expect(http.message).toContain('https')
    const file = refusal(() => build({ messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-abc' } }] }] }))
    expect(file).toMatchObject({ code: 'unsupported_parameter', param: 'messages[0].content[0]' })
  })

  it('declares tools in Gemini’s schema subset, without additionalProperties or strict', () => {
    const body = bodyOf({
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather',
            strict: true,
            parameters: {
              $schema: 'http://json-schema.org/draft-07/schema#',
              type: 'object',
              properties: { location: { type: 'string' }, unit: { type: ['string', 'null'], enum: ['celsius', 'fahrenheit', null] } },
              required: ['location', 'unit'],
              additionalProperties: false,
            },
          },
        },
        { type: 'function', function: { name: 'now', parameters: { type: 'object', properties: {} } } },
      ],
    })
    expect(body.tools).toEqual([
      {
        functionDeclarations: [
          {
            name: 'get_weather',
            description: 'Current weather',
            parameters: {
              type: 'OBJECT',
              properties: { location: { type: 'STRING' }, unit: { type: 'STRING', nullable: true, enum: ['celsius', 'fahrenheit', 'null'] } },
              required: ['location', 'unit'],
            },
          },
          { name: 'now' },
        ],
      },
    ])
  })

  it('refuses a function name Gemini cannot declare', () => {
    const error = refusal(() => build({ tools: [{ type: 'function', function: { name: '3d_render' } }] }))
    expect(error).toMatchObject({ code: 'unsupported_parameter', param: 'tools[0].function.name' })
  })

  it('maps tool_choice to functionCallingConfig', () => {
    const tools = [{ type: 'function', function: { name: 'a' } }, { type: 'function', function: { name: 'b' } }]
    expect(bodyOf({ tools, tool_choice: 'auto' }).toolConfig).toEqual({ functionCallingConfig: { mode: 'AUTO' } })
    expect(bodyOf({ tools, tool_choice: 'none' }).toolConfig).toEqual({ functionCallingConfig: { mode: 'NONE' } })
    expect(bodyOf({ tools, tool_choice: 'required' }).toolConfig).toEqual({ functionCallingConfig: { mode: 'ANY' } })
    expect(bodyOf({ tools, tool_choice: { type: 'function', function: { name: 'b' } } }).toolConfig).toEqual({
      functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['b'] },
    })
    expect(bodyOf({ tools }).toolConfig).toBeUndefined()
    expect(refusal(() => build({ tool_choice: 'required' }))).toMatchObject({ code: 'invalid_request', param: 'tool_choice' })
  })

  const conversation = [
    { role: 'user', content: 'Weather in Paris and Rome?' },
    {
      role: 'assistant',
      content: null,
      tool_calls: [
        { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } },
        { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Rome"}' } },
      ],
    },
    { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
    { role: 'tool', tool_call_id: 'call_2', content: 'sunny' },
    { role: 'tool', tool_call_id: 'call_2', content: '[1,2]' },
  ]

  it('replays tool calls as functionCall parts and tool results as functionResponse parts of one user turn', () => {
    const body = bodyOf({ messages: conversation })
    expect(body.contents).toEqual([
      { role: 'user', parts: [{ text: 'Weather in Paris and Rome?' }] },
      {
        role: 'model',
        parts: [
          { functionCall: { id: 'call_1', name: 'get_weather', args: { location: 'Paris' } } },
          { functionCall: { id: 'call_2', name: 'get_weather', args: { location: 'Rome' } } },
        ],
      },
      {
        role: 'user',
        parts: [
          { functionResponse: { id: 'call_1', name: 'get_weather', response: { temp: 21 } } },
          { functionResponse: { id: 'call_2', name: 'get_weather', response: { output: 'sunny' } } },
          { functionResponse: { id: 'call_2', name: 'get_weather', response: { output: [1, 2] } } },
        ],
      },
    ])
  })

  it('gives replayed calls to Gemini 3 the documented validator-skip thought signature, on the first call only', () => {
    const parts = bodyOf({ messages: conversation }, 'gemini-3-flash-preview').contents[1]!.parts
    expect(parts.map((p) => p.thoughtSignature)).toEqual(['skip_thought_signature_validator', undefined])
  })

  it('rejects a tool result that answers no earlier call, and arguments that are not a JSON object', () => {
    const orphan = refusal(() => build({ messages: [{ role: 'user', content: 'x' }, { role: 'tool', tool_call_id: 'call_9', content: 'y' }] }))
    expect(orphan).toMatchObject({ code: 'invalid_request', param: 'messages[1].tool_call_id' })
    const badArgs = [{ id: 'c', type: 'function', function: { name: 'f', arguments: '[1]' } }]
    const error = refusal(() => build({ messages: [{ role: 'user', content: 'x' }, { role: 'assistant', tool_calls: badArgs }] }))
    expect(error).toMatchObject({ code: 'invalid_request', param: 'messages[1].tool_calls[0].function.arguments' })
  })

  it('maps sampling, limits, stops, seed, penalties and JSON output to generationConfig', () => {
    const schema = { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false }
    const body = bodyOf({
      temperature: 0.2,
      top_p: 0.9,
      max_tokens: 50,
      max_completion_tokens: 100,
      stop: 'END',
      seed: 7,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      response_format: { type: 'json_schema', json_schema: { name: 'answer', description: 'The answer', schema, strict: true } },
    })
    expect(body.generationConfig).toEqual({
      temperature: 0.2,
      topP: 0.9,
      maxOutputTokens: 100,
      stopSequences: ['END'],
      seed: 7,
      presencePenalty: 0.5,
      frequencyPenalty: -0.5,
      responseMimeType: 'application/json',
      responseJsonSchema: { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false, description: 'The answer' },
    })
    expect(bodyOf({ response_format: { type: 'json_object' }, max_tokens: 5 }).generationConfig).toEqual({ responseMimeType: 'application/json', maxOutputTokens: 5 })
    expect(bodyOf({ temperature: null, seed: null, metadata: null }).generationConfig).toBeUndefined()
  })

  it('maps reasoning_effort to a thinking budget on Gemini 2.5 and a thinking level on Gemini 3', () => {
    expect(bodyOf({ reasoning_effort: 'low' }).generationConfig?.thinkingConfig).toEqual({ thinkingBudget: 1024 })
    expect(bodyOf({ reasoning_effort: 'none' }).generationConfig?.thinkingConfig).toEqual({ thinkingBudget: 0 })
    expect(bodyOf({ reasoning_effort: 'high' }, 'gemini-3.1-pro-preview').generationConfig?.thinkingConfig).toEqual({ thinkingLevel: 'HIGH' })
    expect(bodyOf({ reasoning_effort: 'none' }, 'gemini-3-flash-preview').generationConfig?.thinkingConfig).toEqual({ thinkingLevel: 'MINIMAL' })
    expect(refusal(() => build({ reasoning_effort: 'none' }, 'gemini-2.5-pro'))).toMatchObject({ code: 'unsupported_parameter', param: 'reasoning_effort' })
  })

  it.each<[string, Partial<ChatCompletionRequest> | Record<string, unknown>]>([
    ['n', { n: 2 }],
    ['logprobs', { logprobs: true }],
    ['top_logprobs', { top_logprobs: 3 }],
    ['logit_bias', { logit_bias: { '50256': -100 } }],
    ['user', { user: 'user-123' }],
    ['metadata', { metadata: { team: 'a' } }],
    ['store', { store: true }],
    ['service_tier', { service_tier: 'flex' }],
    ['modalities', { modalities: ['text', 'audio'] }],
    ['prediction', { prediction: { type: 'content', content: 'x' } }],
    ['prompt_cache_key', { prompt_cache_key: 'k' }],
    ['safety_identifier', { safety_identifier: 'u' }],
    ['verbosity', { verbosity: 'low' }],
    ['parallel_tool_calls', { parallel_tool_calls: false }],
    ['messages[0].name', { messages: [{ role: 'user', content: 'Hi', name: 'alice' }] }],
  ])('refuses %s as unsupported_parameter', (param, fields) => {
    const error = refusal(() => build(fields))
    expect(error).toMatchObject({ code: 'unsupported_parameter', status: 400, param })
    expect(error.message).toContain("provider 'gemini'")
  })
})

describe('gemini: response', () => {
  it('translates text, finish reason and usage with thinking tokens', () => {
    const { completion, usage } = gemini.chat.parseResponse(jsonFixture(import.meta.url, 'generate-content.json'), ctx)
    expect(completion).toEqual({
      id: 'chatcmpl-req0001',
      object: 'chat.completion',
      created: 1_750_000_000,
      model: 'gemini-2.5-flash',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello! How can I help you today?', refusal: null }, finish_reason: 'stop', logprobs: null }],
    })
    expect(usage).toEqual({ promptTokens: 8, completionTokens: 35, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 26, estimated: false })
  })

  it('turns parallel function calls into tool calls with minted ids and JSON-string arguments', () => {
    const { completion, usage } = gemini.chat.parseResponse(jsonFixture(import.meta.url, 'generate-content-tool-calls.json'), ctx)
    const choice = completion.choices[0]!
    expect(choice.finish_reason).toBe('tool_calls')
    expect(choice.message.content).toBe("I'll look up the weather in both cities.")
    const calls = choice.message.tool_calls!
    expect(calls.map((c) => c.function)).toEqual([
      { name: 'get_weather', arguments: '{"location":"Paris, France","unit":"celsius"}' },
      { name: 'get_weather', arguments: '{"location":"Rome, Italy","unit":"celsius"}' },
    ])
    expect(calls.every((c) => CALL_ID.test(c.id) && c.type === 'function')).toBe(true)
    expect(calls[0]!.id).not.toBe(calls[1]!.id)
    expect(usage).toEqual({ promptTokens: 2170, completionTokens: 176, cachedTokens: 2048, cacheWriteTokens: 0, reasoningTokens: 128, estimated: false })
  })

  it('keeps the id Gemini gives a function call, and leaves thought parts out of the content', () => {
    const body = {
      candidates: [
        {
          content: { role: 'model', parts: [{ text: 'Let me think…', thought: true }, { functionCall: { id: 'fc_8x1', name: 'lookup', args: {} } }] },
          finishReason: 'STOP',
        },
      ],
      usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 3, totalTokenCount: 8 },
    }
    const { completion } = gemini.chat.parseResponse(body, ctx)
    expect(completion.model).toBe('gemini-2.5-flash')
    expect(completion.choices[0]!.message).toEqual({
      role: 'assistant',
      content: null,
      refusal: null,
      tool_calls: [{ id: 'fc_8x1', type: 'function', function: { name: 'lookup', arguments: '{}' } }],
    })
  })

  it('maps MAX_TOKENS to length and blocked output to content_filter', () => {
    expect(gemini.chat.parseResponse(jsonFixture(import.meta.url, 'generate-content-max-tokens.json'), ctx).completion.choices[0]!.finish_reason).toBe('length')
    const { completion, usage } = gemini.chat.parseResponse(jsonFixture(import.meta.url, 'generate-content-safety.json'), ctx)
    expect(completion.choices[0]).toMatchObject({ finish_reason: 'content_filter', message: { content: null } })
    expect(usage).toMatchObject({ promptTokens: 21, completionTokens: 0 })
  })

  it('answers a blocked prompt with content_filter and the block reason as the refusal', () => {
    const { completion, usage } = gemini.chat.parseResponse(jsonFixture(import.meta.url, 'generate-content-prompt-blocked.json'), ctx)
    expect(completion.choices[0]).toMatchObject({
      finish_reason: 'content_filter',
      message: { content: null, refusal: 'Gemini blocked the prompt (PROHIBITED_CONTENT)' },
    })
    expect(usage).toMatchObject({ promptTokens: 14, completionTokens: 0, estimated: false })
  })

  it('throws on a body that is not a GenerateContentResponse, so the core reports it as malformed', () => {
    expect(() => gemini.chat.parseResponse({ error: { code: 500 } }, ctx)).toThrow(TypeError)
  })
})

describe('gemini: stream', () => {
  it('streams text with one id and model, and takes the last running usage total rather than a sum', () => {
    const { chunks, usage } = translateStream(gemini, fixture(import.meta.url, 'stream.sse'), ctx)
    expect(assemble(chunks)).toEqual({ content: 'Hello there! How can I help you today?', toolCalls: [], finishReason: 'stop' })
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' })
    expect(new Set(chunks.map((c) => `${c.id} ${c.model} ${c.created}`))).toEqual(new Set(['chatcmpl-req0001 gemini-2.5-flash 1750000000']))
    expect(chunks.filter((c) => c.choices[0]!.finish_reason !== null)).toHaveLength(1)
    expect(chunks.every((c) => !('usage' in c))).toBe(true)
    expect(usage).toEqual({ promptTokens: 8, completionTokens: 31, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 21, estimated: false })
  })

  it('emits each whole function call as one tool-call delta with its full arguments', () => {
    const { chunks, usage } = translateStream(gemini, fixture(import.meta.url, 'stream-tool-calls.sse'), testContext('gemini-3-flash-preview'))
    const result = assemble(chunks)
    expect(result.content).toBe('Checking both cities.')
    expect(result.finishReason).toBe('tool_calls')
    expect(result.toolCalls.map(({ name, arguments: args }) => ({ name, args }))).toEqual([
      { name: 'get_weather', args: '{"location":"Paris"}' },
      { name: 'get_weather', args: '{"location":"Rome"}' },
    ])
    expect(result.toolCalls.every((c) => CALL_ID.test(c.id))).toBe(true)
    const deltas = chunks.flatMap((c) => c.choices[0]!.delta.tool_calls ?? [])
    expect(deltas.map((d) => [d.index, d.type])).toEqual([[0, 'function'], [1, 'function']])
    expect(usage).toMatchObject({ promptTokens: 96, completionTokens: 122, reasoningTokens: 88 })
  })

  it('reports the usage produced so far when the stream is cut short, and invents no finish', () => {
    const translator = gemini.chat.stream
    const state = translator.init(ctx)
    const [first] = parseSseText(fixture(import.meta.url, 'stream.sse'))
    const chunks = [...translator.onEvent(first!, state), ...translator.onEnd(state)]
    expect(assemble(chunks)).toEqual({ content: 'Hello', toolCalls: [], finishReason: null })
    expect(translator.usage(state)).toMatchObject({ promptTokens: 8, completionTokens: 22, estimated: false })
  })

  it('ends a stream whose prompt was blocked with content_filter', () => {
    const blocked = `data: ${JSON.stringify(jsonFixture(import.meta.url, 'generate-content-prompt-blocked.json'))}\n\n`
    const { chunks } = translateStream(gemini, blocked, ctx)
    expect(assemble(chunks).finishReason).toBe('content_filter')
    expect(chunks.some((c) => c.choices[0]!.delta.refusal === 'Gemini blocked the prompt (PROHIBITED_CONTENT)')).toBe(true)
  })

  it('recognises an error frame inside a 200 stream, and only that', () => {
    const error = gemini.streamError?.({ data: JSON.stringify(jsonFixture(import.meta.url, 'error-503.json')) })
    expect(error).toMatchObject({ upstreamStatus: 0, providerCode: 'UNAVAILABLE', message: 'The model is overloaded. Please try again later.', overloaded: true })
    expect(gemini.streamError?.(parseSseText(fixture(import.meta.url, 'stream.sse'))[0]!)).toBeUndefined()
  })
})

describe('gemini: errors', () => {
  it('reads the retry delay of a 429 from google.rpc.RetryInfo, a retry-after header taking precedence', () => {
    const body = jsonFixture(import.meta.url, 'error-429.json')
    const error = gemini.parseError(429, body, {})
    expect(error).toMatchObject({ upstreamStatus: 429, providerCode: 'RESOURCE_EXHAUSTED', retryAfterMs: 12_000 })
    expect(toClientError('gemini', error)).toMatchObject({ code: 'upstream_rate_limited', retryAfterMs: 12_000 })
    expect(gemini.parseError(429, body, { 'retry-after': '1' }).retryAfterMs).toBe(1000)
  })

  it('treats 503 UNAVAILABLE as overloaded and a 500 as a plain upstream error', () => {
    expect(toClientError('gemini', gemini.parseError(503, jsonFixture(import.meta.url, 'error-503.json'), {}))).toMatchObject({ code: 'provider_overloaded', status: 503 })
    const internal = gemini.parseError(500, jsonFixture(import.meta.url, 'error-500.json'), {})
    expect(internal.overloaded).toBeUndefined()
    expect(toClientError('gemini', internal)).toMatchObject({ code: 'upstream_error', status: 502 })
  })

  it('reports an invalid API key (Gemini’s 400 API_KEY_INVALID) as a credential failure, not a bad request', () => {
    const error = gemini.parseError(400, jsonFixture(import.meta.url, 'error-api-key-invalid.json'), {})
    expect(error).toMatchObject({ upstreamStatus: 401, providerCode: 'API_KEY_INVALID' })
    expect(toClientError('gemini', error)).toMatchObject({ code: 'upstream_authentication_failed', status: 502 })
  })

  it('keeps the message and the field a 400 names', () => {
    const error = toClientError('gemini', gemini.parseError(400, jsonFixture(import.meta.url, 'error-400.json'), {}))
    expect(error).toMatchObject({ code: 'upstream_bad_request', param: 'tools[0].function_declarations[0].parameters' })
    expect(error.message).toContain('Unknown name "additionalProperties"')
  })
})

describe('gemini: embeddings', () => {
  const request = embeddingsRequest.parse({ model: 'gemini/gemini-embedding-001', input: ['first text', 'second'], dimensions: 768 })
  const embedCtx = testContext('gemini-embedding-001', { requestId: 'req_embed' })

  it('sends one batchEmbedContents request per input, with the model and outputDimensionality', () => {
    const upstream = gemini.embeddings!.buildRequest(request, embedCtx)
    expect(upstream.url).toBe('http://upstream.test/v1/models/gemini-embedding-001:batchEmbedContents')
    expect(upstream.headers['x-goog-api-key']).toBe('sk-test-key')
    expect(upstream.body).toEqual({
      requests: [
        { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'first text' }] }, outputDimensionality: 768 },
        { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'second' }] }, outputDimensionality: 768 },
      ],
    })
  })

  it('returns the vectors in order with an estimated usage, since Gemini reports none', () => {
    gemini.embeddings!.buildRequest(request, embedCtx)
    const result = gemini.embeddings!.parseResponse(jsonFixture(import.meta.url, 'embeddings.json'), { ...embedCtx, inputCount: 2 })
    expect(result.vectors).toEqual([[-0.022374554, -0.004560777, 0.013309286], [0.5, -0.25, 0.125]])
    expect(result.usage).toEqual({ promptTokens: 5, completionTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: true })
  })

  it('refuses token-array input and user, and rejects a response with the wrong number of vectors', () => {
    const tokens = embeddingsRequest.parse({ model: 'gemini-embedding-001', input: [[1, 2, 3]] })
    expect(refusal(() => gemini.embeddings!.buildRequest(tokens, embedCtx))).toMatchObject({ code: 'unsupported_parameter', param: 'input' })
    expect(refusal(() => gemini.embeddings!.buildRequest({ ...request, user: 'u' }, embedCtx))).toMatchObject({ code: 'unsupported_parameter', param: 'user' })
    expect(() => gemini.embeddings!.parseResponse(jsonFixture(import.meta.url, 'embeddings.json'), { ...embedCtx, inputCount: 3 })).toThrow(TypeError)
  })
})
