import { readdir, readFile } from 'node:fs/promises'
import type { SqlStore } from './sql-store.ts'

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url)

/**
 * Applies `infra/postgres/migrations/NNNN_name.sql` in order, each once. Several processes may start at
 * once: the advisory lock makes one of them migrate while the others wait, then find nothing to do.
 * A migration and its bookkeeping row commit together, so a crash never leaves one applied but unrecorded.
 */
export async function migrate(sql: SqlStore): Promise<string[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort()
  return sql.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(hashtext('supergate.migrate'))")
    await tx.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    )
    const done = new Set(
      (await tx.query<{ version: string }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version),
    )
    const applied: string[] = []
    for (const file of files) {
      const version = file.slice(0, -'.sql'.length)
      if (done.has(version)) continue
      const text = await readFile(new URL(file, MIGRATIONS_DIR), 'utf8')
      await tx.exec(text)
      await tx.query('INSERT INTO schema_migrations (version) VALUES ($1)', [version])
      applied.push(version)
    }
    return applied
  })
}
