import type { Admission } from './admission.ts'

/**
 * The rate limiter port (DESIGN.md §3): token buckets, in Redis in production and in memory embedded.
 * One call checks and debits several buckets (key, project and tenant scope) atomically: either every
 * bucket has the tokens and all are debited, or none is.
 */

export interface BucketSpec {
  key: string
  /** The most tokens the bucket holds, and what a new bucket starts with. */
  capacity: number
  refillPerSecond: number
  /** Tokens to take; a negative cost gives tokens back (up to capacity) and is always allowed. */
  cost: number
}

export interface BucketState {
  key: string
  /** Whole tokens left after this call. */
  remaining: number
  /** Milliseconds until the bucket is full again. */
  resetMs: number
}

export interface TakeResult {
  allowed: boolean
  /** When denied: milliseconds until every denied bucket holds its cost; null when a cost exceeds a capacity. */
  retryAfterMs: number | null
  buckets: BucketState[]
}

/** Token buckets, plus admission (./admission.ts): buckets, concurrency slots and budget reservations at once. */
export interface RateLimiter extends Admission {
  readonly adapter: 'redis' | 'memory'
  take(buckets: readonly BucketSpec[]): Promise<TakeResult>
  check(): Promise<void>
  close(): Promise<void>
}

export function validateBuckets(buckets: readonly BucketSpec[]): void {
  for (const b of buckets) {
    if (!(b.capacity > 0) || !(b.refillPerSecond > 0) || !Number.isFinite(b.cost) || !Number.isFinite(b.capacity)) {
      throw new RangeError(`Bucket ${b.key} needs a positive capacity and refill rate and a finite cost`)
    }
  }
}

/** Tokens in a bucket after refilling for the time since it was last written. */
export function refill(tokens: number, updatedAtMs: number, nowMs: number, spec: BucketSpec): number {
  return Math.min(spec.capacity, tokens + (Math.max(0, nowMs - updatedAtMs) * spec.refillPerSecond) / 1000)
}

/**
 * The decision over refilled bucket levels, shared by the memory adapter and mirrored by the Lua script
 * in infra/redis/ (the contract suite runs both against the same cases).
 */
export function decide(levels: readonly number[], specs: readonly BucketSpec[]): { allowed: boolean; retryAfterMs: number | null; after: number[] } {
  let allowed = true
  let retryAfterMs: number | null = 0
  for (const [i, spec] of specs.entries()) {
    const level = levels[i]!
    if (spec.cost <= level) continue
    allowed = false
    if (spec.cost > spec.capacity) retryAfterMs = null
    else if (retryAfterMs !== null) {
      retryAfterMs = Math.max(retryAfterMs, Math.ceil(((spec.cost - level) * 1000) / spec.refillPerSecond))
    }
  }
  const after = specs.map((spec, i) => (allowed ? Math.min(spec.capacity, levels[i]! - spec.cost) : levels[i]!))
  return { allowed, retryAfterMs: allowed ? 0 : retryAfterMs, after }
}

export function bucketState(spec: BucketSpec, level: number): BucketState {
  return {
    key: spec.key,
    remaining: Math.max(0, Math.floor(level)),
    resetMs: Math.ceil(((spec.capacity - level) * 1000) / spec.refillPerSecond),
  }
}
