import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest'
import { EMBEDDING_DIMENSIONS } from '../../gateway/cache/cache-store.ts'
import type { CachedResponse, CacheEntry } from '../../gateway/cache/cache-store.ts'
import { NEAREST_SQL, nearestSettingsSql, SqlCacheStore, vectorLiteral } from '../../gateway/cache/sql-cache-store.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import type { SqlStore } from '../../infra/postgres/sql-store.ts'
import { sqlAdapters } from '../support/sql.ts'
import type { OpenedSqlStore } from '../support/sql.ts'

const HOUR = 3_600_000

/** A deterministic generator in [0, 1) (mulberry32), so the HNSW graphs built here are the same every run. */
function seeded(seed: number): () => number {
  let state = seed
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** The unit vector whose similarity to unit(0) is exactly `similarity`, in the direction of `v` otherwise. */
function withSimilarity(similarity: number, v: readonly number[]): number[] {
  const rest = v.slice(1)
  const scale = Math.sqrt(1 - similarity * similarity) / Math.hypot(...rest)
  return [similarity, ...rest.map((x) => x * scale)]
}
/** A unit vector whose similarity to unit(0) is exactly `similarity`, in a random direction otherwise. */
const around = (similarity: number, random: () => number): number[] =>
  withSimilarity(similarity, Array.from({ length: EMBEDDING_DIMENSIONS }, () => random() - 0.5))

/** A unit vector in the plane of dimensions `a` and `b`, at `angle` from `a`: two of them have cosine similarity cos(Δangle). */
function unit(angle: number, a = 0, b = 1): number[] {
  const v = new Array<number>(EMBEDDING_DIMENSIONS).fill(0)
  v[a] = Math.cos(angle)
  v[b] = Math.sin(angle)
  return v
}
/** The angle from dimension 0 at which a vector's similarity to unit(0) is `similarity`. */
const at = (similarity: number, a = 0, b = 1) => unit(Math.acos(similarity), a, b)

function response(label: string, costMicroUsd = 1_234): CachedResponse {
  return {
    completion: {
      id: `chatcmpl-${label}`,
      object: 'chat.completion',
      created: 1_767_225_600,
      model: 'gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content: label, refusal: null }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
    },
    model: 'openai/gpt-4o-mini',
    usage: { promptTokens: 12, completionTokens: 3, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false },
    costMicroUsd,
  }
}

describe.each(sqlAdapters(inject('services').databaseUrl))('CacheStore contract: $name', ({ name, open }) => {
  let opened: OpenedSqlStore
  let sql: SqlStore
  let cache: SqlCacheStore
  let tenant: string
  let now: Date

  beforeAll(async () => {
    opened = await open()
    sql = opened.store
    await migrate(sql)
    cache = new SqlCacheStore(sql)
  })
  afterAll(() => opened.dispose())
  beforeEach(() => {
    tenant = `ten_${randomUUID().slice(0, 8)}`
    now = new Date()
  })

  const entry = (o: Partial<CacheEntry> & { exactKey: string }): CacheEntry => ({
    tenantId: tenant,
    semanticKey: 'sem-1',
    embedding: unit(0),
    response: response(o.exactKey),
    expiresAt: new Date(now.getTime() + HOUR),
    ...o,
  })
  /** The row count that put() evicts by, which migration 0010's triggers keep. */
  const counted = async (tenantId = tenant) =>
    (await sql.query<{ entries: number }>('SELECT entries FROM response_cache_tenants WHERE tenant_id = $1', [tenantId])).rows[0]?.entries
  const storedKeys = async (tenantId = tenant) =>
    (await sql.query<{ exact_key: string }>('SELECT exact_key FROM response_cache WHERE tenant_id = $1 ORDER BY exact_key', [tenantId])).rows.map((r) => r.exact_key)

  it('answers an exact hit with the response as stored, integers intact, and misses any other key', async () => {
    const stored = response('hello', 9_007_199_254_740_991)
    await cache.put(entry({ exactKey: 'k1', response: stored }), 10)
    const hit = await cache.getExact(tenant, 'k1', now)
    expect(hit).toEqual(stored)
    expect(Number.isSafeInteger(hit!.costMicroUsd) && Number.isInteger(hit!.usage.promptTokens)).toBe(true)
    expect(await cache.getExact(tenant, 'k2', now)).toBeUndefined()
    expect(await cache.count(tenant, now)).toBe(1)
    await cache.flush()
    const hits = await sql.query<{ hits: number }>('SELECT hits FROM response_cache WHERE tenant_id = $1', [tenant])
    expect(hits.rows).toEqual([{ hits: 1 }])
  })

  it('keeps tenants apart: the same exact key never crosses, and nearest never answers with a closer entry of another tenant', async () => {
    const other = `ten_${randomUUID().slice(0, 8)}`
    await cache.put(entry({ exactKey: 'same', embedding: at(0.92) }), 10)
    await cache.put(entry({ tenantId: other, exactKey: 'same', response: response('other'), embedding: unit(0) }), 10)
    expect((await cache.getExact(tenant, 'same', now))?.completion.id).toBe('chatcmpl-same')
    expect((await cache.getExact(other, 'same', now))?.completion.id).toBe('chatcmpl-other')
    const hit = await cache.nearest(tenant, 'sem-1', unit(0), 0.9, now)
    expect(hit?.response.completion.id).toBe('chatcmpl-same')
    expect(hit?.similarity).toBeCloseTo(0.92, 4)
    expect(await cache.nearest(`ten_${randomUUID().slice(0, 8)}`, 'sem-1', unit(0), 0, now)).toBeUndefined()
  })

  it('answers the nearest entry when its similarity reaches the threshold, and nothing below it', async () => {
    await cache.put(entry({ exactKey: 'near', embedding: at(0.95) }), 10)
    await cache.put(entry({ exactKey: 'far', embedding: at(0.8, 0, 2) }), 10)
    const hit = await cache.nearest(tenant, 'sem-1', unit(0), 0.9, now)
    expect(hit?.response.completion.id).toBe('chatcmpl-near')
    expect(hit?.similarity).toBeCloseTo(0.95, 4)
    expect(await cache.nearest(tenant, 'sem-1', unit(0), 0.97, now)).toBeUndefined()
    // A miss marks nothing used.
    await cache.flush()
    const hits = await sql.query<{ exact_key: string; hits: number }>('SELECT exact_key, hits FROM response_cache WHERE tenant_id = $1 ORDER BY exact_key', [tenant])
    expect(hits.rows).toEqual([{ exact_key: 'far', hits: 0 }, { exact_key: 'near', hits: 1 }])
  })

  it('matches only inside one semantic key, and never an exact-only entry', async () => {
    await cache.put(entry({ exactKey: 'k1', semanticKey: 'sem-a' }), 10)
    await cache.put(entry({ exactKey: 'k2', semanticKey: 'sem-b', embedding: null }), 10)
    expect(await cache.nearest(tenant, 'sem-b', unit(0), 0, now)).toBeUndefined()
    await cache.put(entry({ exactKey: 'k3', semanticKey: 'sem-b', embedding: at(0.6) }), 10)
    // k1 is identical to the query, but in another semantic key.
    expect((await cache.nearest(tenant, 'sem-b', unit(0), 0, now))?.response.completion.id).toBe('chatcmpl-k3')
    expect(await cache.nearest(tenant, 'sem-c', unit(0), 0, now)).toBeUndefined()
    expect((await cache.nearest(tenant, 'sem-a', unit(0), 0.99, now))?.response.completion.id).toBe('chatcmpl-k1')
    expect((await cache.getExact(tenant, 'k2', now))?.completion.id).toBe('chatcmpl-k2')
  })

  it('never answers with an expired entry, and a put deletes the tenant\'s expired entries', async () => {
    await cache.put(entry({ exactKey: 'hour' }), 10)
    const later = new Date(now.getTime() + 2 * HOUR)
    expect(await cache.getExact(tenant, 'hour', later)).toBeUndefined()
    expect(await cache.nearest(tenant, 'sem-1', unit(0), 0, later)).toBeUndefined()
    expect(await cache.count(tenant, later)).toBe(0)

    const other = `ten_${randomUUID().slice(0, 8)}`
    await cache.put(entry({ exactKey: 'soon', expiresAt: new Date(Date.now() + 300) }), 10)
    await cache.put(entry({ tenantId: other, exactKey: 'soon', expiresAt: new Date(Date.now() + 300) }), 10)
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(await cache.getExact(tenant, 'soon', new Date())).toBeUndefined()
    expect(await storedKeys()).toEqual(['hour', 'soon'])
    // At maxEntries 2, the expired entry's deletion leaves room: 'hour' stays.
    await cache.put(entry({ exactKey: 'fresh' }), 2)
    expect(await storedKeys()).toEqual(['fresh', 'hour'])
    expect([await counted(), await counted(other)]).toEqual([2, 1])
    // Another tenant's put deletes nothing of this one's, nor this one's of the other's.
    expect(await storedKeys(other)).toEqual(['soon'])
  })

  it('evicts the least recently used entries beyond maxEntries, counting a hit of either tier as a use', async () => {
    const precise = new SqlCacheStore(sql, { touchIntervalMs: 0 })
    const embeddings: Record<string, number[]> = { a: unit(Math.PI / 2, 0, 10), b: unit(Math.PI / 2, 0, 11), c: unit(0), d: unit(Math.PI / 2, 0, 12) }
    for (const key of ['a', 'b', 'c']) await precise.put(entry({ exactKey: key, embedding: embeddings[key]! }), 3)
    // Recency b < c < a once a is read: d's arrival evicts b.
    expect(await precise.getExact(tenant, 'a', now)).toBeDefined()
    await precise.put(entry({ exactKey: 'd', embedding: embeddings.d! }), 3)
    expect(await storedKeys()).toEqual(['a', 'c', 'd'])
    // Recency c < a < d; a semantic hit on c makes a the oldest.
    expect((await precise.nearest(tenant, 'sem-1', unit(0), 0.99, now))?.response.completion.id).toBe('chatcmpl-c')
    await precise.put(entry({ exactKey: 'e', embedding: null }), 3)
    expect(await storedKeys()).toEqual(['c', 'd', 'e'])
    expect(await precise.count(tenant, now)).toBe(3)
    // Replacing an entry neither counts it twice nor evicts another.
    await precise.put(entry({ exactKey: 'e', response: response('e2') }), 3)
    expect([await storedKeys(), await counted()]).toEqual([['c', 'd', 'e'], 3])
  })

  it('counts every hit but records a use at most once per touch interval', async () => {
    const lastUse = async () =>
      (await sql.query<{ last_used_at: Date; hits: number }>('SELECT last_used_at, hits FROM response_cache WHERE tenant_id = $1', [tenant])).rows[0]!
    await cache.put(entry({ exactKey: 'k' }), 10)
    const put = await lastUse()
    expect(await cache.getExact(tenant, 'k', now)).toBeDefined()
    expect(await cache.nearest(tenant, 'sem-1', unit(0), 0.9, now)).toBeDefined()
    // Hits are written behind the calls, in batches.
    await cache.flush()
    expect(await lastUse()).toEqual({ last_used_at: put.last_used_at, hits: 2 })
    const precise = new SqlCacheStore(sql, { touchIntervalMs: 0 })
    await precise.getExact(tenant, 'k', now)
    await precise.flush()
    const touched = await lastUse()
    expect([touched.last_used_at > put.last_used_at, touched.hits]).toEqual([true, 3])
  })

  it('writes concurrent puts of several tenants in batches, each tenant evicted to its own limit', async () => {
    const other = `ten_${randomUUID().slice(0, 8)}`
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => cache.put(entry({ tenantId: i % 2 === 0 ? tenant : other, exactKey: `k${String(i).padStart(2, '0')}`, embedding: null }), i % 2 === 0 ? 5 : 100)),
    )
    expect((await storedKeys()).length).toBe(5)
    expect((await storedKeys(other)).length).toBe(15)
    expect([await counted(), await counted(other)]).toEqual([5, 15])
  })

  it('refuses entries past 10,000 waiting for the writer, and stores the ones it took', async () => {
    const puts = Array.from({ length: 10_001 }, (_, i) => cache.put(entry({ exactKey: `w${i}`, embedding: null }), 20_000).then(() => 'stored', (error: Error) => error.message))
    const outcomes = await Promise.all(puts)
    expect(outcomes.filter((o) => o === 'stored').length).toBe(10_000)
    expect(outcomes.at(-1)).toMatch(/10000 entries behind/)
    expect(await cache.count(tenant, now)).toBe(10_000)
  })

  it('loses only the entry PostgreSQL refuses, not the others written with it', async () => {
    const poisoned = response('bad')
    poisoned.completion.choices[0]!.message.content = 'a NUL \u0000 jsonb refuses'
    const outcomes = await Promise.all(
      ['g1', 'bad', 'g2'].map((key) => cache.put(entry({ exactKey: key, embedding: null, ...(key === 'bad' ? { response: poisoned } : {}) }), 10).then(() => 'stored', () => 'refused')),
    )
    expect(outcomes).toEqual(['stored', 'refused', 'stored'])
    expect(await storedKeys()).toEqual(['g1', 'g2'])
  })

  it('never remembers an answer older than an entry this store wrote, even when the read was under way', async () => {
    const remembering = new SqlCacheStore(sql)
    for (let round = 0; round < 20; round++) {
      const key = `race${round}`
      await remembering.put(entry({ exactKey: key, embedding: null, response: response(`${key}-v1`) }), 100)
      const [, read] = await Promise.all([remembering.put(entry({ exactKey: key, embedding: null, response: response(`${key}-v2`) }), 100), remembering.getExact(tenant, key, now)])
      expect([`chatcmpl-${key}-v1`, `chatcmpl-${key}-v2`]).toContain(read?.completion.id)
      expect((await remembering.getExact(tenant, key, now))?.completion.id).toBe(`chatcmpl-${key}-v2`)
    }
  })

  it('remembers a hit in memory, but never past its expiry, nor once evicted here; another store\'s eviction shows within memoMs', async () => {
    const remembering = new SqlCacheStore(sql, { touchIntervalMs: 0, memoMs: 300 })
    await remembering.put(entry({ exactKey: 'a', embedding: null, expiresAt: new Date(now.getTime() + 1000) }), 1)
    expect(await remembering.getExact(tenant, 'a', now)).toBeDefined()
    await sql.query('DELETE FROM response_cache WHERE tenant_id = $1', [tenant])
    // Gone from the table (as another process's eviction would do): still served from memory for a while…
    expect((await remembering.getExact(tenant, 'a', now))?.completion.id).toBe('chatcmpl-a')
    // …never past the entry's own expiry…
    expect(await remembering.getExact(tenant, 'a', new Date(now.getTime() + 1001))).toBeUndefined()
    await remembering.put(entry({ exactKey: 'b', embedding: null }), 1)
    expect(await remembering.getExact(tenant, 'b', now)).toBeDefined()
    await sql.query('DELETE FROM response_cache WHERE tenant_id = $1', [tenant])
    await new Promise((resolve) => setTimeout(resolve, 350))
    // …and read again after memoMs.
    expect(await remembering.getExact(tenant, 'b', now)).toBeUndefined()
    // An entry this store evicts is forgotten at once.
    await remembering.put(entry({ exactKey: 'c', embedding: null }), 1)
    expect(await remembering.getExact(tenant, 'c', now)).toBeDefined()
    await remembering.put(entry({ exactKey: 'd', embedding: null }), 1)
    expect(await storedKeys()).toEqual(['d'])
    expect(await remembering.getExact(tenant, 'c', now)).toBeUndefined()
  })

  it('replaces an entry by its exact key: new response, new embedding, hits reset', async () => {
    await cache.put(entry({ exactKey: 'k', response: response('first'), embedding: unit(0) }), 10)
    expect(await cache.getExact(tenant, 'k', now)).toBeDefined()
    await cache.put(entry({ exactKey: 'k', response: response('second'), embedding: unit(Math.PI / 2) }), 10)
    expect((await cache.getExact(tenant, 'k', now))?.completion.id).toBe('chatcmpl-second')
    expect(await cache.nearest(tenant, 'sem-1', unit(0), 0.5, now)).toBeUndefined()
    expect((await cache.nearest(tenant, 'sem-1', unit(Math.PI / 2), 0.99, now))?.similarity).toBeCloseTo(1, 5)
    await cache.flush()
    const rows = await sql.query<{ hits: number }>('SELECT hits FROM response_cache WHERE tenant_id = $1', [tenant])
    expect(rows.rows).toEqual([{ hits: 2 }])
  })

  it('refuses an embedding of the wrong size, with a non-finite number or of zero length, and a maxEntries below 1', async () => {
    const bad: number[][] = [unit(0).slice(1), [...unit(0), 0], unit(0).map((x, i) => (i === 7 ? Number.NaN : x)), unit(0).map((x, i) => (i === 3 ? Infinity : x)), unit(0).map(() => 0)]
    for (const embedding of bad) {
      await expect(cache.put(entry({ exactKey: 'bad', embedding }), 10)).rejects.toThrow(RangeError)
      await expect(cache.nearest(tenant, 'sem-1', embedding, 0.5, now)).rejects.toThrow(RangeError)
    }
    await expect(cache.put(entry({ exactKey: 'bad' }), 0)).rejects.toThrow(RangeError)
    expect(await storedKeys()).toEqual([])
  })

  describe('among many entries of another tenant, all nearer to the query', () => {
    const crowd = `crowd_${randomUUID().slice(0, 8)}`
    const few = `few_${randomUUID().slice(0, 8)}`
    // More of each kind than the store's ef_search (100). PostgreSQL's planner prefers an exact sort to HNSW
    // below ~4,000 rows of a key; PGlite, which inserts into HNSW slowly, gets fewer.
    const [liveSize, staleSize] = name === 'postgres' ? [4_300, 200] : [300, 150]
    const random = seeded(6)
    // The crowd's live entries are 0.90–0.95 similar to unit(0); its stale ones (expired by `later`) nearer still.
    const live = Array.from({ length: liveSize }, () => around(0.9 + random() * 0.05, random))
    const stale = Array.from({ length: staleSize }, () => around(0.98 + random() * 0.01, random))
    const later = new Date(Date.now() + 2 * HOUR)
    // A table of its own: the axis-aligned vectors of the tests above (orthogonal to all of these) would
    // sit in the same HNSW graph and make a poor entry point for a search of this neighbourhood.
    let crowdSql: OpenedSqlStore
    let crowdCache: SqlCacheStore
    const insert = (tenantId: string, vectors: number[][], prefix: string, lifetime: string) =>
      crowdSql.store.query(
        `INSERT INTO response_cache (tenant_id, exact_key, semantic_key, embedding, response, expires_at)
         SELECT $1, $3 || n, 'sem-1', v::vector, jsonb_build_object('model', $3 || n), now() + $4::interval
         FROM unnest($2::text[]) WITH ORDINALITY AS t(v, n)`,
        [tenantId, vectors.map(vectorLiteral), prefix, lifetime],
      )
    const planOf = (tenantId: string, at: Date, iterative: boolean, hints: string[] = []) =>
      crowdSql.store.transaction(async (tx) => {
        for (const hint of hints) await tx.query(hint)
        await tx.query(nearestSettingsSql(iterative))
        const params = [tenantId, 'sem-1', vectorLiteral(unit(0)), at, 0.8]
        const plan = await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${NEAREST_SQL}`, params)
        const rows = await tx.query<{ similarity: number }>(NEAREST_SQL, params)
        return { plan: plan.rows.map((r) => r['QUERY PLAN']).join('\n'), similarities: rows.rows.map((r) => Number(r.similarity).toFixed(3)) }
      })

    beforeAll(async () => {
      crowdSql = await open()
      await migrate(crowdSql.store)
      crowdCache = new SqlCacheStore(crowdSql.store)
      // The few entries arrive amid the crowd's, as they would: HNSW links them into the graph among its.
      await insert(crowd, live.slice(0, liveSize / 2), 'live', '1 day')
      // Each next to a crowd entry, only further from unit(0): linked into the graph, yet behind the crowd.
      await insert(few, [withSimilarity(0.85, live[10]!), withSimilarity(0.87, live[20]!)], 'few', '1 day')
      await insert(crowd, stale, 'stale', '1 hour')
      await insert(crowd, live.slice(liveSize / 2), 'live-b', '1 day')
      await crowdSql.store.exec('ANALYZE response_cache')
    }, 120_000)
    afterAll(() => crowdSql.dispose())

    it('still finds the nearest entry of a tenant with two', async () => {
      const hit = await crowdCache.nearest(few, 'sem-1', unit(0), 0.8, now)
      expect(hit?.response.model).toBe('few2')
      expect(hit?.similarity).toBeCloseTo(0.87, 4)
      // Forced onto HNSW (no sort allowed), the same query finds it only with the iterative scan.
      const forced = (iterative: boolean) => planOf(few, now, iterative, ['SET LOCAL enable_sort = off'])
      const [plain, iterative] = [await forced(false), await forced(true)]
      expect([plain.plan, iterative.plan]).toEqual([expect.stringContaining('Index Scan using response_cache_embedding'), expect.stringContaining('Index Scan using response_cache_embedding')])
      expect(plain.similarities).toEqual([])
      // Across its rounds an iterative scan is only roughly in order: either of the two is a right answer.
      expect(iterative.similarities).toEqual([expect.stringMatching(/^0\.8[57]0$/)])
    })

    it('serves a large semantic key from HNSW as the planner chooses, past nearer entries that have expired', async () => {
      const { plan } = await planOf(crowd, later, true)
      if (name === 'postgres') {
        expect(plan).toContain('Index Scan using response_cache_embedding')
        expect(plan).not.toMatch(/response_cache_semantic|Seq Scan/)
      }
      expect((await crowdCache.nearest(crowd, 'sem-1', unit(0), 0.8, now))?.response.model).toMatch(/^stale/)
      const past = await crowdCache.nearest(crowd, 'sem-1', unit(0), 0.8, later)
      expect(past?.response.model).toMatch(/^live/)
      expect(past?.similarity).toBeGreaterThan(0.94)
      // Without the iterative scan, HNSW's first candidates are all expired: this is what it saves.
      expect((await planOf(crowd, later, false, ['SET LOCAL enable_sort = off'])).similarities).toEqual([])
    })
  })
})
