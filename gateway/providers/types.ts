import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '../api/chat-completions.ts'
import type { EmbeddingsRequest } from '../api/embeddings.ts'

/**
 * What every provider adapter implements (STYLE.md habit 1): one folder per provider under
 * gateway/providers/<name>/ with api.ts (URL, headers, auth, errors), request.ts, response.ts, stream.ts,
 * embeddings.ts where the provider has embeddings, fixtures/ and fixture-driven tests. Adapters are pure
 * translation: they never do I/O. The gateway core sends the request, frames SSE, retries and meters.
 */

import type { ProviderName } from '../../infra/config/config.ts'

export type { ProviderName }

export interface ProviderCredential {
  apiKey: string
  /** Without a trailing slash, e.g. https://api.anthropic.com/v1 (each adapter documents what it expects). */
  baseUrl: string
  /** Whose key it is: the gateway's (configuration) or the tenant's own (BYOK); metered with every call. */
  source?: 'gateway' | 'byok'
}

export interface CallContext {
  /** The provider's own model id, without the `provider/` prefix. */
  model: string
  credential: ProviderCredential
  /** The gateway's request id: the base of ids the gateway mints (completion ids, Gemini tool-call ids). */
  requestId: string
  /** Unix seconds, for `created` fields. */
  created: number
}

export interface UpstreamRequest {
  method: 'POST' | 'GET'
  url: string
  headers: Record<string, string>
  /** JSON-serialisable; the core serialises it once. */
  body?: unknown
}

/** Token counts as the gateway meters them, from the provider's own usage fields. */
export interface NormalizedUsage {
  /** All input tokens, cached ones included (OpenAI's prompt_tokens). */
  promptTokens: number
  /** All output tokens, reasoning included (OpenAI's completion_tokens). */
  completionTokens: number
  /** Input tokens read from the provider's prompt cache (part of promptTokens). */
  cachedTokens: number
  /** Input tokens written to the provider's prompt cache (part of promptTokens), where it reports them. */
  cacheWriteTokens: number
  /** Reasoning/thinking tokens (part of completionTokens). */
  reasoningTokens: number
  /** True when the provider reported no usage and the gateway estimated it. */
  estimated: boolean
}

export interface ChatResult {
  completion: ChatCompletion
  usage: NormalizedUsage
}

/** One parsed server-sent event; framing (lines, `data:` joins, `[DONE]`) is done once, in the core. */
export interface SseEvent {
  event?: string
  data: string
}

/**
 * Translates a provider's stream into OpenAI chunks, one upstream event at a time. `onEvent` may update
 * the state it is given and returns the chunks to send (without `usage`: the core adds usage chunks).
 * Chunks carry `id`, `created` and `model` from the state, the same on every chunk.
 */
export interface StreamTranslator<State> {
  init(ctx: CallContext): State
  onEvent(event: SseEvent, state: State): ChatCompletionChunk[]
  /** The upstream stream ended; returns any last chunks (a finish_reason the provider never sent, say). */
  onEnd(state: State): ChatCompletionChunk[]
  /** Usage so far: complete after a clean end, partial (what was produced) after an abort. */
  usage(state: State): NormalizedUsage | undefined
}

export interface ChatAdapter<State = unknown> {
  /** Throws GatewayError('unsupported_parameter', …, param) for a parameter the provider cannot honour. */
  buildRequest(request: ChatCompletionRequest, ctx: CallContext & { stream: boolean }): UpstreamRequest
  parseResponse(body: unknown, ctx: CallContext): ChatResult
  stream: StreamTranslator<State>
}

export interface EmbeddingsResult {
  vectors: number[][]
  usage: NormalizedUsage
}

export interface EmbeddingsAdapter {
  buildRequest(request: EmbeddingsRequest, ctx: CallContext): UpstreamRequest
  parseResponse(body: unknown, ctx: CallContext & { inputCount: number }): EmbeddingsResult
}

/** An upstream failure, classified; `upstreamError()` in ./errors.ts builds one and maps it to what the client sees. */
export interface UpstreamError {
  /** The provider's HTTP status (or 0 for an error event inside a 200 stream). */
  upstreamStatus: number
  /** The provider's own error type or code, for logs ('overloaded_error', 'RESOURCE_EXHAUSTED'). */
  providerCode: string | null
  message: string
  param: string | null
  /** From retry-after / retry-after-ms headers or the body, when the provider says when to retry. */
  retryAfterMs?: number
  /** The provider reports being overloaded (Anthropic 529, Gemini 503 UNAVAILABLE): the client gets 503. */
  overloaded?: boolean
}

export interface ModelInfo {
  id: string
  kind: 'chat' | 'embedding'
}

export interface ProviderAdapter {
  readonly name: ProviderName
  readonly defaultBaseUrl: string
  /** Bare model ids that belong to this provider, by prefix ('gpt-', 'claude-'): a request may omit `provider/`. */
  readonly modelPrefixes: readonly string[]
  /** Models listed by GET /v1/models. */
  readonly models: readonly ModelInfo[]
  readonly chat: ChatAdapter<unknown>
  readonly embeddings?: EmbeddingsAdapter
  /** Maps an error response (status, parsed JSON body or text, lower-cased headers). */
  parseError(status: number, body: unknown, headers: Record<string, string>): UpstreamError
  /** An error event inside a stream, if this event is one; undefined otherwise. */
  streamError?(event: SseEvent): UpstreamError | undefined
}
