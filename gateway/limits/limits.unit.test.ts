import { describe, expect, it } from 'vitest'
import type { Principal } from '../auth/api-keys.ts'
import { GatewayError } from '../errors.ts'
import type { Admission } from './admission.ts'
import { estimatePrompt, estimatePromptTokens, maxOutputTokens } from './demand.ts'
import { budgetPeriod, callScopes, formatReset, Limits, planAdmission, withKeyLimits, worstCaseCostMicroUsd } from './limits.ts'
import type { CallDemand, SeedRequest, TenantLimits } from './limits.ts'
import { MemoryRateLimiter } from './memory-rate-limiter.ts'

const principal: Principal = { keyId: 'key_a', name: 'a', tenantId: 'ten_1', role: 'developer', projectId: 'prj_1' }
// gpt-4o-mini: 0.15 USD per million input tokens, 0.60 per million output (gateway/pricing/price-table.ts).
const demand: CallDemand = { models: ['openai/gpt-4o-mini'], promptTokens: 1000, maxOutputTokens: 500 }
const WORST = 150 + 300

function limitsOf(partial: Partial<TenantLimits>): TenantLimits {
  return { rateLimits: new Map(), budgets: [], creditedMicroUsd: 0, policy: 'fail_open', ...partial }
}

async function refusal(promise: unknown): Promise<GatewayError> {
  try {
    await promise
  } catch (error) {
    if (error instanceof GatewayError) return error
    throw error
  }
  throw new Error('the call was admitted')
}

describe('admission planning', () => {
  it('prices the worst case at the dearest model the call may fall back to', () => {
    expect(worstCaseCostMicroUsd(demand, () => undefined)).toBe(WORST)
    // gpt-4o: 2.50 / 10.00 USD per million.
    expect(worstCaseCostMicroUsd({ ...demand, models: ['openai/gpt-4o-mini', 'openai/gpt-4o'] }, () => undefined)).toBe(2500 + 5000)
    expect(worstCaseCostMicroUsd({ ...demand, models: ['openai/gpt-4o-mini'] }, () => ({ inputMicroUsdPerMillion: 1_000_000, outputMicroUsdPerMillion: null, cachedInputMicroUsdPerMillion: null, markupBasisPoints: 0 }))).toBe(1000 + 300)
  })

  it('counts a call towards its key, project and tenant', () => {
    expect(callScopes(principal)).toEqual(['key:key_a', 'project:prj_1', 'tenant'])
    expect(callScopes({ keyId: 'key_b', projectId: null })).toEqual(['key:key_b', 'tenant'])
  })

  it('keys budgets by UTC period and keeps them a day past its end', () => {
    const now = Date.parse('2026-02-28T23:00:00Z')
    expect(budgetPeriod(now, 'day')).toEqual({ start: '2026-02-28', ttlSeconds: 3600 + 86_400 })
    expect(budgetPeriod(now, 'month')).toEqual({ start: '2026-02-01', ttlSeconds: 3600 + 86_400 })
  })

  it("writes reset durations as OpenAI does", () => {
    expect([formatReset(20), formatReset(999.2), formatReset(1000), formatReset(1500), formatReset(59_999), formatReset(360_000), formatReset(61_500)]).toEqual([
      '20ms',
      '1s',
      '1s',
      '1.5s',
      '59.999s',
      '6m0s',
      '1m1.5s',
    ])
  })

  it('plans buckets, slots and reservations only for the scopes that have limits', () => {
    const limits = limitsOf({
      rateLimits: new Map([
        ['key:key_a', { requestsPerMinute: 60, tokensPerMinute: null, concurrentRequests: 2 }],
        ['tenant', { requestsPerMinute: null, tokensPerMinute: 90_000, concurrentRequests: null }],
        ['key:other', { requestsPerMinute: 1, tokensPerMinute: 1, concurrentRequests: 1 }],
      ]),
      budgets: [
        { scope: 'project:prj_1', period: 'day', limitMicroUsd: 5_000 },
        { scope: 'project:prj_2', period: 'day', limitMicroUsd: 1 },
      ],
      creditedMicroUsd: 1_000_000,
    })
    const plan = planAdmission(principal, limits, demand, WORST, 'id1', 60_000, Date.parse('2026-11-25T10:00:00Z'))!
    expect(plan.request.buckets).toEqual([
      { key: 'rpm:ten_1:key:key_a', capacity: 60, refillPerSecond: 1, cost: 1 },
      { key: 'tpm:ten_1:tenant', capacity: 90_000, refillPerSecond: 1500, cost: 1500 },
    ])
    expect(plan.request.concurrency).toEqual([{ key: 'conc:ten_1:key:key_a', limit: 2 }])
    expect(plan.request.budgets.map((b) => [b.key, b.limitMicroUsd, b.reserveMicroUsd])).toEqual([
      ['budget:ten_1:project:prj_1:day:2026-11-25', 5_000, WORST],
      ['balance:ten_1', 1_000_000, WORST],
    ])
    expect(planAdmission(principal, limitsOf({ rateLimits: new Map([['key:other', { requestsPerMinute: 1, tokensPerMinute: null, concurrentRequests: null }]]) }), demand, 0, 'id', 1, 0)).toBeNull()
  })
})

