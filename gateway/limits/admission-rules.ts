import type { AdmitRequest, AdmitResult, BudgetSpec, SettleRequest } from './admission.ts'
import { bucketState, decide, validateBuckets } from './rate-limiter.ts'

/**
 * The admission rules shared by the memory adapter and mirrored by infra/redis/admission.lua and settle.lua
 * (the contract suite runs both against the same cases).
 */

export type DenialReason = 'needs_seed' | 'rate_limit' | 'concurrency' | 'budget'

export interface Denial {
  reason: DenialReason
  deniedKey: string | null
  retryAfterMs: number | null
  needsSeed: string[]
}

/** A budget counter as admission sees it, after expired reservations were dropped. */
export interface BudgetLevel {
  /** Null when the counter does not exist and the request brought no seed. */
  spentMicroUsd: number | null
  reservedMicroUsd: number
}

/**
 * How long a settled id is remembered, so that a repeated settle changes nothing. A repeat after this would
 * count the cost twice; the cost of remembering longer is one small key per call in Redis.
 */
export const SETTLED_MARKER_MS = 5 * 60_000

/**
 * The first check that fails, in this order: a counter to seed, the buckets, the concurrency slots, the
 * budgets; null when everything fits. A concurrency denial has no retry delay: the limiter cannot know when a
 * call in flight ends (its lease only bounds a gateway that died, often minutes away).
 */
export function decideAdmission(
  request: AdmitRequest,
  levels: readonly number[],
  slotsInUse: readonly number[],
  budgets: readonly BudgetLevel[],
): Denial | null {
  const needsSeed = request.budgets.filter((_, i) => budgets[i]!.spentMicroUsd === null).map((b) => b.key)
  if (needsSeed.length > 0) return { reason: 'needs_seed', deniedKey: null, retryAfterMs: null, needsSeed }
  const rate = decide(levels, request.buckets)
  if (!rate.allowed) {
    const denied = request.buckets.find((spec, i) => spec.cost > levels[i]!)!
    return { reason: 'rate_limit', deniedKey: denied.key, retryAfterMs: rate.retryAfterMs, needsSeed: [] }
  }
  const busy = request.concurrency.find((spec, i) => slotsInUse[i]! >= spec.limit)
  if (busy !== undefined) return { reason: 'concurrency', deniedKey: busy.key, retryAfterMs: null, needsSeed: [] }
  const over = request.budgets.find((spec, i) => !fits(spec, budgets[i]!))
  if (over !== undefined) return { reason: 'budget', deniedKey: over.key, retryAfterMs: null, needsSeed: [] }
  return null
}

function fits(spec: BudgetSpec, level: BudgetLevel): boolean {
  return (level.spentMicroUsd ?? 0) + level.reservedMicroUsd + spec.reserveMicroUsd <= spec.limitMicroUsd
}

/** The result from the bucket levels and budget counters after the decision (debited and reserved if admitted). */
export function admitResult(request: AdmitRequest, denial: Denial | null, levels: readonly number[], budgets: readonly BudgetLevel[]): AdmitResult {
  const bucketStates = request.buckets.map((spec, i) => bucketState(spec, levels[i]!))
  const budgetStates = request.budgets.map((spec, i) => ({
    key: spec.key,
    limitMicroUsd: spec.limitMicroUsd,
    spentMicroUsd: budgets[i]!.spentMicroUsd ?? 0,
    reservedMicroUsd: budgets[i]!.reservedMicroUsd,
  }))
  if (denial === null) return { allowed: true, buckets: bucketStates, budgets: budgetStates }
  return { allowed: false, ...denial, buckets: bucketStates, budgets: budgetStates }
}

const isMicroUsd = (n: number | undefined) => Number.isSafeInteger(n) && n! >= 0
const isPositiveInteger = (n: number) => Number.isSafeInteger(n) && n > 0

export function validateAdmit(request: AdmitRequest): void {
  validateBuckets(request.buckets)
  if (request.id === '') throw new RangeError('An admission needs an id')
  if (!isPositiveInteger(request.leaseMs)) throw new RangeError(`Admission ${request.id} needs a positive integer leaseMs`)
  for (const c of request.concurrency) {
    if (!isPositiveInteger(c.limit)) throw new RangeError(`Concurrency ${c.key} needs an integer limit of at least 1`)
  }
  for (const b of request.budgets) {
    const seedOk = b.seedMicroUsd === undefined || isMicroUsd(b.seedMicroUsd)
    if (!isMicroUsd(b.limitMicroUsd) || !isMicroUsd(b.reserveMicroUsd) || !seedOk || !isPositiveInteger(b.ttlSeconds)) {
      throw new RangeError(`Budget ${b.key} needs non-negative integer micro-USD and a positive integer ttlSeconds`)
    }
  }
}

export function validateSettle(request: SettleRequest): void {
  validateBuckets(request.buckets.map((b) => b.spec))
  if (request.id === '') throw new RangeError('A settlement needs an id')
  for (const b of request.buckets) {
    if (!Number.isFinite(b.delta)) throw new RangeError(`Bucket ${b.spec.key} needs a finite delta`)
  }
  for (const b of request.budgets) {
    if (!isMicroUsd(b.actualMicroUsd) || !isPositiveInteger(b.ttlSeconds)) {
      throw new RangeError(`Budget ${b.key} needs a non-negative integer actualMicroUsd and a positive integer ttlSeconds`)
    }
  }
}
