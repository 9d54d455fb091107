/**
 * The semantic lookup bench's dataset (test/bench/semantic-lookup.ts): N seeded random unit vectors of one tenant
 * and semantic key, and 20 × 500 of other tenants, in a database of its own on the gateway's server
 * (supergate_bench_semantic, migrated like the gateway's). It is kept between runs and reused when it holds
 * exactly the dataset asked for; any entry's vector is regenerated from the seed, so queries can be planted
 * without reading it back.
 *
 * Loading bulk-inserts with the HNSW index dropped, then builds the migration's own index in memory with
 * parallel workers: ~1 minute at 100,000 entries, where maintaining the index row by row took ~8.
 */
import type { CachedResponse } from '../../gateway/cache/cache-store.ts'
import { EMBEDDING_DIMENSIONS } from '../../gateway/cache/cache-store.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import { PgSqlStore } from '../../infra/postgres/pg-sql-store.ts'

export const BENCH_DATABASE = 'supergate_bench_semantic'
/** Bump when the rows generated change (keys, response, timestamps): a stored dataset of another format is reloaded. */
const DATASET_FORMAT = 1
export const DATASET_SEED = 0x5eed_2026
export const TENANT = 'bench_sem'
export const SEMANTIC_KEY = 'bench-semantic-key'
export const OTHER_TENANTS = 20
export const OTHER_ENTRIES = 500
export const CONNECTIONS = 4
export const BATCH = 2_000
/** Far away, so no entry of the dataset ever expires between runs. */
const BASE_EXPIRES_AT = new Date('2100-01-01T00:00:00Z')

/** mulberry32: small, seeded, enough for random directions. Uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed | 0
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** A unit vector uniform on the sphere: normalised standard normal deviates (Box–Muller). */
export function randomUnit(random: () => number): number[] {
  const v = Array.from({ length: EMBEDDING_DIMENSIONS }, () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()))
  const norm = Math.sqrt(v.reduce((sum, x) => sum + x * x, 0))
  return v.map((x) => x / norm)
}

/**
 * Entry `index` of tenant `stream` (0 the measured tenant, 1… the others), from a generator of its own: any entry
 * is regenerated alone. Float32, as pgvector stores it, so a planted neighbour's similarity is as computed.
 */
export function datasetVector(stream: number, index: number): Float32Array {
  return Float32Array.from(randomUnit(mulberry32(DATASET_SEED + Math.imul(index, 0x9e3779b1) + Math.imul(stream, 0x85ebca6b))))
}

/** A unit vector at cosine similarity `similarity` to the unit vector `v`. */
export function neighbour(v: ArrayLike<number>, similarity: number, random: () => number): number[] {
  const r = randomUnit(random)
  const along = r.reduce((sum, x, i) => sum + x * v[i]!, 0)
  const rest = r.map((x, i) => x - along * v[i]!)
  const norm = Math.sqrt(rest.reduce((sum, x) => sum + x * x, 0))
  const side = Math.sqrt(1 - similarity * similarity)
  return rest.map((x, i) => similarity * v[i]! + (side * x) / norm)
}

