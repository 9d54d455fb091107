import { describe, expect, it } from 'vitest'
import type { ChatCompletion, ChatCompletionRequest } from '../api/chat-completions.ts'
import type { Principal } from '../auth/api-keys.ts'
import { DEFAULT_CACHE_SETTINGS } from '../control/settings.ts'
import type { CacheSettings } from '../control/settings.ts'
import { cacheKeys } from './canonical.ts'
import type { CacheEntry, CacheStore } from './cache-store.ts'
import { cacheDirectives, CompletionAssembler, replayChunks, ResponseCache, semanticAllowed } from './response-cache.ts'

const body = (over: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], ...over })
const keys = (b: ChatCompletionRequest, partition = 'tenant', model = 'openai/gpt-4o-mini') => cacheKeys(b, partition, model, 'local/e')

describe('cache keys', () => {
  it('ignore how the answer is delivered, and nothing that changes it', () => {
    const k = keys(body())
    expect(keys(body({ stream: true, stream_options: { include_usage: true }, user: 'u1', metadata: { a: 'b' } })).exactKey).toBe(k.exactKey)
    for (const changed of [body({ temperature: 0.5 }), body({ max_tokens: 5 }), body({ seed: 1 }), body({ stop: 'x' }), body({ messages: [{ role: 'user', content: 'Hi!' }] })]) {
      expect(keys(changed).exactKey).not.toBe(k.exactKey)
    }
    expect(keys(body(), 'project:p1').exactKey).not.toBe(k.exactKey)
    expect(keys(body(), 'tenant', 'openai/gpt-4o').exactKey).not.toBe(k.exactKey)
  })

  it('key semantic matches on everything but the last user message, which is the prompt', () => {
    const a = keys(body({ messages: [{ role: 'system', content: 'Be brief' }, { role: 'user', content: 'Capital of France?' }] }))
    const b = keys(body({ messages: [{ role: 'system', content: 'Be brief' }, { role: 'user', content: 'France capital?' }] }))
    const c = keys(body({ messages: [{ role: 'system', content: 'Be verbose' }, { role: 'user', content: 'France capital?' }] }))
    expect(a.semanticKey).toBe(b.semanticKey)
    expect(c.semanticKey).not.toBe(a.semanticKey)
    expect(a.prompt).toBe('Capital of France?')
    expect(cacheKeys(body(), 'tenant', 'openai/gpt-4o-mini', 'local/other').semanticKey).not.toBe(keys(body()).semanticKey)
    // A last message with an image, or from the assistant: exact only.
    expect(keys(body({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }] })).prompt).toBeNull()
    expect(keys(body({ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }] })).prompt).toBeNull()
  })
})

describe('cache policy', () => {
  const settings = (over: Partial<CacheSettings>): CacheSettings => ({ ...DEFAULT_CACHE_SETTINGS, mode: 'semantic', ...over })

  it('reads cache-control as HTTP does', () => {
    expect(cacheDirectives(undefined)).toEqual({ read: true, write: true })
    expect(cacheDirectives('no-cache')).toEqual({ read: false, write: true })
    expect(cacheDirectives('max-age=0, No-Store')).toEqual({ read: false, write: false })
  })

  it('allows semantic reuse only at a low temperature and without tools, unless opted in', () => {
    expect(semanticAllowed(settings({}), body({ temperature: 0 }))).toBe(true)
    expect(semanticAllowed(settings({}), body())).toBe(false)
    expect(semanticAllowed(settings({ semanticMaxTemperature: 1 }), body())).toBe(true)
    const tools = [{ type: 'function' as const, function: { name: 'f' } }]
    expect(semanticAllowed(settings({}), body({ temperature: 0, tools }))).toBe(false)
    expect(semanticAllowed(settings({ semanticWithTools: true }), body({ temperature: 0, tools }))).toBe(true)
    expect(semanticAllowed(settings({ mode: 'exact' }), body({ temperature: 0 }))).toBe(false)
  })

  it('goes to the provider, uncached, when the store fails, and says so once', async () => {
    const errors: string[] = []
    const failing: CacheStore = {
      getExact: () => Promise.reject(new Error('db down')),
      nearest: () => Promise.reject(new Error('db down')),
      put: (_e: CacheEntry) => Promise.resolve(),
      count: () => Promise.resolve(0),
      flush: () => Promise.resolve(),
    }
    const cache = new ResponseCache({
      store: failing,
      settingsFor: () => ({ ...DEFAULT_CACHE_SETTINGS, mode: 'exact' }),
      embedderFor: () => ({ id: 'x', dimensions: 384, embed: () => Promise.resolve([]) }),
      onError: (error, stage) => errors.push(`${stage}: ${(error as Error).message}`),
    })
    const principal: Principal = { keyId: 'k', name: 'k', tenantId: 't', role: 'developer' }
    expect(await cache.lookup(principal, body(), 'openai/gpt-4o-mini', undefined)).toEqual({ status: 'bypass' })
    expect(errors).toEqual(['lookup: db down'])
  })
})

describe('stream replay and assembly', () => {
  const completion: ChatCompletion = {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o-mini',
    choices: [
      { index: 0, message: { role: 'assistant', content: 'x'.repeat(150), refusal: null }, finish_reason: 'stop', logprobs: null },
      {
        index: 1,
        message: { role: 'assistant', content: null, refusal: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] },
        finish_reason: 'tool_calls',
        logprobs: null,
      },
    ],
  }
  const usage = { promptTokens: 3, completionTokens: 4, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false }

  it('replays a completion as chunks that assemble back to it, usage last when asked', () => {
    const chunks = replayChunks(completion, usage, true)
    expect(chunks.filter((c) => c.choices[0]?.index === 0 && c.choices[0].delta.content !== undefined && c.choices[0].delta.content !== '').length).toBe(3)
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } })
    const assembler = new CompletionAssembler()
    for (const chunk of chunks) assembler.add(chunk)
    expect(assembler.completion()).toEqual(completion)
    expect(replayChunks(completion, usage, false).some((c) => c.usage !== undefined)).toBe(false)
  })

  it('assembles nothing from a stream that did not finish', () => {
    const assembler = new CompletionAssembler()
    for (const chunk of replayChunks(completion, usage, false).filter((c) => c.choices[0]?.finish_reason === null)) assembler.add(chunk)
    expect(assembler.completion()).toBeUndefined()
  })
})
