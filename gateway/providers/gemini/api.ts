import { messageOf, retryAfterFromHeaders } from '../errors.ts'
import type { ProviderCredential, SseEvent, UpstreamError } from '../types.ts'
import type { GeminiErrorBody } from './wire.ts'

/** The Generative Language API, version segment included; the adapter appends `/models/{model}:{method}`. */
export const GEMINI_BASE_URL = 'https://generativelanguage.googleapis.com/v1beta'

/** The key travels only in `x-goog-api-key`, never in the `?key=` query string, so it stays out of URLs and logs. */
export function geminiHeaders(credential: ProviderCredential): Record<string, string> {
  return { 'x-goog-api-key': credential.apiKey, 'content-type': 'application/json' }
}

/**
 * Gemini 1.x and 2.x models: thinking is sized by `thinkingBudget` and replayed function calls need no
 * thought signature. Gemini 3 onwards (and the `-latest` aliases, which point there) use `thinkingLevel`
 * and require signatures.
 */
export function isBeforeGemini3(model: string): boolean {
  return /^gemini-[12](\.|-)/.test(model)
}

export const usesThoughtSignatures = (model: string): boolean => !isBeforeGemini3(model)

export type GeminiMethod = 'generateContent' | 'streamGenerateContent' | 'batchEmbedContents'

export function geminiUrl(credential: ProviderCredential, model: string, method: GeminiMethod): string {
  // Without alt=sse the stream would be one JSON array written piecemeal; SSE gives one chunk per frame.
  const query = method === 'streamGenerateContent' ? '?alt=sse' : ''
  return `${credential.baseUrl}/models/${encodeURIComponent(model)}:${method}${query}`
}

/** google.rpc.RetryInfo's `retryDelay` is a protobuf Duration in JSON: "12s", "0.5s", "1.250s". */
function retryDelayMs(body: GeminiErrorBody | null): number | undefined {
  for (const detail of body?.error?.details ?? []) {
    if (!detail['@type']?.endsWith('google.rpc.RetryInfo') || typeof detail.retryDelay !== 'string') continue
    const match = /^(\d+(?:\.\d+)?)s$/.exec(detail.retryDelay.trim())
    if (match !== null) return Math.ceil(Number(match[1]) * 1000)
  }
  return undefined
}

function errorReason(body: GeminiErrorBody | null): string | undefined {
  return body?.error?.details?.find((d) => d['@type']?.endsWith('google.rpc.ErrorInfo'))?.reason
}

/** The request field a 400 names, from google.rpc.BadRequest (`contents[1].parts[0].function_call`). */
function violatedField(body: GeminiErrorBody | null): string | null {
  for (const detail of body?.error?.details ?? []) {
    const field = detail.fieldViolations?.find((v) => typeof v.field === 'string')?.field
    if (field !== undefined) return field
  }
  return null
}

/**
 * Google's error body: `{ error: { code, message, status: 'INVALID_ARGUMENT' | 'RESOURCE_EXHAUSTED' |
 * 'UNAVAILABLE' | …, details: [google.rpc.* messages] } }`. Retry hints come from headers first, then from
 * a google.rpc.RetryInfo detail (Gemini's 429s carry one, and usually no retry-after header).
 */
export function parseGeminiError(status: number, body: unknown, headers: Record<string, string>): UpstreamError {
  const b = body !== null && typeof body === 'object' ? (body as GeminiErrorBody) : null
  const reason = errorReason(b)
  const retryAfterMs = retryAfterFromHeaders(headers) ?? retryDelayMs(b)
  // Gemini answers a wrong or expired API key with 400 INVALID_ARGUMENT / API_KEY_INVALID: classified as
  // the 401 it means, so the client hears about a credential problem rather than a bad request of its own.
  const upstreamStatus = reason === 'API_KEY_INVALID' ? 401 : status
  const overloaded = status === 503 || b?.error?.status === 'UNAVAILABLE'
  return {
    upstreamStatus,
    providerCode: reason ?? b?.error?.status ?? null,
    message: messageOf(body, `HTTP ${status}`),
    param: violatedField(b),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    ...(overloaded ? { overloaded: true } : {}),
  }
}

/** A stream that fails after its 200 sends one last frame `data: {"error": {code, message, status}}`. */
export function geminiStreamError(event: SseEvent): UpstreamError | undefined {
  if (!/^\s*\{\s*"error"\s*:/.test(event.data)) return undefined
  try {
    const parsed = JSON.parse(event.data) as GeminiErrorBody
    const error = parseGeminiError(parsed.error?.code ?? 0, parsed, {})
    return { ...error, upstreamStatus: 0 }
  } catch {
    return undefined
  }
}
