import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChunkToolCallDelta, FinishReason, ToolCall } from '../api/chat-completions.ts'
import type { Principal } from '../auth/api-keys.ts'
import type { CacheSettings } from '../control/settings.ts'
import { toCompletionUsage } from '../providers/usage.ts'
import type { NormalizedUsage } from '../providers/types.ts'
import { cacheKeys } from './canonical.ts'
import type { CachedResponse, CacheStore } from './cache-store.ts'
import type { Embedder } from './embedder.ts'

export type CacheStatus = 'hit-exact' | 'hit-semantic' | 'miss' | 'bypass'

export interface CacheDecision {
  /** What `x-supergate-cache` says; `bypass` when the tenant has no cache or the request opted out of reading. */
  status: CacheStatus
  hit?: { response: CachedResponse; similarity: number | null }
  /** Stores the call's response, on a miss (and on `no-cache`, which skips only the read). */
  store?: (response: CachedResponse) => void
}

export interface ResponseCacheOptions {
  store: CacheStore
  settingsFor(tenantId: string): CacheSettings | undefined
  /** The embedder a tenant's settings name: the local one, or a provider model through the tenant's keys. */
  embedderFor(settings: CacheSettings, principal: Principal): Embedder
  onError?(error: unknown, stage: 'lookup' | 'store'): void
  now?: () => Date
}

const BYPASS: CacheDecision = { status: 'bypass' }

/** `cache-control: no-store` neither reads nor writes; `no-cache` writes a fresh answer but does not read. */
export function cacheDirectives(header: string | string[] | undefined): { read: boolean; write: boolean } {
  const value = (Array.isArray(header) ? header.join(',') : (header ?? '')).toLowerCase()
  const directives = new Set(value.split(',').map((d) => d.trim()))
  if (directives.has('no-store')) return { read: false, write: false }
  return { read: !directives.has('no-cache'), write: true }
}

/** Whether a request may be answered by a semantically similar one under these settings. */
export function semanticAllowed(settings: CacheSettings, body: ChatCompletionRequest): boolean {
  if (settings.mode !== 'semantic') return false
  if ((body.tools?.length ?? 0) > 0 && !settings.semanticWithTools) return false
  // An unset temperature is the providers' default, 1.
  return (body.temperature ?? 1) <= settings.semanticMaxTemperature
}

/**
 * The response cache (issue 6): exact, then semantic, always inside the tenant (and its project when the
 * tenant says so), the resolved model and every parameter that changes the output. A failure of the store or
 * the embedder never fails the call: it is reported and the call goes to the provider uncached.
 */
export class ResponseCache {
  readonly #o: ResponseCacheOptions

  constructor(options: ResponseCacheOptions) {
    this.#o = options
  }

  /** Synchronous `bypass` for a tenant without a cache. */
  lookup(principal: Principal, body: ChatCompletionRequest, model: string, cacheControl: string | string[] | undefined): CacheDecision | Promise<CacheDecision> {
    const settings = this.#o.settingsFor(principal.tenantId)
    if (settings === undefined || settings.mode === 'off') return BYPASS
    const directives = cacheDirectives(cacheControl)
    if (!directives.write) return BYPASS
    return this.#lookup(settings, principal, body, model, directives.read)
  }

  async #lookup(settings: CacheSettings, principal: Principal, body: ChatCompletionRequest, model: string, read: boolean): Promise<CacheDecision> {
    const now = this.#o.now?.() ?? new Date()
    const partition = settings.perProject && principal.projectId !== null && principal.projectId !== undefined ? `project:${principal.projectId}` : 'tenant'
    const semantic = semanticAllowed(settings, body)
    const embedder = semantic ? this.#o.embedderFor(settings, principal) : undefined
    const keys = cacheKeys(body, partition, model, embedder?.id ?? 'none')
    const tenantId = principal.tenantId
    let embedding: number[] | null = null
    try {
      if (read) {
        const exact = await this.#o.store.getExact(tenantId, keys.exactKey, now)
        if (exact !== undefined) return { status: 'hit-exact', hit: { response: exact, similarity: null } }
      }
      if (embedder !== undefined && keys.prompt !== null) {
        embedding = (await embedder.embed([keys.prompt]))[0] ?? null
        if (read && embedding !== null) {
          const threshold = settings.modelThresholds[model] ?? settings.similarityThreshold
          const near = await this.#o.store.nearest(tenantId, keys.semanticKey, embedding, threshold, now)
          if (near !== undefined) return { status: 'hit-semantic', hit: { response: near.response, similarity: near.similarity } }
        }
      }
    } catch (error) {
      this.#o.onError?.(error, 'lookup')
      return BYPASS
    }
    const store = (response: CachedResponse) => {
      const entry = {
        tenantId,
        exactKey: keys.exactKey,
        semanticKey: keys.semanticKey,
        embedding,
        response,
        expiresAt: new Date(now.getTime() + settings.ttlSeconds * 1000),
      }
      this.#o.store.put(entry, settings.maxEntries).catch((error: unknown) => this.#o.onError?.(error, 'store'))
    }
    return { status: read ? 'miss' : 'bypass', store }
  }
}

