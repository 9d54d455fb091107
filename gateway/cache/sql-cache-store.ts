import type { SqlExecutor, SqlStore } from '../../infra/postgres/sql-store.ts'
import { EMBEDDING_DIMENSIONS } from './cache-store.ts'
import type { CacheEntry, CachedResponse, CacheStore, SemanticHit } from './cache-store.ts'
import { CacheWriter } from './cache-writer.ts'

/**
 * The response cache in PostgreSQL or PGlite (migration 0010). The gateway writes as the connection's role,
 * the table's owner, so every statement filters by tenant itself; Row-Level Security guards the app role's reads.
 *
 * Recency (`last_used_at`) is always the database's `now()`, never a gateway's clock: several gateways
 * with skewed clocks would otherwise scramble the LRU order. Expiry compares the caller's `now` with the
 * caller's `expiresAt`, one clock.
 *
 * Every write commits without waiting for the WAL flush (synchronous_commit off): if the database crashes,
 * the last fraction of a second of entries and hits is lost, which costs a cache nothing but misses.
 */

/** The hot path's exact lookup: a read and nothing else; the hit is counted by the writer, behind it. */
export const GET_EXACT_SQL = 'SELECT response, expires_at FROM response_cache WHERE tenant_id = $1 AND exact_key = $2 AND expires_at > $3'

/**
 * $1 tenant, $2 semantic key, $3 embedding, $4 now, $5 minimum similarity. HNSW serves the ORDER BY (or, for
 * a semantic key with few entries, the (tenant_id, semantic_key) index and an exact sort); the similarity
 * test comes after the LIMIT, so a near-miss is never traded for a farther entry that passes.
 */
export const NEAREST_SQL = `
SELECT exact_key, response, 1 - distance AS similarity FROM (
  SELECT exact_key, response, embedding <=> $3::vector AS distance
  FROM response_cache
  WHERE tenant_id = $1 AND semantic_key = $2 AND expires_at > $4 AND embedding IS NOT NULL
  ORDER BY embedding <=> $3::vector
  LIMIT 1
) AS candidate
WHERE 1 - distance >= $5`

/**
 * HNSW alone finds the ef_search nearest entries of the whole table and then applies the WHERE: a tenant
 * with a few entries among many others' would find none. pgvector 0.8's iterative scan keeps searching
 * until a row passes the filter (or hnsw.max_scan_tuples, 20,000 by default, have been visited). Rows come
 * in order within each round of the search, not across rounds: when the filter is selective the first found
 * may not be the nearest. The planner serves such a filter from the btree index, exactly.
 *
 * ef_search 100 rather than pgvector's 40: over 100,000 random 384-dimension entries, recall@1 of a planted
 * neighbour rises from ~70 % to ~92 % for ~5 ms more (test/bench/semantic-lookup.ts); a miss costs a call.
 */
export function nearestSettingsSql(iterativeScan: boolean): string {
  const settings = [['hnsw.ef_search', '100'], ...(iterativeScan ? [['hnsw.iterative_scan', 'relaxed_order']] : [])]
  return `SELECT ${settings.map(([name, value]) => `set_config('${name}', '${value}', true)`).join(', ')}`
}

const COUNT_SQL = 'SELECT count(*) AS n FROM response_cache WHERE tenant_id = $1 AND expires_at > $2'

/** Refuses an embedding that pgvector would reject or that has no direction (cosine distance is NaN for it). */
export function vectorLiteral(embedding: readonly number[]): string {
  if (embedding.length !== EMBEDDING_DIMENSIONS) {
    throw new RangeError(`an embedding has ${EMBEDDING_DIMENSIONS} dimensions, not ${embedding.length}`)
  }
  let squares = 0
  for (const x of embedding) {
    if (!Number.isFinite(x)) throw new RangeError(`an embedding holds finite numbers only, not ${x}`)
    squares += x * x
  }
  if (squares === 0) throw new RangeError('an embedding must not be the zero vector')
  return `[${embedding.join(',')}]`
}

export interface SqlCacheStoreOptions {
  /** How precisely recency is kept: a hit within this long of the entry's last recorded use only counts. */
  touchIntervalMs?: number
  /** How many exact entries this process keeps in memory (0: none). */
  memoEntries?: number
  /** How long a remembered entry is served before it is read again, whatever its expiry: what another process's eviction may be late by. */
  memoMs?: number
}

interface Remembered {
  response: CachedResponse
  expiresAt: number
  /** When this process reads the entry from the database again. */
  until: number
}


const memoKey = (tenantId: string, exactKey: string) => `${tenantId}\u0000${exactKey}`

/**
 * The hot path reads only: hits and new entries are written behind it, in batches (./cache-writer.ts).
 *
 * Exact entries that were hits are remembered (a bounded LRU map, for `memoMs` at most): a hot entry is
 * served without a database round trip. An entry this process replaces or evicts is forgotten as soon as the
 * write commits, and a read that was under way meanwhile does not bring it back; another process's eviction
 * or replacement is seen within `memoMs`. Either answer was a valid answer to the request, and an entry is
 * never served past its expiry.
 */
