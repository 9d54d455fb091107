import type { SqlStore } from '../../infra/postgres/sql-store.ts'
import type { CacheEntry } from './cache-store.ts'

/**
 * The response cache's writes, behind the hot path (gateway/cache/sql-cache-store.ts): hits and new entries
 * queue in memory and one writer per process applies them, one batch at a time. Under load the queue grows
 * and the batches with it, so writes take one pool connection and a few statements per batch instead of a
 * transaction per call, and never queue the hot path's reads behind them.
 *
 * - Hits: one statement per batch, sorted by key, committed on its own. A failed one loses hit counts only.
 * - Entries: one transaction per tenant, rows in key order (so two gateways lock a tenant's rows and its
 *   counter in the same order and cannot deadlock), upsert then eviction; a deadlock all the same is retried
 *   once. When a transaction of several entries fails, each is tried alone, so one entry PostgreSQL refuses
 *   loses only itself. Each put's caller hears of its own entry.
 * Hits of a batch are written before its entries, so a hit that came after an entry of the same batch counts
 * as older than it: the LRU order is the order of uses to within one batch.
 * Every write commits without waiting for the WAL flush: a database crash loses the last moment's entries and
 * hits, which costs a cache nothing but misses.
 */

/** What waits for the writer at most: past it, while the database falls behind, new entries and hit counts are dropped (a cache may lose them). */
export const MAX_PENDING = 10_000
/** Entries in one batch at most; the rest wait for the next. */
const MAX_BATCH = 500

const ASYNC_COMMIT_SQL = 'SET LOCAL synchronous_commit = off'

/**
 * Hits, counted in batches: $1 tenants, $2 exact keys, $3 hits of each. last_used_at is rewritten only when it
 * is older than $4 milliseconds. Otherwise no indexed column changes, so PostgreSQL updates the row in place
 * (HOT, with the table's fillfactor leaving room) instead of adding it to every index again, HNSW included:
 * that costs ~3 ms a row and bloats the graph. Recency is always the database's now(), never a gateway's
 * clock: several gateways with skewed clocks would otherwise scramble the LRU order. clock_timestamp(), not the
 * transaction's now(). A statement of its own, outside the puts' transactions: it only counts, and holds no
 * row past its own end.
 */
const TOUCH_SQL = `
WITH async_commit AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true) AS setting)
UPDATE response_cache AS c SET hits = c.hits + t.n,
  last_used_at = CASE WHEN c.last_used_at < clock_timestamp() - $4::float8 * interval '1 millisecond' THEN clock_timestamp() ELSE c.last_used_at END
FROM async_commit, unnest($1::text[], $2::text[], $3::int[]) AS t(tenant_id, exact_key, n)
WHERE c.tenant_id = t.tenant_id AND c.exact_key = t.exact_key`

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

export interface PendingPut {
  entry: CacheEntry
  /** The embedding as pgvector's literal, or null. */
  vector: string | null
  maxEntries: number
}

interface Queued extends PendingPut {
  waiters: { resolve: () => void; reject: (error: unknown) => void }[]
}

const keyOf = (tenantId: string, exactKey: string) => `${tenantId}\u0000${exactKey}`
const DEADLOCK = '40P01'

export interface CacheWriterOptions {
  touchIntervalMs: number
  /** Told after a tenant's entries are committed: the keys written and the keys evicted. */
  onCommitted(tenantId: string, exactKeys: readonly string[]): void
}

export class CacheWriter {
  readonly #sql: SqlStore
  readonly #o: CacheWriterOptions
  #touches = new Map<string, { tenantId: string; exactKey: string; hits: number }>()
  #puts = new Map<string, Queued>()
  #writing: Promise<void> | undefined

  constructor(sql: SqlStore, options: CacheWriterOptions) {
    this.#sql = sql
    this.#o = options
  }

  /** Whether an entry of this key waits to be written. */
  pending(tenantId: string, exactKey: string): boolean {
    return this.#puts.has(keyOf(tenantId, exactKey))
  }

