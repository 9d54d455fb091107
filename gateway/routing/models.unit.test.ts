import { describe, expect, it } from 'vitest'
import { ADAPTERS } from '../providers/registry.ts'
import type { ProviderName } from '../providers/types.ts'
import { ModelRouter, matchesPattern } from './models.ts'

const everyone = { keyId: 'k', name: 'k', tenantId: 't', role: 'developer' as const }
const router = (available: ProviderName[] = ['openai', 'anthropic', 'gemini', 'cohere', 'mistral']) =>
  new ModelRouter({ adapters: ADAPTERS, aliases: { fast: 'anthropic/claude-haiku-4-5', cheap: 'mistral/mistral-small-latest' }, isAvailable: (p) => available.includes(p) })

describe('ModelRouter', () => {
  it('resolves provider/model, bare ids by prefix, and aliases', () => {
    const r = router()
    expect(r.resolve('anthropic/claude-sonnet-4-6', everyone)).toMatchObject({ model: 'claude-sonnet-4-6', qualified: 'anthropic/claude-sonnet-4-6' })
    expect(r.resolve('gpt-4o', everyone).qualified).toBe('openai/gpt-4o')
    expect(r.resolve('gemini-2.5-flash', everyone).qualified).toBe('gemini/gemini-2.5-flash')
    expect(r.resolve('command-a-03-2025', everyone).qualified).toBe('cohere/command-a-03-2025')
    expect(r.resolve('mistral-large-latest', everyone).qualified).toBe('mistral/mistral-large-latest')
    expect(r.resolve('fast', everyone).qualified).toBe('anthropic/claude-haiku-4-5')
  })

  it('answers model_not_found for unknown models and providers without a credential', () => {
    expect(() => router().resolve('llama-3', everyone)).toThrow(expect.objectContaining({ code: 'model_not_found', status: 404, param: 'model' }))
    expect(() => router().resolve('nobody/model', everyone)).toThrow(expect.objectContaining({ code: 'model_not_found' }))
    expect(() => router(['openai']).resolve('claude-sonnet-4-6', everyone)).toThrow(expect.objectContaining({ code: 'model_not_found' }))
  })

  it('answers model_not_found for a model named after a member of Object.prototype', () => {
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
      expect(() => router().resolve(name, everyone), name).toThrow(expect.objectContaining({ code: 'model_not_found' }))
    }
  })

  it('hides models a key may not use behind the same 404, and lists only the allowed ones', () => {
    const restricted = { ...everyone, allowedModels: ['openai/*', 'fast'] }
    const r = router()
    expect(r.resolve('gpt-4o-mini', restricted).qualified).toBe('openai/gpt-4o-mini')
    expect(r.resolve('fast', restricted).qualified).toBe('anthropic/claude-haiku-4-5')
    expect(() => r.resolve('anthropic/claude-haiku-4-5', restricted)).toThrow(expect.objectContaining({ code: 'model_not_found' }))
    const listed = r.list(restricted).map((m) => m.id)
    expect(listed).toContain('openai/gpt-4o')
    expect(listed).toContain('fast')
    expect(listed.some((id) => id.startsWith('anthropic/') || id === 'cheap')).toBe(false)
  })

  it('matches allow-list patterns', () => {
    expect(matchesPattern('openai/gpt-4o', '*')).toBe(true)
    expect(matchesPattern('openai/gpt-4o', 'openai/gpt-4*')).toBe(true)
    expect(matchesPattern('openai/o3', 'openai/gpt-*')).toBe(false)
    expect(matchesPattern('openai/gpt-4o', 'openai/gpt-4o-mini')).toBe(false)
  })
})
