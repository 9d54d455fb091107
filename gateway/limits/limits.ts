import { randomUUID } from 'node:crypto'
import type { Principal } from '../auth/api-keys.ts'
import type { LimiterUnavailablePolicy, PriceOverride, RateLimitDefinition } from '../control/settings.ts'
import { GatewayError } from '../errors.ts'
import { costMicroUsd } from '../pricing/cost.ts'
import type { NormalizedUsage } from '../providers/types.ts'
import type { Admission, AdmitRequest, AdmitResult, BudgetSpec, ConcurrencySpec } from './admission.ts'
import type { BucketSpec, BucketState } from './rate-limiter.ts'

/** A tenant's limits as the control plane sets them, cached with the tenant (gateway/auth/control-plane-auth.ts). */
export interface TenantLimits {
  /** By scope: `tenant`, `project:<id>`, `key:<id>`. */
  rateLimits: ReadonlyMap<string, RateLimitDefinition>
  budgets: readonly { scope: string; period: 'day' | 'month'; limitMicroUsd: number }[]
  /** Credits granted; 0 means the tenant is not prepaid and has no balance to exhaust. */
  creditedMicroUsd: number
  policy: LimiterUnavailablePolicy
}

/** What a call may consume, estimated before it: the models it may end up on, prompt and output tokens. */
export interface CallDemand {
  /** `provider/model`, the requested one first, then its fallbacks. */
  models: readonly string[]
  promptTokens: number
  /** An upper bound of the prompt tokens, for the worst-case cost; promptTokens when absent. */
  maxPromptTokens?: number
  /** The most output tokens the call may produce (its max_tokens, or the gateway's default). */
  maxOutputTokens: number
}

/** A counter to seed: which projection row holds what was spent already. */
export interface SeedRequest {
  key: string
  tenantId: string
  /** A budget's scope and period start, or `balance` for the prepaid balance. */
  kind: { type: 'budget'; scope: string; period: 'day' | 'month'; periodStart: string } | { type: 'balance' }
}

export interface LimitsOptions {
  limiter: Admission
  limitsFor(tenantId: string): TenantLimits | undefined
  priceOverride(tenantId: string, model: string): PriceOverride | undefined
  /** Reads from the spend projections what each counter's period has spent; micro-USD by key. */
  seed(requests: readonly SeedRequest[]): Promise<Map<string, number>>
  /** How long a slot or reservation outlives a gateway that never settles it. */
  leaseMs?: number
  /** Told each time the limiter could not be reached, with the policy applied. */
  onUnavailable?(tenantId: string, policy: LimiterUnavailablePolicy, error: unknown): void
  now?: () => number
}

const NO_LIMITS: TenantLimits = { rateLimits: new Map(), budgets: [], creditedMicroUsd: 0, policy: 'fail_open' }

/** The tenant's limits with the limits the key was issued with, unless its scope has its own rate limit. */
export function withKeyLimits(tenant: TenantLimits | undefined, principal: Principal): TenantLimits | undefined {
  const own = principal.keyLimits
  if (own === undefined || (own.requestsPerMinute === undefined && own.tokensPerMinute === undefined && own.concurrentRequests === undefined)) return tenant
  const base = tenant ?? NO_LIMITS
  const scope = `key:${principal.keyId}`
  if (base.rateLimits.has(scope)) return base
  const rateLimits = new Map(base.rateLimits)
  rateLimits.set(scope, { requestsPerMinute: own.requestsPerMinute ?? null, tokensPerMinute: own.tokensPerMinute ?? null, concurrentRequests: own.concurrentRequests ?? null })
  return { ...base, rateLimits }
}

/**
 * Whole micro-USD a call may cost at most: its prompt and max output at the dearest of its models. A cost
 * past 2^53 micro-USD (a max_tokens in the trillions) is held as Number.MAX_SAFE_INTEGER: no budget or
 * balance can hold that either, so the call is refused as over budget rather than failing.
 */
export function worstCaseCostMicroUsd(demand: CallDemand, override: (model: string) => PriceOverride | undefined): number {
  const usage: NormalizedUsage = {
    promptTokens: demand.maxPromptTokens ?? demand.promptTokens,
    completionTokens: demand.maxOutputTokens,
    cachedTokens: 0,
    cacheWriteTokens: 0,
    reasoningTokens: 0,
    estimated: true,
  }
  let worst = 0
  for (const model of demand.models) worst = Math.max(worst, saturatedCost(model, usage, override(model)))
  return worst
}

