import fc from 'fast-check'
import { hostileString } from './fuzz.ts'

/**
 * Requests to the public API that pass its validation, with hostile contents: any Unicode, null bytes, lone
 * surrogates, the largest integers the schemas allow. They get past the parsers to routing, admission,
 * the cache, the provider adapters and the upstream mocks, where near-valid junk seldom arrives.
 */

/** Valid requests of each endpoint, with most of its features: the seeds of near-valid mutations. */
export const CHAT_BODIES = [
  { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 16 },
  { model: 'anthropic/claude-sonnet-4-6', messages: [{ role: 'system', content: 'Be brief' }, { role: 'user', content: [{ type: 'text', text: 'Hi' }] }], temperature: 0.5 },
  {
    model: 'gpt-4o-mini',
    messages: [
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
    ],
    tools: [{ type: 'function', function: { name: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    tool_choice: 'auto',
    response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' } } },
    logit_bias: { '50256': -100 },
    stop: ['\n'],
    metadata: { team: 'web' },
    user: 'user-1',
  },
]
export const STREAM_BODIES = CHAT_BODIES.map((b) => ({ ...b, stream: true, stream_options: { include_usage: true } }))
export const EMBEDDING_BODIES = [
  { model: 'openai/text-embedding-3-small', input: 'hello' },
  { model: 'openai/text-embedding-3-small', input: ['a', 'b'], dimensions: 8, encoding_format: 'base64' },
  { model: 'text-embedding-3-small', input: [[1, 2, 3]] },
]
export const MESSAGES_BODIES = [
  { model: 'openai/gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }] },
  { model: 'anthropic/claude-sonnet-4-6', max_tokens: 64, system: 'Be brief', stream: true, messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }] },
  {
    model: 'anthropic/claude-sonnet-4-6',
    max_tokens: 2048,
    thinking: { type: 'enabled', budget_tokens: 1024 },
    tools: [{ name: 'weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
    tool_choice: { type: 'tool', name: 'weather' },
    metadata: { user_id: 'u-1' },
    messages: [
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny' }] },
    ],
  },
]

/** Text: mostly printable Unicode, sometimes hostile, and often enough what no store can hold (NUL, lone surrogates). */
const text = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 80 }) },
  { weight: 1, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.constantFrom('a\u0000b', '\ud800', 'x\udfff', '\ufeff', '\u202e') },
)
/** A chat model of every provider, named as provider/model or by its bare id. */
const CHAT_MODELS = ['openai/gpt-4o-mini', 'gpt-4o-mini', 'anthropic/claude-sonnet-4-6', 'claude-sonnet-4-6', 'gemini/gemini-2.5-flash', 'mistral/mistral-small-latest', 'cohere/command-a-03-2025']
const positiveInt = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 4096 }) }, { weight: 1, arbitrary: fc.constantFrom(2 ** 31, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER) })
const unit = fc.double({ min: 0, max: 1, noNaN: true })
const textPart = fc.record({ type: fc.constant('text'), text })
const toolName = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/)
/** Tool parameter schemas, some that providers' schema translations find hard: refs, recursion, unions. */
const toolSchema = fc.constantFrom(
  { type: 'object' },
  { type: 'object', properties: { city: { type: 'string', format: 'uri' }, n: { type: ['integer', 'null'] } }, required: ['city'] },
  { type: 'object', properties: { a: { $ref: '#/$defs/a' } }, $defs: { a: { type: 'object', properties: { a: { $ref: '#/$defs/a' } } } } },
  { type: 'object', properties: { a: { $ref: '#/$defs/constructor' } } },
  { type: 'object', properties: { a: { $ref: '#' } } },
  { type: 'object', properties: { a: { anyOf: [{ type: 'string' }, { type: 'null' }], allOf: [{ $ref: '#/definitions/missing' }] } } },
  { type: 'object', properties: { a: { type: 'toString' }, b: { enum: [1, null, {}] }, c: { const: 'x' }, d: { items: [{ type: 'string' }] } } },
)