describe('Limits', () => {
  const setup = (tenant: TenantLimits | undefined, limiter: Admission = new MemoryRateLimiter(), seeds = new Map<string, number>()) => {
    const seen: SeedRequest[][] = []
    const unavailable: string[] = []
    const limits = new Limits({
      limiter,
      limitsFor: () => tenant,
      priceOverride: () => undefined,
      seed: (requests) => {
        seen.push([...requests])
        return Promise.resolve(seeds)
      },
      onUnavailable: (_tenant, policy) => unavailable.push(policy),
    })
    return { limits, seen, unavailable }
  }

  it('applies the limits a key was issued with when its scope has no rate limit of its own', async () => {
    const { limits } = setup(undefined)
    const keyed = { ...principal, keyLimits: { requestsPerMinute: 1 } }
    expect((await limits.admit(keyed, () => demand)).headers).toMatchObject({ 'x-ratelimit-limit-requests': '1' })
    expect(await refusal(limits.admit(keyed, () => demand))).toMatchObject({ code: 'rate_limit_exceeded' })
    const overridden = withKeyLimits(limitsOf({ rateLimits: new Map([['key:key_a', { requestsPerMinute: 5, tokensPerMinute: null, concurrentRequests: null }]]) }), keyed)
    expect(overridden?.rateLimits.get('key:key_a')?.requestsPerMinute).toBe(5)
  })

  it('admits a tenant without limits synchronously, without estimating anything', () => {
    const { limits } = setup(undefined)
    const ticket = limits.admit(principal, () => {
      throw new Error('estimated')
    })
    expect(ticket).not.toBeInstanceOf(Promise)
    expect(ticket).toMatchObject({ headers: {} })
  })

  it('answers with OpenAI rate-limit headers, then refuses with 429, retry-after and the same headers', async () => {
    const { limits } = setup(limitsOf({ rateLimits: new Map([['key:key_a', { requestsPerMinute: 2, tokensPerMinute: 10_000, concurrentRequests: null }]]) }))
    const first = await limits.admit(principal, () => demand)
    expect(first.headers).toMatchObject({ 'x-ratelimit-limit-requests': '2', 'x-ratelimit-remaining-requests': '1', 'x-ratelimit-limit-tokens': '10000', 'x-ratelimit-remaining-tokens': '8500' })
    await limits.admit(principal, () => demand)
    const refused = await refusal(limits.admit(principal, () => demand))
    expect(refused).toMatchObject({ code: 'rate_limit_exceeded', status: 429 })
    expect(refused.retryAfterMs).toBeGreaterThan(0)
    expect(refused.retryAfterMs).toBeLessThanOrEqual(30_000)
    expect(refused.headers).toMatchObject({ 'x-ratelimit-remaining-requests': '0' })
    expect(refused.message).toContain('key:key_a')
  })

  it('refuses a call that alone needs more tokens than the per-minute limit, without a retry-after', async () => {
    const { limits } = setup(limitsOf({ rateLimits: new Map([['tenant', { requestsPerMinute: null, tokensPerMinute: 1000, concurrentRequests: null }]]) }))
    const refused = await refusal(limits.admit(principal, () => demand))
    expect(refused).toMatchObject({ code: 'rate_limit_exceeded', retryAfterMs: undefined })
    expect(refused.message).toMatch(/needs about 1500 tokens.*1000 tokens per minute/)
  })

  it('gives tokens back after the call when it used fewer than estimated', async () => {
    const { limits } = setup(limitsOf({ rateLimits: new Map([['tenant', { requestsPerMinute: null, tokensPerMinute: 3200, concurrentRequests: null }]]) }))
    const ticket = await limits.admit(principal, () => demand)
    await limits.admit(principal, () => demand)
    await refusal(limits.admit(principal, () => demand))
    ticket.settle('openai/gpt-4o-mini', { promptTokens: 100, completionTokens: 50, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false })
    await new Promise((r) => setImmediate(r))
    // 200 left + 1,350 back (1,500 estimated, 150 used): room for a call of 1,500 again.
    expect((await limits.admit(principal, () => demand)).headers['x-ratelimit-remaining-tokens']).toMatch(/^5\d$/)
  })

  it('holds a concurrency slot until the call settles', async () => {
    const { limits } = setup(limitsOf({ rateLimits: new Map([['project:prj_1', { requestsPerMinute: null, tokensPerMinute: null, concurrentRequests: 1 }]]) }))
    const ticket = await limits.admit(principal, () => demand)
    expect(await refusal(limits.admit(principal, () => demand))).toMatchObject({ code: 'concurrency_limit_exceeded', status: 429 })
    ticket.settle(undefined, undefined)
    await new Promise((r) => setImmediate(r))
    await limits.admit(principal, () => demand)
  })

  it('seeds a new budget counter from the spend projection, then refuses a call whose worst case does not fit', async () => {
    const key = `budget:ten_1:tenant:day:${budgetPeriod(Date.now(), 'day').start}`
    const { limits, seen } = setup(limitsOf({ budgets: [{ scope: 'tenant', period: 'day', limitMicroUsd: 1_000 }] }), new MemoryRateLimiter(), new Map([[key, 200]]))
    const ticket = await limits.admit(principal, () => demand)
    expect(seen).toEqual([[{ key, tenantId: 'ten_1', kind: { type: 'budget', scope: 'tenant', period: 'day', periodStart: key.split(':').at(-1) } }]])
    // 200 spent + 450 reserved: another 450 would make 1,100 > 1,000.
    const refused = await refusal(limits.admit(principal, () => demand))
    expect(refused).toMatchObject({ code: 'budget_exceeded', status: 402 })
    expect(refused.message).toMatch(/up to 450 µUSD.*day budget of tenant.*limit 1000 µUSD, spent 200, reserved by calls in flight 450/)
    // Settled at its real cost (100 + 30 µUSD), the reservation is gone: 330 spent leaves room for 450.
    ticket.settle('openai/gpt-4o-mini', { promptTokens: 666, completionTokens: 50, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false })
    await new Promise((r) => setImmediate(r))
    await limits.admit(principal, () => demand)
    expect(seen).toHaveLength(1)
  })

  it('refuses once the prepaid balance cannot cover the worst case', async () => {
    const { limits } = setup(limitsOf({ creditedMicroUsd: 800 }), new MemoryRateLimiter(), new Map([['balance:ten_1', 0]]))
    await limits.admit(principal, () => demand)
    const refused = await refusal(limits.admit(principal, () => demand))
    expect(refused.message).toContain('the prepaid balance')
  })

  it('refuses as over budget, not as a failure, a call whose worst case passes 2^53 micro-USD', async () => {
    // gpt-4o: 10 USD per million output tokens, so 2^53 tokens cost about 9 × 10^16 µUSD.
    const huge: CallDemand = { ...demand, models: ['openai/gpt-4o'], maxOutputTokens: Number.MAX_SAFE_INTEGER }
    expect(worstCaseCostMicroUsd(huge, () => undefined)).toBe(Number.MAX_SAFE_INTEGER)
    const { limits } = setup(limitsOf({ budgets: [{ scope: 'tenant', period: 'day', limitMicroUsd: Number.MAX_SAFE_INTEGER - 1 }] }), new MemoryRateLimiter(), new Map())
    expect(await refusal(limits.admit(principal, () => huge))).toMatchObject({ code: 'budget_exceeded', status: 402 })
  })

  it('applies the tenant policy when the limiter cannot be reached, and reports it', async () => {
    const down: Admission = { admit: () => Promise.reject(new Error('ECONNREFUSED')), settle: () => Promise.reject(new Error('ECONNREFUSED')) }
    const rate = new Map([['tenant', { requestsPerMinute: 1, tokensPerMinute: null, concurrentRequests: null }]])
    const open = setup(limitsOf({ rateLimits: rate, policy: 'fail_open' }), down)
    expect((await open.limits.admit(principal, () => demand)).headers).toEqual({})
    const closed = setup(limitsOf({ rateLimits: rate, policy: 'fail_closed' }), down)
    expect(await refusal(closed.limits.admit(principal, () => demand))).toMatchObject({ code: 'limits_unavailable', status: 503 })
    expect([...open.unavailable, ...closed.unavailable]).toEqual(['fail_open', 'fail_closed'])
  })
})

