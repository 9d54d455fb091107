import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { AdmitRequest, AdmitResult, BudgetSpec, ConcurrencySpec } from '../../gateway/limits/admission.ts'
import { MemoryRateLimiter } from '../../gateway/limits/memory-rate-limiter.ts'
import type { BucketSpec, RateLimiter } from '../../gateway/limits/rate-limiter.ts'
import { budgetKeys, RedisRateLimiter } from '../../infra/redis/redis-rate-limiter.ts'

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
const slots = (key: string, limit: number): ConcurrencySpec => ({ key, limit })
/** Seeded with 0 unless told: 'unseeded' as a caller that has not read the spend projection. */
const budget = (key: string, limitMicroUsd: number, reserveMicroUsd: number, seed: number | 'unseeded' = 0): BudgetSpec => ({
  key,
  limitMicroUsd,
  reserveMicroUsd,
  seedMicroUsd: seed === 'unseeded' ? undefined : seed,
  ttlSeconds: 3_600,
})
const admission = (parts: Partial<AdmitRequest>): AdmitRequest => ({
  id: `call:${randomUUID()}`,
  buckets: [],
  concurrency: [],
  budgets: [],
  leaseMs: 60_000,
  ...parts,
})
const budgetStates = (result: AdmitResult) => result.budgets.map((b) => [b.spentMicroUsd, b.reservedMicroUsd])

