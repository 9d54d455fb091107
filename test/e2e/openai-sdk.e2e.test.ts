import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ProviderName } from '../../gateway/providers/types.ts'
import { startGateway } from '../support/gateway-process.ts'
import type { RunningGateway } from '../support/gateway-process.ts'
import { startMock } from '../mocks/mock-server.ts'
import type { MockHandler, RunningMock } from '../mocks/mock-server.ts'
import { anthropicMock } from '../mocks/anthropic.ts'
import { cohereMock } from '../mocks/cohere.ts'
import { geminiMock } from '../mocks/gemini.ts'
import { mistralMock } from '../mocks/mistral.ts'
import { openAiMock } from '../mocks/openai.ts'

/**
 * The official `openai` SDK, unmodified but for baseURL and apiKey, against a running gateway whose
 * providers are wire-format mocks. Every provider answers the same client calls.
 */
interface ProviderCase {
  provider: ProviderName
  mock: () => MockHandler
  /** The API version path of the provider's base URL. */
  versionPath: string
  chatModel: string
  embeddingModel?: string
}

export const PROVIDER_CASES: ProviderCase[] = [
  { provider: 'openai', mock: openAiMock, versionPath: '/v1', chatModel: 'openai/gpt-4o-mini', embeddingModel: 'openai/text-embedding-3-small' },
  { provider: 'anthropic', mock: anthropicMock, versionPath: '/v1', chatModel: 'anthropic/claude-sonnet-4-6' },
  { provider: 'gemini', mock: geminiMock, versionPath: '/v1beta', chatModel: 'gemini/gemini-2.5-flash', embeddingModel: 'gemini/gemini-embedding-001' },
  { provider: 'mistral', mock: mistralMock, versionPath: '/v1', chatModel: 'mistral/mistral-small-latest', embeddingModel: 'mistral/mistral-embed' },
  { provider: 'cohere', mock: cohereMock, versionPath: '/v2', chatModel: 'cohere/command-a-03-2025', embeddingModel: 'cohere/embed-v4.0' },
]

const FULL_KEY = 'sg-test-full-access-key-0001'
const RESTRICTED_KEY = 'sg-test-restricted-key-0002'
const FALLBACK_KEY = 'sg-test-key-with-fallbacks-0003'

const mocks = new Map<ProviderName, RunningMock>()
let gateway: RunningGateway

beforeAll(async () => {
  const env: Record<string, string> = {
    SUPERGATE_API_KEYS: JSON.stringify([
      { key: FULL_KEY, name: 'full' },
      { key: RESTRICTED_KEY, name: 'restricted', allowedModels: ['openai/gpt-4o-mini'] },
      { key: FALLBACK_KEY, name: 'with fallbacks', fallbackModels: ['mistral/mistral-small-latest'] },
    ]),
    SUPERGATE_UPSTREAM_RETRIES: '2',
    SUPERGATE_UPSTREAM_TIMEOUT_MS: '1000',
    // The failure scenarios here would open a breaker meant for real outages; breakers have unit tests.
    SUPERGATE_BREAKER_FAILURES: '1000',
  }
  for (const c of PROVIDER_CASES) {
    const mock = await startMock(c.mock())
    mocks.set(c.provider, mock)
    env[`SUPERGATE_${c.provider.toUpperCase()}_API_KEY`] = `upstream-key-for-${c.provider}`
    env[`SUPERGATE_${c.provider.toUpperCase()}_BASE_URL`] = `${mock.url}${c.versionPath}`
  }
  gateway = await startGateway(env)
}, 60_000)

afterAll(async () => {
  expect(await gateway?.stop()).toBe(0)
  for (const mock of mocks.values()) await mock.close()
})

const client = (apiKey = FULL_KEY) => new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey, maxRetries: 0 })

const weatherTool: OpenAI.Chat.Completions.ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
  },
}