/** A response of a typical size (~700 bytes of JSON); its completion id names the entry. */
export function response(key: string): CachedResponse {
  return {
    completion: {
      id: key,
      object: 'chat.completion',
      created: 1_767_225_600,
      model: 'gpt-4o-mini-2024-07-18',
      choices: [{ index: 0, message: { role: 'assistant', content: 'A cached answer. '.repeat(20), refusal: null }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: 412, completion_tokens: 96, total_tokens: 508 },
    },
    model: 'openai/gpt-4o-mini',
    usage: { promptTokens: 412, completionTokens: 96, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false },
    costMicroUsd: 119,
  }
}

/**
 * A vector[] in PostgreSQL's binary array format, pgvector's binary vectors inside (int16 dimensions, int16 0,
 * float4s): a third of the bytes of the text form, and neither side formats or parses 38 million decimals.
 */
function binaryVectorArray(vectorOid: number, vectors: readonly Float32Array[]): Buffer {
  const element = 4 + 4 * EMBEDDING_DIMENSIONS
  const buffer = Buffer.alloc(20 + vectors.length * (4 + element))
  let at = buffer.writeInt32BE(1, 0)
  at = buffer.writeInt32BE(0, at)
  at = buffer.writeUInt32BE(vectorOid, at)
  at = buffer.writeInt32BE(vectors.length, at)
  at = buffer.writeInt32BE(1, at)
  for (const v of vectors) {
    at = buffer.writeInt32BE(element, at)
    at = buffer.writeInt16BE(EMBEDDING_DIMENSIONS, at)
    at = buffer.writeInt16BE(0, at)
    for (const x of v) at = buffer.writeFloatBE(x, at)
  }
  return buffer
}

/** Runs `work` over `items` in chunks of `size`, on all the pool's connections at once. */
async function inChunks<T>(items: readonly T[], size: number, work: (chunk: T[]) => Promise<unknown>): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < items.length) await work(items.slice(next, (next += size)))
  }
  await Promise.all(Array.from({ length: CONNECTIONS }, worker))
}

/** Inserts entries `indexes` of tenant `stream`, last used at `usedAt`, `batch` rows per statement. */
async function insertEntries(sql: PgSqlStore, stream: number, indexes: readonly number[], usedAt: Date, batch = BATCH): Promise<void> {
  const tenantId = stream === 0 ? TENANT : `${TENANT}_other_${stream}`
  const prefix = stream === 0 ? 'e' : 'o'
  const { rows } = await sql.query<{ oid: number }>("SELECT 'vector'::regtype::oid AS oid")
  const vectorOid = rows[0]!.oid
  const template = JSON.stringify(response('template'))
  await inChunks(indexes, batch, (chunk) =>
    sql.query(
      `INSERT INTO response_cache (tenant_id, exact_key, semantic_key, embedding, response, expires_at, created_at, last_used_at)
       SELECT $1, k, $2, v, $5::jsonb || jsonb_build_object('completion', ($5::jsonb -> 'completion') || jsonb_build_object('id', k)), $6, $7, $7
       FROM unnest($3::text[], $4::vector[]) AS t(k, v)`,
      [tenantId, SEMANTIC_KEY, chunk.map((i) => `${prefix}${i}`), binaryVectorArray(vectorOid, chunk.map((i) => datasetVector(stream, i))), template, BASE_EXPIRES_AT, usedAt],
    ),
  )
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i)
export const seconds = (since: number) => (performance.now() - since) / 1000

export interface Dataset {
  sql: PgSqlStore
  reused: boolean
  loadedAt: Date
  /**
   * created_at and last_used_at of every entry loaded, a day before the load: a run's first use of an entry is
   * always beyond the store's touch interval, as measured. An entry restored gets it too, keeping the LRU order.
   */
  usedAt: Date
  /** Null when reused: the bulk insert (HNSW dropped) and the index build. */
  insertSeconds: number | null
  indexBuildSeconds: number | null
}

/**
 * The marker says which dataset the database holds, written last: a load cut short is never reused. A dataset of
 * another spec (format, size, seed) does not match, so it is reloaded.
 */
const MARKER_TABLE = 'CREATE TABLE IF NOT EXISTS bench_semantic_dataset (spec jsonb NOT NULL, loaded_at timestamptz NOT NULL, used_at timestamptz NOT NULL)'
const spec = (entries: number) =>
  JSON.stringify({ format: DATASET_FORMAT, entries, dimensions: EMBEDDING_DIMENSIONS, seed: DATASET_SEED, otherTenants: OTHER_TENANTS, otherEntries: OTHER_ENTRIES })

