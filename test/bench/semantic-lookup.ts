/**
 * The semantic cache's lookup on the real PostgreSQL (started by infra/services.sh), through SqlCacheStore:
 * one tenant holds N entries in one semantic key (the worst case: every single-turn prompt of one model and
 * system prompt), among other tenants' entries, all in the one HNSW index.
 *
 *  1. Insert: N random unit vectors of 384 dimensions, in multi-row inserts on 4 connections (the HNSW
 *     index is maintained row by row, as the cache fills in production).
 *  2. nearest() over 500 queries: half a planted neighbour of an entry (similarity ~0.95: recall is whether
 *     that entry came back), half random (a miss at the 0.9 threshold). p50/p90/p99 per half.
 *  3. Recall and latency of the bare search at ef_search 40 (pgvector's default, the store's), 100 and 200.
 *  4. put() at N entries with eviction (each one evicts the least recently used) and getExact(), on an
 *     entry's first use (last_used_at rewritten: a new HNSW entry) and again (counted in place).
 * The bench tenants' rows are deleted at the end.
 *
 *   node test/bench/semantic-lookup.ts            (100,000 entries)
 *   node test/bench/semantic-lookup.ts 20000
 */
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import type { CachedResponse } from '../../gateway/cache/cache-store.ts'
import { EMBEDDING_DIMENSIONS } from '../../gateway/cache/cache-store.ts'
import { NEAREST_SQL, nearestSettingsSql, SqlCacheStore, vectorLiteral } from '../../gateway/cache/sql-cache-store.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import { PgSqlStore } from '../../infra/postgres/pg-sql-store.ts'

const entries = Number(process.argv[2] ?? 100_000)
const OTHER_TENANTS = 20
const OTHER_ENTRIES = 500
const QUERIES = 500
const THRESHOLD = 0.9
const BATCH = 500
const CONNECTIONS = 4

execFileSync('bash', ['infra/services.sh', 'up', 'postgres'], { stdio: ['ignore', 'ignore', 'inherit'] })
const env = Object.fromEntries(
  execFileSync('bash', ['infra/services.sh', 'env', 'postgres'], { encoding: 'utf8' })
    .split('\n')
    .flatMap((line) => {
      const m = /^export (\w+)=(.*)$/.exec(line)
      return m === null ? [] : [[m[1]!, m[2]!]]
    }),
)
const sql = new PgSqlStore({ url: env.SUPERGATE_DATABASE_URL!, maxConnections: CONNECTIONS, applicationName: 'bench-semantic' })
await migrate(sql)
const cache = new SqlCacheStore(sql)
const run = randomUUID().slice(0, 8)
const tenant = `bench_sem_${run}`
const SEMANTIC_KEY = 'bench-semantic-key'

/** A standard normal deviate (Box–Muller): normalised, a vector of them is uniform on the sphere. */
const gaussian = () => Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random())
function normalise(v: number[]): number[] {
  const norm = Math.hypot(...v)
  return v.map((x) => x / norm)
}
const randomUnit = () => normalise(Array.from({ length: EMBEDDING_DIMENSIONS }, gaussian))
/** A unit vector at cosine similarity `similarity` to the unit vector `v`. */
function neighbour(v: readonly number[], similarity: number): number[] {
  const r = randomUnit()
  const along = r.reduce((sum, x, i) => sum + x * v[i]!, 0)
  const orthogonal = normalise(r.map((x, i) => x - along * v[i]!))
  const side = Math.sqrt(1 - similarity * similarity)
  return v.map((x, i) => similarity * x + side * orthogonal[i]!)
}

