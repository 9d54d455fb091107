import Anthropic from '@anthropic-ai/sdk'
import { describe, expect, it } from 'vitest'
import { assemble, jsonFixture } from '../../../../test/support/providers.ts'
import { chatCompletionRequest, type ChatCompletion, type ChatCompletionChunk, type ChatCompletionRequest, type FinishReason } from '../../../api/chat-completions.ts'
import { GatewayError } from '../../../errors.ts'
import type { NormalizedUsage } from '../../types.ts'
import { createMessagesStreamEncoder, messageIdFor, parseMessagesRequest, toAnthropicError, toAnthropicStreamError, toMessagesResponse, type ParseOptions, type SseOut } from './index.ts'

const fixture = (name: string): unknown => jsonFixture(import.meta.url, name)
const usage: NormalizedUsage = { promptTokens: 1280, completionTokens: 230, cachedTokens: 1024, cacheWriteTokens: 56, reasoningTokens: 192, estimated: false }
const hi = { model: 'openai/gpt-4o', max_tokens: 1024, messages: [{ role: 'user', content: 'Hi' }] }

/** The official SDK, answered in-process by `respond`: no HTTP, but the SDK's own serialisation and parsing. */
function sdk(respond: () => Response): { client: Anthropic; sent: { body: unknown; headers: Headers }[] } {
  const sent: { body: unknown; headers: Headers }[] = []
  const client = new Anthropic({
    apiKey: 'sk-gateway-key',
    baseURL: 'http://gateway.test',
    maxRetries: 0,
    fetch: (_url, init) => {
      sent.push({ body: JSON.parse(init?.body as string), headers: new Headers(init?.headers) })
      return Promise.resolve(respond())
    },
  })
  return { client, sent }
}
const jsonResponse = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
const sseResponse = (events: readonly SseOut[]) =>
  new Response(events.map((e) => `event: ${e.event}\ndata: ${e.data}\n\n`).join(''), { headers: { 'content-type': 'text/event-stream' } })

/** A translation that succeeds must also be a valid canonical request. */
function parse(body: unknown, options?: ParseOptions): ChatCompletionRequest {
  const request = parseMessagesRequest(body, options)
  expect(chatCompletionRequest.parse(request)).toEqual(request)
  return request
}
function refusal(body: unknown, options?: ParseOptions): GatewayError {
  try {
    parseMessagesRequest(body, options)
  } catch (error) {
    if (error instanceof GatewayError) return error
    throw error
  }
  throw new Error('expected the request to be refused')
}

