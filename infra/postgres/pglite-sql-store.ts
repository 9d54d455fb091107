import { mkdirSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
import { vector } from '@electric-sql/pglite-pgvector'
import { INT8_OID, parseInt8, SET_TENANT_SQL } from './sql-store.ts'
import type { SqlExecutor, SqlResult, SqlStore, TransactionOptions } from './sql-store.ts'

/**
 * The embedded SQL store: PGlite (PostgreSQL compiled to WebAssembly) with pgvector, in this process.
 * PGlite runs one statement at a time; it queues concurrent callers itself, so this adapter adds no lock.
 */
export class PgliteSqlStore implements SqlStore {
  readonly adapter = 'pglite' as const
  readonly #db: PGlite

  private constructor(db: PGlite) {
    this.#db = db
  }

  /** `dataDir` undefined keeps the database in memory. */
  static async open(dataDir?: string): Promise<PgliteSqlStore> {
    if (dataDir !== undefined) mkdirSync(dataDir, { recursive: true })
    const db = await PGlite.create({
      ...(dataDir === undefined ? {} : { dataDir }),
      extensions: { vector },
      parsers: { [INT8_OID]: parseInt8 },
    })
    await db.exec('CREATE EXTENSION IF NOT EXISTS vector')
    return new PgliteSqlStore(db)
  }

  async query<Row>(text: string, params: readonly unknown[] = []): Promise<SqlResult<Row>> {
    const result = await this.#db.query<Row>(text, params as unknown[])
    return { rows: result.rows, rowCount: Math.max(result.affectedRows ?? 0, result.rows.length) }
  }

  async exec(script: string): Promise<void> {
    await this.#db.exec(script)
  }

  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return this.#db.transaction(async (t) => {
      if (options.tenantId !== undefined) await t.query(SET_TENANT_SQL, [options.tenantId])
      return work({
        async query<Row>(text: string, params: readonly unknown[] = []) {
          const result = await t.query<Row>(text, params as unknown[])
          return { rows: result.rows, rowCount: Math.max(result.affectedRows ?? 0, result.rows.length) }
        },
        async exec(script: string) {
          await t.exec(script)
        },
      })
    })
  }

  async check(): Promise<void> {
    await this.#db.query('SELECT 1')
  }

  async close(): Promise<void> {
    if (!this.#db.closed) await this.#db.close()
  }
}
