/**
 * One breaker per provider and credential: after `threshold` consecutive upstream failures it opens and
 * refuses calls for `cooldownMs`, then lets one trial call through (half-open); success closes it,
 * failure opens it again. Only upstream failures count (5xx, timeouts, connection errors, overloads),
 * never a client's bad request.
 */

interface BreakerState {
  failures: number
  openUntil: number
  trialInFlight: boolean
}

export type BreakerDecision = { allowed: true } | { allowed: false; retryAfterMs: number }

export class CircuitBreakers {
  readonly #states = new Map<string, BreakerState>()
  readonly #threshold: number
  readonly #cooldownMs: number
  readonly #now: () => number

  constructor(options: { threshold?: number; cooldownMs?: number; now?: () => number } = {}) {
    this.#threshold = options.threshold ?? 5
    this.#cooldownMs = options.cooldownMs ?? 30_000
    this.#now = options.now ?? Date.now
  }

  allow(key: string): BreakerDecision {
    const state = this.#states.get(key)
    if (state === undefined || state.failures < this.#threshold) return { allowed: true }
    const wait = state.openUntil - this.#now()
    if (wait > 0) return { allowed: false, retryAfterMs: wait }
    if (state.trialInFlight) return { allowed: false, retryAfterMs: 1_000 }
    state.trialInFlight = true
    return { allowed: true }
  }

  onSuccess(key: string): void {
    this.#states.delete(key)
  }

  onFailure(key: string): void {
    const state = this.#states.get(key) ?? { failures: 0, openUntil: 0, trialInFlight: false }
    state.failures++
    state.trialInFlight = false
    if (state.failures >= this.#threshold) state.openUntil = this.#now() + this.#cooldownMs
    this.#states.set(key, state)
  }

  /**
   * Breakers not closed, counted by provider and state, for /metrics: keys hold a credential's fingerprint
   * (one breaker per tenant's own key), too many to be labels. Keys are `<provider>:<fingerprint>`.
   */
  notClosed(): Record<string, { open: number; 'half-open': number }> {
    const counts: Record<string, { open: number; 'half-open': number }> = {}
    for (const key of this.#states.keys()) {
      const state = this.state(key)
      if (state === 'closed') continue
      const provider = key.slice(0, key.indexOf(':'))
      counts[provider] ??= { open: 0, 'half-open': 0 }
      counts[provider][state]++
    }
    return counts
  }

  /** For /metrics and tests: 'closed' | 'open' | 'half-open'. */
  state(key: string): 'closed' | 'open' | 'half-open' {
    const state = this.#states.get(key)
    if (state === undefined || state.failures < this.#threshold) return 'closed'
    return state.openUntil > this.#now() ? 'open' : 'half-open'
  }
}