function saturatedCost(model: string, usage: NormalizedUsage, override: PriceOverride | undefined): number {
  try {
    return costMicroUsd(model, usage, override).costMicroUsd
  } catch (error) {
    if (error instanceof RangeError) return Number.MAX_SAFE_INTEGER
    throw error
  }
}

/** The scopes a principal's calls count towards, most specific first. */
export function callScopes(principal: Pick<Principal, 'keyId' | 'projectId'>): string[] {
  const scopes = [`key:${principal.keyId}`]
  if (principal.projectId !== null && principal.projectId !== undefined) scopes.push(`project:${principal.projectId}`)
  scopes.push('tenant')
  return scopes
}

const DAY_MS = 86_400_000

/** The UTC day or month `now` falls in: its start (YYYY-MM-DD) and seconds until a day after its end. */
export function budgetPeriod(now: number, period: 'day' | 'month'): { start: string; ttlSeconds: number } {
  const at = new Date(now)
  const y = at.getUTCFullYear()
  const m = at.getUTCMonth()
  const start = period === 'day' ? Date.UTC(y, m, at.getUTCDate()) : Date.UTC(y, m, 1)
  const end = period === 'day' ? start + DAY_MS : Date.UTC(y, m + 1, 1)
  return { start: new Date(start).toISOString().slice(0, 10), ttlSeconds: Math.ceil((end + DAY_MS - now) / 1000) }
}

/** OpenAI's duration format for `x-ratelimit-reset-*`: `20ms`, `1.5s`, `6m0s`. */
export function formatReset(ms: number): string {
  const whole = Math.max(0, Math.ceil(ms))
  if (whole < 1000) return `${whole}ms`
  const seconds = whole / 1000
  if (seconds < 60) return `${Number(seconds.toFixed(3))}s`
  const minutes = Math.floor(seconds / 60)
  return `${minutes}m${Number((seconds - minutes * 60).toFixed(3))}s`
}

interface PlannedBucket {
  spec: BucketSpec
  kind: 'requests' | 'tokens'
}

export interface AdmissionPlan {
  request: AdmitRequest
  buckets: PlannedBucket[]
  /** Seed requests for the budget keys, should the limiter not know them. */
  seeds: SeedRequest[]
}

/** The buckets, slots and reservations one call needs; null when the tenant limits nothing. */
export function planAdmission(principal: Principal, limits: TenantLimits, demand: CallDemand, worstCase: number, id: string, leaseMs: number, now: number): AdmissionPlan | null {
  const tenantId = principal.tenantId
  const scopes = callScopes(principal)
  const buckets: PlannedBucket[] = []
  const concurrency: ConcurrencySpec[] = []
  for (const scope of scopes) {
    const def = limits.rateLimits.get(scope)
    if (def === undefined) continue
    if (def.requestsPerMinute !== null) {
      const rpm = def.requestsPerMinute
      buckets.push({ kind: 'requests', spec: { key: `rpm:${tenantId}:${scope}`, capacity: rpm, refillPerSecond: rpm / 60, cost: 1 } })
    }
    if (def.tokensPerMinute !== null) {
      const tpm = def.tokensPerMinute
      buckets.push({ kind: 'tokens', spec: { key: `tpm:${tenantId}:${scope}`, capacity: tpm, refillPerSecond: tpm / 60, cost: demand.promptTokens + demand.maxOutputTokens } })
    }
    if (def.concurrentRequests !== null) concurrency.push({ key: `conc:${tenantId}:${scope}`, limit: def.concurrentRequests })
  }
  const budgets: BudgetSpec[] = []
  const seeds: SeedRequest[] = []
  for (const budget of limits.budgets) {
    if (!scopes.includes(budget.scope)) continue
    const period = budgetPeriod(now, budget.period)
    const key = `budget:${tenantId}:${budget.scope}:${budget.period}:${period.start}`
    budgets.push({ key, limitMicroUsd: budget.limitMicroUsd, reserveMicroUsd: worstCase, ttlSeconds: period.ttlSeconds })
    seeds.push({ key, tenantId, kind: { type: 'budget', scope: budget.scope, period: budget.period, periodStart: period.start } })
  }
  if (limits.creditedMicroUsd > 0) {
    const key = `balance:${tenantId}`
    budgets.push({ key, limitMicroUsd: limits.creditedMicroUsd, reserveMicroUsd: worstCase, ttlSeconds: 30 * 86_400 })
    seeds.push({ key, tenantId, kind: { type: 'balance' } })
  }
  if (buckets.length === 0 && concurrency.length === 0 && budgets.length === 0) return null
  return { request: { id, buckets: buckets.map((b) => b.spec), concurrency, budgets, leaseMs }, buckets, seeds }
}

