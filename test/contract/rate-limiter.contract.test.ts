import { randomUUID } from 'node:crypto'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { MemoryRateLimiter } from '../../gateway/limits/memory-rate-limiter.ts'
import type { BucketSpec, RateLimiter } from '../../gateway/limits/rate-limiter.ts'
import { RedisRateLimiter } from '../../infra/redis/redis-rate-limiter.ts'

interface Adapter {
  name: string
  /** Two limiters that must share limits: two gateway processes for Redis, one process for memory. */
  openPair(): [RateLimiter, RateLimiter]
}

const adapters: Adapter[] = [
  {
    name: 'memory',
    openPair: () => {
      const limiter = new MemoryRateLimiter()
      return [limiter, limiter]
    },
  },
  {
    name: 'redis',
    openPair: () => {
      const url = inject('services').redisUrl
      return [new RedisRateLimiter({ url }), new RedisRateLimiter({ url })]
    },
  },
]

const bucket = (key: string, capacity: number, refillPerSecond: number, cost = 1): BucketSpec => ({ key, capacity, refillPerSecond, cost })

describe.each(adapters)('RateLimiter contract: $name', (adapter) => {
  const [limiter, other] = adapter.openPair()
  afterAll(async () => {
    await limiter.close()
    if (other !== limiter) await other.close()
  })
  const id = () => `test:${randomUUID()}`

  it('allows a fresh bucket up to its capacity, then says when to retry', async () => {
    const key = id()
    const results = []
    for (let i = 0; i < 6; i++) results.push(await limiter.take([bucket(key, 5, 2)]))
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, true, true, false])
    expect(results.map((r) => r.buckets[0]!.remaining)).toEqual([4, 3, 2, 1, 0, 0])
    // Two tokens a second: the next one is about 500 ms away, and the bucket is full again in about 2.5 s.
    expect(results[5]!.retryAfterMs).toBeGreaterThan(300)
    expect(results[5]!.retryAfterMs).toBeLessThanOrEqual(500)
    expect(results[4]!.buckets[0]!.resetMs).toBeGreaterThan(2_000)
    expect(results[4]!.buckets[0]!.resetMs).toBeLessThanOrEqual(2_500)
  })

  it('debits all buckets or none', async () => {
    const key = id()
    const project = id()
    const take = () => limiter.take([bucket(key, 10, 0.001, 1), bucket(project, 2, 0.001, 1)])
    expect((await take()).allowed).toBe(true)
    expect((await take()).allowed).toBe(true)
    const denied = await take()
    expect(denied.allowed).toBe(false)
    // The key bucket had room, but the project bucket did not: the key bucket was not charged.
    expect(denied.buckets.map((b) => b.remaining)).toEqual([8, 0])
  })

  it('refills over time', async () => {
    const key = id()
    expect((await limiter.take([bucket(key, 4, 40, 4)])).allowed).toBe(true)
    expect((await limiter.take([bucket(key, 4, 40, 4)])).allowed).toBe(false)
    await new Promise((r) => setTimeout(r, 150))
    expect((await limiter.take([bucket(key, 4, 40, 4)])).allowed).toBe(true)
  })

  it('never admits a cost larger than the capacity', async () => {
    const result = await limiter.take([bucket(id(), 100, 10, 101)])
    expect(result).toMatchObject({ allowed: false, retryAfterMs: null })
  })

  it('gives tokens back with a negative cost, up to the capacity', async () => {
    const key = id()
    await limiter.take([bucket(key, 1000, 0.001, 900)])
    const refunded = await limiter.take([bucket(key, 1000, 0.001, -400)])
    expect(refunded.buckets[0]!.remaining).toBe(500)
    const capped = await limiter.take([bucket(key, 1000, 0.001, -5000)])
    expect(capped.buckets[0]!.remaining).toBe(1000)
  })

  it('admits exactly the capacity under concurrent takes from two clients', async () => {
    const key = id()
    const spec = bucket(key, 25, 0.001)
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? limiter : other).take([spec])),
    )
    expect(results.filter((r) => r.allowed)).toHaveLength(25)
  })

  it('rejects buckets without a positive capacity or refill rate', async () => {
    await expect(limiter.take([bucket(id(), 0, 1)])).rejects.toThrow(RangeError)
    await expect(limiter.take([bucket(id(), 5, 0)])).rejects.toThrow(RangeError)
  })
})

describe('RedisRateLimiter when Redis is unreachable', () => {
  it('fails at once instead of queueing the request', async () => {
    const limiter = new RedisRateLimiter({ url: 'redis://127.0.0.1:1' })
    const started = Date.now()
    await expect(limiter.take([bucket(id(), 5, 1)])).rejects.toThrow()
    await expect(limiter.check()).rejects.toThrow()
    expect(Date.now() - started).toBeLessThan(5_000)
    await limiter.close()
  })
  const id = () => `test:${randomUUID()}`
})