/** The metered calls the gateway logged, newest last. */
function metered(): { requestId: string; outcome: string; model: string; usage?: { promptTokens: number; completionTokens: number; estimated: boolean } }[] {
  return gateway
    .output()
    .split('\n')
    .filter((line) => line.includes('"call metered"'))
    .map((line) => (JSON.parse(line) as { metered: ReturnType<typeof metered>[number] }).metered)
}

describe.each(PROVIDER_CASES)('openai SDK → gateway → $provider', (c) => {
  it('completes a chat and reports usage', async () => {
    const { data, response } = await client()
      .chat.completions.create({ model: c.chatModel, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello' }] })
      .withResponse()
    expect(response.headers.get('x-supergate-provider')).toBe(c.provider)
    expect(data.object).toBe('chat.completion')
    expect(data.choices[0]?.message.content).toEqual(expect.any(String))
    expect(data.choices[0]?.message.content?.length).toBeGreaterThan(0)
    expect(data.choices[0]?.finish_reason).toBe('stop')
    expect(data.usage?.prompt_tokens).toBeGreaterThan(0)
    expect(data.usage?.total_tokens).toBe((data.usage?.prompt_tokens ?? 0) + (data.usage?.completion_tokens ?? 0))
  })

  it('streams a chat with usage in one last chunk when asked', async () => {
    const stream = await client().chat.completions.create({
      model: c.chatModel,
      messages: [{ role: 'user', content: 'Hello' }],
      stream: true,
      stream_options: { include_usage: true },
    })
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = []
    for await (const chunk of stream) chunks.push(chunk)
    const last = chunks.at(-1)!
    expect(last.choices).toEqual([])
    expect(last.usage?.total_tokens).toBeGreaterThan(0)
    expect(chunks.slice(0, -1).every((ch) => ch.usage === null && ch.choices.length > 0)).toBe(true)
    expect(chunks.map((ch) => ch.choices[0]?.delta.content ?? '').join('').length).toBeGreaterThan(0)
    expect(chunks.some((ch) => ch.choices[0]?.finish_reason === 'stop')).toBe(true)
    expect(new Set(chunks.map((ch) => ch.id)).size).toBe(1)
  })

  it('streams without usage when not asked, though the gateway still meters it', async () => {
    const stream = await client().chat.completions.create({ model: c.chatModel, messages: [{ role: 'user', content: 'Hello there' }], stream: true })
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = []
    for await (const chunk of stream) chunks.push(chunk)
    expect(chunks.length).toBeGreaterThan(0)
    expect(chunks.every((ch) => ch.choices.length > 0 && (ch.usage === undefined || ch.usage === null))).toBe(true)
    await new Promise((r) => setTimeout(r, 100))
    const record = metered().at(-1)
    expect(record?.outcome).toBe('completed')
    expect(record?.usage?.completionTokens).toBeGreaterThan(0)
    expect(record?.usage?.estimated).toBe(false)
  })

  it('round-trips a tool call', async () => {
    const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: 'user', content: '[scenario:tool_call] What is the weather in Paris?' }]
    const first = await client().chat.completions.create({ model: c.chatModel, messages, tools: [weatherTool] })
    const choice = first.choices[0]!
    expect(choice.finish_reason).toBe('tool_calls')
    const calls = choice.message.tool_calls ?? []
    expect(calls.length).toBeGreaterThan(0)
    for (const call of calls) {
      if (call.type !== 'function') throw new Error('expected a function call')
      expect(call.id).toEqual(expect.any(String))
      expect(typeof JSON.parse(call.function.arguments)).toBe('object')
    }
    messages.push(choice.message)
    for (const call of calls) messages.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify({ temperature_c: 18 }) })
    const second = await client().chat.completions.create({ model: c.chatModel, messages, tools: [weatherTool] })
    expect(second.choices[0]?.message.content?.length).toBeGreaterThan(0)
  })

  it('streams tool-call arguments as deltas that assemble to JSON', async () => {
    const stream = await client().chat.completions.create({
      model: c.chatModel,
      messages: [{ role: 'user', content: '[scenario:tool_call] Weather in Paris?' }],
      tools: [weatherTool],
      stream: true,
    })
    const args = new Map<number, string>()
    let finish: string | null = null
    for await (const chunk of stream) {
      for (const call of chunk.choices[0]?.delta.tool_calls ?? []) args.set(call.index, (args.get(call.index) ?? '') + (call.function?.arguments ?? ''))
      finish = chunk.choices[0]?.finish_reason ?? finish
    }
    expect(finish).toBe('tool_calls')
    expect(args.size).toBeGreaterThan(0)
    for (const text of args.values()) expect(typeof JSON.parse(text)).toBe('object')
  })

  it('ends a stream the provider drops with an error event, not a silent cut', async () => {
    // Depending on when the socket dies, the client gets a 502 before the stream opens or an error event in it.
    const failure = await (async () => {
      const stream = await client().chat.completions.create({ model: c.chatModel, messages: [{ role: 'user', content: '[scenario:drop] hi' }], stream: true })
      for await (const _chunk of stream) {
        // consume
      }
    })().catch((e: unknown) => e)
    expect(failure).toBeInstanceOf(OpenAI.APIError)
    expect(String((failure as Error).message)).toMatch(/provider|connection/)
  })

  it('surfaces upstream errors as the SDK’s typed errors', async () => {
    const ask = (content: string) => client().chat.completions.create({ model: c.chatModel, messages: [{ role: 'user', content }] })
    await expect(ask('[scenario:error_400] hi')).rejects.toBeInstanceOf(OpenAI.BadRequestError)
    const limited = await ask('[scenario:error_429] hi').catch((e: unknown) => e)
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError)
    expect((limited as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toBe('1')
    await expect(ask('[scenario:error_500] hi')).rejects.toMatchObject({ status: 502, code: 'upstream_error' })
    await expect(ask('[scenario:error_401] hi')).rejects.toMatchObject({ status: 502, code: 'upstream_authentication_failed' })
    await expect(ask('[scenario:malformed] hi')).rejects.toMatchObject({ status: 502, code: 'upstream_error' })
    await expect(ask('[scenario:reset] hi')).rejects.toMatchObject({ status: 502, code: 'upstream_error' })
  })

  it('retries a flaky provider until it answers', async () => {
    const reply = await client().chat.completions.create({ model: c.chatModel, messages: [{ role: 'user', content: `[scenario:flaky] ${c.provider} ${Date.now()}` }] })
    expect(reply.choices[0]?.message.content?.length).toBeGreaterThan(0)
  })
})

