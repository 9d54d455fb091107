import { createHash } from 'node:crypto'
import { canonicalJson } from '../../projections/audit/audit-trail.ts'
import { textOf } from '../api/chat-completions.ts'
import type { ChatCompletionRequest } from '../api/chat-completions.ts'

/**
 * Request fields that do not change what the model answers: how it is delivered, and bookkeeping. Every
 * other field (messages, temperature, tools, response_format, seed, stop, max_tokens …) is part of the key.
 */
const DELIVERY_ONLY = new Set(['model', 'stream', 'stream_options', 'user', 'metadata', 'store', 'safety_identifier', 'prompt_cache_key', 'service_tier'])

export interface CacheKeys {
  /** Same tenant partition, same resolved model, same output-changing request: same key. */
  exactKey: string
  /** Same partition, model, parameters, embedder and conversation before the last user message. */
  semanticKey: string
  /** The last message's text when it is the user's and text only; null leaves the request exact-only. */
  prompt: string | null
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/**
 * The cache keys of a chat request. `partition` is `tenant` or `project:<id>` (the tenant is in the store's
 * key already); `model` the resolved `provider/model`, so that an alias and its target share entries.
 */
export function cacheKeys(body: ChatCompletionRequest, partition: string, model: string, embedderId: string): CacheKeys {
  const params: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(body)) {
    if (!DELIVERY_ONLY.has(name) && name !== 'messages' && value !== undefined && value !== null) params[name] = value
  }
  const exactKey = sha256(canonicalJson({ v: 1, partition, model, params, messages: body.messages }))
  const last = body.messages.at(-1)
  const textOnly = last?.role === 'user' && (typeof last.content === 'string' || last.content.every((p) => p.type === 'text'))
  const prompt = textOnly ? textOf(last.content) : null
  const semanticKey = sha256(canonicalJson({ v: 1, partition, model, params, embedder: embedderId, history: body.messages.slice(0, -1) }))
  return { exactKey, semanticKey, prompt: prompt === null || prompt.trim() === '' ? null : prompt }
}
