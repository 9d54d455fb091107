import pg from 'pg'
import { asUnavailable, INT8_OID, parseInt8, SET_TENANT_SQL } from './sql-store.ts'
import type { SqlExecutor, SqlResult, SqlStore, TransactionOptions } from './sql-store.ts'

function getTypeParser(oid: number): (value: string) => unknown {
  if (oid === INT8_OID) return parseInt8
  return pg.types.getTypeParser(oid, 'text') as (value: string) => unknown
}
const types = { getTypeParser }

export interface PgSqlStoreOptions {
  url: string
  maxConnections?: number
  applicationName?: string
}

/** The production SQL store: a `pg` pool against PostgreSQL 15+ with pgvector. */
export class PgSqlStore implements SqlStore {
  readonly adapter = 'postgres' as const
  readonly #pool: pg.Pool
  /** Statement text → the name it is prepared under on each connection that runs it. */
  readonly #prepared = new Map<string, string>()

  constructor(options: PgSqlStoreOptions) {
    this.#pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 10,
      application_name: options.applicationName ?? 'supergate',
      connectionTimeoutMillis: 5_000,
      types,
    })
    // An idle client that loses its server emits here; without a listener the process would crash.
    this.#pool.on('error', () => {})
  }

  prepare(text: string): void {
    if (!this.#prepared.has(text)) this.#prepared.set(text, `sg_${this.#prepared.size + 1}`)
  }

  async query<Row>(text: string, params: readonly unknown[] = []): Promise<SqlResult<Row>> {
    const name = this.#prepared.get(text)
    try {
      const result = await (name === undefined ? this.#pool.query(text, params as unknown[]) : this.#pool.query({ name, text, values: params as unknown[] }))
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 }
    } catch (error) {
      throw asUnavailable(error)
    }
  }

  async exec(script: string): Promise<void> {
    // Without parameters, pg uses the simple query protocol, which accepts several statements.
    await this.#pool.query(script).catch((error: unknown) => {
      throw asUnavailable(error)
    })
  }

  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const client = await this.#pool.connect().catch((error: unknown) => {
      throw asUnavailable(error)
    })
    // A checked-out connection that the server drops (a restart) emits 'error' outside any query; unheard, that
    // kills the process. The failed statement, if any, rejects on its own, and the connection is released broken.
    let dropped = false
    const onError = () => {
      dropped = true
    }
    client.on('error', onError)
    const tx: SqlExecutor = {
      async query<Row>(text: string, params: readonly unknown[] = []) {
        const result = await client.query(text, params as unknown[])
        return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 }
      },
      async exec(script: string) {
        await client.query(script)
      },
    }
    let broken = false
    try {
      await client.query('BEGIN')
      if (options.tenantId !== undefined) await client.query(SET_TENANT_SQL, [options.tenantId])
      const result = await work(tx)
      await client.query('COMMIT')
      return result
    } catch (error) {
      // If ROLLBACK itself fails the connection is unusable: destroy it rather than return it to the pool.
      await client.query('ROLLBACK').catch(() => {
        broken = true
      })
      throw asUnavailable(error)
    } finally {
      client.off('error', onError)
      client.release(broken || dropped)
    }
  }

  async check(): Promise<void> {
    await this.#pool.query('SELECT 1')
  }

  async close(): Promise<void> {
    await this.#pool.end()
  }
}
