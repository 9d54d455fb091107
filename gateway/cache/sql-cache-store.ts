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

/**
 * A hit rewrites last_used_at only when it is older than $touch milliseconds. Otherwise no indexed column
 * changes, so PostgreSQL updates the row in place (HOT, with the table's fillfactor leaving room) instead of
 * adding it to every index again, HNSW included: that costs ~3 ms a hit and bloats the graph.
 */
const TOUCH = `last_used_at = CASE WHEN last_used_at < now() - $touch::float8 * interval '1 millisecond' THEN now() ELSE last_used_at END`

/**
 * One statement, so one round trip on the hot path: the CTE turns off synchronous commit for the statement's
 * own (implicit) transaction, so a hit never waits for a WAL flush.
 */
export const GET_EXACT_SQL = `
WITH async_commit AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true) AS setting)
UPDATE response_cache SET hits = hits + 1, ${TOUCH.replace('$touch', '$4')}
FROM async_commit
WHERE tenant_id = $1 AND exact_key = $2 AND expires_at > $3
RETURNING response`

/**
 * $1 tenant, $2 semantic key, $3 embedding, $4 now, $5 minimum similarity, $6 touch interval. `candidate` is
 * the query HNSW serves (or, for a semantic key with few entries, the (tenant_id, semantic_key) index and an
 * exact sort); the entry found is marked used in the same statement, only when it is similar enough to be a hit.
 */
export const NEAREST_SQL = `
WITH candidate AS MATERIALIZED (
  SELECT exact_key, embedding <=> $3::vector AS distance
  FROM response_cache
  WHERE tenant_id = $1 AND semantic_key = $2 AND expires_at > $4 AND embedding IS NOT NULL
  ORDER BY embedding <=> $3::vector
  LIMIT 1
)
UPDATE response_cache AS c SET hits = c.hits + 1, ${TOUCH.replace('$touch', '$6')}
FROM candidate
WHERE c.tenant_id = $1 AND c.exact_key = candidate.exact_key AND 1 - candidate.distance >= $5
RETURNING c.response, 1 - candidate.distance AS similarity`

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
  const settings = [['synchronous_commit', 'off'], ['hnsw.ef_search', '100'], ...(iterativeScan ? [['hnsw.iterative_scan', 'relaxed_order']] : [])]
  return `SELECT ${settings.map(([name, value]) => `set_config('${name}', '${value}', true)`).join(', ')}`
}

const UPSERT_SQL = `
INSERT INTO response_cache (tenant_id, exact_key, semantic_key, embedding, response, expires_at, created_at, last_used_at, hits)
VALUES ($1, $2, $3, $4::vector, $5::jsonb, $6, now(), now(), 0)
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
WHERE tenant_id = $1 AND exact_key = ANY (ARRAY(SELECT exact_key FROM expired UNION ALL SELECT exact_key FROM oldest))`

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
}

export class SqlCacheStore implements CacheStore {
  readonly #sql: SqlStore
  readonly #touchIntervalMs: number
  #iterativeScan: Promise<boolean> | undefined

  constructor(sql: SqlStore, options: SqlCacheStoreOptions = {}) {
    this.#sql = sql
    this.#touchIntervalMs = options.touchIntervalMs ?? 60_000
  }

  async getExact(tenantId: string, exactKey: string, now: Date): Promise<CachedResponse | undefined> {
    const { rows } = await this.#sql.query<{ response: CachedResponse }>(GET_EXACT_SQL, [tenantId, exactKey, now, this.#touchIntervalMs])
    return rows[0]?.response
  }

  async nearest(tenantId: string, semanticKey: string, embedding: readonly number[], minSimilarity: number, now: Date): Promise<SemanticHit | undefined> {
    const vector = vectorLiteral(embedding)
    const iterative = await this.#supportsIterativeScan()
    const { rows } = await this.#sql.transaction(async (tx: SqlExecutor) => {
      await tx.query(nearestSettingsSql(iterative))
      return tx.query<{ response: CachedResponse; similarity: number }>(NEAREST_SQL, [tenantId, semanticKey, vector, now, minSimilarity, this.#touchIntervalMs])
    })
    const row = rows[0]
    return row === undefined ? undefined : { response: row.response, similarity: Number(row.similarity) }
  }

  async put(entry: CacheEntry, maxEntries: number): Promise<void> {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, not ${maxEntries}`)
    const vector = entry.embedding === null ? null : vectorLiteral(entry.embedding)
    await this.#sql.transaction(async (tx) => {
      await tx.query(ASYNC_COMMIT_SQL)
      await tx.query(UPSERT_SQL, [entry.tenantId, entry.exactKey, entry.semanticKey, vector, JSON.stringify(entry.response), entry.expiresAt])
      await tx.query(EVICT_SQL, [entry.tenantId, maxEntries])
    })
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
