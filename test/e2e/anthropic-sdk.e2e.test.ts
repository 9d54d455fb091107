import Anthropic from '@anthropic-ai/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway } from '../support/gateway-process.ts'
import type { RunningGateway } from '../support/gateway-process.ts'
import { anthropicMock } from '../mocks/anthropic.ts'
import { startMock } from '../mocks/mock-server.ts'
import type { RunningMock } from '../mocks/mock-server.ts'
import { openAiMock } from '../mocks/openai.ts'

/** The official `@anthropic-ai/sdk`, unmodified but for baseURL and apiKey, against the gateway's /v1/messages. */
const KEY = 'sg-test-anthropic-sdk-key-0001'
let gateway: RunningGateway
const mocks: RunningMock[] = []

beforeAll(async () => {
  const anthropicUpstream = await startMock(anthropicMock())
  const openaiUpstream = await startMock(openAiMock())
  mocks.push(anthropicUpstream, openaiUpstream)
  gateway = await startGateway({
    SUPERGATE_API_KEYS: KEY,
    SUPERGATE_ANTHROPIC_API_KEY: 'upstream-anthropic-key',
    SUPERGATE_ANTHROPIC_BASE_URL: `${anthropicUpstream.url}/v1`,
    SUPERGATE_OPENAI_API_KEY: 'upstream-openai-key',
    SUPERGATE_OPENAI_BASE_URL: `${openaiUpstream.url}/v1`,
    SUPERGATE_UPSTREAM_RETRIES: '0',
    SUPERGATE_BREAKER_FAILURES: '1000',
  })
}, 60_000)

afterAll(async () => {
  expect(await gateway?.stop()).toBe(0)
  for (const mock of mocks) await mock.close()
})

const client = (apiKey = KEY) => new Anthropic({ baseURL: gateway.url, apiKey, maxRetries: 0 })

const weatherTool: Anthropic.Tool = {
  name: 'get_weather',
  description: 'Current weather in a city',
  input_schema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
}

describe.each([
  { route: 'anthropic', model: 'anthropic/claude-sonnet-4-6' },
  { route: 'openai', model: 'openai/gpt-4o-mini' },
])('anthropic SDK → /v1/messages → $route', ({ route, model }) => {
  it('creates a message', async () => {
    const { data, response } = await client()
      .messages.create({ model, max_tokens: 256, system: 'Be brief.', messages: [{ role: 'user', content: 'Hello' }] })
      .withResponse()
    expect(response.headers.get('x-supergate-provider')).toBe(route)
    expect(data).toMatchObject({ type: 'message', role: 'assistant', model, stop_reason: 'end_turn' })
    const text = data.content.find((b) => b.type === 'text')
    expect(text?.type === 'text' && text.text.length > 0).toBe(true)
    expect(data.usage.input_tokens).toBeGreaterThan(0)
    expect(data.usage.output_tokens).toBeGreaterThan(0)
  })

  it('streams a message that the SDK assembles', async () => {
    const stream = client().messages.stream({ model, max_tokens: 256, messages: [{ role: 'user', content: 'Hello' }] })
    const events: string[] = []
    stream.on('streamEvent', (event) => events.push(event.type))
    const message = await stream.finalMessage()
    expect(events[0]).toBe('message_start')
    expect(events.at(-1)).toBe('message_stop')
    expect(events).toContain('content_block_delta')
    expect(message.content[0]?.type).toBe('text')
    expect(message.stop_reason).toBe('end_turn')
    expect(message.usage.output_tokens).toBeGreaterThan(0)
  })

  it('round-trips tool use', async () => {
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: '[scenario:tool_call] What is the weather in Paris?' }]
    const first = await client().messages.create({ model, max_tokens: 512, tools: [weatherTool], messages })
    expect(first.stop_reason).toBe('tool_use')
    const uses = first.content.filter((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use')
    expect(uses.length).toBeGreaterThan(0)
    for (const use of uses) expect(typeof use.input).toBe('object')
    messages.push({ role: 'assistant', content: first.content })
    messages.push({ role: 'user', content: uses.map((use) => ({ type: 'tool_result' as const, tool_use_id: use.id, content: '18°C and sunny' })) })
    const second = await client().messages.create({ model, max_tokens: 512, tools: [weatherTool], messages })
    expect(second.stop_reason).toBe('end_turn')
  })

  it('streams tool use with whole JSON inputs', async () => {
    const message = await client()
      .messages.stream({ model, max_tokens: 512, tools: [weatherTool], messages: [{ role: 'user', content: '[scenario:tool_call] Weather in Paris?' }] })
      .finalMessage()
    expect(message.stop_reason).toBe('tool_use')
    expect(message.content.some((b) => b.type === 'tool_use' && typeof b.input === 'object')).toBe(true)
  })
})

describe('anthropic SDK errors', () => {
  it('raises typed errors in Anthropic’s shape', async () => {
    await expect(client('sg-wrong-key-0000000000000').messages.create({ model: 'anthropic/claude-sonnet-4-6', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })).rejects.toBeInstanceOf(
      Anthropic.AuthenticationError,
    )
    await expect(client().messages.create({ model: 'no-such-model', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })).rejects.toBeInstanceOf(Anthropic.NotFoundError)
    const limited = await client()
      .messages.create({ model: 'anthropic/claude-sonnet-4-6', max_tokens: 10, messages: [{ role: 'user', content: '[scenario:error_429] hi' }] })
      .catch((e: unknown) => e)
    expect(limited).toBeInstanceOf(Anthropic.RateLimitError)
    const overloaded = await client()
      .messages.create({ model: 'anthropic/claude-sonnet-4-6', max_tokens: 10, messages: [{ role: 'user', content: '[scenario:overloaded] hi' }] })
      .catch((e: unknown) => e)
    expect(overloaded).toMatchObject({ status: 529, error: { type: 'error', error: { type: 'overloaded_error' } } })
    expect((overloaded as { headers?: Headers }).headers?.get('retry-after')).toEqual(expect.any(String))
  })

  it('answers a malformed body with invalid_request_error naming the field', async () => {
    const response = await fetch(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'anthropic-version': '2026-10-21' },
      body: JSON.stringify({ model: 'anthropic/claude-sonnet-4-6', messages: [{ role: 'user', content: 'hi' }] }),
    })
    expect(response.status).toBe(400)
    const body = (await response.json()) as { type: string; error: { type: string; message: string } }
    expect(body).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } })
    expect(body.error.message).toContain('max_tokens')
    const broken = await fetch(`${gateway.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body: '{"model":' })
    expect(broken.status).toBe(400)
    expect(await broken.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } })
  })

  it('accepts older clients: x-api-key with anthropic-version 2023-06-01 and temperature', async () => {
    const response = await fetch(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': KEY, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', max_tokens: 64, temperature: 0.2, messages: [{ role: 'user', content: 'hi' }] }),
    })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ type: 'message', role: 'assistant' })
  })
})
