import { messageOf, retryAfterFromHeaders } from '../errors.ts'
import type { ProviderCredential, SseEvent, UpstreamError } from '../types.ts'
import type { CohereStreamEvent } from './wire.ts'

/** API v2; the adapter appends `/chat` and `/embed`. */
export const COHERE_BASE_URL = 'https://api.cohere.com/v2'

/** Bearer auth; `accept` as the official SDK sends it (SSE when `stream: true` is in the body). */
export function cohereHeaders(credential: ProviderCredential, stream = false): Record<string, string> {
  return {
    authorization: `Bearer ${credential.apiKey}`,
    'content-type': 'application/json',
    accept: stream ? 'text/event-stream' : 'application/json',
  }
}

/**
 * Cohere's error bodies carry no code, only `{ id?, message }`; the status is the classification. These
 * names are the official SDK's error classes for each status, so logs read the way Cohere's docs do.
 */
const STATUS_CODES: Readonly<Record<number, string>> = {
  400: 'bad_request',
  401: 'unauthorized',
  402: 'payment_required',
  403: 'forbidden',
  404: 'not_found',
  422: 'unprocessable_entity',
  429: 'too_many_requests',
  498: 'invalid_token',
  499: 'client_closed_request',
  500: 'internal_server_error',
  501: 'not_implemented',
  503: 'service_unavailable',
  504: 'gateway_timeout',
}

/** `{ id?, message }` with the HTTP status; 503 is how Cohere says it is overloaded or unavailable. */
export function parseCohereError(status: number, body: unknown, headers: Record<string, string>): UpstreamError {
  const retryAfterMs = retryAfterFromHeaders(headers)
  return {
    upstreamStatus: status,
    providerCode: STATUS_CODES[status] ?? null,
    message: messageOf(body, `HTTP ${status}`),
    param: null,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    ...(status === 503 ? { overloaded: true } : {}),
  }
}

/**
 * A stream that fails after its 200 ends with a `message-end` whose finish_reason is ERROR (with the
 * reason in `delta.error`). The core stops at this event, so its usage is not metered: the translator's
 * partial estimate stands in. TIMEOUT is not an error: the text so far is kept, as for MAX_TOKENS.
 */
export function cohereStreamError(event: SseEvent): UpstreamError | undefined {
  if (!event.data.includes('"message-end"')) return undefined
  let parsed: CohereStreamEvent
  try {
    parsed = JSON.parse(event.data) as CohereStreamEvent
  } catch {
    return undefined
  }
  const delta = parsed.delta
  if (parsed.type !== 'message-end' || (delta?.finish_reason !== 'ERROR' && delta?.error === undefined)) return undefined
  return { upstreamStatus: 0, providerCode: 'ERROR', message: delta.error ?? 'the generation failed', param: null }
}
