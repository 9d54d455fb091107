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

/**
 * The database did not answer: refused, dropped or shutting down (not a statement it refused). The gateway
 * answers 503 for it, so a client retries, rather than 500.
 */
export class SqlUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`The database is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
    this.name = 'SqlUnavailableError'
  }
}

/** Socket errors, and PostgreSQL's connection exceptions (class 08), shutdowns (57P0x) and too many connections. */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', '57P01', '57P02', '57P03', '53300'])
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection is closed|connect ECONNREFUSED/i

export function asUnavailable(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof SqlUnavailableError) return error
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return new SqlUnavailableError(error)
  if (UNAVAILABLE_MESSAGES.test(error.message)) return new SqlUnavailableError(error)
  return error
}