describe.each(PROVIDER_CASES.filter((c) => c.embeddingModel !== undefined))('openai SDK → gateway → $provider embeddings', (c) => {
  it('creates embeddings, base64 by default in the SDK', async () => {
    const result = await client().embeddings.create({ model: c.embeddingModel!, input: ['first text', 'second text'] })
    expect(result.data).toHaveLength(2)
    expect(result.data.map((d) => d.index)).toEqual([0, 1])
    for (const d of result.data) {
      expect(d.embedding.length).toBeGreaterThan(0)
      expect(d.embedding.every((x) => Number.isFinite(x))).toBe(true)
    }
    const floats = await client().embeddings.create({ model: c.embeddingModel!, input: 'first text', encoding_format: 'float' })
    // base64 carries float32: the same vector, rounded to float32.
    expect(result.data[0]!.embedding).toEqual(floats.data[0]!.embedding.map((x) => Math.fround(x)))
  })
})

describe('gateway behaviour the SDK sees', () => {
  it('rejects a missing or wrong API key with 401', async () => {
    await expect(client('sg-wrong-key-000000000000').models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError)
    const response = await fetch(`${gateway.url}/v1/models`)
    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ error: { code: 'invalid_api_key', type: 'authentication_error' } })
  })

  it('answers unknown and forbidden models with 404 model_not_found', async () => {
    const unknown = await client().chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e)
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError)
    expect(unknown).toMatchObject({ code: 'model_not_found', param: 'model' })
    const forbidden = await client(RESTRICTED_KEY).chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e)
    expect(forbidden).toBeInstanceOf(OpenAI.NotFoundError)
  })

  it('lists only the models a key may use', async () => {
    const all = (await client().models.list()).data.map((m) => m.id)
    expect(all).toEqual(expect.arrayContaining(PROVIDER_CASES.map((c) => c.chatModel)))
    const restricted = (await client(RESTRICTED_KEY).models.list()).data.map((m) => m.id)
    expect(restricted).toEqual(['openai/gpt-4o-mini'])
    expect((await client().models.retrieve('openai/gpt-4o-mini')).owned_by).toBe('openai')
  })

  it('falls back to the next model when the first keeps failing', async () => {
    const { data, response } = await client()
      .chat.completions.create(
        { model: 'openai/broken-model', messages: [{ role: 'user', content: 'hi' }] },
        { headers: { 'x-supergate-fallback-models': 'openai/gpt-4o-mini' } },
      )
      .withResponse()
    expect(response.headers.get('x-supergate-model')).toBe('openai/gpt-4o-mini')
    expect(data.choices[0]?.message.content?.length).toBeGreaterThan(0)
  })

  it('falls back along the key’s own chain when the request names none', async () => {
    const { response } = await client(FALLBACK_KEY)
      .chat.completions.create({ model: 'openai/broken-model', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse()
    expect(response.headers.get('x-supergate-model')).toBe('mistral/mistral-small-latest')
  })

  it('maps a provider overload to 503 with a retry hint', async () => {
    const overloaded = await client()
      .chat.completions.create({ model: 'anthropic/claude-sonnet-4-6', messages: [{ role: 'user', content: '[scenario:overloaded] hi' }] })
      .catch((e: unknown) => e)
    expect(overloaded).toMatchObject({ status: 503, code: 'provider_overloaded' })
    expect(Number((overloaded as { headers: Headers }).headers.get('retry-after'))).toBeGreaterThan(0)
  })

  it('times out a provider that does not answer, with 504', async () => {
    await expect(client().chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: '[scenario:slow] hi' }] })).rejects.toMatchObject({
      status: 504,
      code: 'upstream_timeout',
    })
  })

  it('relays an error the provider sends inside a stream as an error event', async () => {
    const stream = await client().chat.completions.create({
      model: 'anthropic/claude-sonnet-4-6',
      messages: [{ role: 'user', content: '[scenario:stream_error] hi' }],
      stream: true,
    })
    let text = ''
    const failure = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
    })().catch((e: unknown) => e)
    expect(text.length).toBeGreaterThan(0)
    expect(failure).toBeInstanceOf(OpenAI.APIError)
    expect((failure as { error?: { code?: string } }).error?.code).toBe('provider_overloaded')
  })

  it('names an unknown parameter in a 400', async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${FULL_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], temprature: 1 }),
    })
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({ error: { code: 'invalid_request', param: 'temprature', message: 'Unrecognized request argument supplied: temprature' } })
  })

  it('aborts the upstream call when the client disconnects, and still meters what was produced', async () => {
    const mock = mocks.get('openai')!
    const closedBefore = mock.closedEarly()
    const controller = new AbortController()
    const stream = await client().chat.completions.create(
      { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: '[scenario:slow_stream] tell me a story' }], stream: true },
      { signal: controller.signal },
    )
    const seen: string[] = []
    try {
      for await (const chunk of stream) {
        seen.push(chunk.choices[0]?.delta.content ?? '')
        if (seen.length === 2) controller.abort()
      }
    } catch {
      // The SDK may end the iteration quietly or throw an abort error: either way the client is gone.
    }
    expect(seen).toHaveLength(2)
    await expect.poll(() => mock.closedEarly(), { timeout: 5_000 }).toBe(closedBefore + 1)
    await expect.poll(() => metered().at(-1)?.outcome, { timeout: 5_000 }).toBe('client_disconnected')
    const record = metered().at(-1)!
    expect(record.usage?.estimated).toBe(true)
    expect(record.usage?.completionTokens).toBeGreaterThan(0)
  })
})
