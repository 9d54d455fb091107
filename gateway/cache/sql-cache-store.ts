import type { SqlExecutor, SqlStore } from '../../infra/postgres/sql-store.ts'
import { EMBEDDING_DIMENSIONS } from './cache-store.ts'
import type { CacheEntry, CachedResponse, CacheStore, SemanticHit } from './cache-store.ts'

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

const ASYNC_COMMIT_SQL = 'SET LOCAL synchronous_commit = off'

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
 * Hits, counted in batches: $1 tenants, $2 exact keys, $3 hits of each. last_used_at is rewritten only when it
 * is older than $4 milliseconds. Otherwise no indexed column changes, so PostgreSQL updates the row in place
 * (HOT, with the table's fillfactor leaving room) instead of adding it to every index again, HNSW included:
 * that costs ~3 ms a row and bloats the graph. Recency is always the database's now(), never a gateway's
 * clock: several gateways with skewed clocks would otherwise scramble the LRU order. clock_timestamp(), not the
 * transaction's now(): the uses and entries of one batch keep the order they came in.
 */
const TOUCH_SQL = `
UPDATE response_cache AS c SET hits = c.hits + t.n,
  last_used_at = CASE WHEN c.last_used_at < clock_timestamp() - $4::float8 * interval '1 millisecond' THEN clock_timestamp() ELSE c.last_used_at END
FROM unnest($1::text[], $2::text[], $3::int[]) AS t(tenant_id, exact_key, n)
WHERE c.tenant_id = t.tenant_id AND c.exact_key = t.exact_key`

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

/** Many entries in one statement: one array parameter per column, one row per element. */
const UPSERT_SQL = `
INSERT INTO response_cache (tenant_id, exact_key, semantic_key, embedding, response, expires_at, created_at, last_used_at, hits)
SELECT tenant_id, exact_key, semantic_key, embedding::vector, response::jsonb, expires_at, clock_timestamp(), clock_timestamp(), 0
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[]) AS e(tenant_id, exact_key, semantic_key, embedding, response, expires_at)
ON CONFLICT (tenant_id, exact_key) DO UPDATE SET
  semantic_key = excluded.semantic_key, embedding = excluded.embedding, response = excluded.response,
  expires_at = excluded.expires_at, created_at = excluded.created_at, last_used_at = excluded.last_used_at, hits = 0`

/**
 * $1 tenant, $2 maxEntries. Deletes the tenant's expired entries, then its least recently used live ones
 * beyond maxEntries, by the count that migration 0010's triggers keep: when nothing is over, the work is an
 * index probe for expired entries and a LIMIT 0. exact_key breaks ties of last_used_at (a transaction's rows
 * share its now()). An entry another transaction holds is skipped, not waited for: no deadlock with a
 * concurrent put that replaces it. The entry just written is the newest, so it stays, unless born expired.
 * `= ANY (ARRAY(…))` makes the keys one array, looked up in the primary key: a join would be planned for the
 * 10 % of the tenant's rows that the planner assumes a computed LIMIT returns, with a scan of them all.
 */
const EVICT_SQL = `
WITH expired AS (
  SELECT exact_key FROM response_cache WHERE tenant_id = $1 AND expires_at <= now()
), oldest AS (
  SELECT exact_key FROM response_cache
  WHERE tenant_id = $1 AND expires_at > now()
  ORDER BY last_used_at, exact_key
  LIMIT greatest(coalesce((SELECT entries FROM response_cache_tenants WHERE tenant_id = $1), 0) - $2 - (SELECT count(*) FROM expired), 0)
  FOR UPDATE SKIP LOCKED
)
DELETE FROM response_cache
WHERE tenant_id = $1 AND exact_key = ANY (ARRAY(SELECT exact_key FROM expired UNION ALL SELECT exact_key FROM oldest))
RETURNING exact_key`

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

interface PendingPut {
  entry: CacheEntry
  vector: string | null
  maxEntries: number
}

/** What waits for the writer at most: past it, while the database falls behind, new entries and hit counts are dropped (a cache may lose them). */
const MAX_PENDING = 10_000

const memoKey = (tenantId: string, exactKey: string) => `${tenantId}\u0000${exactKey}`

/**
 * Batched writes keep the hot path to one read: hits and new entries queue in memory, and one writer per
 * process applies them in one transaction per batch, in the order they came (hits before the puts that
 * followed them, so the LRU order is the order of uses). One batch is written at a time: under load the
 * queue grows and the batches with it, so writes take one pool connection and a handful of statements per
 * batch instead of a transaction per call, and never queue the hot path's reads behind them.
 *
 * Exact entries that were hits are remembered (a bounded LRU map, for `memoMs` at most): a hot entry is
 * served without a database round trip. An entry this process replaces or evicts is forgotten at once;
 * another process's eviction or replacement is seen within `memoMs`. Either answer was a valid answer
 * to the request, and an entry is never served past its expiry.
 */
export class SqlCacheStore implements CacheStore {
  readonly #sql: SqlStore
  readonly #touchIntervalMs: number
  readonly #memoEntries: number
  readonly #memoMs: number
  readonly #memo = new Map<string, Remembered>()
  #touches = new Map<string, { tenantId: string; exactKey: string; hits: number }>()
  #puts = new Map<string, PendingPut>()
  #waiting: { resolve: () => void; reject: (error: unknown) => void }[] = []
  #writing: Promise<void> | undefined
  #iterativeScan: Promise<boolean> | undefined

  constructor(sql: SqlStore, options: SqlCacheStoreOptions = {}) {
    this.#sql = sql
    sql.prepare?.(GET_EXACT_SQL)
    this.#touchIntervalMs = options.touchIntervalMs ?? 60_000
    this.#memoEntries = options.memoEntries ?? 1_000
    this.#memoMs = options.memoMs ?? 10_000
  }

  getExact(tenantId: string, exactKey: string, now: Date): Promise<CachedResponse | undefined> {
    const key = memoKey(tenantId, exactKey)
    const remembered = this.#memo.get(key)
    if (remembered !== undefined) {
      if (remembered.expiresAt > now.getTime() && remembered.until > Date.now()) {
        // Most recently used last: Map keeps insertion order, so the first key is the one to drop.
        this.#memo.delete(key)
        this.#memo.set(key, remembered)
        this.#touch(tenantId, exactKey)
        return Promise.resolve(remembered.response)
      }
      this.#memo.delete(key)
    }
    return this.#readExact(tenantId, exactKey, now)
  }

  async #readExact(tenantId: string, exactKey: string, now: Date): Promise<CachedResponse | undefined> {
    const { rows } = await this.#sql.query<{ response: CachedResponse; expires_at: Date }>(GET_EXACT_SQL, [tenantId, exactKey, now])
    const row = rows[0]
    if (row === undefined) return undefined
    this.#touch(tenantId, exactKey)
    if (this.#memoEntries > 0 && !this.#puts.has(memoKey(tenantId, exactKey))) {
      if (this.#memo.size >= this.#memoEntries) this.#memo.delete(this.#memo.keys().next().value!)
      this.#memo.set(memoKey(tenantId, exactKey), { response: row.response, expiresAt: row.expires_at.getTime(), until: Date.now() + this.#memoMs })
    }
    return row.response
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
    this.#touch(tenantId, row.exact_key)
    return { response: row.response, similarity: Number(row.similarity) }
  }

  /** Resolves once the entry is written (or rejects when its batch failed). */
  async put(entry: CacheEntry, maxEntries: number): Promise<void> {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, not ${maxEntries}`)
    const vector = entry.embedding === null ? null : vectorLiteral(entry.embedding)
    const key = memoKey(entry.tenantId, entry.exactKey)
    if (this.#puts.size >= MAX_PENDING && !this.#puts.has(key)) throw new Error(`the cache writer is ${MAX_PENDING} entries behind; this entry is not stored`)
    this.#memo.delete(key)
    // A later put of the same key replaces an earlier one not yet written: one statement cannot write a row twice.
    this.#puts.delete(key)
    this.#puts.set(key, { entry, vector, maxEntries })
    await new Promise<void>((resolve, reject) => {
      this.#waiting.push({ resolve, reject })
      this.#write()
    })
  }

  /** Resolves when everything queued so far is written: hits counted and entries stored. */
  async flush(): Promise<void> {
    while (this.#writing !== undefined || this.#touches.size > 0 || this.#puts.size > 0) {
      this.#write()
      await this.#writing
    }
  }

  #touch(tenantId: string, exactKey: string): void {
    const key = memoKey(tenantId, exactKey)
    const pending = this.#touches.get(key)
    if (pending === undefined) {
      if (this.#touches.size >= MAX_PENDING) return
      this.#touches.set(key, { tenantId, exactKey, hits: 1 })
    } else pending.hits++
    this.#write()
  }

  /** Starts a batch unless one is being written; the one being written starts the next when it ends. */
  #write(): void {
    if (this.#writing !== undefined) return
    this.#writing = (async () => {
      // Let the calls of this turn of the event loop join the batch.
      await new Promise<void>((resolve) => setImmediate(resolve))
      while (this.#touches.size > 0 || this.#puts.size > 0) {
        const touches = [...this.#touches.values()]
        const puts = [...this.#puts.values()]
        const waiting = this.#waiting
        this.#touches = new Map()
        this.#puts = new Map()
        this.#waiting = []
        try {
          await this.#writeBatch(touches, puts)
          for (const w of waiting) w.resolve()
        } catch (error) {
          // The batch is lost: its hits go uncounted and its entries unstored, which costs later misses only.
          // Its puts' callers hear of it; a batch of hits alone has nobody to tell.
          for (const w of waiting) w.reject(error)
        }
      }
    })().finally(() => {
      this.#writing = undefined
      // Work queued after the loop's last look but before this moment would otherwise wait for the next call.
      if (this.#touches.size > 0 || this.#puts.size > 0) this.#write()
    })
  }

  async #writeBatch(touches: readonly { tenantId: string; exactKey: string; hits: number }[], puts: readonly PendingPut[]): Promise<void> {
    const evicted = await this.#sql.transaction(async (tx) => {
      // Every write commits without waiting for the WAL flush: a database crash loses the last moment's entries and hits, nothing more.
      await tx.query(ASYNC_COMMIT_SQL)
      if (touches.length > 0) {
        await tx.query(TOUCH_SQL, [touches.map((t) => t.tenantId), touches.map((t) => t.exactKey), touches.map((t) => t.hits), this.#touchIntervalMs])
      }
      if (puts.length === 0) return []
      const e = puts.map((p) => p.entry)
      await tx.query(UPSERT_SQL, [
        e.map((x) => x.tenantId),
        e.map((x) => x.exactKey),
        e.map((x) => x.semanticKey),
        puts.map((p) => p.vector),
        e.map((x) => JSON.stringify(x.response)),
        e.map((x) => x.expiresAt),
      ])
      // Each tenant's limit as its latest put states it.
      const limits = new Map<string, number>()
      for (const p of puts) limits.set(p.entry.tenantId, p.maxEntries)
      const gone: string[] = []
      for (const [tenantId, maxEntries] of limits) {
        const { rows } = await tx.query<{ exact_key: string }>(EVICT_SQL, [tenantId, maxEntries])
        for (const row of rows) gone.push(memoKey(tenantId, row.exact_key))
      }
      return gone
    })
    for (const key of evicted) this.#memo.delete(key)
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
