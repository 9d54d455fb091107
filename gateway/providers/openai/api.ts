import { messageOf, retryAfterFromHeaders } from '../errors.ts'
import type { ProviderCredential, SseEvent, UpstreamError } from '../types.ts'

export const OPENAI_BASE_URL = 'https://api.openai.com/v1'

export function openaiHeaders(credential: ProviderCredential): Record<string, string> {
  return { authorization: `Bearer ${credential.apiKey}`, 'content-type': 'application/json' }
}

interface OpenAiErrorBody {
  error?: { message?: string; type?: string; param?: string | null; code?: string | null }
}

/** OpenAI's error body: `{ error: { message, type, param, code } }`. */
export function parseOpenAiError(status: number, body: unknown, headers: Record<string, string>): UpstreamError {
  const error = (body as OpenAiErrorBody | null)?.error
  const retryAfterMs = retryAfterFromHeaders(headers)
  return {
    upstreamStatus: status,
    providerCode: error?.code ?? error?.type ?? null,
    message: messageOf(body, `HTTP ${status}`),
    param: error?.param ?? null,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  }
}

/** A stream that fails after its 200 sends `data: {"error": {...}}`. */
export function openAiStreamError(event: SseEvent): UpstreamError | undefined {
  if (!event.data.startsWith('{"error"')) return undefined
  try {
    return parseOpenAiError(0, JSON.parse(event.data), {})
  } catch {
    return undefined
  }
}
