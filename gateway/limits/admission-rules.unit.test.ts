import { describe, expect, it } from 'vitest'
import type { AdmitRequest, BudgetSpec } from './admission.ts'
import { admitResult, decideAdmission, validateAdmit } from './admission-rules.ts'
import type { BudgetLevel } from './admission-rules.ts'

const budget = (key: string, limitMicroUsd: number, reserveMicroUsd: number): BudgetSpec => ({ key, limitMicroUsd, reserveMicroUsd, ttlSeconds: 60 })
const request = (parts: Partial<AdmitRequest>): AdmitRequest => ({ id: 'call', buckets: [], concurrency: [], budgets: [], leaseMs: 1_000, ...parts })
const level = (spentMicroUsd: number | null, reservedMicroUsd = 0): BudgetLevel => ({ spentMicroUsd, reservedMicroUsd })

describe('admission decisions', () => {
  // Every part refuses: the reason is the first in the order seed, rate, concurrency, budget.
  const all = request({
    buckets: [{ key: 'rpm', capacity: 10, refillPerSecond: 1, cost: 1 }],
    concurrency: [{ key: 'slots', limit: 1 }],
    budgets: [budget('seeded', 10, 5), budget('unseeded', 10, 5)],
  })

  it('names the first failing check in the order seed, rate, concurrency, budget', () => {
    expect(decideAdmission(all, [0], [1], [level(10), level(null)])).toMatchObject({ reason: 'needs_seed', needsSeed: ['unseeded'], deniedKey: null })
    expect(decideAdmission(all, [0], [1], [level(10), level(0)])).toEqual({ reason: 'rate_limit', deniedKey: 'rpm', retryAfterMs: 1_000, needsSeed: [] })
    expect(decideAdmission(all, [1], [1], [level(10), level(0)])).toEqual({ reason: 'concurrency', deniedKey: 'slots', retryAfterMs: null, needsSeed: [] })
    expect(decideAdmission(all, [1], [0], [level(10), level(0)])).toEqual({ reason: 'budget', deniedKey: 'seeded', retryAfterMs: null, needsSeed: [] })
    expect(decideAdmission(all, [1], [0], [level(0), level(0)])).toBeNull()
  })

  it('names the first bucket short of its cost, with the longest wait among them', () => {
    const buckets = [
      { key: 'a', capacity: 10, refillPerSecond: 10, cost: 1 },
      { key: 'b', capacity: 10, refillPerSecond: 1, cost: 2 },
      { key: 'c', capacity: 10, refillPerSecond: 1, cost: 5 },
    ]
    expect(decideAdmission(request({ buckets }), [5, 1, 0], [], [])).toMatchObject({ reason: 'rate_limit', deniedKey: 'b', retryAfterMs: 5_000 })
  })

  it('admits a reservation that reaches the limit exactly, and none past it', () => {
    const fits = (spec: BudgetSpec, spent: number, reserved: number) => decideAdmission(request({ budgets: [spec] }), [], [], [level(spent, reserved)]) === null
    expect(fits(budget('g', 100, 30), 50, 20)).toBe(true)
    expect(fits(budget('g', 100, 31), 50, 20)).toBe(false)
    expect(fits(budget('g', 100, 0), 50, 50)).toBe(true)
    expect(fits(budget('g', 100, 0), 60, 50)).toBe(false)
  })

  it('reports a counter without a seed as nothing spent', () => {
    const result = admitResult(request({ budgets: [budget('g', 100, 5)] }), null, [], [level(null, 7)])
    expect(result.budgets).toEqual([{ key: 'g', limitMicroUsd: 100, spentMicroUsd: 0, reservedMicroUsd: 7 }])
  })

  it('rejects money that is not integer micro-USD and limits below one slot', () => {
    expect(() => validateAdmit(request({ budgets: [budget('g', 100, 0.5)] }))).toThrow(RangeError)
    expect(() => validateAdmit(request({ budgets: [{ ...budget('g', 100, 1), seedMicroUsd: -1 }] }))).toThrow(RangeError)
    expect(() => validateAdmit(request({ budgets: [{ ...budget('g', 100, 1), ttlSeconds: 0 }] }))).toThrow(RangeError)
    expect(() => validateAdmit(request({ concurrency: [{ key: 'c', limit: 1.5 }] }))).toThrow(RangeError)
    expect(() => validateAdmit(request({ id: '' }))).toThrow(RangeError)
    expect(() => validateAdmit(all)).not.toThrow()
  })
})
