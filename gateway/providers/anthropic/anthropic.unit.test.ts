import { describe, expect, it } from 'vitest'
import { assemble, fixture, jsonFixture, testContext, translateStream } from '../../../test/support/providers.ts'
import { isRetryable, toClientError } from '../errors.ts'
import { parseSseText } from '../sse.ts'
import { anthropic } from './index.ts'
import { thinkingSupport } from './models.ts'

const ctx = testContext('claude-sonnet-5-5')

describe('anthropic: response', () => {
  it('returns the text with its message id, model and usage', () => {
    const { completion, usage } = anthropic.chat.parseResponse(jsonFixture(import.meta.url, 'message.json'), ctx)
    expect(completion).toMatchObject({
      id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
      object: 'chat.completion',
      created: 1_750_000_000,
      model: 'claude-sonnet-5-5',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello! How can I help you today?', refusal: null }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 12, completion_tokens: 12, total_tokens: 24 },
    })
    expect(completion.choices[0]!.message).not.toHaveProperty('tool_calls')
    expect(usage).toEqual({ promptTokens: 12, completionTokens: 12, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false })
  })

  it('returns tool calls with JSON-string arguments, leaves thinking out, and counts cache reads and writes as prompt tokens', () => {
    const { completion, usage } = anthropic.chat.parseResponse(jsonFixture(import.meta.url, 'message-tool-use.json'), ctx)
    const choice = completion.choices[0]!
    expect(choice.finish_reason).toBe('tool_calls')
    expect(choice.message.content).toBe("I'll check the weather in both cities.")
    expect(choice.message.tool_calls).toEqual([
      { id: 'toolu_01A09q90qw90lq917835lq9', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris, France","unit":"celsius"}' } },
      { id: 'toolu_01B5xQ7vK3mN8pR2tY6wZ4cD', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Rome, Italy","unit":"celsius"}' } },
    ])
    // input_tokens (472) excludes cache reads (2048) and writes (1536); OpenAI's prompt_tokens includes both.
    expect(usage).toEqual({ promptTokens: 4056, completionTokens: 189, cachedTokens: 2048, cacheWriteTokens: 1536, reasoningTokens: 64, estimated: false })
    expect(completion.usage).toEqual({
      prompt_tokens: 4056,
      completion_tokens: 189,
      total_tokens: 4245,
      prompt_tokens_details: { cached_tokens: 2048 },
      completion_tokens_details: { reasoning_tokens: 64 },
    })
  })

  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['pause_turn', 'stop'],
    ['max_tokens', 'length'],
    ['model_context_window_exceeded', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
  ])('maps stop_reason %s to finish_reason %s', (stopReason, finishReason) => {
    const body = { ...(jsonFixture(import.meta.url, 'message.json') as object), stop_reason: stopReason }
    expect(anthropic.chat.parseResponse(body, ctx).completion.choices[0]!.finish_reason).toBe(finishReason)
  })

  it('reports a refusal as content_filter with empty content', () => {
    const { completion } = anthropic.chat.parseResponse(jsonFixture(import.meta.url, 'message-refusal.json'), ctx)
    expect(completion.choices[0]).toMatchObject({ finish_reason: 'content_filter', message: { content: '' } })
  })

  it('rejects a body that is not a message', () => {
    expect(() => anthropic.chat.parseResponse({ type: 'error', error: { type: 'api_error', message: 'x' } }, ctx)).toThrow(TypeError)
  })
})

describe('anthropic: stream', () => {
  it('streams text with a role chunk first, one id on every chunk, and a finish chunk; usage stays in the state', () => {
    const { chunks, usage } = translateStream(anthropic, fixture(import.meta.url, 'stream.sse'), ctx)
    expect(assemble(chunks)).toEqual({ content: 'Hello there!', toolCalls: [], finishReason: 'stop' })
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' })
    expect(new Set(chunks.map((c) => `${c.id} ${c.created} ${c.model}`))).toEqual(new Set(['msg_01LaTrW1iQ3h5D3bVQzJEyyh 1750000000 claude-sonnet-5-5']))
    expect(chunks.filter((c) => c.choices[0]!.finish_reason !== null)).toHaveLength(1)
    expect(chunks.every((c) => !('usage' in c))).toBe(true)
    expect(usage).toEqual({ promptTokens: 1049, completionTokens: 6, cachedTokens: 1024, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false })
  })

  it('numbers tool calls among tool_use blocks only, streams their arguments, and gives argument-less calls {}', () => {
    const { chunks, usage } = translateStream(anthropic, fixture(import.meta.url, 'stream-tool-use.sse'), ctx)
    expect(assemble(chunks)).toEqual({
      content: "I'll check both cities.",
      finishReason: 'tool_calls',
      toolCalls: [
        { id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', arguments: '{"location": "Paris, France"}' },
        { id: 'toolu_01Ue7KxQb9RzB4nX2mDvW8Hj', name: 'get_weather', arguments: '{"location": "Rome, Italy"}' },
        { id: 'toolu_01Vh3NcYp6LsD2kQ8rTz5BwE', name: 'get_time', arguments: '{}' },
      ],
    })
    expect(JSON.stringify(chunks)).not.toContain('Two cities')
    // message_delta's usage is cumulative: the final count, not an increment on message_start's.
    expect(usage).toEqual({ promptTokens: 4056, completionTokens: 156, cachedTokens: 2048, cacheWriteTokens: 1536, reasoningTokens: 41, estimated: false })
  })

  it('reports partial usage, and no finish_reason, for a stream cut before message_delta', () => {
    const events = parseSseText(fixture(import.meta.url, 'stream-tool-use.sse'))
    const cut = events.slice(0, events.findIndex((e) => e.event === 'content_block_start' && e.data.includes('toolu_01Ue7')))
    const translator = anthropic.chat.stream
    const state = translator.init(ctx)
    const chunks = cut.flatMap((event) => translator.onEvent(event, state))
    chunks.push(...translator.onEnd(state))
    expect(assemble(chunks).finishReason).toBeNull()
    const usage = translator.usage(state)!
    expect(usage).toMatchObject({ promptTokens: 4056, cachedTokens: 2048, estimated: true })
    expect(usage.completionTokens).toBeGreaterThan(2)
    expect(usage.reasoningTokens).toBeGreaterThan(0)
  })

  it('has no usage before message_start', () => {
    const translator = anthropic.chat.stream
    expect(translator.usage(translator.init(ctx))).toBeUndefined()
  })

  it('recognises an error event inside a 200 stream as overload, and nothing else as an error', () => {
    const events = parseSseText(fixture(import.meta.url, 'stream-error.sse'))
    expect(events.slice(0, -1).map((e) => anthropic.streamError!(e))).toEqual([undefined, undefined, undefined])
    const error = anthropic.streamError!(events.at(-1)!)
    expect(error).toMatchObject({ upstreamStatus: 0, providerCode: 'overloaded_error', message: 'Overloaded', overloaded: true })
    expect(toClientError('anthropic', error!)).toMatchObject({ status: 503, code: 'provider_overloaded' })
  })
})

describe('anthropic: errors', () => {
  it('maps a 429 with retry-after to a rate-limit error the client can act on', () => {
    const error = anthropic.parseError(429, jsonFixture(import.meta.url, 'error-429.json'), { 'retry-after': '1' })
    expect(error).toMatchObject({ upstreamStatus: 429, providerCode: 'rate_limit_error', retryAfterMs: 1000 })
    expect(error.message).toContain('rate limit of 50 requests per minute')
    expect(toClientError('anthropic', error).toBody().error).toMatchObject({ code: 'upstream_rate_limited', type: 'rate_limit_error' })
  })

  it('maps 529 overloaded_error to a 503 the client may retry', () => {
    const error = anthropic.parseError(529, jsonFixture(import.meta.url, 'error-529.json'), {})
    expect(error).toMatchObject({ upstreamStatus: 529, providerCode: 'overloaded_error', overloaded: true })
    expect(isRetryable(error)).toBe(true)
    expect(toClientError('anthropic', error)).toMatchObject({ status: 503, code: 'provider_overloaded' })
  })

  it('passes on the message of a 400 and maps a 401 to a credential problem', () => {
    const bad = anthropic.parseError(400, jsonFixture(import.meta.url, 'error-400.json'), {})
    expect(toClientError('anthropic', bad)).toMatchObject({ status: 400, code: 'upstream_bad_request' })
    expect(bad.message).toMatch(/^max_tokens: 200000 > 128000/)
    const auth = anthropic.parseError(401, jsonFixture(import.meta.url, 'error-401.json'), {})
    expect(toClientError('anthropic', auth)).toMatchObject({ status: 502, code: 'upstream_authentication_failed' })
    expect(auth).not.toHaveProperty('overloaded')
  })

  it('keeps the precise error_code from details, and copes with a 500 or a body that is not JSON', () => {
    expect(anthropic.parseError(429, jsonFixture(import.meta.url, 'error-429-spend-limit.json'), {}).providerCode).toBe('enforced_spend_limit_reached')
    const server = anthropic.parseError(500, jsonFixture(import.meta.url, 'error-500.json'), { 'retry-after': '2' })
    expect(server).toMatchObject({ providerCode: 'api_error', message: 'Internal server error', retryAfterMs: 2000 })
    expect(anthropic.parseError(502, '<html>Bad gateway</html>', {})).toMatchObject({ providerCode: null, message: '<html>Bad gateway</html>' })
  })
})

describe('anthropic: models', () => {
  it('lists Claude chat models and offers no embeddings, which Anthropic does not have', () => {
    expect(anthropic.embeddings).toBeUndefined()
    expect(anthropic.models.every((m) => m.id.startsWith('claude-') && m.kind === 'chat')).toBe(true)
    expect(anthropic.models.map((m) => m.id)).toContain('claude-opus-5-5')
  })

  it('places models it does not know by version', () => {
    expect(thinkingSupport('claude-haiku-4-5-20251001').mode).toBe('budget')
    expect(thinkingSupport('claude-opus-4-1-20250805').mode).toBe('budget')
    expect(thinkingSupport('claude-sonnet-4-9')).toMatchObject({ mode: 'adaptive', thinksByDefault: false })
    expect(thinkingSupport('claude-opus-6')).toMatchObject({ mode: 'adaptive', thinksByDefault: true })
  })
})
