/**
 * The analytics store port (DESIGN.md §3, §6): a ClickHouse server over HTTP in production, chdb (the
 * ClickHouse engine in this process) embedded. Both speak through `@clickhouse/client`, so the SQL is the same.
 * 64-bit integers come back as strings from both (ClickHouse's JSON default), so that micro-USD sums past
 * 2^53 are never rounded: callers convert with `BigInt` or `Number` as the magnitude allows.
 */

export interface AnalyticsStore {
  /** `none`: this process has no analytics store (analytics/unavailable-analytics-store.ts). */
  readonly adapter: 'clickhouse' | 'chdb' | 'none'
  /** DDL and other statements without a result; `params` bind as in `query`. */
  command(sql: string, params?: Record<string, unknown>): Promise<void>
  insert<Row extends Record<string, unknown>>(table: string, rows: readonly Row[]): Promise<void>
  /** `params` bind as `{name:Type}` placeholders in the SQL. */
  query<Row>(sql: string, params?: Record<string, unknown>): Promise<Row[]>
  check(): Promise<void>
  close(): Promise<void>
}