/** OpenAI's x-ratelimit-* headers from the most constrained bucket of each kind. */
export function rateLimitHeaders(planned: readonly PlannedBucket[], states: readonly BucketState[]): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const kind of ['requests', 'tokens'] as const) {
    let best: { spec: BucketSpec; state: BucketState } | undefined
    for (const [i, bucket] of planned.entries()) {
      const state = states[i]
      if (bucket.kind !== kind || state === undefined) continue
      if (best === undefined || state.remaining / bucket.spec.capacity < best.state.remaining / best.spec.capacity) best = { spec: bucket.spec, state }
    }
    if (best === undefined) continue
    headers[`x-ratelimit-limit-${kind}`] = String(best.spec.capacity)
    headers[`x-ratelimit-remaining-${kind}`] = String(best.state.remaining)
    headers[`x-ratelimit-reset-${kind}`] = formatReset(best.state.resetMs)
  }
  return headers
}

/** What the route does after the call: settle with what it used (nothing for a failed call). */
export interface AdmissionTicket {
  /** x-ratelimit-* for the response. */
  readonly headers: Readonly<Record<string, string>>
  /** Settles once; later calls do nothing. `model` is the one that answered. */
  settle(model: string | undefined, usage: NormalizedUsage | undefined): void
}

const NO_TICKET: AdmissionTicket = { headers: {}, settle: () => {} }

function scopeOf(key: string): string {
  // rpm:<tenant>:<scope> / budget:<tenant>:<scope>:<period>:<start>; scopes contain one ':' at most.
  const parts = key.split(':')
  return parts[2] === 'tenant' ? 'tenant' : `${parts[2]}:${parts[3]}`
}

/**
 * The hot path's admission (issue 6): for a call, one atomic limiter round trip that takes its rate-limit
 * tokens, a concurrency slot and a reservation of its worst-case cost against every budget and the prepaid
 * balance; the call is refused (429 / 402) when any does not fit. A tenant with no limits costs nothing.
 * When the limiter cannot be reached, the tenant's policy decides: fail open (admitted, unlimited) or
 * fail closed (503), reported to `onUnavailable` either way.
 */
export class Limits {
  readonly #o: LimitsOptions
  readonly #leaseMs: number

  constructor(options: LimitsOptions) {
    this.#o = options
    this.#leaseMs = options.leaseMs ?? 600_000
  }

