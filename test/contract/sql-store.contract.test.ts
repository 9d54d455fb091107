import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { migrate } from '../../infra/postgres/migrate.ts'
import type { SqlStore } from '../../infra/postgres/sql-store.ts'
import { sqlAdapters } from '../support/sql.ts'
import type { OpenedSqlStore } from '../support/sql.ts'

describe.each(sqlAdapters(inject('services').databaseUrl))('SqlStore contract: $name', ({ open }) => {
  let opened: OpenedSqlStore
  let sql: SqlStore

  beforeAll(async () => {
    opened = await open()
    sql = opened.store
  })
  afterAll(() => opened.dispose())

  it('binds parameters and parses int8, jsonb and timestamps the same way on every adapter', async () => {
    const { rows } = await sql.query<{ n: number; doc: { a: number[] }; at: Date; t: string | null }>(
      "SELECT $1::bigint AS n, $2::jsonb AS doc, '2026-01-02T03:04:05Z'::timestamptz AS at, $3::text AS t",
      [9_007_199_254_740_991, JSON.stringify({ a: [1, 2] }), null],
    )
    expect(rows).toEqual([{ n: 9_007_199_254_740_991, doc: { a: [1, 2] }, at: new Date('2026-01-02T03:04:05Z'), t: null }])
  })

  it('answers a statement marked for preparing like any other, concurrently on every connection, inside transactions too', async () => {
    const text = 'SELECT $1::int8 * 2 AS doubled, $2::jsonb AS doc'
    sql.prepare?.(text)
    sql.prepare?.(text)
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => sql.query<{ doubled: number; doc: unknown }>(text, [i, JSON.stringify({ i })])))
    expect(answers.map((a) => a.rows[0])).toEqual(Array.from({ length: 40 }, (_, i) => ({ doubled: 2 * i, doc: { i } })))
    const inTransaction = await sql.transaction((tx) => tx.query<{ doubled: number }>(text, [21, '{}']))
    expect(inTransaction.rows[0]?.doubled).toBe(42)
  })

  it('refuses an int8 beyond 2^53 instead of rounding it', async () => {
    await expect(sql.query("SELECT '9007199254740993'::bigint AS n")).rejects.toThrow(/safe integer/)
  })

  it('commits a transaction that resolves and rolls back one that throws', async () => {
    await sql.exec('CREATE TABLE tx_probe (id int PRIMARY KEY); CREATE TABLE tx_probe_2 (id int)')
    await sql.transaction(async (tx) => {
      await tx.query('INSERT INTO tx_probe VALUES (1)')
    })
    await expect(
      sql.transaction(async (tx) => {
        await tx.query('INSERT INTO tx_probe VALUES (2)')
        await tx.query('INSERT INTO tx_probe VALUES (1)')
      }),
    ).rejects.toMatchObject({ code: '23505' })
    const update = await sql.query('UPDATE tx_probe SET id = id')
    expect(update.rowCount).toBe(1)
    expect((await sql.query<{ id: number }>('SELECT id FROM tx_probe')).rows).toEqual([{ id: 1 }])
  })

  it('sets the tenant context inside a transaction only', async () => {
    const inside = await sql.transaction(
      (tx) => tx.query<{ tenant: string }>("SELECT current_setting('app.tenant_id', true) AS tenant"),
      { tenantId: 'tenant-a' },
    )
    expect(inside.rows[0]?.tenant).toBe('tenant-a')
    const after = await sql.query<{ tenant: string | null }>("SELECT nullif(current_setting('app.tenant_id', true), '') AS tenant")
    expect(after.rows[0]?.tenant).toBeNull()
  })

  it('has pgvector 0.8 with a working HNSW nearest-neighbour index', async () => {
    const version = await sql.query<{ extversion: string }>("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    expect(version.rows[0]?.extversion).toMatch(/^0\.8\./)
    await sql.exec(`
      CREATE TABLE embeddings (id int PRIMARY KEY, embedding vector(3) NOT NULL);
      CREATE INDEX embeddings_hnsw ON embeddings USING hnsw (embedding vector_cosine_ops);
    `)
    const points = Array.from({ length: 200 }, (_, i) => {
      const angle = (i / 200) * Math.PI
      return [i, `[${Math.cos(angle).toFixed(6)},${Math.sin(angle).toFixed(6)},0]`] as const
    })
    for (const [id, v] of points) await sql.query('INSERT INTO embeddings VALUES ($1, $2)', [id, v])
    const query = `[${Math.cos(Math.PI / 4).toFixed(6)},${Math.sin(Math.PI / 4).toFixed(6)},0]`
    const nearest = await sql.transaction(async (tx) => {
      // Force the planner onto the index, then prove that it used it and that the answer is right.
      await tx.query('SET LOCAL enable_seqscan = off')
      const plan = await tx.query<{ 'QUERY PLAN': string }>(
        'EXPLAIN SELECT id FROM embeddings ORDER BY embedding <=> $1 LIMIT 3',
        [query],
      )
      expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toContain('embeddings_hnsw')
      return tx.query<{ id: number; distance: number }>(
        'SELECT id, embedding <=> $1 AS distance FROM embeddings ORDER BY embedding <=> $1 LIMIT 3',
        [query],
      )
    })
    expect(nearest.rows.map((r) => r.id).sort((a, b) => a - b)).toEqual([49, 50, 51])
    expect(nearest.rows[0]!.distance).toBeLessThan(1e-4)
  })

  it('applies the migrations once, however often they run', async () => {
    const first = await migrate(sql)
    expect(first).toEqual(expect.arrayContaining(['0001_event_log', '0002_event_store']))
    expect(await migrate(sql)).toEqual([])
    const [a, b] = await Promise.all([migrate(sql), migrate(sql)])
    expect([...a, ...b]).toEqual([])
  })
})