/** A response of a typical size (~700 bytes of JSON); its completion id names the entry. */
function response(key: string): CachedResponse {
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

// Kept at float32 precision, as pgvector stores them, so that a planted neighbour's similarity is as computed.
const vectors: number[][] = []
for (let i = 0; i < entries; i++) vectors.push(randomUnit().map(Math.fround))

/** Multi-row inserts: each statement sends BATCH vector literals as one text[] parameter. */
async function insertAll(tenantId: string, rows: readonly number[][], keyPrefix: string): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < rows.length) {
      const from = next
      next += BATCH
      const batch = rows.slice(from, from + BATCH)
      const keys = batch.map((_, i) => `${keyPrefix}${from + i}`)
      await sql.query(
        `INSERT INTO response_cache (tenant_id, exact_key, semantic_key, embedding, response, expires_at)
         SELECT $1, k, $2, v::vector, $5::jsonb || jsonb_build_object('completion', ($5::jsonb -> 'completion') || jsonb_build_object('id', k)), now() + interval '1 day'
         FROM unnest($3::text[], $4::text[]) AS t(k, v)`,
        [tenantId, SEMANTIC_KEY, keys, batch.map((v) => `[${v.join(',')}]`), JSON.stringify(response('template'))],
      )
    }
  }
  await Promise.all(Array.from({ length: CONNECTIONS }, worker))
}

const insertStarted = performance.now()
await insertAll(tenant, vectors, 'e')
const insertSeconds = (performance.now() - insertStarted) / 1000
for (let t = 0; t < OTHER_TENANTS; t++) {
  await insertAll(`${tenant}_other_${t}`, Array.from({ length: OTHER_ENTRIES }, randomUnit), 'o')
}
// Autovacuum would gather these statistics in time; the planner needs them to choose HNSW for a large key.
await sql.exec('ANALYZE response_cache')

