import type { ErrorCode, GatewayError } from '../../../errors.ts'
import type { AnthropicErrorBody, AnthropicErrorType, SseOut } from './wire.ts'

/**
 * A gateway error → the status and error type Anthropic's API documents for it (400 invalid_request_error,
 * 401 authentication_error, 403 permission_error, 404 not_found_error, 413 request_too_large, 429
 * rate_limit_error, 500 api_error, 504 timeout_error, 529 overloaded_error), so Anthropic SDKs raise the
 * matching exception and retry what they would retry. The type follows the gateway's own status (so a new
 * error code needs no change here), except:
 *
 * - An overloaded provider and an open circuit breaker are both "capacity, try again shortly": 529
 *   overloaded_error, which Anthropic SDKs retry and clients already handle as OverloadedError.
 * - The gateway itself draining (503) stays 503, as api_error: it concerns this gateway, and a load
 *   balancer or the SDK's retry can move on to another instance.
 * - A provider rejecting the gateway's credential stays 502 api_error: a 401 would tell the client its
 *   own key is wrong.
 */
const OVERRIDES: Partial<Record<ErrorCode, readonly [number, AnthropicErrorType]>> = {
  provider_overloaded: [529, 'overloaded_error'],
  provider_unavailable: [529, 'overloaded_error'],
}

function typeForStatus(status: number): AnthropicErrorType {
  switch (status) {
    case 401:
      return 'authentication_error'
    case 402:
      return 'billing_error'
    case 403:
      return 'permission_error'
    case 404:
      return 'not_found_error'
    case 413:
      return 'request_too_large'
    case 429:
      return 'rate_limit_error'
    case 504:
      return 'timeout_error'
    default:
      // Anthropic uses invalid_request_error for 4xx codes it does not list, api_error for server faults.
      return status >= 500 ? 'api_error' : 'invalid_request_error'
  }
}

/**
 * A GatewayError as Anthropic's error response. The route still sends `retry-after` from
 * `error.retryAfterMs` and the `request-id` header; `requestId` also goes into the body, as Anthropic does.
 */
export function toAnthropicError(error: GatewayError, requestId?: string): { status: number; body: AnthropicErrorBody } {
  const [status, type] = OVERRIDES[error.code] ?? [error.status, typeForStatus(error.status)]
  return { status, body: { type: 'error', error: { type, message: error.message }, request_id: requestId ?? null } }
}

/** The same error as an `error` event inside a stream that has already answered 200. */
export function toAnthropicStreamError(error: GatewayError, requestId?: string): SseOut {
  return { event: 'error', data: JSON.stringify(toAnthropicError(error, requestId).body) }
}