const chatMessage = fc.oneof(
  fc.record({ role: fc.constantFrom('system', 'developer'), content: fc.oneof(text, fc.array(textPart, { minLength: 1, maxLength: 3 })) }),
  fc.record({ role: fc.constant('user'), content: fc.oneof(text, fc.array(textPart, { minLength: 1, maxLength: 3 })), name: text }, { requiredKeys: ['role', 'content'] }),
  fc.record({ role: fc.constant('assistant'), content: fc.option(text, { nil: null }) }),
)

export const validChat = fc.record(
  {
    model: fc.constantFrom(...CHAT_MODELS),
    messages: fc.array(chatMessage, { minLength: 1, maxLength: 4 }),
    max_tokens: positiveInt,
    max_completion_tokens: positiveInt,
    temperature: fc.double({ min: 0, max: 2, noNaN: true }),
    top_p: unit,
    frequency_penalty: fc.double({ min: -2, max: 2, noNaN: true }),
    n: fc.integer({ min: 1, max: 128 }),
    seed: fc.maxSafeInteger(),
    stop: fc.oneof(text, fc.array(text, { maxLength: 4 })),
    stream: fc.boolean(),
    stream_options: fc.record({ include_usage: fc.boolean() }),
    user: text,
    metadata: fc.dictionary(fc.string({ maxLength: 10 }), text, { maxKeys: 3 }),
    logit_bias: fc.dictionary(fc.string({ maxLength: 6 }), fc.integer({ min: -100, max: 100 }), { maxKeys: 3 }),
    reasoning_effort: fc.constantFrom('none', 'minimal', 'low', 'medium', 'high'),
    response_format: fc.constantFrom({ type: 'text' }, { type: 'json_object' }, { type: 'json_schema', json_schema: { name: 'out', schema: { type: 'object' } } }),
    tools: fc.array(fc.record({ type: fc.constant('function'), function: fc.record({ name: toolName, description: text, parameters: toolSchema }) }), { maxLength: 2 }),
    tool_choice: fc.constantFrom('none', 'auto', 'required'),
  },
  { requiredKeys: ['model', 'messages'] },
)

export const validEmbeddings = fc.record(
  {
    model: fc.constantFrom('openai/text-embedding-3-small', 'text-embedding-3-small', 'gemini/gemini-embedding-001', 'mistral/mistral-embed', 'cohere/embed-v4.0', 'openai/gpt-4o-mini'),
    input: fc.oneof(text, fc.array(text, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(100_000), { minLength: 1, maxLength: 10 }), fc.array(fc.array(fc.nat(), { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 3 })),
    dimensions: fc.integer({ min: 1, max: 4096 }),
    encoding_format: fc.constantFrom('float', 'base64'),
    user: text,
  },
  { requiredKeys: ['model', 'input'] },
)

export const validMessages = fc.record(
  {
    model: fc.constantFrom(...CHAT_MODELS),
    max_tokens: positiveInt,
    messages: fc.array(fc.record({ role: fc.constantFrom('user', 'assistant'), content: fc.oneof(text, fc.array(textPart, { minLength: 1, maxLength: 3 })) }), { minLength: 1, maxLength: 4 }),
    system: fc.oneof(text, fc.array(textPart, { maxLength: 2 })),
    stop_sequences: fc.array(text, { maxLength: 4 }),
    stream: fc.boolean(),
    metadata: fc.record({ user_id: fc.option(text, { nil: null }) }),
    thinking: fc.oneof(fc.constantFrom({ type: 'disabled' }, { type: 'adaptive' }), fc.record({ type: fc.constant('enabled'), budget_tokens: fc.integer({ min: 1024, max: 100_000 }) })),
    output_config: fc.record({ effort: fc.constantFrom('low', 'medium', 'high', 'xhigh', 'max') }),
    tools: fc.array(fc.record({ name: toolName, description: text, input_schema: toolSchema }), { maxLength: 2 }),
    tool_choice: fc.constantFrom({ type: 'auto' }, { type: 'any', disable_parallel_tool_use: true }, { type: 'none' }),
  },
  { requiredKeys: ['model', 'max_tokens', 'messages'] },
)
