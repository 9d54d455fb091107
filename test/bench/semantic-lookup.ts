/**
 * The semantic cache's lookup on the real PostgreSQL (started by infra/services.sh), through SqlCacheStore:
 * one tenant holds N entries in one semantic key (the worst case: every single-turn prompt of one model and
 * system prompt), among other tenants' entries, all in the one HNSW index.
 *
 *  1. The dataset (semantic-lookup-dataset.ts): N seeded random unit vectors of 384 dimensions in a database of
 *     its own, loaded once (~1 minute at 100,000) and reused by later runs.
 *  2. nearest() over 500 queries: half a planted neighbour of an entry (similarity ~0.95: recall is whether
 *     that entry came back), half random (a miss at the 0.9 threshold). p50/p90/p99 per half.
 *  3. Recall and latency of the bare search at ef_search 40 (pgvector's default), 100 (the store's) and 200.
 *  4. put() at N entries with eviction (each one evicts the least recently used) and getExact(), on an
 *     entry's first use and again.
 * Then the dataset is restored: the entries put are deleted, the ones they evicted inserted again.
 *
 *   npm run bench:cache                          (100,000 entries)
 *   node test/bench/semantic-lookup.ts 20000
 */
import { nativeServicesEnv } from '../support/services-env.ts'
import { randomInt } from 'node:crypto'
import { NEAREST_SQL, nearestSettingsSql, SqlCacheStore, vectorLiteral } from '../../gateway/cache/sql-cache-store.ts'
import type { PgSqlStore } from '../../infra/postgres/pg-sql-store.ts'
import {
  BATCH,
  BENCH_DATABASE,
  CONNECTIONS,
  DATASET_SEED,
  datasetVector,
  mulberry32,
  neighbour,
  openDataset,
  OTHER_ENTRIES,
  OTHER_TENANTS,
  randomUnit,
  response,
  restoreDataset,
  seconds,
  SEMANTIC_KEY,
  TENANT,
} from './semantic-lookup-dataset.ts'

export interface SemanticLookupOptions {
  entries: number
  /** The gateway's database: the bench creates its own database next to it, on the same server. */
  databaseUrl: string
  /** Progress (loading, reuse); the figures come back as the result. */
  log?: (line: string) => void
}

/** Milliseconds. */
export interface Latency {
  p50: number
  p90: number
  p99: number
  max: number
}

export interface SemanticLookupFigures {
  entries: number
  /** Rows of the other tenants, in the same table and HNSW index. */
  otherRows: number
  datasetReused: boolean
  /** Null when reused: the bulk insert (HNSW dropped) and the index build. */
  insertSeconds: number | null
  indexBuildSeconds: number | null
  /** Getting the dataset ready: the whole load, or checking and repairing the one reused. */
  loadSeconds: number
  /** The nearest() line of EXPLAIN, costs cut. */
  plan: string
  nearestHit: Latency
  nearestMiss: Latency
  /** Of the planted queries, the share whose planted entry came back (0 to 1). */
  recallAt1: number
  efSearchSweep: { efSearch: number; recallAt1: number; p50: number; p99: number }[]
  put: Latency
  getExactFirst: Latency
  getExactAgain: Latency
  /** Updates of response_cache during the measurements, and how many of them were HOT (in place). */
  updates: { total: number; hot: number }
  entriesHeldAfterPuts: number
  restoreSeconds: number
  /** Seeds the queries; the dataset's seed is fixed. */
  querySeed: number
}

const QUERIES = 500
const PUTS = 200
const THRESHOLD = 0.9

/**
 * Table statistics reach pg_stat_user_tables when a backend goes idle, at most once a second, or up to 10 s later:
 * one transaction on each pool connection at once, each forcing its flush, makes the counts current.
 */
async function flushStatistics(sql: PgSqlStore): Promise<void> {
  let arrived = 0
  let release = () => {}
  const everyone = new Promise<void>((resolve) => (release = resolve))
  await Promise.all(
    Array.from({ length: CONNECTIONS }, () =>
      sql.transaction(async (tx) => {
        await tx.query('SELECT pg_stat_force_next_flush()')
        if (++arrived === CONNECTIONS) release()
        await everyone
      }),
    ),
  )
}

async function updateCounts(sql: PgSqlStore): Promise<{ total: number; hot: number }> {
  await flushStatistics(sql)
  const { rows } = await sql.query<{ total: number; hot: number }>(
    "SELECT n_tup_upd AS total, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE relname = 'response_cache' AND schemaname = current_schema()",
  )
  return { total: Number(rows[0]?.total ?? 0), hot: Number(rows[0]?.hot ?? 0) }
}