describe('anthropic inbound: request', () => {
  it('translates what the official SDK sends: system blocks, tools, images, tool round trip, thinking', async () => {
    const { client, sent } = sdk(() => jsonResponse(200, toMessagesResponse(fixture('completion-text-and-tools.json') as ChatCompletion, usage, 'claude-sonnet-4-6')))
    await client.messages.create(fixture('request-agent-turn.json') as Anthropic.MessageCreateParamsNonStreaming)
    const { body, headers } = sent[0]!
    expect(headers.get('anthropic-version')).toBe('2026-10-21')
    expect(headers.get('authorization')).toBe('Bearer sk-gateway-key')
    expect(parse(body, { anthropicVersion: headers.get('anthropic-version')! })).toEqual(fixture('request-agent-turn.canonical.json'))
  })

  it('merges consecutive turns, keeps system messages in place and puts a late one after the tool results', () => {
    const request = parse({
      ...hi,
      system: 'Be brief.',
      messages: [
        { role: 'user', content: 'Weather?' },
        { role: 'user', content: [{ type: 'text', text: 'In Paris.' }] },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'hmm', signature: 'sig' }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'system', content: [{ type: 'text', text: 'Answer in French.' }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '18°C' }, { type: 'text', text: 'Thanks' }] },
        { role: 'assistant', content: [{ type: 'redacted_thinking', data: 'opaque' }] },
        { role: 'user', content: 'And tomorrow?' },
        { role: 'assistant', content: 'Demain,' },
      ],
    })
    expect(request.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'text', text: 'Weather?' }, { type: 'text', text: 'In Paris.' }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'toolu_1', content: '18°C' },
      { role: 'system', content: 'Answer in French.' },
      { role: 'user', content: 'Thanks' },
      // The assistant turn that held only redacted thinking is gone; the prefill stays last.
      { role: 'user', content: 'And tomorrow?' },
      { role: 'assistant', content: 'Demain,' },
    ])
  })

  it.each([
    [{ type: 'auto' }, { tool_choice: 'auto' }],
    [{ type: 'any', disable_parallel_tool_use: true }, { tool_choice: 'required', parallel_tool_calls: false }],
    [{ type: 'tool', name: 'get_weather' }, { tool_choice: { type: 'function', function: { name: 'get_weather' } } }],
    [{ type: 'none' }, { tool_choice: 'none' }],
  ])('maps tool_choice %j', (toolChoice, expected) => {
    const tools = [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }]
    const request = parse({ ...hi, tools, tool_choice: toolChoice })
    expect(request).toMatchObject(expected)
    if (!('parallel_tool_calls' in expected)) expect(request.parallel_tool_calls).toBeUndefined()
  })

  it.each([
    [{ thinking: { type: 'enabled', budget_tokens: 1024 } }, 'low'],
    [{ thinking: { type: 'enabled', budget_tokens: 4096 } }, 'medium'],
    [{ thinking: { type: 'enabled', budget_tokens: 16_384, display: 'omitted' } }, 'high'],
    [{ thinking: { type: 'disabled' } }, 'none'],
    [{ thinking: { type: 'adaptive' } }, undefined],
    [{ thinking: { type: 'adaptive' }, output_config: { effort: 'low' } }, 'low'],
    [{ thinking: { type: 'enabled', budget_tokens: 1024 }, output_config: { effort: 'max' } }, 'high'],
  ])('maps thinking %j to reasoning_effort %s', (fields, effort) => {
    expect(parse({ ...hi, max_tokens: 32_000, ...fields }).reasoning_effort).toBe(effort)
  })

  it('maps structured output, sampling (API 2023-06-01 only), metadata and stop sequences', () => {
    const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] }
    const request = parse(
      { ...hi, temperature: 0.2, top_p: 0.9, metadata: { user_id: 'u-42' }, stop_sequences: ['END'], stream: true, output_config: { format: { type: 'json_schema', schema } } },
      { anthropicVersion: '2023-06-01' },
    )
    expect(request).toMatchObject({ temperature: 0.2, top_p: 0.9, user: 'u-42', stop: ['END'], stream: true, max_completion_tokens: 1024 })
    expect(request.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'output', schema, strict: true } })
  })

  it.each([
    ['top_k (API 2023-06-01)', { top_k: 40 }, 'top_k', '2023-06-01'],
    ['a server tool', { tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 3 }] }, 'tools.0.type'],
    ['a deferred tool', { tools: [{ name: 't', input_schema: { type: 'object' }, defer_loading: true }] }, 'tools.0.defer_loading'],
    ['tool input examples', { tools: [{ name: 't', input_schema: { type: 'object' }, input_examples: [{ a: 1 }] }] }, 'tools.0.input_examples'],
    ['a container', { container: 'container_011CZkZaBF1tNoB5wlCeusgy' }, 'container'],
    ['service_tier standard_only', { service_tier: 'standard_only' }, 'service_tier'],
    ['fast mode', { speed: 'fast' }, 'speed'],
    ['inference_geo', { inference_geo: 'us' }, 'inference_geo'],
    ['cache diagnostics', { diagnostics: { previous_message_id: null } }, 'diagnostics'],
    ['cache pre-warming', { max_tokens: 0 }, 'max_tokens'],
    ['thinking between tools', { thinking: { type: 'between_tools' } }, 'thinking.type'],
    ['five stop sequences', { stop_sequences: ['a', 'b', 'c', 'd', 'e'] }, 'stop_sequences'],
    ['a PDF document', { messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } }] }] }, 'messages.0.content.0'],
    ['an image by file id', { messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'file_011' } }] }] }, 'messages.0.content.0.source'],
    [
      'an image inside a tool result',
      {
        messages: [
          { role: 'user', content: 'Screenshot please' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'screenshot', input: {} }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'image', source: { type: 'url', url: 'https://example.com/s.png' } }] }] },
        ],
      },
      'messages.2.content.0.content.0',
    ],
  ])('refuses %s as unsupported_parameter naming it', (_what, fields, param, version?: string) => {
    const error = refusal({ ...hi, ...fields }, { anthropicVersion: version })
    expect(error).toMatchObject({ code: 'unsupported_parameter', status: 400, param })
    expect(error.message).toContain(param)
  })

  it.each([
    ['an unknown field', { foo: 1 }, 'foo', 'foo: Extra inputs are not permitted'],
    ['temperature under API 2026-10-21', { temperature: 1 }, 'temperature', 'temperature: Extra inputs are not permitted'],
    ['a missing max_tokens', { max_tokens: undefined }, 'max_tokens', 'max_tokens: Field required'],
    ['an unknown key in metadata', { metadata: { user_id: 'u', tier: 'gold' } }, 'metadata.tier', undefined],
    ['an unknown block type', { messages: [{ role: 'user', content: [{ type: 'audio', data: '' }] }] }, 'messages.0.content.0.type', undefined],
    [
      'an image type Anthropic does not take',
      { messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/bmp', data: 'Qk0=' } }] }] },
      'messages.0.content.0.source.media_type',
      undefined,
    ],
    ['empty content before the end', { messages: [{ role: 'user', content: '' }, { role: 'assistant', content: 'x' }] }, 'messages.0', undefined],
    ['citations on user text', { messages: [{ role: 'user', content: [{ type: 'text', text: 'x', citations: [{ type: 'char_location' }] }] }] }, 'messages.0.content.0.citations', undefined],
    ['tool_use in a user turn', { messages: [{ role: 'user', content: [{ type: 'tool_use', id: 't', name: 'n', input: {} }] }] }, 'messages.0.content.0', undefined],
    ['a tool_result answering nothing', { messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_9' }] }] }, 'messages.0.content.0.tool_use_id', undefined],
    [
      'a tool_use left unanswered',
      { messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'n', input: {} }] }, { role: 'user', content: 'b' }] },
      'messages.1',
      undefined,
    ],
    ['a thinking budget under 1024', { thinking: { type: 'enabled', budget_tokens: 512 } }, 'thinking.budget_tokens', undefined],
    ['a thinking budget over max_tokens', { thinking: { type: 'enabled', budget_tokens: 2048 } }, 'thinking.budget_tokens', undefined],
    ['tool_choice naming no tool', { tool_choice: { type: 'tool', name: 'ghost' } }, 'tool_choice.name', undefined],
  ])('rejects %s as invalid_request, as Anthropic does', (_what, fields, param, message) => {
    const error = refusal({ ...hi, ...fields })
    expect(error).toMatchObject({ code: 'invalid_request', status: 400, param })
    if (message !== undefined) expect(error.message).toBe(message)
  })
})

