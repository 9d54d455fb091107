import type { BucketSpec, BucketState } from './rate-limiter.ts'

/**
 * Admission (DESIGN.md §3, issue 6): before an upstream call, in ONE atomic step (one Lua round trip in
 * Redis), the gateway takes from the request's token buckets (requests and tokens per minute, at key,
 * project and tenant scope), takes a concurrency slot at each scope, and reserves the call's worst-case cost
 * against each budget (and the prepaid balance). Either everything is admitted or nothing changes. After
 * the call, `settle` reconciles: tokens estimated vs used (refund or debit), the concurrency slots released,
 * each reservation replaced by the real cost. A gateway that dies between the two leaves leases that expire:
 * its slots and reservations stop counting after `leaseMs`.
 */

/** At most `limit` admissions hold a slot of `key` at once. */
export interface ConcurrencySpec {
  key: string
  limit: number
}

/**
 * A spend counter with a limit, in integer micro-USD: a budget for one scope and period, or a tenant's
 * prepaid balance (limit = credits granted). `spent` is what calls settled so far; `reserved` is the sum of
 * the live reservations. A reservation is admitted only if `spent + reserved + reserveMicroUsd <= limit`.
 */
export interface BudgetSpec {
  key: string
  limitMicroUsd: number
  /** The worst-case cost of this call (prompt tokens plus max output tokens at the model's price). */
  reserveMicroUsd: number
  /**
   * What was already spent in the counter's period when the counter does not exist yet (first use in its
   * period, or after Redis lost it): from the spend projection. Undefined when the caller has not read it:
   * then a missing counter is not created and admission answers `needsSeed` with its key.
   */
  seedMicroUsd?: number
  /** When the counter may be forgotten (seconds): past the end of its period. */
  ttlSeconds: number
}

export interface AdmitRequest {
  /** Unique per call; names its concurrency slots and reservations. */
  id: string
  buckets: readonly BucketSpec[]
  concurrency: readonly ConcurrencySpec[]
  budgets: readonly BudgetSpec[]
  /** How long slots and reservations live if `settle` never comes. */
  leaseMs: number
}

export interface BudgetState {
  key: string
  limitMicroUsd: number
  spentMicroUsd: number
  /** Including this call's reservation when admitted. */
  reservedMicroUsd: number
}

export type AdmitResult =
  | { allowed: true; buckets: BucketState[]; budgets: BudgetState[] }
  | {
      allowed: false
      /** The first check that failed, in this order: a counter to seed, rate, concurrency, budget. */
      reason: 'needs_seed' | 'rate_limit' | 'concurrency' | 'budget'
      /** The key that refused: a bucket, concurrency or budget key; for needs_seed, see `needsSeed`. */
      deniedKey: string | null
      /**
       * Milliseconds until the denied buckets would hold their cost; null when waiting cannot help, or for a
       * concurrency denial, whose wait is unknown (a lease only bounds a gateway that died).
       */
      retryAfterMs: number | null
      /** Budget keys whose counter does not exist and came without a seed. */
      needsSeed: string[]
      buckets: BucketState[]
      budgets: BudgetState[]
    }

export interface SettleRequest {
  id: string
  /**
   * Tokens to put back (negative: to take more) per bucket: the estimate taken at admission minus what the
   * call really used. Applied whatever the level, so a bucket may go below zero and later calls wait.
   */
  buckets: readonly { spec: BucketSpec; delta: number }[]
  concurrencyKeys: readonly string[]
  /** Each reservation made at admission is removed and `actualMicroUsd` added to `spent` (0 when the call failed). */
  budgets: readonly { key: string; actualMicroUsd: number; ttlSeconds: number }[]
}

export interface Admission {
  admit(request: AdmitRequest): Promise<AdmitResult>
  /**
   * Idempotent per id: a second settle of the same id changes nothing. A settle that comes after its lease
   * ran out still adds the actual cost (it was spent) and still applies the token deltas; only the slot and
   * reservation are already gone.
   */
  settle(request: SettleRequest): Promise<void>
}