describe('demand estimates', () => {
  it('counts the text of messages, system prompt and tools at about four characters a token, skipping inline images', () => {
    const text = 'x'.repeat(400)
    // 400 characters of content and 4 of role: 101 tokens, and 4 for the message.
    expect(estimatePromptTokens({ messages: [{ role: 'user', content: text }] })).toBe(101 + 4)
    const withImage = [{ role: 'user', content: [{ type: 'text', text }, { type: 'image_url', image_url: { url: `data:image/png;base64,${'A'.repeat(100_000)}` } }] }]
    expect(estimatePromptTokens({ messages: withImage })).toBeLessThan(120)
    expect(estimatePromptTokens({ messages: [], system: text, tools: [{ name: 'f', description: text }] })).toBe(201)
    expect(estimatePromptTokens({ input: ['ab', 'cd'] })).toBe(1)
  })

  it('bounds the prompt from above for budget reservations: a token is at least one character', () => {
    const cjk = '你好世界'.repeat(50)
    expect(estimatePrompt({ messages: [{ role: 'user', content: cjk }] })).toEqual({ tokens: 50 + 1 + 4, maxTokens: 200 + 4 + 8 + 16 })
    expect(worstCaseCostMicroUsd({ ...demand, maxPromptTokens: 2000 }, () => undefined)).toBe(300 + 300)
  })

  it("takes the call's own output cap, else the default", () => {
    expect(maxOutputTokens({ max_completion_tokens: 10, max_tokens: 20 }, 4096)).toBe(10)
    expect(maxOutputTokens({ max_tokens: 20 }, 4096)).toBe(20)
    expect(maxOutputTokens({}, 4096)).toBe(4096)
  })
})
