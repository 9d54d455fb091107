import { describe, expect, it } from 'vitest'
import type { PriceOverride } from '../control/settings.ts'
import { ADAPTERS } from '../providers/registry.ts'
import type { NormalizedUsage } from '../providers/types.ts'
import { costMicroUsd, UNPRICED_SUFFIX } from './cost.ts'
import { lookupPrice, PRICE_TABLE_VERSION } from './price-table.ts'

const usage = (u: Partial<NormalizedUsage>): NormalizedUsage => ({
  promptTokens: 0, completionTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false, ...u,
})
const override = (o: Partial<PriceOverride>): PriceOverride => ({
  inputMicroUsdPerMillion: null, outputMicroUsdPerMillion: null, cachedInputMicroUsdPerMillion: null, markupBasisPoints: 0, ...o,
})

describe('costMicroUsd', () => {
  it('prices a single token, rounding half up once', () => {
    // Opus 4.8: $5 in, $25 out per million → 5 and 25 micro-USD per token.
    expect(costMicroUsd('anthropic/claude-opus-4-8', usage({ promptTokens: 1 })).costMicroUsd).toBe(5)
    expect(costMicroUsd('anthropic/claude-opus-4-8', usage({ completionTokens: 1 })).costMicroUsd).toBe(25)
    // gpt-5 input $1.25/M: 1 token is 1.25 → 1; 2 tokens are 2.5 → 3.
    expect(costMicroUsd('openai/gpt-5', usage({ promptTokens: 1 })).costMicroUsd).toBe(1)
    expect(costMicroUsd('openai/gpt-5', usage({ promptTokens: 2 })).costMicroUsd).toBe(3)
    // gpt-5-nano input $0.05/M: one token is 0.05 micro-USD, which rounds to 0 (it is still priced).
    expect(costMicroUsd('openai/gpt-5-nano', usage({ promptTokens: 1 }))).toEqual({ costMicroUsd: 0, priceVersion: PRICE_TABLE_VERSION, priced: true })
  })

  it('bills cached tokens at the cached rate only and reasoning tokens once, as output', () => {
    // gpt-5: 200 uncached × 1.25 + 1000 cached × 0.125 + 300 out × 10 = 250 + 125 + 3000.
    const withReasoning = costMicroUsd('openai/gpt-5', usage({ promptTokens: 1200, cachedTokens: 1000, completionTokens: 300, reasoningTokens: 120 }))
    expect(withReasoning).toEqual({ costMicroUsd: 3375, priceVersion: PRICE_TABLE_VERSION, priced: true })
    expect(costMicroUsd('openai/gpt-5', usage({ promptTokens: 1200, cachedTokens: 1000, completionTokens: 300 })).costMicroUsd).toBe(3375)
  })

  it('bills Anthropic cache writes at the write rate', () => {
    // Sonnet 4.6: 2000 × 3 + 6000 × 0.3 + 2000 × 3.75 + 500 × 15 = 6000 + 1800 + 7500 + 7500.
    const cost = costMicroUsd('anthropic/claude-sonnet-4-6', usage({ promptTokens: 10_000, cachedTokens: 6000, cacheWriteTokens: 2000, completionTokens: 500 }))
    expect(cost.costMicroUsd).toBe(22_800)
  })

  it('bills a whole Gemini Pro request at the long-context rate above 200k prompt tokens', () => {
    // 200,000 × 1.25 + 1000 × 10 = 260,000; 200,001 × 2.5 + 1000 × 15 = 515,002.5 → 515,003.
    expect(costMicroUsd('gemini/gemini-2.5-pro', usage({ promptTokens: 200_000, completionTokens: 1000 })).costMicroUsd).toBe(260_000)
    expect(costMicroUsd('gemini/gemini-2.5-pro', usage({ promptTokens: 200_001, completionTokens: 1000 })).costMicroUsd).toBe(515_003)
  })

  it('prices embeddings by input tokens', () => {
    expect(costMicroUsd('openai/text-embedding-3-small', usage({ promptTokens: 1_000_000 })).costMicroUsd).toBe(20_000)
    expect(costMicroUsd('cohere/command-r7b-12-2024', usage({ promptTokens: 1_000_000, completionTokens: 1_000_000 })).costMicroUsd).toBe(187_500)
  })

  it('stays exact when token × rate products pass 2^53', () => {
    // (2^53 − 1) tokens × 150,000 micro-USD per million = 1,351,079,888,211,148.65 → …149.
    const max = Number.MAX_SAFE_INTEGER
    expect(costMicroUsd('openai/gpt-4o-mini', usage({ promptTokens: max })).costMicroUsd).toBe(1_351_079_888_211_149)
    // 4,503,599,627,370,497 × 0.025 (gpt-5-mini cached) = 112,589,990,684,262.425 → …262.
    expect(costMicroUsd('openai/gpt-5-mini', usage({ promptTokens: 4_503_599_627_370_497, cachedTokens: 4_503_599_627_370_497 })).costMicroUsd).toBe(112_589_990_684_262)
    expect(() => costMicroUsd('anthropic/claude-fable-5', usage({ completionTokens: max }))).toThrow(/cannot be held exactly/)
  })

  it('applies a tenant override rate by rate, then the markup on top, rounding once', () => {
    const tokens = usage({ promptTokens: 1_000_000, completionTokens: 1_000_000 })
    // gpt-5 with input overridden to $1/M and output kept at $10/M.
    expect(costMicroUsd('openai/gpt-5', tokens, override({ inputMicroUsdPerMillion: 1_000_000 })).costMicroUsd).toBe(11_000_000)
    // …plus 2.5 % markup: 11,275,000.
    expect(costMicroUsd('openai/gpt-5', tokens, override({ inputMicroUsdPerMillion: 1_000_000, markupBasisPoints: 250 })).costMicroUsd).toBe(11_275_000)
    // One gpt-5 prompt token is 1.25; +20 % is 1.5 → 2. Rounding before the markup would give 1.2 → 1.
    expect(costMicroUsd('openai/gpt-5', usage({ promptTokens: 1 }), override({ markupBasisPoints: 2000 })).costMicroUsd).toBe(2)
    // A cached-input override replaces only the cached rate: 1000 × 0.5 instead of 1000 × 0.125.
    expect(costMicroUsd('openai/gpt-5', usage({ promptTokens: 1000, cachedTokens: 1000 }), override({ cachedInputMicroUsdPerMillion: 500_000 })).costMicroUsd).toBe(500)
  })

  it('makes an unknown model visible: 0, priced false, and an unpriced price version', () => {
    const tokens = usage({ promptTokens: 1000, completionTokens: 1000 })
    expect(costMicroUsd('openai/gpt-9', tokens)).toEqual({ costMicroUsd: 0, priceVersion: `${PRICE_TABLE_VERSION}${UNPRICED_SUFFIX}`, priced: false })
    expect(costMicroUsd('openai/toString', tokens).priced).toBe(false)
    // An override with only an input rate still leaves the output unpriced.
    expect(costMicroUsd('openai/gpt-9', tokens, override({ inputMicroUsdPerMillion: 1_000_000 })).priced).toBe(false)
    // With input and output rates the tenant has priced the model itself: 1000 × 1 + 1000 × 2 = 3000.
    const priced = costMicroUsd('openai/gpt-9', tokens, override({ inputMicroUsdPerMillion: 1_000_000, outputMicroUsdPerMillion: 2_000_000 }))
    expect(priced).toEqual({ costMicroUsd: 3000, priceVersion: PRICE_TABLE_VERSION, priced: true })
  })

  it('prices a dated Anthropic snapshot as its base model', () => {
    expect(costMicroUsd('anthropic/claude-haiku-4-5-20251001', usage({ completionTokens: 1000 })).costMicroUsd).toBe(5000)
  })

  it('rejects usage that does not add up', () => {
    expect(() => costMicroUsd('openai/gpt-5', usage({ promptTokens: 10, cachedTokens: 11 }))).toThrow(/exceed promptTokens/)
    expect(() => costMicroUsd('openai/gpt-5', usage({ completionTokens: 1.5 }))).toThrow(/usage\.completionTokens/)
    expect(() => costMicroUsd('openai/gpt-5', usage({ promptTokens: -1 }))).toThrow(/usage\.promptTokens/)
  })
})

