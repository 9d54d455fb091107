import type { AdmitRequest, AdmitResult, BudgetSpec, SettleRequest } from './admission.ts'
import { admitResult, decideAdmission, SETTLED_MARKER_MS, validateAdmit, validateSettle } from './admission-rules.ts'
import type { BudgetLevel } from './admission-rules.ts'
import { bucketState, decide, refill, validateBuckets } from './rate-limiter.ts'
import type { BucketSpec, RateLimiter, TakeResult } from './rate-limiter.ts'

interface Bucket {
  tokens: number
  updatedAtMs: number
  fullAtMs: number
}

interface Counter {
  spentMicroUsd: number
  expiresAtMs: number
}

interface Reservation {
  amountMicroUsd: number
  expiresAtMs: number
}

/**
 * The embedded rate limiter: buckets, concurrency slots and budget counters in this process's memory, so
 * limits are per process. The same rules as the Redis scripts, expiries included: a budget counter is
 * forgotten after its ttl, a slot or reservation after its lease, a settled id after SETTLED_MARKER_MS.
 */
export class MemoryRateLimiter implements RateLimiter {
  readonly adapter = 'memory' as const
  readonly #buckets = new Map<string, Bucket>()
  /** Concurrency key → admission id → lease expiry. */
  readonly #slots = new Map<string, Map<string, number>>()
  readonly #counters = new Map<string, Counter>()
  /** Budget key → admission id → reservation. */
  readonly #reservations = new Map<string, Map<string, Reservation>>()
  /** Settled admission id → when it may be forgotten. */
  readonly #settled = new Map<string, number>()
  readonly #now: () => number
  readonly #maxBuckets: number
  /** Entries past which expired ones are forgotten; doubled when most are live, so sweeps stay amortised. */
  #sweepAt: number

  constructor(options: { now?: () => number; maxBuckets?: number } = {}) {
    this.#now = options.now ?? Date.now
    this.#maxBuckets = options.maxBuckets ?? 100_000
    this.#sweepAt = this.#maxBuckets
  }

