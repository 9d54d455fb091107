import { openIsolatedPostgres } from './test/support/sql.ts'
import { migrate } from './infra/postgres/migrate.ts'
const o = await openIsolatedPostgres('postgres://supergate:supergate@127.0.0.1:54329/supergate')
const sql = o.store
await migrate(sql)
await sql.query(`INSERT INTO response_cache (tenant_id, exact_key, semantic_key, embedding, response, expires_at, last_used_at) SELECT 't', 'e' || n, 's', NULL, '{"a":1}', now() + interval '1 day', now() - n * interval '1 ms' FROM generate_series(1, 100000) n`)
await sql.query(`INSERT INTO response_cache (tenant_id, exact_key, semantic_key, embedding, response, expires_at) SELECT 'o' || (n % 20), 'e' || n, 's', NULL, '{"a":1}', now() + interval '1 day' FROM generate_series(1, 10000) n`)
await sql.exec('ANALYZE response_cache')
const src = (await import('node:fs')).readFileSync('gateway/cache/sql-cache-store.ts', 'utf8')
const evict = /const EVICT_SQL = `([\s\S]*?)`/.exec(src)![1]!
await sql.query(`INSERT INTO response_cache (tenant_id, exact_key, semantic_key, embedding, response, expires_at) VALUES ('t', 'new', 's', NULL, '{}', now() + interval '1 day')`)
try {
  await sql.transaction(async (tx) => {
    const r = await tx.query<any>('EXPLAIN (ANALYZE, BUFFERS) ' + evict, ['t', 100000])
    console.log(r.rows.map((x) => x['QUERY PLAN']).join('\n'))
    throw new Error('rollback')
  })
} catch {}
await o.dispose()