function latency(values: readonly number[]): Latency {
  const sorted = [...values].sort((a, b) => a - b)
  const quantile = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
  return { p50: quantile(0.5), p90: quantile(0.9), p99: quantile(0.99), max: sorted.at(-1)! }
}

export async function semanticLookupBench(options: SemanticLookupOptions): Promise<SemanticLookupFigures> {
  const { entries, log = () => {} } = options
  if (!Number.isSafeInteger(entries) || entries < 1) throw new RangeError(`entries must be a positive integer, not ${entries}`)
  const loadStarted = performance.now()
  const dataset = await openDataset(options.databaseUrl, entries, log)
  const { sql } = dataset
  try {
    if (dataset.reused) {
      const restored = await restoreDataset(sql, entries, dataset.usedAt)
      log(`semantic lookup: reusing the dataset loaded ${dataset.loadedAt.toISOString()}${restored > 0 ? ` (${restored} rows restored)` : ''}`)
    }
    const loadSeconds = seconds(loadStarted)
    const cache = new SqlCacheStore(sql)
    // The dataset is fixed; the queries sample it afresh each run (their seed is reported with the figures).
    const querySeed = randomInt(2 ** 31)
    const random = mulberry32(querySeed)
    const pick = () => Math.floor(random() * entries)
    const now = () => new Date()
    const updatesBefore = await updateCounts(sql)

    const timings = { near: [] as number[], random: [] as number[], put: [] as number[], getExact: [] as number[], getExactAgain: [] as number[] }
    let recalled = 0
    for (let q = 0; q < QUERIES; q++) {
      if (q % 2 === 0) {
        const planted = pick()
        const query = neighbour(datasetVector(0, planted), 0.95, random)
        const started = performance.now()
        const hit = await cache.nearest(TENANT, SEMANTIC_KEY, query, THRESHOLD, now())
        timings.near.push(performance.now() - started)
        if (hit?.response.completion.id === `e${planted}`) recalled++
      } else {
        const query = randomUnit(random)
        const started = performance.now()
        await cache.nearest(TENANT, SEMANTIC_KEY, query, THRESHOLD, now())
        timings.random.push(performance.now() - started)
      }
    }
    // Recall and latency of the bare search (no update) at a few ef_search, over the same kind of planted queries.
    const efSearchSweep: SemanticLookupFigures['efSearchSweep'] = []
    for (const efSearch of [40, 100, 200]) {
      let found = 0
      const took: number[] = []
      for (let q = 0; q < 100; q++) {
        const planted = pick()
        const query = `[${neighbour(datasetVector(0, planted), 0.95, random).join(',')}]`
        const started = performance.now()
        const { rows } = await sql.transaction(async (tx) => {
          await tx.query('SET LOCAL hnsw.iterative_scan = relaxed_order')
          await tx.query(`SET LOCAL hnsw.ef_search = ${efSearch}`)
          return tx.query<{ exact_key: string }>(
            'SELECT exact_key FROM response_cache WHERE tenant_id = $1 AND semantic_key = $2 AND expires_at > now() AND embedding IS NOT NULL ORDER BY embedding <=> $3::vector LIMIT 1',
            [TENANT, SEMANTIC_KEY, query],
          )
        })
        took.push(performance.now() - started)
        if (rows[0]?.exact_key === `e${planted}`) found++
      }
      const { p50, p99 } = latency(took)
      efSearchSweep.push({ efSearch, recallAt1: found / 100, p50, p99 })
    }
    // maxEntries = N: every put of a new entry evicts the least recently used one (restored afterwards).
    for (let i = 0; i < PUTS; i++) {
      const embedding = randomUnit(random)
      const started = performance.now()
      await cache.put({ tenantId: TENANT, exactKey: `p${i}`, semanticKey: SEMANTIC_KEY, embedding, response: response(`p${i}`), expiresAt: new Date(Date.now() + 86_400_000) }, entries)
      timings.put.push(performance.now() - started)
      const key = `e${pick()}`
      const lookup = performance.now()
      await cache.getExact(TENANT, key, now())
      timings.getExact.push(performance.now() - lookup)
      // The same entry within the touch interval: counted, last_used_at left as it is (an update in place).
      const again = performance.now()
      await cache.getExact(TENANT, key, now())
      timings.getExactAgain.push(performance.now() - again)
    }
    // The store writes hits behind the calls: every one written before the counts are read.
    await cache.flush()
    const updatesAfter = await updateCounts(sql)
    const entriesHeldAfterPuts = await cache.count(TENANT, now())

    const plan = await sql.transaction(async (tx) => {
      await tx.query(nearestSettingsSql(true))
      const { rows } = await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${NEAREST_SQL}`, [TENANT, SEMANTIC_KEY, vectorLiteral(randomUnit(random)), now(), THRESHOLD])
      const line = rows.map((r) => r['QUERY PLAN']).find((l) => l.includes('Scan on response_cache') || l.includes('Scan using')) ?? '?'
      return line.trim().replace(/\s*\(cost.*$/, '')
    })

    await cache.flush()
    const restoreStarted = performance.now()
    await restoreDataset(sql, entries, dataset.usedAt)
    return {
      entries,
      otherRows: OTHER_TENANTS * OTHER_ENTRIES,
      datasetReused: dataset.reused,
      insertSeconds: dataset.insertSeconds,
      indexBuildSeconds: dataset.indexBuildSeconds,
      loadSeconds,
      plan,
      nearestHit: latency(timings.near),
      nearestMiss: latency(timings.random),
      recallAt1: recalled / timings.near.length,
      efSearchSweep,
      put: latency(timings.put),
      getExactFirst: latency(timings.getExact),
      getExactAgain: latency(timings.getExactAgain),
      updates: { total: updatesAfter.total - updatesBefore.total, hot: updatesAfter.hot - updatesBefore.hot },
      entriesHeldAfterPuts,
      restoreSeconds: seconds(restoreStarted),
      querySeed,
    }
  } finally {
    await sql.close()
  }
}

/** The figures as lines of text, as `npm run bench:cache` prints them. */
export function semanticLookupReport(f: SemanticLookupFigures): string[] {
  const ms = (x: number) => x.toFixed(2).padStart(8)
  const row = (name: string, l: Latency, count: number) => `${`${name} ×${count}`.padEnd(30)} ${ms(l.p50)} ${ms(l.p90)} ${ms(l.p99)} ${ms(l.max)}`
  const half = QUERIES / 2
  return [
    `semantic lookup: ${f.entries} entries of one tenant and semantic key, ${f.otherRows} of ${OTHER_TENANTS} other tenants (${f.entries + f.otherRows} rows, HNSW m=16 ef_construction=64; nearest() at ef_search 100)`,
    f.datasetReused
      ? `dataset: reused from ${BENCH_DATABASE} (seed ${DATASET_SEED}), checked and restored in ${f.loadSeconds.toFixed(1)} s`
      : `dataset: loaded into ${BENCH_DATABASE} in ${f.loadSeconds.toFixed(1)} s: insert ${f.insertSeconds!.toFixed(1)} s = ${((f.entries + f.otherRows) / f.insertSeconds!).toFixed(0)} rows/s (HNSW dropped, ${CONNECTIONS} connections, ${BATCH} rows per statement), HNSW build ${f.indexBuildSeconds!.toFixed(1)} s (2 parallel workers)`,
    `nearest() plan: ${f.plan}`,
    `${'ms'.padEnd(30)} ${'p50'.padStart(8)} ${'p90'.padStart(8)} ${'p99'.padStart(8)} ${'max'.padStart(8)}`,
    row('nearest, planted (hit)', f.nearestHit, half),
    row('nearest, random (miss)', f.nearestMiss, half),
    row('put, evicting LRU', f.put, PUTS),
    row('getExact, first use', f.getExactFirst, PUTS),
    row('getExact, again', f.getExactAgain, PUTS),
    `recall@1 on planted queries (similarity 0.95): ${Math.round(f.recallAt1 * half)}/${half} = ${(100 * f.recallAt1).toFixed(1)} % (query seed ${f.querySeed})`,
    `bare search, 100 planted queries each: ${f.efSearchSweep.map((s) => `ef_search ${s.efSearch}: recall@1 ${Math.round(100 * s.recallAt1)} %, p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms`).join('; ')}`,
    `updates in place (HOT): ${f.updates.hot} of ${f.updates.total} during the measurements`,
    `entries held after ${PUTS} puts at maxEntries ${f.entries}: ${f.entriesHeldAfterPuts}; dataset restored in ${f.restoreSeconds.toFixed(1)} s`,
  ]
}

if (import.meta.main) {
  const databaseUrl = nativeServicesEnv(['postgres']).SUPERGATE_DATABASE_URL
  if (databaseUrl === undefined) throw new Error('infra/services.sh env postgres printed no SUPERGATE_DATABASE_URL')
  const figures = await semanticLookupBench({ entries: Number(process.argv[2] ?? 100_000), databaseUrl, log: (line) => console.log(line) })
  for (const line of semanticLookupReport(figures)) console.log(line)
}
