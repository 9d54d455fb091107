/**
 * The SQL store port (DESIGN.md §3): PostgreSQL with pgvector in production, PGlite with pgvector embedded.
 * Both adapters parse int8 to a JS number (see `parseInt8`) so callers never see a type that depends on the adapter.
 */

export interface SqlResult<Row> {
  rows: Row[]
  rowCount: number
}

export interface SqlExecutor {
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<SqlResult<Row>>
  /** Runs a script of several statements, without parameters (migrations, DDL). */
  exec(script: string): Promise<void>
}

export interface TransactionOptions {
  /** Sets `app.tenant_id` for the transaction, which Row-Level Security policies read. */
  tenantId?: string
}

export interface SqlStore extends SqlExecutor {
  readonly adapter: 'postgres' | 'pglite'
  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>, options?: TransactionOptions): Promise<T>
  /**
   * Marks a statement the hot path runs on every call: the store may keep it parsed and planned per
   * connection (a named prepared statement in PostgreSQL) instead of doing so on every call.
   */
  prepare?(text: string): void
  /** Resolves when the store answers a query; throws otherwise. */
  check(): Promise<void>
  close(): Promise<void>
}

/** Money and offsets are int8; past 2^53 a number would silently round, so refuse instead. */
export function parseInt8(text: string): number {
  const value = Number(text)
  if (!Number.isSafeInteger(value)) throw new RangeError(`int8 value ${text} is beyond the safe integer range`)
  return value
}

export const INT8_OID = 20

export const SET_TENANT_SQL = "SELECT set_config('app.tenant_id', $1, true)"