describe('anthropic inbound: response', () => {
  const completion = fixture('completion-text-and-tools.json') as ChatCompletion
  const withMessage = (message: Partial<ChatCompletion['choices'][number]['message']>, finishReason: FinishReason): ChatCompletion => ({
    ...completion,
    choices: [{ index: 0, message: { role: 'assistant', content: null, refusal: null, ...message }, finish_reason: finishReason, logprobs: null }],
  })

  it('builds the Message: text then tool_use blocks, requested model, usage without cached input', async () => {
    const message = toMessagesResponse(completion, usage, 'openai/gpt-4o')
    expect(message).toEqual(fixture('message-text-and-tools.json'))
    const { client } = sdk(() => jsonResponse(200, message))
    const received: Anthropic.Message = await client.messages.create({ model: 'openai/gpt-4o', max_tokens: 1024, messages: [{ role: 'user', content: 'Weather in Paris and Rome?' }] })
    expect(received).toEqual(message)
  })

  it.each([
    ['stop', null, 'end_turn'],
    ['length', null, 'max_tokens'],
    ['tool_calls', null, 'tool_use'],
    ['content_filter', null, 'refusal'],
    ['stop', 'I can’t help with that.', 'refusal'],
  ] as const)('maps finish_reason %s (refusal %s) to stop_reason %s', (finishReason, refusalText, stopReason) => {
    const result = toMessagesResponse(withMessage({ content: 'x', refusal: refusalText }, finishReason), usage, 'm')
    expect(result.stop_reason).toBe(stopReason)
    expect(result.stop_sequence).toBeNull()
    expect(result.stop_details).toEqual(stopReason === 'refusal' ? { type: 'refusal', category: null, explanation: refusalText } : null)
  })

  it('keeps unparsable tool arguments under INVALID_JSON instead of dropping them; empty ones are {}', () => {
    const toolCalls = [
      { id: 'call_1', type: 'function' as const, function: { name: 'a', arguments: '{"path": "src/' } },
      { id: 'call_2', type: 'function' as const, function: { name: 'b', arguments: '' } },
    ]
    const result = toMessagesResponse(withMessage({ tool_calls: toolCalls }, 'stop'), usage, 'm')
    expect(result.content).toEqual([
      { type: 'tool_use', id: 'call_1', name: 'a', input: { INVALID_JSON: '{"path": "src/' }, caller: { type: 'direct' } },
      { type: 'tool_use', id: 'call_2', name: 'b', input: {}, caller: { type: 'direct' } },
    ])
    expect(result.stop_reason).toBe('tool_use')
  })

  it('derives a stable msg_ id from the completion id', () => {
    expect(messageIdFor('chatcmpl-req_01J9-XYZ')).toBe('msg_req01J9XYZ')
  })
})

