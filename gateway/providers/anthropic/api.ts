import { messageOf, retryAfterFromHeaders } from '../errors.ts'
import type { ProviderCredential, SseEvent, UpstreamError } from '../types.ts'
import type { ErrorResponse } from './wire.ts'

export const ANTHROPIC_BASE_URL = 'https://api.anthropic.com/v1'

/**
 * The API version the adapter is written against. 2026-10-21 removed temperature, top_p and top_k
 * (a request carrying any of them is a 400), so request.ts refuses them rather than forwarding them.
 */
export const ANTHROPIC_VERSION = '2026-10-21'

/** Bearer auth, as the current official SDKs send it; the API also accepts `x-api-key`. */
export function anthropicHeaders(credential: ProviderCredential): Record<string, string> {
  return {
    authorization: `Bearer ${credential.apiKey}`,
    'anthropic-version': ANTHROPIC_VERSION,
    'content-type': 'application/json',
  }
}

function isErrorResponse(body: unknown): body is ErrorResponse {
  const b = body as Partial<ErrorResponse> | null
  return b !== null && typeof b === 'object' && b.type === 'error' && typeof b.error === 'object' && b.error !== null
}

/**
 * `{ type: 'error', error: { type, message, details? }, request_id }`. 529 `overloaded_error` is
 * Anthropic-wide overload, not this caller's rate limit: it is flagged so the client gets a 503.
 */
export function parseAnthropicError(status: number, body: unknown, headers: Record<string, string>): UpstreamError {
  const error = isErrorResponse(body) ? body.error : undefined
  const retryAfterMs = retryAfterFromHeaders(headers)
  const overloaded = status === 529 || error?.type === 'overloaded_error'
  return {
    upstreamStatus: status,
    // details.error_code names the precise cause (enforced_spend_limit_reached, ...); type is the broad class.
    providerCode: error?.details?.error_code ?? error?.type ?? null,
    message: messageOf(body, `HTTP ${status}`),
    // Anthropic names the parameter only inside the message ("max_tokens: ..."), never in a field.
    param: null,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    ...(overloaded ? { overloaded: true } : {}),
  }
}

/** A stream that fails after its 200 sends `event: error` with the same body as an HTTP error. */
export function anthropicStreamError(event: SseEvent): UpstreamError | undefined {
  if (event.event !== 'error') return undefined
  let body: unknown
  try {
    body = JSON.parse(event.data)
  } catch {
    body = event.data
  }
  return parseAnthropicError(0, body, {})
}
