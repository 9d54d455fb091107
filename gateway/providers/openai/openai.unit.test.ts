import { describe, expect, it } from 'vitest'
import { assemble, fixture, jsonFixture, testContext, translateStream } from '../../../test/support/providers.ts'
import { chatCompletionRequest } from '../../api/chat-completions.ts'
import { toClientError } from '../errors.ts'
import { openai } from './index.ts'

const ctx = testContext('gpt-4o')

describe('openai: request', () => {
  const request = chatCompletionRequest.parse({
    model: 'openai/gpt-4o',
    messages: [
      { role: 'developer', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'text', text: 'Hi' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
    ],
    stream: true,
    seed: 7,
    max_completion_tokens: 100,
  })

  it('passes the canonical request through with the provider model id and bearer auth', () => {
    const upstream = openai.chat.buildRequest(request, { ...ctx, stream: false })
    expect(upstream.url).toBe('http://upstream.test/v1/chat/completions')
    expect(upstream.headers.authorization).toBe('Bearer sk-test-key')
    expect(upstream.body).toEqual({ model: 'gpt-4o', messages: request.messages, seed: 7, max_completion_tokens: 100 })
  })

  it('always asks for usage when streaming, keeping the client’s other stream options', () => {
    const upstream = openai.chat.buildRequest({ ...request, stream_options: { include_obfuscation: false } }, { ...ctx, stream: true })
    expect(upstream.body).toMatchObject({ stream: true, stream_options: { include_obfuscation: false, include_usage: true } })
  })
})

describe('openai: response', () => {
  it('normalises usage with cached and reasoning tokens', () => {
    const { completion, usage } = openai.chat.parseResponse(jsonFixture(import.meta.url, 'chat-completion-tool-calls.json'), ctx)
    expect(completion.choices[0]!.message.tool_calls?.map((c) => c.id)).toEqual(['call_abc123', 'call_def456'])
    expect(usage).toEqual({ promptTokens: 1082, completionTokens: 230, cachedTokens: 1024, cacheWriteTokens: 0, reasoningTokens: 192, estimated: false })
  })
})

describe('openai: stream', () => {
  it('forwards content chunks and keeps the usage chunk for the core', () => {
    const { chunks, usage } = translateStream(openai, fixture(import.meta.url, 'chat-stream.sse'), ctx)
    expect(assemble(chunks)).toEqual({ content: 'Hello there!', toolCalls: [], finishReason: 'stop' })
    expect(chunks.every((c) => c.choices.length > 0 && !('usage' in c))).toBe(true)
    expect(usage).toMatchObject({ promptTokens: 9, completionTokens: 3, estimated: false })
  })

  it('forwards parallel tool-call argument deltas', () => {
    const { chunks, usage } = translateStream(openai, fixture(import.meta.url, 'chat-stream-tool-calls.sse'), ctx)
    expect(assemble(chunks)).toEqual({
      content: '',
      finishReason: 'tool_calls',
      toolCalls: [
        { id: 'call_DdmO9pD3xa9XTPNJ32zg2hcA', name: 'get_weather', arguments: '{"location": "Paris"}' },
        { id: 'call_q2Rnc6e8LBTAlq4hOb2cZa9F', name: 'get_weather', arguments: '{"location": "Rome"}' },
      ],
    })
    expect(usage?.cachedTokens).toBe(64)
  })

  it('recognises an error sent inside a stream', () => {
    const error = openai.streamError?.({ data: '{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}' })
    expect(error).toMatchObject({ upstreamStatus: 0, message: 'The server had an error' })
  })
})

describe('openai: errors and embeddings', () => {
  it('maps a 429 with retry-after to a rate-limit error the client can act on', () => {
    const error = openai.parseError(429, jsonFixture(import.meta.url, 'error-429.json'), { 'retry-after-ms': '120' })
    expect(error).toMatchObject({ upstreamStatus: 429, providerCode: 'rate_limit_exceeded', retryAfterMs: 120 })
    expect(toClientError('openai', error).toBody().error).toMatchObject({ code: 'upstream_rate_limited', type: 'rate_limit_error' })
  })

  it('keeps the parameter an upstream 400 names', () => {
    const error = openai.parseError(400, jsonFixture(import.meta.url, 'error-400.json'), {})
    expect(toClientError('openai', error)).toMatchObject({ status: 400, code: 'upstream_bad_request', param: 'messages' })
  })

  it('orders embeddings by index and reads usage', () => {
    const result = openai.embeddings!.parseResponse(jsonFixture(import.meta.url, 'embeddings.json'), { ...ctx, inputCount: 2 })
    expect(result.vectors).toEqual([[0.0023064255, -0.009327292, -0.0028842222], [0.5, -0.25, 0.125]])
    expect(result.usage.promptTokens).toBe(8)
  })
})