/** When the database holds this dataset, when it was loaded and last used. */
async function storedDataset(sql: PgSqlStore, entries: number): Promise<{ loadedAt: Date; usedAt: Date } | undefined> {
  await sql.exec(MARKER_TABLE)
  const { rows } = await sql.query<{ loaded_at: Date; used_at: Date; index_valid: boolean | null; sample: string | null }>(
    `SELECT loaded_at, used_at,
       (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('response_cache_embedding')) AS index_valid,
       (SELECT embedding::text FROM response_cache WHERE tenant_id = $2 AND exact_key = $3) AS sample
     FROM bench_semantic_dataset WHERE spec = $1::jsonb`,
    [spec(entries), TENANT, `e${entries - 1}`],
  )
  const row = rows[0]
  if (row === undefined || row.index_valid !== true || row.sample === null) return undefined
  // The generator must still produce what was stored (a change of V8's Math.log would show here).
  const expected = datasetVector(0, entries - 1)
  const stored = JSON.parse(row.sample) as number[]
  return stored.every((x, i) => Math.fround(x) === expected[i]) ? { loadedAt: row.loaded_at, usedAt: row.used_at } : undefined
}

async function loadDataset(sql: PgSqlStore, entries: number, log: (line: string) => void): Promise<Omit<Dataset, 'sql' | 'reused'>> {
  // The migration's definition, read back rather than copied, so the index rebuilt is exactly the gateway's.
  const indexDefinition = async () =>
    (await sql.query<{ definition: string }>("SELECT pg_get_indexdef('response_cache_embedding'::regclass) AS definition")).rows[0]!.definition
  const definition = await indexDefinition()
  await sql.exec('DROP INDEX response_cache_embedding')
  const loadedAt = new Date()
  const usedAt = new Date(loadedAt.getTime() - 86_400_000)
  log(`semantic lookup: loading ${entries} entries and ${OTHER_TENANTS * OTHER_ENTRIES} of other tenants into ${BENCH_DATABASE} (HNSW index dropped)`)
  const insertStarted = performance.now()
  await insertEntries(sql, 0, range(entries), usedAt)
  for (let t = 1; t <= OTHER_TENANTS; t++) await insertEntries(sql, t, range(OTHER_ENTRIES), usedAt)
  const insertSeconds = seconds(insertStarted)
  // Autovacuum would set the visibility map and hint bits soon after; the first measurements should not pay for them.
  await sql.exec('VACUUM response_cache')
  await sql.exec('ALTER TABLE response_cache SET (autovacuum_enabled = false)')
  log(`semantic lookup: inserted in ${insertSeconds.toFixed(1)} s; ${definition}`)
  const buildStarted = performance.now()
  await sql.transaction(async (tx) => {
    // The graph (~250 MB at 100,000 entries) fits in maintenance_work_mem: built in memory, not page by page on disk.
    await tx.exec("SET LOCAL maintenance_work_mem = '1GB'; SET LOCAL max_parallel_maintenance_workers = 2")
    await tx.exec(definition)
  })
  const indexBuildSeconds = seconds(buildStarted)
  const rebuilt = await indexDefinition()
  if (rebuilt !== definition) throw new Error(`response_cache_embedding rebuilt as ${rebuilt}, not ${definition}`)
  // The planner needs the statistics to choose HNSW for a large semantic key.
  await sql.exec('ANALYZE response_cache')
  await sql.query('INSERT INTO bench_semantic_dataset VALUES ($1::jsonb, $2, $3)', [spec(entries), loadedAt, usedAt])
  return { loadedAt, usedAt, insertSeconds, indexBuildSeconds }
}

/**
 * The bench database with the dataset in it: reused if it holds exactly this one and no migration was applied to
 * it just now; otherwise dropped, created and loaded afresh.
 */