describe('price table', () => {
  /** Models a provider lists but that have no public per-token price we could confirm (see price-table.ts). */
  const KNOWN_UNPRICED = new Set([
    'anthropic/claude-fable-5-2', 'anthropic/claude-haiku-5-5', 'anthropic/claude-sonnet-5-5',
    'cohere/command-a-plus-05-2026', 'cohere/command-a-reasoning-08-2025', 'cohere/command-a-vision-07-2025',
    'mistral/voxtral-mini-latest', 'mistral/codestral-embed',
  ])

  it('prices every model the gateway lists, except the known unpriced ones', () => {
    const listed = ADAPTERS.flatMap((adapter) => adapter.models.map((m) => `${adapter.name}/${m.id}`))
    expect(listed.filter((model) => lookupPrice(model) === undefined && !KNOWN_UNPRICED.has(model))).toEqual([])
    expect([...KNOWN_UNPRICED].filter((model) => !listed.includes(model) || lookupPrice(model) !== undefined)).toEqual([])
  })

  it('holds only whole, non-negative micro-USD figures, with no output price on embedding models', () => {
    for (const adapter of ADAPTERS) {
      for (const { id, kind } of adapter.models) {
        const price = lookupPrice(`${adapter.name}/${id}`)
        if (price === undefined) continue
        for (const value of [price.inputMicroUsdPerMillion, price.outputMicroUsdPerMillion, price.cachedInputMicroUsdPerMillion ?? 0, price.cacheWriteMicroUsdPerMillion ?? 0]) {
          expect(Number.isSafeInteger(value) && value >= 0, `${adapter.name}/${id}`).toBe(true)
        }
        if (kind === 'embedding') expect(price.outputMicroUsdPerMillion, `${adapter.name}/${id}`).toBe(0)
      }
    }
  })
})
