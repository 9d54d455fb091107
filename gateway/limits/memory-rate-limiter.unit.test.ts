import { describe, expect, it } from 'vitest'
import { MemoryRateLimiter } from './memory-rate-limiter.ts'
import { decide } from './rate-limiter.ts'

describe('token bucket decisions', () => {
  const spec = (cost: number, capacity = 10, refillPerSecond = 5) => ({ key: 'k', capacity, refillPerSecond, cost })

  it('takes the largest wait among denied buckets as the retry delay', () => {
    const result = decide([0.5, 3], [spec(1), spec(5, 10, 1)])
    expect(result).toEqual({ allowed: false, retryAfterMs: 2_000, after: [0.5, 3] })
  })

  it('refills at the configured rate on an injected clock', async () => {
    let now = 1_000_000
    const limiter = new MemoryRateLimiter({ now: () => now })
    for (let i = 0; i < 10; i++) expect((await limiter.take([spec(1)])).allowed).toBe(true)
    const denied = await limiter.take([spec(1)])
    expect(denied).toMatchObject({ allowed: false, retryAfterMs: 200 })
    now += 199
    expect((await limiter.take([spec(1)])).allowed).toBe(false)
    now += 1
    expect((await limiter.take([spec(1)])).allowed).toBe(true)
    now += 60_000
    expect((await limiter.take([spec(0)])).buckets[0]).toEqual({ key: 'k', remaining: 10, resetMs: 0 })
  })

  it('forgets full buckets once it holds too many, without changing a decision', async () => {
    let now = 0
    const limiter = new MemoryRateLimiter({ now: () => now, maxBuckets: 10 })
    for (let i = 0; i < 50; i++) await limiter.take([{ key: `k${i}`, capacity: 2, refillPerSecond: 1, cost: 1 }])
    now += 5_000
    await limiter.take([{ key: 'k0', capacity: 2, refillPerSecond: 1, cost: 2 }])
    const again = await limiter.take([{ key: 'k0', capacity: 2, refillPerSecond: 1, cost: 1 }])
    expect(again.allowed).toBe(false)
  })
})
