import { randomBytes } from 'node:crypto'
import { PgSqlStore } from '../../infra/postgres/pg-sql-store.ts'
import { PgliteSqlStore } from '../../infra/postgres/pglite-sql-store.ts'
import type { SqlStore } from '../../infra/postgres/sql-store.ts'

export interface OpenedSqlStore {
  store: SqlStore
  /** PostgreSQL: the URL that reaches this store's schema, for a child process. */
  url?: string
  dispose(): Promise<void>
}

/**
 * A PostgreSQL store confined to a schema of its own (first on its search_path), so test files running in
 * parallel against one server never see each other's tables; pgvector stays reachable in `public`.
 */
export async function openIsolatedPostgres(url: string): Promise<OpenedSqlStore> {
  const schema = `t_${randomBytes(6).toString('hex')}`
  const admin = new PgSqlStore({ url, maxConnections: 1 })
  await admin.exec(`CREATE SCHEMA ${schema}`)
  const scoped = new URL(url)
  scoped.searchParams.set('options', `-c search_path=${schema},public`)
  const store = new PgSqlStore({ url: scoped.toString() })
  return {
    store,
    url: scoped.toString(),
    dispose: async () => {
      await store.close()
      await admin.exec(`DROP SCHEMA ${schema} CASCADE`)
      await admin.close()
    },
  }
}

export async function openPglite(): Promise<OpenedSqlStore> {
  const store = await PgliteSqlStore.open()
  return { store, dispose: () => store.close() }
}

/** Both SQL adapters, for `describe.each`: the embedded one and the PostgreSQL server of this test run. */
export function sqlAdapters(databaseUrl: string): { name: string; open: () => Promise<OpenedSqlStore> }[] {
  return [
    { name: 'pglite', open: openPglite },
    { name: 'postgres', open: () => openIsolatedPostgres(databaseUrl) },
  ]
}
