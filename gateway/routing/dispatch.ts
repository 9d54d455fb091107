import { GatewayError } from '../errors.ts'
import { isRetryable, toClientError } from '../providers/errors.ts'
import type { ProviderCredential } from '../providers/types.ts'
import { UpstreamFailure } from '../upstream/client.ts'
import type { CircuitBreakers } from './circuit-breaker.ts'
import type { ResolvedModel } from './models.ts'

export interface Target {
  resolved: ResolvedModel
  credential: ProviderCredential
  /** provider + a fingerprint of the credential: one breaker per provider and credential. */
  breakerKey: string
}

export interface DispatchOptions {
  breakers: CircuitBreakers
  /** Retries per target after the first attempt. */
  retries: number
  baseDelayMs?: number
  maxDelayMs?: number
  /** A provider asking to wait longer than this is not retried; the next target is tried instead. */
  maxRetryAfterMs?: number
  random?: () => number
  sleep?: (ms: number) => Promise<void>
  /** Told of every failed attempt at a provider, retried or not (for /metrics). */
  onUpstreamFailure?: (provider: string, failure: UpstreamFailure) => void
}

export interface Dispatched<T> {
  result: T
  target: Target
  /** Attempts made, across targets, including the one that succeeded. */
  attempts: number
}

/** Full-jitter exponential backoff, or exactly what the provider asked for in retry-after. */
export function backoffMs(retry: number, retryAfterMs: number | undefined, options: DispatchOptions): number {
  if (retryAfterMs !== undefined) return retryAfterMs
  const ceiling = Math.min(options.maxDelayMs ?? 8_000, (options.baseDelayMs ?? 250) * 2 ** retry)
  return Math.round((options.random ?? Math.random)() * ceiling)
}

/**
 * Tries each target of a fallback chain in order. Within a target, a retryable upstream failure (429,
 * 5xx, overload, timeout, connection error) is retried with backoff; once its retries are spent, or its
 * breaker is open, the next target is tried. A non-retryable failure (a 400, a 401) ends the call at once:
 * another model would fail the same way. Errors thrown by `attempt` that are not upstream failures
 * (a parameter the provider cannot honour) also end it.
 */
export async function dispatch<T>(targets: readonly Target[], options: DispatchOptions, attempt: (target: Target) => Promise<T>): Promise<Dispatched<T>> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  let attempts = 0
  let last: { target: Target; failure: UpstreamFailure } | undefined
  let breakerWait: number | undefined
  for (const target of targets) {
    for (let retry = 0; retry <= options.retries; retry++) {
      const decision = options.breakers.allow(target.breakerKey)
      if (!decision.allowed) {
        breakerWait = Math.min(breakerWait ?? Infinity, decision.retryAfterMs)
        break
      }
      attempts++
      try {
        const result = await attempt(target)
        options.breakers.onSuccess(target.breakerKey)
        return { result, target, attempts }
      } catch (error) {
        if (!(error instanceof UpstreamFailure)) throw error
        options.onUpstreamFailure?.(target.resolved.provider.name, error)
        last = { target, failure: error }
        if (!isRetryable(error.error)) throw toClientError(target.resolved.provider.name, error.error)
        // Rate limits say nothing about the provider's health; everything else retryable does.
        if (error.error.upstreamStatus !== 429) options.breakers.onFailure(target.breakerKey)
        const wait = backoffMs(retry, error.error.retryAfterMs, options)
        if (retry === options.retries || wait > (options.maxRetryAfterMs ?? 20_000)) break
        await sleep(wait)
      }
    }
  }
  if (last !== undefined) throw toClientError(last.target.resolved.provider.name, last.failure.error)
  throw new GatewayError(
    'provider_unavailable',
    `The provider is failing and the gateway stopped calling it for now; retry in ${Math.ceil((breakerWait ?? 1_000) / 1000)} s`,
    null,
    breakerWait,
  )
}