export async function openDataset(databaseUrl: string, entries: number, log: (line: string) => void): Promise<Dataset> {
  const url = new URL(databaseUrl)
  url.pathname = `/${BENCH_DATABASE}`
  const open = () => new PgSqlStore({ url: url.toString(), maxConnections: CONNECTIONS, applicationName: 'bench-semantic' })
  const server = new PgSqlStore({ url: databaseUrl, maxConnections: 1, applicationName: 'bench-semantic' })
  try {
    const { rowCount } = await server.query('SELECT 1 FROM pg_database WHERE datname = $1', [BENCH_DATABASE])
    if (rowCount > 0) {
      const sql = open()
      const applied = await migrate(sql)
      const stored = applied.length === 0 ? await storedDataset(sql, entries) : undefined
      if (stored !== undefined) {
        await vacuumIfDead(sql, log)
        return { sql, reused: true, ...stored, insertSeconds: null, indexBuildSeconds: null }
      }
      await sql.close()
      log(`semantic lookup: ${BENCH_DATABASE} holds another dataset or schema: dropped`)
      await server.exec(`DROP DATABASE ${BENCH_DATABASE} WITH (FORCE)`)
    }
    await server.exec(`CREATE DATABASE ${BENCH_DATABASE}`)
  } finally {
    await server.close()
  }
  const sql = open()
  await migrate(sql)
  await sql.exec(MARKER_TABLE)
  return { sql, reused: false, ...(await loadDataset(sql, entries, log)) }
}

/**
 * Back to the dataset as loaded: the measured tenant's entries other than e0…e(N-1) deleted, the missing ones
 * inserted again, and the ones used (last_used_at, hits) set back, so the next run finds no entry used within the
 * touch interval and the same LRU order. Each row written is an HNSW insertion (~5 ms): spread over the
 * connections. Run after the measurements, and on reuse in case a run was cut short. Returns the rows written.
 */
export async function restoreDataset(sql: PgSqlStore, entries: number, usedAt: Date): Promise<number> {
  await sql.query(
    `DELETE FROM response_cache AS r WHERE tenant_id = $1
     AND NOT EXISTS (SELECT 1 FROM generate_series(0, $2 - 1) AS i WHERE 'e' || i = r.exact_key)`,
    [TENANT, entries],
  )
  const missing = await sql.query<{ i: number }>(
    `SELECT i FROM generate_series(0, $2 - 1) AS i
     WHERE NOT EXISTS (SELECT 1 FROM response_cache WHERE tenant_id = $1 AND exact_key = 'e' || i)`,
    [TENANT, entries],
  )
  const used = await sql.query<{ exact_key: string }>('SELECT exact_key FROM response_cache WHERE tenant_id = $1 AND (last_used_at <> $2 OR hits <> 0)', [TENANT, usedAt])
  const share = (n: number) => Math.max(1, Math.ceil(n / CONNECTIONS))
  await insertEntries(sql, 0, missing.rows.map((r) => r.i), usedAt, share(missing.rows.length))
  await inChunks(used.rows.map((r) => r.exact_key), share(used.rows.length), (keys) =>
    sql.query('UPDATE response_cache SET last_used_at = $2, hits = 0 WHERE tenant_id = $1 AND exact_key = ANY ($3::text[])', [TENANT, usedAt, keys]),
  )
  return missing.rows.length + used.rows.length
}

/**
 * Autovacuum is off for the bench's table, so that it never runs in the middle of a measurement; the bench
 * vacuums between runs instead, once dead rows pass 10 % (autovacuum's default waits for 20 %). A run leaves
 * ~1,300; a vacuum takes ~30 s at 100,000 entries, nearly all of it repairing the HNSW graph.
 */
async function vacuumIfDead(sql: PgSqlStore, log: (line: string) => void): Promise<void> {
  const { rows } = await sql.query<{ dead: number; live: number }>(
    "SELECT n_dead_tup AS dead, n_live_tup AS live FROM pg_stat_user_tables WHERE relname = 'response_cache' AND schemaname = current_schema()",
  )
  const { dead = 0, live = 0 } = rows[0] ?? {}
  if (Number(dead) <= 0.1 * Number(live)) return
  log(`semantic lookup: ${dead} dead rows among ${live}: vacuuming response_cache`)
  await sql.exec('VACUUM response_cache')
}