/** A cached completion as this request's answer: its own id and time, the cached content and usage. */
export function servedFromCache(completion: ChatCompletion, requestId: string, now: Date): ChatCompletion {
  return { ...completion, id: `chatcmpl-${requestId}`, created: Math.floor(now.getTime() / 1000) }
}

/** A cached completion replayed as the chunks a stream of it would have had. */
export function replayChunks(completion: ChatCompletion, usage: NormalizedUsage, includeUsage: boolean): ChatCompletionChunk[] {
  const base = { id: completion.id, object: 'chat.completion.chunk' as const, created: completion.created, model: completion.model }
  const chunks: ChatCompletionChunk[] = []
  for (const choice of completion.choices) {
    chunks.push({ ...base, choices: [{ index: choice.index, delta: { role: 'assistant', content: '' }, finish_reason: null }] })
    const content = choice.message.content ?? ''
    // Several chunks, as a provider would send them, so clients see a real stream.
    for (let i = 0; i < content.length; i += 64) {
      chunks.push({ ...base, choices: [{ index: choice.index, delta: { content: content.slice(i, i + 64) }, finish_reason: null }] })
    }
    const calls = choice.message.tool_calls ?? []
    if (calls.length > 0) {
      const deltas: ChunkToolCallDelta[] = calls.map((call, index) => ({ index, id: call.id, type: 'function', function: { name: call.function.name, arguments: call.function.arguments } }))
      chunks.push({ ...base, choices: [{ index: choice.index, delta: { tool_calls: deltas }, finish_reason: null }] })
    }
    chunks.push({ ...base, choices: [{ index: choice.index, delta: {}, finish_reason: choice.finish_reason }] })
  }
  if (includeUsage) chunks.push({ ...base, choices: [], usage: toCompletionUsage(usage) })
  return chunks
}

/** Builds the completion a stream delivered, from its chunks, so that a streamed call can fill the cache. */
export class CompletionAssembler {
  #id = ''
  #created = 0
  #model = ''
  readonly #choices = new Map<number, { content: string; refusal: string | null; calls: Map<number, ToolCall>; finish: FinishReason | null }>()

  add(chunk: ChatCompletionChunk): void {
    this.#id ||= chunk.id
    this.#created ||= chunk.created
    this.#model ||= chunk.model
    for (const choice of chunk.choices) {
      const state = this.#choices.get(choice.index) ?? { content: '', refusal: null, calls: new Map<number, ToolCall>(), finish: null }
      if (typeof choice.delta.content === 'string') state.content += choice.delta.content
      if (typeof choice.delta.refusal === 'string') state.refusal = (state.refusal ?? '') + choice.delta.refusal
      for (const delta of choice.delta.tool_calls ?? []) {
        const call = state.calls.get(delta.index) ?? { id: '', type: 'function' as const, function: { name: '', arguments: '' } }
        if (delta.id !== undefined) call.id = delta.id
        if (delta.function?.name !== undefined) call.function.name += delta.function.name
        if (delta.function?.arguments !== undefined) call.function.arguments += delta.function.arguments
        state.calls.set(delta.index, call)
      }
      if (choice.finish_reason !== null) state.finish = choice.finish_reason
      this.#choices.set(choice.index, state)
    }
  }

  /** The completion, or undefined when the stream did not finish every choice (nothing worth caching). */
  completion(): ChatCompletion | undefined {
    if (this.#choices.size === 0) return undefined
    const choices: ChatCompletion['choices'] = []
    for (const [index, state] of [...this.#choices].sort((a, b) => a[0] - b[0])) {
      if (state.finish === null) return undefined
      const calls = [...state.calls].sort((a, b) => a[0] - b[0]).map(([, call]) => call)
      choices.push({
        index,
        message: { role: 'assistant', content: state.content === '' && calls.length > 0 ? null : state.content, refusal: state.refusal, ...(calls.length > 0 ? { tool_calls: calls } : {}) },
        finish_reason: state.finish,
        logprobs: null,
      })
    }
    return { id: this.#id, object: 'chat.completion', created: this.#created, model: this.#model, choices }
  }
}
