import { GatewayError } from '../errors.ts'
import type { ProviderName, UpstreamError } from './types.ts'

/** A parameter this provider cannot honour: a clear 400 naming both, never a silent drop. */
export function unsupportedParameter(provider: ProviderName, param: string, detail?: string): GatewayError {
  return new GatewayError(
    'unsupported_parameter',
    `Parameter '${param}' is not supported by provider '${provider}'${detail === undefined ? '' : `: ${detail}`}`,
    param,
  )
}

/** Milliseconds from `retry-after-ms`, or `retry-after` in seconds or as an HTTP date. */
export function retryAfterFromHeaders(headers: Record<string, string>, now: number = Date.now()): number | undefined {
  const ms = headers['retry-after-ms']
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.ceil(Number(ms))
  const value = headers['retry-after']
  if (value === undefined) return undefined
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.ceil(Number(value) * 1000)
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

const OVERLOADED_RETRY_MS = 2_000

/** Whether another attempt (retry, or the next model of a fallback chain) may succeed. */
export function isRetryable(error: UpstreamError): boolean {
  const s = error.upstreamStatus
  return error.overloaded === true || s === 0 || s === 408 || s === 409 || s === 429 || s >= 500
}

/** What the client sees for an upstream failure (codes in docs/errors.md). */
export function toClientError(provider: ProviderName, error: UpstreamError): GatewayError {
  const message = `${provider}: ${error.message}`
  const s = error.upstreamStatus
  // An overloaded provider always comes with a retry hint, its own or a short default.
  if (error.overloaded === true) return new GatewayError('provider_overloaded', message, null, error.retryAfterMs ?? OVERLOADED_RETRY_MS)
  if (s === 400 || s === 422 || s === 413) return new GatewayError('upstream_bad_request', message, error.param)
  if (s === 401 || s === 403) {
    return new GatewayError('upstream_authentication_failed', `${provider} rejected the credential configured for it: ${error.message}`)
  }
  if (s === 404) return new GatewayError('upstream_not_found', message, error.param)
  if (s === 429) return new GatewayError('upstream_rate_limited', message, null, error.retryAfterMs)
  if (s === 408 || s === 504) return new GatewayError('upstream_timeout', message)
  return new GatewayError('upstream_error', message, null, error.retryAfterMs)
}

/** The message of a JSON error body in the common `{error:{message}}` / `{message}` shapes, else the text. */
export function messageOf(body: unknown, fallback: string): string {
  if (typeof body === 'string') return body.trim() === '' ? fallback : body.slice(0, 1000)
  if (body !== null && typeof body === 'object') {
    const b = body as { error?: unknown; message?: unknown; detail?: unknown }
    if (typeof b.error === 'object' && b.error !== null && typeof (b.error as { message?: unknown }).message === 'string') {
      return (b.error as { message: string }).message
    }
    if (typeof b.error === 'string') return b.error
    if (typeof b.message === 'string') return b.message
    if (typeof b.detail === 'string') return b.detail
  }
  return fallback
}