  touch(tenantId: string, exactKey: string): void {
    const key = keyOf(tenantId, exactKey)
    const pending = this.#touches.get(key)
    if (pending === undefined) {
      if (this.#touches.size >= MAX_PENDING) return
      this.#touches.set(key, { tenantId, exactKey, hits: 1 })
    } else pending.hits++
    this.#write()
  }

  /** Resolves once the entry is written; rejects when it could not be. */
  put(put: PendingPut): Promise<void> {
    const key = keyOf(put.entry.tenantId, put.entry.exactKey)
    const earlier = this.#puts.get(key)
    if (earlier === undefined && this.#puts.size >= MAX_PENDING) return Promise.reject(new Error(`the cache writer is ${MAX_PENDING} entries behind; this entry is not stored`))
    return new Promise<void>((resolve, reject) => {
      // A later put of the same key replaces an earlier one not yet written; both callers hear when it is.
      this.#puts.delete(key)
      this.#puts.set(key, { ...put, waiters: [...(earlier?.waiters ?? []), { resolve, reject }] })
      this.#write()
    })
  }

  /** Resolves when everything queued so far is written (or given up). */
  async flush(): Promise<void> {
    while (this.#writing !== undefined || this.#touches.size > 0 || this.#puts.size > 0) {
      this.#write()
      await this.#writing
    }
  }

  /** Starts a batch unless one is being written; the one being written starts the next when it ends. */
  #write(): void {
    if (this.#writing !== undefined) return
    this.#writing = (async () => {
      // Let the calls of this turn of the event loop join the batch.
      await new Promise<void>((resolve) => setImmediate(resolve))
      while (this.#touches.size > 0 || this.#puts.size > 0) {
        const touches = [...this.#touches.values()]
        this.#touches = new Map()
        const batch: Queued[] = []
        for (const [key, queued] of this.#puts) {
          if (batch.length === MAX_BATCH) break
          batch.push(queued)
          this.#puts.delete(key)
        }
        await this.#writeTouches(touches)
        await this.#writePuts(batch)
      }
    })().finally(() => {
      this.#writing = undefined
      // Work queued after the loop's last look but before this moment would otherwise wait for the next call.
      if (this.#touches.size > 0 || this.#puts.size > 0) this.#write()
    })
  }

  async #writeTouches(touches: { tenantId: string; exactKey: string; hits: number }[]): Promise<void> {
    if (touches.length === 0) return
    touches.sort((a, b) => (a.tenantId === b.tenantId ? (a.exactKey < b.exactKey ? -1 : 1) : a.tenantId < b.tenantId ? -1 : 1))
    try {
      await this.#sql.query(TOUCH_SQL, [touches.map((t) => t.tenantId), touches.map((t) => t.exactKey), touches.map((t) => t.hits), this.#o.touchIntervalMs])
    } catch {
      // Hit counts and recency are lost for this batch; the entries stay, and nobody waits for a hit.
    }
  }

  async #writePuts(batch: readonly Queued[]): Promise<void> {
    const byTenant = new Map<string, Queued[]>()
    for (const queued of batch) byTenant.set(queued.entry.tenantId, [...(byTenant.get(queued.entry.tenantId) ?? []), queued])
    for (const tenantId of [...byTenant.keys()].sort()) {
      const entries = byTenant.get(tenantId)!.sort((a, b) => (a.entry.exactKey < b.entry.exactKey ? -1 : 1))
      try {
        this.#committed(tenantId, entries, await this.#putTenant(tenantId, entries))
      } catch (error) {
        if (entries.length === 1) {
          for (const w of entries[0]!.waiters) w.reject(error)
          continue
        }
        for (const one of entries) {
          try {
            this.#committed(tenantId, [one], await this.#putTenant(tenantId, [one]))
          } catch (alone) {
            for (const w of one.waiters) w.reject(alone)
          }
        }
      }
    }
  }

  #committed(tenantId: string, entries: readonly Queued[], evicted: readonly string[]): void {
    this.#o.onCommitted(tenantId, [...entries.map((q) => q.entry.exactKey), ...evicted])
    for (const q of entries) for (const w of q.waiters) w.resolve()
  }

  /** One tenant's entries, upserted in key order, then its eviction; the keys evicted. Retried once on a deadlock. */
  async #putTenant(tenantId: string, entries: readonly Queued[], retried = false): Promise<string[]> {
    try {
      return await this.#sql.transaction(async (tx) => {
        await tx.query(ASYNC_COMMIT_SQL)
        const e = entries.map((q) => q.entry)
        await tx.query(UPSERT_SQL, [
          e.map((x) => x.tenantId),
          e.map((x) => x.exactKey),
          e.map((x) => x.semanticKey),
          entries.map((q) => q.vector),
          e.map((x) => JSON.stringify(x.response)),
          e.map((x) => x.expiresAt),
        ])
        // The strictest limit the batch's puts state (a tenant's settings change between batches, rarely within one).
        const { rows } = await tx.query<{ exact_key: string }>(EVICT_SQL, [tenantId, Math.min(...entries.map((q) => q.maxEntries))])
        return rows.map((r) => r.exact_key)
      })
    } catch (error) {
      if (!retried && (error as { code?: unknown }).code === DEADLOCK) return this.#putTenant(tenantId, entries, true)
      throw error
    }
  }
}