const quantile = (sorted: readonly number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
const timings = { near: [] as number[], random: [] as number[], put: [] as number[], getExact: [] as number[], getExactAgain: [] as number[] }
let recalled = 0
const now = () => new Date()
for (let q = 0; q < QUERIES; q++) {
  if (q % 2 === 0) {
    const planted = Math.floor(Math.random() * entries)
    const query = neighbour(vectors[planted]!, 0.95)
    const started = performance.now()
    const hit = await cache.nearest(tenant, SEMANTIC_KEY, query, THRESHOLD, now())
    timings.near.push(performance.now() - started)
    if (hit?.response.completion.id === `e${planted}`) recalled++
  } else {
    const started = performance.now()
    await cache.nearest(tenant, SEMANTIC_KEY, randomUnit(), THRESHOLD, now())
    timings.random.push(performance.now() - started)
  }
}
/** Recall and latency of the bare search (no update) at a few ef_search, over the same kind of planted queries. */
const sweep: string[] = []
for (const efSearch of [40, 100, 200]) {
  let found = 0
  const took: number[] = []
  for (let q = 0; q < 100; q++) {
    const planted = Math.floor(Math.random() * entries)
    const query = `[${neighbour(vectors[planted]!, 0.95).join(',')}]`
    const started = performance.now()
    const { rows } = await sql.transaction(async (tx) => {
      await tx.query('SET LOCAL hnsw.iterative_scan = relaxed_order')
      await tx.query(`SET LOCAL hnsw.ef_search = ${efSearch}`)
      return tx.query<{ exact_key: string }>(
        'SELECT exact_key FROM response_cache WHERE tenant_id = $1 AND semantic_key = $2 AND expires_at > now() AND embedding IS NOT NULL ORDER BY embedding <=> $3::vector LIMIT 1',
        [tenant, SEMANTIC_KEY, query],
      )
    })
    took.push(performance.now() - started)
    if (rows[0]?.exact_key === `e${planted}`) found++
  }
  took.sort((a, b) => a - b)
  sweep.push(`ef_search ${efSearch}: recall@1 ${found} %, p50 ${quantile(took, 0.5).toFixed(2)} ms, p99 ${quantile(took, 0.99).toFixed(2)} ms`)
}
// maxEntries = N: every put of a new entry evicts the least recently used one.
for (let i = 0; i < 200; i++) {
  const started = performance.now()
  await cache.put({ tenantId: tenant, exactKey: `p${i}`, semanticKey: SEMANTIC_KEY, embedding: randomUnit(), response: response(`p${i}`), expiresAt: new Date(Date.now() + 86_400_000) }, entries)
  timings.put.push(performance.now() - started)
  const key = `e${Math.floor(Math.random() * entries)}`
  const lookup = performance.now()
  await cache.getExact(tenant, key, now())
  timings.getExact.push(performance.now() - lookup)
  // Within the touch interval: counted, last_used_at unchanged, so the row is updated in place.
  const again = performance.now()
  await cache.getExact(tenant, key, now())
  timings.getExactAgain.push(performance.now() - again)
}
const hot = await sql.query<{ upd: number; hot: number }>(
  "SELECT n_tup_upd AS upd, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE relname = 'response_cache' AND schemaname = current_schema()",
)

const held = await cache.count(tenant, now())

const plan = await sql.transaction(async (tx) => {
  await tx.query(nearestSettingsSql(true))
  const rows = await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${NEAREST_SQL}`, [tenant, SEMANTIC_KEY, vectorLiteral(randomUnit()), now(), THRESHOLD, 60_000])
  return rows.rows.map((r) => r['QUERY PLAN']).find((line) => line.includes('Scan on response_cache') || line.includes('Scan using')) ?? '?'
})

const cleanupStarted = performance.now()
await sql.query('DELETE FROM response_cache WHERE tenant_id LIKE $1', [`${tenant}%`])
const cleanupSeconds = (performance.now() - cleanupStarted) / 1000
await sql.close()

const totalRows = entries + OTHER_TENANTS * OTHER_ENTRIES
console.log(`semantic lookup: ${entries} entries of one tenant and semantic key, ${OTHER_TENANTS * OTHER_ENTRIES} of ${OTHER_TENANTS} other tenants (${totalRows} rows, HNSW m=16 ef_construction=64; nearest() at ef_search 100)`)
console.log(`insert: ${entries} entries in ${insertSeconds.toFixed(1)} s = ${(entries / insertSeconds).toFixed(0)} rows/s (${CONNECTIONS} connections, ${BATCH} rows per statement)`)
console.log(`nearest() plan: ${plan.trim().replace(/\s*\(cost.*$/, '')}`)
console.log(`${'ms'.padEnd(30)} ${'p50'.padStart(8)} ${'p90'.padStart(8)} ${'p99'.padStart(8)} ${'max'.padStart(8)}`)
for (const [name, values] of [
  [`nearest, planted (hit) ×${timings.near.length}`, timings.near],
  [`nearest, random (miss) ×${timings.random.length}`, timings.random],
  [`put, evicting LRU ×${timings.put.length}`, timings.put],
  [`getExact, first use ×${timings.getExact.length}`, timings.getExact],
  [`getExact, again ×${timings.getExactAgain.length}`, timings.getExactAgain],
] as const) {
  const sorted = [...values].sort((a, b) => a - b)
  console.log(`${name.padEnd(30)} ${[0.5, 0.9, 0.99].map((q) => quantile(sorted, q).toFixed(2).padStart(8)).join(' ')} ${sorted.at(-1)!.toFixed(2).padStart(8)}`)
}
console.log(`recall@1 on planted queries (similarity 0.95): ${recalled}/${timings.near.length} = ${((100 * recalled) / timings.near.length).toFixed(1)} %`)
console.log(`bare search, 100 planted queries each: ${sweep.join('; ')}`)
console.log(`updates in place (HOT): ${hot.rows[0]?.hot ?? '?'} of ${hot.rows[0]?.upd ?? '?'} since the table was created`)
console.log(`entries held after 200 puts at maxEntries ${entries}: ${held}; bench rows deleted in ${cleanupSeconds.toFixed(1)} s`)