export class SqlCacheStore implements CacheStore {
  readonly #sql: SqlStore
  readonly #memoEntries: number
  readonly #memoMs: number
  readonly #memo = new Map<string, Remembered>()
  /** Reads under way by key: a write of the key that commits meanwhile marks them, and their answer is not remembered. */
  readonly #reading = new Map<string, Set<{ stale: boolean }>>()
  readonly #writer: CacheWriter
  #iterativeScan: Promise<boolean> | undefined

  constructor(sql: SqlStore, options: SqlCacheStoreOptions = {}) {
    this.#sql = sql
    sql.prepare?.(GET_EXACT_SQL)
    this.#memoEntries = options.memoEntries ?? 1_000
    this.#memoMs = options.memoMs ?? 10_000
    this.#writer = new CacheWriter(sql, {
      touchIntervalMs: options.touchIntervalMs ?? 60_000,
      onCommitted: (tenantId, exactKeys) => {
        for (const exactKey of exactKeys) this.#forget(memoKey(tenantId, exactKey))
      },
    })
  }

  getExact(tenantId: string, exactKey: string, now: Date): Promise<CachedResponse | undefined> {
    const key = memoKey(tenantId, exactKey)
    const remembered = this.#memo.get(key)
    if (remembered !== undefined) {
      if (remembered.expiresAt > now.getTime() && remembered.until > Date.now()) {
        // Most recently used last: Map keeps insertion order, so the first key is the one to drop.
        this.#memo.delete(key)
        this.#memo.set(key, remembered)
        this.#writer.touch(tenantId, exactKey)
        return Promise.resolve(remembered.response)
      }
      this.#memo.delete(key)
    }
    return this.#readExact(tenantId, exactKey, key, now)
  }

  async #readExact(tenantId: string, exactKey: string, key: string, now: Date): Promise<CachedResponse | undefined> {
    const mark = { stale: false }
    let marks = this.#reading.get(key)
    if (marks === undefined) this.#reading.set(key, (marks = new Set()))
    marks.add(mark)
    let row: { response: CachedResponse; expires_at: Date } | undefined
    try {
      row = (await this.#sql.query<{ response: CachedResponse; expires_at: Date }>(GET_EXACT_SQL, [tenantId, exactKey, now])).rows[0]
    } finally {
      marks.delete(mark)
      if (marks.size === 0) this.#reading.delete(key)
    }
    if (row === undefined) return undefined
    this.#writer.touch(tenantId, exactKey)
    if (this.#memoEntries > 0 && !mark.stale && !this.#writer.pending(tenantId, exactKey)) {
      if (this.#memo.size >= this.#memoEntries) this.#memo.delete(this.#memo.keys().next().value!)
      this.#memo.set(key, { response: row.response, expiresAt: row.expires_at.getTime(), until: Date.now() + this.#memoMs })
    }
    return row.response
  }

  #forget(key: string): void {
    this.#memo.delete(key)
    for (const mark of this.#reading.get(key) ?? []) mark.stale = true
  }

  async nearest(tenantId: string, semanticKey: string, embedding: readonly number[], minSimilarity: number, now: Date): Promise<SemanticHit | undefined> {
    const vector = vectorLiteral(embedding)
    const iterative = await this.#supportsIterativeScan()
    const { rows } = await this.#sql.transaction(async (tx: SqlExecutor) => {
      await tx.query(nearestSettingsSql(iterative))
      return tx.query<{ exact_key: string; response: CachedResponse; similarity: number }>(NEAREST_SQL, [tenantId, semanticKey, vector, now, minSimilarity])
    })
    const row = rows[0]
    if (row === undefined) return undefined
    this.#writer.touch(tenantId, row.exact_key)
    return { response: row.response, similarity: Number(row.similarity) }
  }

  /** Resolves once the entry is written (rejects when it could not be). */
  async put(entry: CacheEntry, maxEntries: number): Promise<void> {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, not ${maxEntries}`)
    const vector = entry.embedding === null ? null : vectorLiteral(entry.embedding)
    this.#forget(memoKey(entry.tenantId, entry.exactKey))
    await this.#writer.put({ entry, vector, maxEntries })
  }

  /** Resolves when everything recorded so far is written: hits counted and entries stored. */
  flush(): Promise<void> {
    return this.#writer.flush()
  }

  async count(tenantId: string, now: Date): Promise<number> {
    const { rows } = await this.#sql.query<{ n: number }>(COUNT_SQL, [tenantId, now])
    return Number(rows[0]?.n ?? 0)
  }

  /** pgvector before 0.8 rejects the setting; then filtered searches fall back to plain HNSW (fewer semantic hits, never wrong ones). */
  #supportsIterativeScan(): Promise<boolean> {
    this.#iterativeScan ??= this.#sql
      .query<{ extversion: string }>("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
      .then(({ rows }) => {
        const [major = 0, minor = 0] = (rows[0]?.extversion ?? '0.0').split('.').map(Number)
        return major > 0 || minor >= 8
      })
      .catch((error: unknown) => {
        // Asked again next time rather than remembering a failure to answer.
        this.#iterativeScan = undefined
        throw error
      })
    return this.#iterativeScan
  }
}
