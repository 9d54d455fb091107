import { describe, expect, it } from 'vitest'
import { testContext } from '../../../test/support/providers.ts'
import { chatCompletionRequest } from '../../api/chat-completions.ts'
import type { GatewayError } from '../../errors.ts'
import { anthropic } from './index.ts'
import type { MessageCreateParams } from './wire.ts'

const ctx = testContext('claude-sonnet-4-6')

function build(request: Record<string, unknown>, model = 'claude-sonnet-4-6', stream = false): MessageCreateParams {
  const parsed = chatCompletionRequest.parse({ model: `anthropic/${model}`, messages: [{ role: 'user', content: 'Hi' }], ...request })
  return anthropic.chat.buildRequest(parsed, { ...testContext(model), stream }).body as MessageCreateParams
}

function refusal(request: Record<string, unknown>, model?: string): GatewayError {
  try {
    build(request, model)
  } catch (error) {
    return error as GatewayError
  }
  throw new Error('the request was not refused')
}

describe('anthropic: request', () => {
  it('posts to /messages with bearer auth and the current API version, never leaking the key into the body', () => {
    const parsed = chatCompletionRequest.parse({ model: 'anthropic/claude-sonnet-4-6', messages: [{ role: 'user', content: 'Hi' }] })
    const upstream = anthropic.chat.buildRequest(parsed, { ...ctx, stream: false })
    expect(upstream.url).toBe('http://upstream.test/v1/messages')
    expect(upstream.headers).toEqual({ authorization: 'Bearer sk-test-key', 'anthropic-version': '2026-10-21', 'content-type': 'application/json' })
    expect(upstream.body).toEqual({ model: 'claude-sonnet-4-6', max_tokens: 4096, messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }] })
    expect(JSON.stringify(upstream.body)).not.toContain('sk-test-key')
  })

  it('asks for a stream only when streaming', () => {
    expect(build({}, 'claude-sonnet-4-6', true).stream).toBe(true)
    expect(build({ stream: true })).not.toHaveProperty('stream')
  })

  it('moves system and developer messages, wherever they are, into top-level system blocks in order', () => {
    const body = build({
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        { role: 'user', content: 'Bye' },
      ],
    })
    expect(body.system).toEqual([
      { type: 'text', text: 'You are terse.' },
      { type: 'text', text: 'Answer in French.' },
    ])
    expect(body.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user'])
  })

  it('translates images (data: and https URLs) and inline PDFs into content blocks', () => {
    const body = build({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Compare these' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'auto' } },
            { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0x', filename: 'report.pdf' } },
          ],
        },
      ],
    })
    expect(body.messages[0]!.content).toEqual([
      { type: 'text', text: 'Compare these' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
      { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0x' }, title: 'report.pdf' },
    ])
  })

  it('turns tool calls into tool_use blocks with object input, and merges tool results into one user turn', () => {
    const body = build({
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } },
            { id: 'toolu_2', type: 'function', function: { name: 'get_time', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '18°C' },
        { role: 'tool', tool_call_id: 'toolu_2', content: [{ type: 'text', text: '14:00' }] },
        { role: 'user', content: 'Thanks' },
      ],
    })
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Rome?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { location: 'Paris' } },
          { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '18°C' },
          { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: '14:00' }] },
          { type: 'text', text: 'Thanks' },
        ],
      },
    ])
  })

  it('rejects tool-call arguments that are not a JSON object, naming messages', () => {
    const call = (args: string) => ({
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', tool_calls: [{ id: 't1', type: 'function', function: { name: 'f', arguments: args } }] },
      ],
    })
    expect(refusal(call('{"a":'))).toMatchObject({ status: 400, code: 'invalid_request', param: 'messages' })
    expect(refusal(call('[1,2]'))).toMatchObject({ code: 'invalid_request', param: 'messages' })
  })

  it('refuses a conversation that does not start with a user message, or has only system messages', () => {
    expect(refusal({ messages: [{ role: 'assistant', content: 'Hello' }] })).toMatchObject({ code: 'invalid_request', param: 'messages' })
    expect(refusal({ messages: [{ role: 'system', content: 'Be brief' }] })).toMatchObject({ code: 'invalid_request', param: 'messages' })
  })

  it('declares tools with input_schema, an empty object schema when none is given, and strict', () => {
    const body = build({
      tools: [
        { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { location: { type: 'string' } } }, strict: true } },
        { type: 'function', function: { name: 'get_time' } },
      ],
    })
    expect(body.tools).toEqual([
      { name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { location: { type: 'string' } } }, strict: true },
      { name: 'get_time', input_schema: { type: 'object', properties: {} } },
    ])
  })

  it.each([
    [{ tool_choice: 'auto' }, { type: 'auto' }],
    [{ tool_choice: 'required' }, { type: 'any' }],
    [{ tool_choice: 'none' }, { type: 'none' }],
    [{ tool_choice: { type: 'function', function: { name: 'f' } } }, { type: 'tool', name: 'f' }],
    [{ parallel_tool_calls: false }, { type: 'auto', disable_parallel_tool_use: true }],
    [{ tool_choice: 'required', parallel_tool_calls: false }, { type: 'any', disable_parallel_tool_use: true }],
  ])('maps %j to tool_choice %j', (request, expected) => {
    expect(build({ tools: [{ type: 'function', function: { name: 'f' } }], ...request }).tool_choice).toEqual(expected)
  })

  it('maps max tokens, stop, user and service tier', () => {
    const body = build({ max_tokens: 50, max_completion_tokens: 100, stop: 'END', user: 'user-7', service_tier: 'default' })
    expect(body).toMatchObject({ max_tokens: 100, stop_sequences: ['END'], metadata: { user_id: 'user-7' }, service_tier: 'standard_only' })
    expect(build({ max_tokens: 50, stop: ['a', 'b'], safety_identifier: 'hash-1' })).toMatchObject({ max_tokens: 50, stop_sequences: ['a', 'b'], metadata: { user_id: 'hash-1' } })
  })

  it('gives models that think by default a larger max_tokens, since thinking counts toward it', () => {
    expect(build({}, 'claude-sonnet-5-5').max_tokens).toBe(16384)
  })

  it('maps a JSON schema response format to output_config.format and refuses schema-less JSON mode', () => {
    const schema = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'], additionalProperties: false }
    expect(build({ response_format: { type: 'json_schema', json_schema: { name: 'person', schema, strict: true } } }).output_config).toEqual({
      format: { type: 'json_schema', schema },
    })
    expect(refusal({ response_format: { type: 'json_object' } })).toMatchObject({ code: 'unsupported_parameter', param: 'response_format' })
  })

  it('maps reasoning_effort to adaptive thinking with an effort on Claude 4.6 and later', () => {
    expect(build({ reasoning_effort: 'minimal' }, 'claude-opus-4-7')).toMatchObject({ thinking: { type: 'adaptive' }, output_config: { effort: 'low' }, max_tokens: 16384 })
    expect(build({ reasoning_effort: 'high', max_completion_tokens: 2000 }, 'claude-sonnet-5-5')).toMatchObject({ thinking: { type: 'adaptive' }, output_config: { effort: 'high' }, max_tokens: 2000 })
  })

  it('maps reasoning_effort to a thinking budget below max_tokens on Claude 4.5 and earlier', () => {
    expect(build({ reasoning_effort: 'medium' }, 'claude-haiku-4-5-20251001')).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 8192 }, max_tokens: 8192 + 4096 })
    expect(build({ reasoning_effort: 'high', max_completion_tokens: 3000 }, 'claude-haiku-4-5')).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 2999 }, max_tokens: 3000 })
    expect(refusal({ reasoning_effort: 'low', max_completion_tokens: 1000 }, 'claude-haiku-4-5')).toMatchObject({ param: 'reasoning_effort' })
  })

  it("turns thinking off for reasoning_effort 'none' as each model allows, and refuses it where thinking is always on", () => {
    expect(build({ reasoning_effort: 'none' }, 'claude-opus-4-7')).not.toHaveProperty('thinking')
    expect(build({ reasoning_effort: 'none' }, 'claude-sonnet-5').thinking).toEqual({ type: 'disabled' })
    expect(build({ reasoning_effort: 'none' }, 'claude-sonnet-5-5').thinking).toEqual({ type: 'between_tools' })
    expect(refusal({ reasoning_effort: 'none' }, 'claude-opus-5-5')).toMatchObject({ code: 'unsupported_parameter', param: 'reasoning_effort' })
  })

  it('refuses a forced tool call where Anthropic rejects one: while thinking, or on models without forced tool use', () => {
    const tools = [{ type: 'function', function: { name: 'f' } }]
    expect(refusal({ tools, tool_choice: 'required', reasoning_effort: 'low' })).toMatchObject({ param: 'tool_choice' })
    expect(refusal({ tools, tool_choice: { type: 'function', function: { name: 'f' } } }, 'claude-opus-5-5')).toMatchObject({ param: 'tool_choice' })
  })

  it.each([
    ['temperature', { temperature: 0.2 }],
    ['top_p', { top_p: 0.9 }],
    ['seed', { seed: 42 }],
    ['frequency_penalty', { frequency_penalty: 0.5 }],
    ['presence_penalty', { presence_penalty: 0.5 }],
    ['logit_bias', { logit_bias: { '50256': -100 } }],
    ['logprobs', { logprobs: true }],
    ['top_logprobs', { top_logprobs: 3 }],
    ['n', { n: 2 }],
    ['metadata', { metadata: { team: 'a' } }],
    ['store', { store: true }],
    ['modalities', { modalities: ['text', 'audio'] }],
    ['prediction', { prediction: { type: 'content', content: 'x' } }],
    ['prompt_cache_key', { prompt_cache_key: 'k1' }],
    ['verbosity', { verbosity: 'high' }],
    ['service_tier', { service_tier: 'flex' }],
    ['stream_options.include_obfuscation', { stream_options: { include_obfuscation: true } }],
    ['safety_identifier', { user: 'a', safety_identifier: 'b' }],
    ['response_format.json_schema.description', { response_format: { type: 'json_schema', json_schema: { name: 'p', description: 'A person', schema: {} } } }],
    ['messages[0].name', { messages: [{ role: 'user', content: 'Hi', name: 'ann' }] }],
    ['messages[0].content[0]', { messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }] }],
    ['messages[0].content[0].image_url.detail', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x.test/a.png', detail: 'high' } }] }] }],
    ['messages[0].content[0].image_url.url', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/bmp;base64,Qk0=' } }] }] }],
    ['messages[0].content[0].file', { messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-abc' } }] }] }],
  ])('refuses %s with unsupported_parameter naming it', (param, request) => {
    const error = refusal(request)
    expect(error).toMatchObject({ status: 400, code: 'unsupported_parameter', param })
    expect(error.message).toContain("provider 'anthropic'")
  })

  it('accepts OpenAI defaults that ask for nothing Anthropic would not do anyway', () => {
    const body = build({ temperature: 1, top_p: 1, n: 1, frequency_penalty: 0, presence_penalty: 0, logprobs: false, store: false, seed: null, parallel_tool_calls: true })
    expect(Object.keys(body).sort()).toEqual(['max_tokens', 'messages', 'model'])
  })
})
