import type { ChatCompletion } from '../api/chat-completions.ts'
import type { NormalizedUsage } from '../providers/types.ts'

/**
 * The response cache's store (issue 6): two tiers, always inside one tenant.
 * - exact: the hash of the canonical request (tenant, partition, model and every parameter that changes the
 *   output), looked up by equality;
 * - semantic: within the same `semanticKey` (tenant, partition, model, parameters and the conversation before
 *   the last user message), the entry whose prompt embedding is nearest by cosine similarity, if at least the
 *   threshold; pgvector HNSW in PostgreSQL and PGlite.
 * Entries expire (`expiresAt`) and a tenant keeps at most `maxEntries`, evicting the least recently used.
 */

/** What a hit answers with: the completion as first served, and what it cost then (what a hit saves). */
export interface CachedResponse {
  completion: ChatCompletion
  /** `provider/model` that produced it. */
  model: string
  usage: NormalizedUsage
  costMicroUsd: number
}

export interface CacheEntry {
  tenantId: string
  /** sha256 hex of the canonical request: the exact tier's key. Unique per tenant. */
  exactKey: string
  /** sha256 hex of everything but the last user message: semantic matches stay inside one. */
  semanticKey: string
  /** The prompt embedding (unit length), or null when the entry is exact-only. */
  embedding: readonly number[] | null
  response: CachedResponse
  expiresAt: Date
}

export interface SemanticHit {
  response: CachedResponse
  similarity: number
}

export interface CacheStore {
  /** The live entry with this exact key in this tenant; marks it used (the use may be written later: see flush). */
  getExact(tenantId: string, exactKey: string, now: Date): Promise<CachedResponse | undefined>
  /** The live entry of the tenant and semantic key nearest to `embedding`, if its similarity ≥ minSimilarity; marks it used. */
  nearest(tenantId: string, semanticKey: string, embedding: readonly number[], minSimilarity: number, now: Date): Promise<SemanticHit | undefined>
  /** Stores (or replaces, by exact key) an entry, then evicts the tenant's least recently used entries beyond maxEntries and its expired ones. */
  put(entry: CacheEntry, maxEntries: number): Promise<void>
  /** Resolves when every hit and entry recorded so far is written (stores may write behind the calls). */
  flush(): Promise<void>
  /** How many live entries the tenant holds. */
  count(tenantId: string, now: Date): Promise<number>
}

/** The dimension of stored embeddings (the local embedder's, and what provider embeddings are reduced to). */
export const EMBEDDING_DIMENSIONS = 384