  // async so that a bad bucket rejects like every other adapter's failure, instead of throwing synchronously.
  // eslint-disable-next-line @typescript-eslint/require-await
  async take(specs: readonly BucketSpec[]): Promise<TakeResult> {
    validateBuckets(specs)
    const now = this.#now()
    const levels = specs.map((spec) => this.#level(spec, now))
    const { allowed, retryAfterMs, after } = decide(levels, specs)
    for (const [i, spec] of specs.entries()) this.#setLevel(spec, after[i]!, now)
    this.#forgetExpiredIfLarge(now)
    return { allowed, retryAfterMs, buckets: specs.map((spec, i) => bucketState(spec, after[i]!)) }
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async admit(request: AdmitRequest): Promise<AdmitResult> {
    validateAdmit(request)
    const now = this.#now()
    const levels = request.buckets.map((spec) => this.#level(spec, now))
    const slotsInUse = request.concurrency.map((spec) => this.#liveSlots(spec.key, now).size)
    const budgets = request.budgets.map((spec) => this.#budgetLevel(spec, now))
    const denial = decideAdmission(request, levels, slotsInUse, budgets)
    if (denial !== null) {
      this.#forgetExpiredIfLarge(now)
      return admitResult(request, denial, levels, budgets)
    }

    const after = decide(levels, request.buckets).after
    for (const [i, spec] of request.buckets.entries()) this.#setLevel(spec, after[i]!, now)
    const expiresAtMs = now + request.leaseMs
    for (const spec of request.concurrency) this.#liveSlots(spec.key, now).set(request.id, expiresAtMs)
    for (const [i, spec] of request.budgets.entries()) {
      const reservations = this.#liveReservations(spec.key, now)
      const previous = reservations.get(request.id)?.amountMicroUsd ?? 0
      reservations.set(request.id, { amountMicroUsd: spec.reserveMicroUsd, expiresAtMs })
      this.#counters.get(spec.key)!.expiresAtMs = now + spec.ttlSeconds * 1000
      budgets[i]!.reservedMicroUsd += spec.reserveMicroUsd - previous
    }
    this.#forgetExpiredIfLarge(now)
    return admitResult(request, null, after, budgets)
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async settle(request: SettleRequest): Promise<void> {
    validateSettle(request)
    const now = this.#now()
    if ((this.#settled.get(request.id) ?? 0) > now) return
    this.#settled.set(request.id, now + SETTLED_MARKER_MS)
    for (const { spec, delta } of request.buckets) {
      // Not floored at zero: a call that used more than its estimate leaves a debt the next calls wait out.
      this.#setLevel(spec, Math.min(spec.capacity, this.#level(spec, now) + delta), now)
    }
    for (const key of request.concurrencyKeys) this.#slots.get(key)?.delete(request.id)
    for (const budget of request.budgets) {
      this.#reservations.get(budget.key)?.delete(request.id)
      // A counter that is gone is not recreated from this cost alone, which would undercount the period: the
      // next admission seeds it from the spend projection.
      const counter = this.#liveCounter(budget.key, now)
      if (counter === undefined) continue
      counter.spentMicroUsd += budget.actualMicroUsd
      counter.expiresAtMs = now + budget.ttlSeconds * 1000
    }
    this.#forgetExpiredIfLarge(now)
  }

  #level(spec: BucketSpec, now: number): number {
    const bucket = this.#buckets.get(spec.key)
    return bucket === undefined ? spec.capacity : refill(bucket.tokens, bucket.updatedAtMs, now, spec)
  }

  #setLevel(spec: BucketSpec, tokens: number, now: number): void {
    this.#buckets.set(spec.key, { tokens, updatedAtMs: now, fullAtMs: now + ((spec.capacity - tokens) * 1000) / spec.refillPerSecond })
  }

  /** The slots of a concurrency key whose lease has not run out. */
  #liveSlots(key: string, now: number): Map<string, number> {
    let slots = this.#slots.get(key)
    if (slots === undefined) this.#slots.set(key, (slots = new Map<string, number>()))
    for (const [id, expiresAtMs] of slots) if (expiresAtMs <= now) slots.delete(id)
    return slots
  }

  #liveReservations(key: string, now: number): Map<string, Reservation> {
    let reservations = this.#reservations.get(key)
    if (reservations === undefined) this.#reservations.set(key, (reservations = new Map<string, Reservation>()))
    for (const [id, r] of reservations) if (r.expiresAtMs <= now) reservations.delete(id)
    return reservations
  }

  #liveCounter(key: string, now: number): Counter | undefined {
    const counter = this.#counters.get(key)
    if (counter === undefined || counter.expiresAtMs > now) return counter
    this.#counters.delete(key)
    return undefined
  }

  /**
   * A missing counter with a seed is created even if the call is then denied: the seed is the projection's
   * figure either way, and the caller need not read it again.
   */
  #budgetLevel(spec: BudgetSpec, now: number): BudgetLevel {
    let reservedMicroUsd = 0
    for (const r of this.#liveReservations(spec.key, now).values()) reservedMicroUsd += r.amountMicroUsd
    let counter = this.#liveCounter(spec.key, now)
    if (counter === undefined && spec.seedMicroUsd !== undefined) {
      counter = { spentMicroUsd: spec.seedMicroUsd, expiresAtMs: now + spec.ttlSeconds * 1000 }
      this.#counters.set(spec.key, counter)
    }
    return { spentMicroUsd: counter?.spentMicroUsd ?? null, reservedMicroUsd }
  }

  #entries(): number {
    return this.#buckets.size + this.#slots.size + this.#counters.size + this.#reservations.size + this.#settled.size
  }

  /**
   * Forgets what no decision depends on any more: full buckets (a full bucket is the same as no bucket), ended
   * leases, expired counters and settled markers.
   */
  #forgetExpiredIfLarge(now: number): void {
    if (this.#entries() <= this.#sweepAt) return
    for (const [key, bucket] of this.#buckets) if (bucket.fullAtMs <= now) this.#buckets.delete(key)
    for (const [key] of this.#slots) if (this.#liveSlots(key, now).size === 0) this.#slots.delete(key)
    for (const [key] of this.#reservations) if (this.#liveReservations(key, now).size === 0) this.#reservations.delete(key)
    for (const [key] of this.#counters) this.#liveCounter(key, now)
    for (const [id, expiresAtMs] of this.#settled) if (expiresAtMs <= now) this.#settled.delete(id)
    this.#sweepAt = Math.max(this.#maxBuckets, 2 * this.#entries())
  }

  check(): Promise<void> {
    return Promise.resolve()
  }

  close(): Promise<void> {
    this.#buckets.clear()
    this.#slots.clear()
    this.#counters.clear()
    this.#reservations.clear()
    this.#settled.clear()
    return Promise.resolve()
  }
}
