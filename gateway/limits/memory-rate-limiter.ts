import { bucketState, decide, refill, validateBuckets } from './rate-limiter.ts'
import type { BucketSpec, RateLimiter, TakeResult } from './rate-limiter.ts'

interface Bucket {
  tokens: number
  updatedAtMs: number
  fullAtMs: number
}

/** The embedded rate limiter: buckets in this process's memory, so limits are per process. */
export class MemoryRateLimiter implements RateLimiter {
  readonly adapter = 'memory' as const
  readonly #buckets = new Map<string, Bucket>()
  readonly #now: () => number
  readonly #maxBuckets: number

  constructor(options: { now?: () => number; maxBuckets?: number } = {}) {
    this.#now = options.now ?? Date.now
    this.#maxBuckets = options.maxBuckets ?? 100_000
  }

  // async so that a bad bucket rejects like every other adapter's failure, instead of throwing synchronously.
  // eslint-disable-next-line @typescript-eslint/require-await
  async take(specs: readonly BucketSpec[]): Promise<TakeResult> {
    validateBuckets(specs)
    const now = this.#now()
    const levels = specs.map((spec) => {
      const bucket = this.#buckets.get(spec.key)
      return bucket === undefined ? spec.capacity : refill(bucket.tokens, bucket.updatedAtMs, now, spec)
    })
    const { allowed, retryAfterMs, after } = decide(levels, specs)
    for (const [i, spec] of specs.entries()) {
      const tokens = after[i]!
      this.#buckets.set(spec.key, {
        tokens,
        updatedAtMs: now,
        fullAtMs: now + ((spec.capacity - tokens) * 1000) / spec.refillPerSecond,
      })
    }
    if (this.#buckets.size > this.#maxBuckets) this.#forgetFullBuckets(now)
    return { allowed, retryAfterMs, buckets: specs.map((spec, i) => bucketState(spec, after[i]!)) }
  }

  /** A full bucket is the same as no bucket, so dropping it changes no decision. */
  #forgetFullBuckets(now: number): void {
    for (const [key, bucket] of this.#buckets) if (bucket.fullAtMs <= now) this.#buckets.delete(key)
  }

  check(): Promise<void> {
    return Promise.resolve()
  }

  close(): Promise<void> {
    this.#buckets.clear()
    return Promise.resolve()
  }
}