describe('anthropic inbound: stream', () => {
  const chunks = fixture('stream-text-parallel-tools.chunks.json') as ChatCompletionChunk[]
  const encode = (input: readonly ChatCompletionChunk[], u: NormalizedUsage | undefined, finish: FinishReason | null): SseOut[] => {
    const encoder = createMessagesStreamEncoder('openai/gpt-4o', 'msg_req0001')
    return [...input.flatMap((c) => encoder.onChunk(c)), ...encoder.finish(u, finish)]
  }
  const chunk = (delta: ChatCompletionChunk['choices'][number]['delta'], finishReason: FinishReason | null = null): ChatCompletionChunk => ({
    ...chunks[0]!,
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  })

  it('emits Anthropic’s event sequence for text and interleaved parallel tool calls', () => {
    const events = encode(chunks, usage, 'tool_calls')
    expect(events.map((e) => ({ event: e.event, data: JSON.parse(e.data) as unknown }))).toEqual(fixture('stream-text-parallel-tools.events.json'))
  })

  it('accumulates, in the official SDK, to the same Message as the non-streaming response', async () => {
    const { client, sent } = sdk(() => sseResponse(encode(chunks, usage, 'tool_calls')))
    const final = await client.messages.stream({ model: 'openai/gpt-4o', max_tokens: 1024, messages: [{ role: 'user', content: 'Weather?' }] }).finalMessage()
    expect(sent[0]!.body).toMatchObject({ stream: true })
    const { content, toolCalls, finishReason } = assemble(chunks)
    const completion: ChatCompletion = {
      ...(fixture('completion-text-and-tools.json') as ChatCompletion),
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content, refusal: null, tool_calls: toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) },
          finish_reason: finishReason as FinishReason,
          logprobs: null,
        },
      ],
    }
    expect(final).toEqual({ ...toMessagesResponse(completion, usage, 'openai/gpt-4o'), parsed_output: null })
  })

  it('streams text live and closes with max_tokens; an invalid tool JSON reaches the SDK wrapped, not broken', async () => {
    const live = createMessagesStreamEncoder('m', 'msg_1')
    expect(live.onChunk(chunk({ role: 'assistant', content: 'Hel' })).map((e) => e.event)).toEqual(['message_start', 'ping', 'content_block_start', 'content_block_delta'])
    expect(live.onChunk(chunk({ content: 'lo' })).map((e) => e.event)).toEqual(['content_block_delta'])

    const events = encode([chunk({ content: 'Writing' }), chunk({ tool_calls: [{ index: 0, type: 'function', function: { name: 'write', arguments: '{"text": "unterminated' } }] })], usage, 'length')
    const { client } = sdk(() => sseResponse(events))
    const final = await client.messages.stream({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).finalMessage()
    expect(final.stop_reason).toBe('max_tokens')
    expect(final.content).toEqual([
      { type: 'text', text: 'Writing', citations: null },
      // The call had no id: one is minted from the message id and the tool-call index.
      { type: 'tool_use', id: 'toolu_req00010', name: 'write', input: { INVALID_JSON: '{"text": "unterminated' }, caller: { type: 'direct' } },
    ])
  })

  it('closes an empty or cut stream cleanly, with usage when known, and only once', () => {
    const encoder = createMessagesStreamEncoder('m', 'msg_1')
    const events = encoder.finish(undefined, null)
    expect(events.map((e) => e.event)).toEqual(['message_start', 'ping', 'message_delta', 'message_stop'])
    expect(JSON.parse(events[2]!.data)).toMatchObject({ delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 0, input_tokens: null } })
    expect(encoder.finish(usage, 'stop')).toEqual([])
    expect(encoder.onChunk(chunk({ content: 'late' }))).toEqual([])
  })

  it('reports a refusal streamed in delta.refusal as stop_reason refusal with its explanation', () => {
    const events = encode([chunk({ refusal: 'I can’t ' }), chunk({ refusal: 'help.' }, 'stop')], usage, 'stop')
    expect(JSON.parse(events.at(-2)!.data)).toMatchObject({ delta: { stop_reason: 'refusal', stop_details: { type: 'refusal', category: null, explanation: 'I can’t help.' } } })
  })
})

