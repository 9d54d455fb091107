import { describe, expect, it } from 'vitest'
import type { AdmitRequest } from './admission.ts'
import { SETTLED_MARKER_MS } from './admission-rules.ts'
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

describe('memory admission on an injected clock', () => {
  const budget = (key: string, reserveMicroUsd: number, seedMicroUsd?: number) => ({ key, limitMicroUsd: 100, reserveMicroUsd, seedMicroUsd, ttlSeconds: 60 })
  const admission = (id: string, parts: Partial<AdmitRequest>): AdmitRequest => ({ id, buckets: [], concurrency: [], budgets: [], leaseMs: 1_000, ...parts })

  it('holds a slot and a reservation until the lease ends, to the millisecond', async () => {
    let now = 0
    const limiter = new MemoryRateLimiter({ now: () => now })
    const parts = { concurrency: [{ key: 'c', limit: 1 }], budgets: [budget('g', 100, 0)] }
    expect((await limiter.admit(admission('a', parts))).allowed).toBe(true)
    now = 999
    expect(await limiter.admit(admission('b', parts))).toMatchObject({ allowed: false, reason: 'concurrency' })
    expect(await limiter.admit(admission('b', { budgets: [budget('g', 1)] }))).toMatchObject({ allowed: false, reason: 'budget' })
    now = 1_000
    expect(await limiter.admit(admission('b', parts))).toMatchObject({ allowed: true, budgets: [{ reservedMicroUsd: 100 }] })
  })

  it('forgets a counter after its ttl; a settle then does not bring it back, the next admission asks for a seed', async () => {
    let now = 0
    const limiter = new MemoryRateLimiter({ now: () => now })
    expect((await limiter.admit(admission('a', { budgets: [budget('g', 10, 40)] }))).allowed).toBe(true)
    now = 60_000
    await limiter.settle({ id: 'a', buckets: [], concurrencyKeys: [], budgets: [{ key: 'g', actualMicroUsd: 5, ttlSeconds: 60 }] })
    expect(await limiter.admit(admission('b', { budgets: [budget('g', 0)] }))).toMatchObject({ allowed: false, needsSeed: ['g'] })
    expect(await limiter.admit(admission('b', { budgets: [budget('g', 0, 45)] }))).toMatchObject({ budgets: [{ spentMicroUsd: 45, reservedMicroUsd: 0 }] })
  })

  it('refreshes the counter ttl on settle', async () => {
    let now = 0
    const limiter = new MemoryRateLimiter({ now: () => now })
    expect((await limiter.admit(admission('a', { budgets: [budget('g', 10, 0)] }))).allowed).toBe(true)
    now = 59_000
    await limiter.settle({ id: 'a', buckets: [], concurrencyKeys: [], budgets: [{ key: 'g', actualMicroUsd: 5, ttlSeconds: 60 }] })
    // Denied admissions leave the ttl alone; this one still finds the counter.
    now = 118_999
    expect(await limiter.admit(admission('b', { budgets: [budget('g', 200)] }))).toMatchObject({ reason: 'budget', budgets: [{ spentMicroUsd: 5 }] })
    now = 119_000
    expect(await limiter.admit(admission('c', { budgets: [budget('g', 0)] }))).toMatchObject({ reason: 'needs_seed' })
  })

  it('remembers a settled id for SETTLED_MARKER_MS only', async () => {
    let now = 0
    const limiter = new MemoryRateLimiter({ now: () => now })
    const long = { ...budget('g', 10, 0), ttlSeconds: 3_600 }
    expect((await limiter.admit(admission('a', { budgets: [long] }))).allowed).toBe(true)
    const settle = () => limiter.settle({ id: 'a', buckets: [], concurrencyKeys: [], budgets: [{ key: 'g', actualMicroUsd: 5, ttlSeconds: 3_600 }] })
    const spent = async () => (await limiter.admit(admission(`look${now}`, { budgets: [{ ...long, reserveMicroUsd: 0 }] }))).budgets[0]!.spentMicroUsd
    await settle()
    now = SETTLED_MARKER_MS - 1
    await settle()
    expect(await spent()).toBe(5)
    // Past the marker a repeat counts again: the price of not remembering every id forever.
    now = SETTLED_MARKER_MS
    await settle()
    expect(await spent()).toBe(10)
  })

  it('forgets ended leases once it holds too many, without changing a decision', async () => {
    let now = 0
    const limiter = new MemoryRateLimiter({ now: () => now, maxBuckets: 5 })
    expect((await limiter.admit(admission('held', { concurrency: [{ key: 'c', limit: 1 }], leaseMs: 10_000 }))).allowed).toBe(true)
    for (let i = 0; i < 50; i++) await limiter.admit(admission(`x${i}`, { concurrency: [{ key: `c${i}`, limit: 1 }], leaseMs: 10 }))
    now = 100
    for (let i = 0; i < 50; i++) await limiter.settle({ id: `s${i}`, buckets: [], concurrencyKeys: [], budgets: [] })
    expect(await limiter.admit(admission('other', { concurrency: [{ key: 'c', limit: 1 }] }))).toMatchObject({ allowed: false, reason: 'concurrency' })
  })
})
