import { messageOf, retryAfterFromHeaders } from '../errors.ts'
import { openaiHeaders } from '../openai/api.ts'
import type { ProviderCredential, SseEvent, UpstreamError } from '../types.ts'

export const MISTRAL_BASE_URL = 'https://api.mistral.ai/v1'

/** Mistral authenticates as OpenAI does: `Authorization: Bearer <key>` and JSON bodies. */
export function mistralHeaders(credential: ProviderCredential): Record<string, string> {
  return openaiHeaders(credential)
}

/** One entry of a FastAPI/pydantic 422 `detail` list. */
interface ValidationIssue {
  type?: string
  loc?: (string | number)[]
  msg?: string
}

/**
 * Mistral's error bodies come in several shapes:
 * - `{ object: 'error', message, type, param, code }` for 400/429/5xx (code is a string like '3230');
 * - 422 validation errors as `{ detail: [...] }`, or wrapped as `{ object: 'error', message: { detail: [...] } }`
 *   or `{ detail: [...], message: [...] }` depending on the API version;
 * - 401 from the edge as `{ message: 'Unauthorized', request_id }` or `{ detail: 'Unauthorized' }`.
 */
interface MistralErrorBody {
  object?: string
  message?: unknown
  detail?: unknown
  type?: string | null
  param?: string | null
  code?: string | number | null
}

function validationIssues(body: MistralErrorBody): ValidationIssue[] {
  if (Array.isArray(body.detail)) return body.detail as ValidationIssue[]
  const wrapped = body.message as { detail?: unknown } | unknown[] | null | undefined
  if (Array.isArray(wrapped)) return wrapped as ValidationIssue[]
  if (typeof wrapped === 'object' && wrapped !== null && Array.isArray(wrapped.detail)) return wrapped.detail as ValidationIssue[]
  return []
}

/** `['body', 'messages', 0, 'user', 'name']` → `messages.0.user.name`. */
function pathOf(issue: ValidationIssue): string | null {
  const loc = (issue.loc ?? []).filter((part, i) => !(i === 0 && part === 'body'))
  return loc.length === 0 ? null : loc.join('.')
}

export function parseMistralError(status: number, body: unknown, headers: Record<string, string>): UpstreamError {
  const b = (typeof body === 'object' && body !== null ? body : {}) as MistralErrorBody
  const issues = validationIssues(b)
  const message =
    issues.length > 0
      ? issues.map((issue) => `${pathOf(issue) ?? 'body'}: ${issue.msg ?? issue.type ?? 'invalid'}`).join('; ')
      : messageOf(body, `HTTP ${status}`)
  const code = b.code === null || b.code === undefined ? null : String(b.code)
  const retryAfterMs = retryAfterFromHeaders(headers)
  // Mistral signals a model without capacity by a 429 "Service tier capacity exceeded" (code 3505), unlike
  // its per-key rate limit (code 1300): the first is an overload that another model or a later retry may avoid.
  const overloaded = status === 503 || code === '3505' || b.type === 'service_tier_capacity_exceeded' || /capacity exceeded|overloaded/i.test(message)
  return {
    upstreamStatus: status,
    providerCode: code ?? b.type ?? issues[0]?.type ?? null,
    message,
    param: (issues[0] === undefined ? null : pathOf(issues[0])) ?? b.param ?? null,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    ...(overloaded ? { overloaded } : {}),
  }
}

/**
 * A failure inside a 200 stream: an error object sent as an event, or a chunk whose finish_reason is
 * 'error' (Mistral's way of saying the generation broke off; the text so far is incomplete).
 */
export function mistralStreamError(event: SseEvent): UpstreamError | undefined {
  // Cheap filter first: every event passes through here, and almost none is an error.
  if (!event.data.includes('"error"')) return undefined
  let body: unknown
  try {
    body = JSON.parse(event.data)
  } catch {
    return undefined
  }
  const b = body as MistralErrorBody & { error?: unknown; choices?: { finish_reason?: string | null }[] }
  if (b.object?.toLowerCase() === 'error' || (b.error !== undefined && b.choices === undefined)) {
    return { ...parseMistralError(0, b.error !== undefined && typeof b.error === 'object' ? b.error : body, {}), upstreamStatus: 0 }
  }
  if (b.choices?.some((choice) => choice.finish_reason === 'error') === true) {
    return { upstreamStatus: 0, providerCode: 'error', message: 'the generation ended with finish_reason "error"', param: null }
  }
  return undefined
}