describe('anthropic inbound: errors', () => {
  it.each([
    ['invalid_request', 400, 'invalid_request_error'],
    ['unsupported_parameter', 400, 'invalid_request_error'],
    ['invalid_api_key', 401, 'authentication_error'],
    ['model_not_found', 404, 'not_found_error'],
    ['body_too_large', 413, 'request_too_large'],
    ['rate_limit_exceeded', 429, 'rate_limit_error'],
    ['upstream_rate_limited', 429, 'rate_limit_error'],
    ['internal_error', 500, 'api_error'],
    ['upstream_error', 502, 'api_error'],
    ['upstream_authentication_failed', 502, 'api_error'],
    ['service_unavailable', 503, 'api_error'],
    ['upstream_timeout', 504, 'timeout_error'],
    ['provider_overloaded', 529, 'overloaded_error'],
    ['provider_unavailable', 529, 'overloaded_error'],
  ] as const)('maps %s to %i %s', (code, status, type) => {
    const { status: got, body } = toAnthropicError(new GatewayError(code, 'Something happened'), 'req_01')
    expect({ got, body }).toEqual({ got: status, body: { type: 'error', error: { type, message: 'Something happened' }, request_id: 'req_01' } })
  })

  it('makes the SDK raise its own exception classes, before and inside a stream', async () => {
    const overloaded = toAnthropicError(new GatewayError('provider_overloaded', 'openai: overloaded'))
    const { client } = sdk(() => jsonResponse(overloaded.status, overloaded.body))
    await expect(client.messages.create(hi as Anthropic.MessageCreateParamsNonStreaming)).rejects.toBeInstanceOf(Anthropic.OverloadedError)

    const invalid = toAnthropicError(refusal({ ...hi, top_k: 5 }))
    const { client: client400 } = sdk(() => jsonResponse(invalid.status, invalid.body))
    await expect(client400.messages.create(hi as Anthropic.MessageCreateParamsNonStreaming)).rejects.toMatchObject({ status: 400, error: { error: { type: 'invalid_request_error', message: 'top_k: Extra inputs are not permitted' } } })

    const midStream = [...createMessagesStreamEncoder('m', 'msg_1').onChunk(chunk0()), toAnthropicStreamError(new GatewayError('upstream_error', 'openai: connection reset'))]
    const { client: streaming } = sdk(() => sseResponse(midStream))
    await expect(streaming.messages.stream(hi as Anthropic.MessageCreateParamsNonStreaming).finalMessage()).rejects.toMatchObject({
      error: { type: 'error', error: { type: 'api_error', message: 'openai: connection reset' } },
    })
  })
})

function chunk0(): ChatCompletionChunk {
  return { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: 'Hi' }, finish_reason: null }] }
}