describe.each(adapters)('RateLimiter contract: $name', (adapter) => {
  const [limiter, other] = adapter.openPair()
  // Redis fails commands while still connecting (no offline queue): wait until both clients are ready.
  beforeAll(() => Promise.all([limiter.check(), other.check()]))
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

  describe('admission', () => {
    it('admits every part or none: a denial by any part leaves the others untouched', async () => {
      for (const denier of ['rate_limit', 'concurrency', 'budget'] as const) {
        const [b, c, g, blocker] = [id(), id(), id(), id()]
        const request = admission({ buckets: [bucket(b, 10, 0.001)], concurrency: [slots(c, 1)], budgets: [budget(g, 100, 10)] })
        if (denier === 'rate_limit') {
          await limiter.take([bucket(blocker, 1, 0.001)])
          request.buckets = [...request.buckets, bucket(blocker, 1, 0.001)]
        } else if (denier === 'concurrency') {
          expect((await limiter.admit(admission({ concurrency: [slots(blocker, 1)] }))).allowed).toBe(true)
          request.concurrency = [...request.concurrency, slots(blocker, 1)]
        } else {
          request.budgets = [...request.budgets, budget(blocker, 5, 10)]
        }
        const denied = await limiter.admit(request)
        expect(denied).toMatchObject({ allowed: false, reason: denier, deniedKey: blocker, needsSeed: [] })
        if (denier === 'rate_limit') expect(denied.allowed === false && denied.retryAfterMs).toBeGreaterThan(900_000)
        else expect(denied.allowed === false && denied.retryAfterMs).toBeNull()
        // Only admitted if the bucket is still full, the slot free and nothing reserved or spent.
        const everything = admission({ buckets: [bucket(b, 10, 0.001, 10)], concurrency: [slots(c, 1)], budgets: [budget(g, 100, 100)] })
        expect(await limiter.admit(everything), denier).toMatchObject({ allowed: true, budgets: [{ spentMicroUsd: 0, reservedMicroUsd: 100 }] })
      }
    })

    it('asks for the seed of a missing counter, then creates it from the seed', async () => {
      const [b, g1, g2] = [id(), id(), id()]
      const unseeded = await limiter.admit(admission({ buckets: [bucket(b, 10, 0.001)], budgets: [budget(g1, 100, 50, 'unseeded'), budget(g2, 100, 50, 'unseeded')] }))
      expect(unseeded).toMatchObject({ allowed: false, reason: 'needs_seed', deniedKey: null, retryAfterMs: null, needsSeed: [g1, g2] })
      const seeded = await limiter.admit(admission({ buckets: [bucket(b, 10, 0.001)], budgets: [budget(g1, 100, 50, 40), budget(g2, 100, 50, 0)] }))
      expect(seeded.allowed).toBe(true)
      // The denied call did not take a token: this one took the first.
      expect(seeded.buckets[0]!.remaining).toBe(9)
      expect(budgetStates(seeded)).toEqual([[40, 50], [0, 50]])
      // The counters exist now: no seed needed, and a seed is ignored.
      const again = await limiter.admit(admission({ budgets: [budget(g1, 100, 10, 'unseeded'), budget(g2, 100, 10, 999)] }))
      expect(again.allowed).toBe(true)
      expect(budgetStates(again)).toEqual([[40, 60], [0, 60]])
      expect(await limiter.admit(admission({ budgets: [budget(g1, 100, 1, 'unseeded')] }))).toMatchObject({ allowed: false, reason: 'budget', deniedKey: g1 })
    })

    it('never reserves past a budget under concurrent admissions from two clients', async () => {
      const g = id()
      const [limit, reserve] = [1_000, 7]
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? limiter : other).admit(admission({ budgets: [budget(g, limit, reserve)] }))),
      )
      const admitted = results.filter((r) => r.allowed)
      expect(admitted.length * reserve).toBeLessThanOrEqual(limit)
      expect(admitted).toHaveLength(Math.floor(limit / reserve))
      expect(results.filter((r) => !r.allowed && r.reason === 'budget')).toHaveLength(200 - admitted.length)
    })

    it('replaces a reservation by the actual cost on settle, and settles an id only once', async () => {
      const [b, g] = [id(), id()]
      const request = admission({ buckets: [bucket(b, 10, 0.001, 5)], budgets: [budget(g, 1_000, 100)] })
      expect(budgetStates(await limiter.admit(request))).toEqual([[0, 100]])
      const settlement = {
        id: request.id,
        buckets: [{ spec: request.buckets[0]!, delta: 3 }],
        concurrencyKeys: [],
        budgets: [{ key: g, actualMicroUsd: 30, ttlSeconds: 3_600 }],
      }
      await limiter.settle(settlement)
      const look = () => limiter.admit(admission({ buckets: [bucket(b, 10, 0.001, 0)], budgets: [budget(g, 1_000, 0)] }))
      const settled = await look()
      expect(budgetStates(settled)).toEqual([[30, 0]])
      expect(settled.buckets[0]!.remaining).toBe(8)
      await other.settle(settlement)
      const again = await look()
      expect(budgetStates(again)).toEqual([[30, 0]])
      expect(again.buckets[0]!.remaining).toBe(8)
    })

    it('releases a concurrency slot on settle', async () => {
      const c = id()
      const requests = [1, 2, 3].map(() => admission({ concurrency: [slots(c, 2)] }))
      expect((await limiter.admit(requests[0]!)).allowed).toBe(true)
      expect((await other.admit(requests[1]!)).allowed).toBe(true)
      expect(await limiter.admit(requests[2]!)).toMatchObject({ allowed: false, reason: 'concurrency', deniedKey: c, retryAfterMs: null })
      // Settling an id that holds no slot frees none.
      await limiter.settle({ id: requests[2]!.id, buckets: [], concurrencyKeys: [c], budgets: [] })
      expect((await limiter.admit(requests[2]!)).allowed).toBe(false)
      await other.settle({ id: requests[0]!.id, buckets: [], concurrencyKeys: [c], budgets: [] })
      expect((await limiter.admit(requests[2]!)).allowed).toBe(true)
      expect((await limiter.admit(admission({ concurrency: [slots(c, 2)] }))).allowed).toBe(false)
    })

    it('frees the slot and reservation of a call never settled once its lease runs out', async () => {
      const [c, g] = [id(), id()]
      const request = (leaseMs: number) => admission({ concurrency: [slots(c, 2)], budgets: [budget(g, 200, 100)], leaseMs })
      // A call still running keeps the slot set and the reservations alive: only the lease frees the other one.
      expect((await limiter.admit(request(60_000))).allowed).toBe(true)
      const abandoned = request(300)
      expect((await limiter.admit(abandoned)).allowed).toBe(true)
      expect(await limiter.admit(request(60_000))).toMatchObject({ allowed: false, reason: 'concurrency' })
      await new Promise((r) => setTimeout(r, 350))
      expect(await limiter.admit(request(60_000))).toMatchObject({ allowed: true, budgets: [{ spentMicroUsd: 0, reservedMicroUsd: 200 }] })
      expect(await limiter.admit(admission({ budgets: [budget(g, 200, 1)] }))).toMatchObject({ allowed: false, reason: 'budget', deniedKey: g })
      // A settle after the lease still counts the cost, and leaves the live reservations alone.
      await limiter.settle({ id: abandoned.id, buckets: [], concurrencyKeys: [c], budgets: [{ key: g, actualMicroUsd: 20, ttlSeconds: 3_600 }] })
      expect(budgetStates(await limiter.admit(admission({ budgets: [budget(g, 1_000, 0)] })))).toEqual([[20, 200]])
    })

    it('takes more tokens on settle than the bucket holds, so later calls wait out the debt', async () => {
      const spec = bucket(id(), 10, 1, 5)
      const request = admission({ buckets: [spec] })
      expect((await limiter.admit(request)).buckets[0]!.remaining).toBe(5)
      await limiter.settle({ id: request.id, buckets: [{ spec, delta: -10 }], concurrencyKeys: [], budgets: [] })
      const denied = await limiter.admit(admission({ buckets: [{ ...spec, cost: 1 }] }))
      expect(denied).toMatchObject({ allowed: false, reason: 'rate_limit', deniedKey: spec.key, buckets: [{ remaining: 0 }] })
      // Six tokens short at one a second (a bucket floored at zero would say one second).
      expect(denied.allowed === false && denied.retryAfterMs).toBeGreaterThan(5_500)
      expect(denied.allowed === false && denied.retryAfterMs).toBeLessThanOrEqual(6_000)
    })

    it('rejects malformed admissions and settlements', async () => {
      const bad: Partial<AdmitRequest>[] = [
        { concurrency: [slots(id(), 0)] },
        { budgets: [budget(id(), 100.5, 1)] },
        { budgets: [budget(id(), 100, -1)] },
        { budgets: [budget(id(), 100, 1, 0.5)] },
        { buckets: [bucket(id(), 0, 1)] },
        { leaseMs: 0 },
      ]
      for (const parts of bad) await expect(limiter.admit(admission(parts)), JSON.stringify(parts)).rejects.toThrow(RangeError)
      const settle = { id: id(), buckets: [], concurrencyKeys: [], budgets: [{ key: id(), actualMicroUsd: 1.5, ttlSeconds: 60 }] }
      await expect(limiter.settle(settle)).rejects.toThrow(RangeError)
      await expect(limiter.settle({ ...settle, budgets: [], buckets: [{ spec: bucket(id(), 5, 1), delta: Number.NaN }] })).rejects.toThrow(RangeError)
    })
  })
})

describe('RedisRateLimiter admission', () => {
  it('does not recreate a lost budget counter from one settled cost: the next admission asks for its seed', async () => {
    const url = inject('services').redisUrl
    const limiter = new RedisRateLimiter({ url, keyPrefix: 'sg:test:' })
    const redis = new Redis(url, { keyPrefix: 'sg:test:' })
    try {
      await limiter.check()
      const g = `test:${randomUUID()}`
      const request = admission({ budgets: [budget(g, 1_000, 100, 500)] })
      expect((await limiter.admit(request)).allowed).toBe(true)
      expect(await redis.exists(...budgetKeys(g))).toBe(3)
      await redis.del(g)
      await limiter.settle({ id: request.id, buckets: [], concurrencyKeys: [], budgets: [{ key: g, actualMicroUsd: 70, ttlSeconds: 3_600 }] })
      expect(await redis.exists(g)).toBe(0)
      expect(await limiter.admit(admission({ budgets: [budget(g, 1_000, 0, 'unseeded')] }))).toMatchObject({ reason: 'needs_seed', needsSeed: [g] })
    } finally {
      await limiter.close()
      redis.disconnect()
    }
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
