/**
 * Every error a client can see, declared once with a stable code (documented in docs/errors.md). Bodies
 * follow OpenAI's shape, `{ error: { message, type, param, code } }`, so OpenAI SDKs surface them as-is.
 */

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'insufficient_quota'
  | 'api_error'
  | 'service_unavailable_error'

interface ErrorSpec {
  status: number
  type: ErrorType
}

export const ERROR_CODES = {
  route_not_found: { status: 404, type: 'not_found_error' },
  invalid_json: { status: 400, type: 'invalid_request_error' },
  invalid_request: { status: 400, type: 'invalid_request_error' },
  unsupported_parameter: { status: 400, type: 'invalid_request_error' },
  invalid_api_key: { status: 401, type: 'authentication_error' },
  permission_denied: { status: 403, type: 'permission_error' },
  not_found: { status: 404, type: 'not_found_error' },
  conflict: { status: 409, type: 'invalid_request_error' },
  model_not_found: { status: 404, type: 'invalid_request_error' },
  rate_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  concurrency_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  budget_exceeded: { status: 402, type: 'insufficient_quota' },
  limits_unavailable: { status: 503, type: 'service_unavailable_error' },
  upstream_bad_request: { status: 400, type: 'invalid_request_error' },
  upstream_authentication_failed: { status: 502, type: 'api_error' },
  upstream_not_found: { status: 404, type: 'invalid_request_error' },
  upstream_rate_limited: { status: 429, type: 'rate_limit_error' },
  upstream_error: { status: 502, type: 'api_error' },
  upstream_timeout: { status: 504, type: 'api_error' },
  provider_overloaded: { status: 503, type: 'service_unavailable_error' },
  provider_unavailable: { status: 503, type: 'service_unavailable_error' },
  body_too_large: { status: 413, type: 'invalid_request_error' },
  request_timeout: { status: 408, type: 'invalid_request_error' },
  headers_too_large: { status: 431, type: 'invalid_request_error' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  service_unavailable: { status: 503, type: 'service_unavailable_error' },
  internal_error: { status: 500, type: 'api_error' },
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof ERROR_CODES

export interface ErrorBody {
  error: { message: string; type: ErrorType; param: string | null; code: ErrorCode }
}

export class GatewayError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly type: ErrorType
  readonly param: string | null
  /** Sent as `retry-after` (seconds, rounded up) and `retry-after-ms`. */
  readonly retryAfterMs: number | undefined
  /** More response headers (the rate-limit state on a 429). */
  readonly headers: Readonly<Record<string, string>> | undefined

  constructor(code: ErrorCode, message: string, param: string | null = null, retryAfterMs?: number, headers?: Readonly<Record<string, string>>) {
    super(message)
    this.name = 'GatewayError'
    this.code = code
    this.status = ERROR_CODES[code].status
    this.type = ERROR_CODES[code].type
    this.param = param
    this.retryAfterMs = retryAfterMs
    this.headers = headers
  }

  toBody(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } }
  }
}