  /**
   * Resolves to the ticket of an admitted call; throws GatewayError when refused. `estimate` is only called
   * when the tenant has limits, so an unlimited tenant pays for neither the estimate nor a round trip.
   */
  admit(principal: Principal, estimate: () => CallDemand): AdmissionTicket | Promise<AdmissionTicket> {
    const limits = withKeyLimits(this.#o.limitsFor(principal.tenantId), principal)
    if (limits === undefined) return NO_TICKET
    const demand = estimate()
    const tenantId = principal.tenantId
    const needsCost = limits.budgets.length > 0 || limits.creditedMicroUsd > 0
    const worstCase = needsCost ? worstCaseCostMicroUsd(demand, (model) => this.#o.priceOverride(tenantId, model)) : 0
    const plan = planAdmission(principal, limits, demand, worstCase, randomUUID(), this.#leaseMs, this.#o.now?.() ?? Date.now())
    if (plan === null) return NO_TICKET
    return this.#admit(plan, limits, principal, demand)
  }

  async #admit(plan: AdmissionPlan, limits: TenantLimits, principal: Principal, demand: CallDemand): Promise<AdmissionTicket> {
    let result: AdmitResult
    try {
      result = await this.#o.limiter.admit(plan.request)
      if (!result.allowed && result.reason === 'needs_seed') {
        const wanted = new Set(result.needsSeed)
        const seeds = await this.#o.seed(plan.seeds.filter((s) => wanted.has(s.key)))
        const budgets = plan.request.budgets.map((b) => (wanted.has(b.key) ? { ...b, seedMicroUsd: seeds.get(b.key) ?? 0 } : b))
        result = await this.#o.limiter.admit({ ...plan.request, budgets })
      }
    } catch (error) {
      this.#o.onUnavailable?.(principal.tenantId, limits.policy, error)
      if (limits.policy === 'fail_closed') {
        throw new GatewayError('limits_unavailable', 'Rate limits and budgets cannot be checked right now, and this tenant refuses calls until they can; retry shortly.', null, 1000)
      }
      return NO_TICKET
    }
    const headers = rateLimitHeaders(plan.buckets, result.buckets)
    if (!result.allowed) throw refusal(result, plan, headers, demand)
    return this.#ticket(plan, headers, principal, demand)
  }

  #ticket(plan: AdmissionPlan, headers: Record<string, string>, principal: Principal, demand: CallDemand): AdmissionTicket {
    let settled = false
    return {
      headers,
      settle: (model, usage) => {
        if (settled) return
        settled = true
        const used = usage === undefined ? 0 : usage.promptTokens + usage.completionTokens
        const estimated = demand.promptTokens + demand.maxOutputTokens
        let actual = 0
        if (model !== undefined && usage !== undefined) {
          try {
            actual = costMicroUsd(model, usage, this.#o.priceOverride(principal.tenantId, model)).costMicroUsd
          } catch {
            actual = 0
          }
        }
        const request = {
          id: plan.request.id,
          buckets: plan.buckets.filter((b) => b.kind === 'tokens').map((b) => ({ spec: b.spec, delta: estimated - used })),
          concurrencyKeys: plan.request.concurrency.map((c) => c.key),
          budgets: plan.request.budgets.map((b) => ({ key: b.key, actualMicroUsd: actual, ttlSeconds: b.ttlSeconds })),
        }
        // Off the response path; a limiter that cannot be reached lets the leases run out instead.
        this.#o.limiter.settle(request).catch((error: unknown) => this.#o.onUnavailable?.(principal.tenantId, 'fail_open', error))
      },
    }
  }
}

function refusal(result: Extract<AdmitResult, { allowed: false }>, plan: AdmissionPlan, headers: Record<string, string>, demand: CallDemand): GatewayError {
  const key = result.deniedKey ?? ''
  const retry = result.retryAfterMs ?? undefined
  switch (result.reason) {
    case 'rate_limit': {
      const bucket = plan.buckets.find((b) => b.spec.key === key)
      const kind = bucket?.kind ?? 'requests'
      const tooBig = result.retryAfterMs === null && bucket !== undefined
      const message = tooBig
        ? `This request needs about ${demand.promptTokens + demand.maxOutputTokens} tokens (prompt plus max_tokens), more than the ${bucket.spec.capacity} tokens per minute allowed for ${scopeOf(key)}; lower max_tokens or the prompt.`
        : `Rate limit reached for ${scopeOf(key)}: ${bucket?.spec.capacity ?? '?'} ${kind} per minute. Retry after ${formatReset(result.retryAfterMs ?? 0)}.`
      return new GatewayError('rate_limit_exceeded', message, null, retry, headers)
    }
    case 'concurrency': {
      const limit = plan.request.concurrency.find((c) => c.key === key)?.limit
      return new GatewayError('concurrency_limit_exceeded', `Too many calls in flight for ${scopeOf(key)}: at most ${limit ?? '?'} at once.`, null, retry, headers)
    }
    case 'budget': {
      const state = result.budgets.find((b) => b.key === key)
      const what = key.startsWith('balance:') ? 'the prepaid balance' : `the ${key.split(':').at(-2)} budget of ${scopeOf(key)}`
      const left = state === undefined ? '' : ` (limit ${state.limitMicroUsd} µUSD, spent ${state.spentMicroUsd}, reserved by calls in flight ${state.reservedMicroUsd})`
      return new GatewayError('budget_exceeded', `This call may cost up to ${plan.request.budgets[0]?.reserveMicroUsd ?? 0} µUSD, more than remains of ${what}${left}. Lower max_tokens, or raise the budget.`, null, undefined, headers)
    }
    case 'needs_seed':
      return new GatewayError('limits_unavailable', 'Budget counters could not be initialised; retry shortly.', null, 1000, headers)
  }
}
