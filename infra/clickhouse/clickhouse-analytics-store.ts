import { mkdirSync } from 'node:fs'
import { createClient } from '@clickhouse/client'
import type { ClickHouseClient, ClickHouseSettings } from '@clickhouse/client'
import type { AnalyticsStore } from '../../analytics/analytics-store.ts'

// chdb's in-process defaults differ from a server's on 64-bit integers in JSON; pin the server's behaviour.
const SETTINGS: ClickHouseSettings = { output_format_json_quote_64bit_integers: 1 }

type ClientConnection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>['connection']>

export type AnalyticsTarget = { url: string; username?: string; password?: string; database?: string } | { chdbPath: string }

/** The same adapter over either connection; see the port for why. */
export class ClickHouseAnalyticsStore implements AnalyticsStore {
  readonly adapter: 'clickhouse' | 'chdb'
  readonly #client: ClickHouseClient

  private constructor(adapter: 'clickhouse' | 'chdb', client: ClickHouseClient) {
    this.adapter = adapter
    this.#client = client
  }

  /**
   * `chdbPath` is a folder, or `:memory:`. chdb runs one engine per process: a second store in the same
   * process must use the same path.
   */
  static async open(target: AnalyticsTarget): Promise<ClickHouseAnalyticsStore> {
    if ('url' in target) {
      const client = createClient({
        url: target.url,
        ...(target.username === undefined ? {} : { username: target.username }),
        ...(target.password === undefined ? {} : { password: target.password }),
        ...(target.database === undefined ? {} : { database: target.database }),
        clickhouse_settings: SETTINGS,
        request_timeout: 30_000,
      })
      return new ClickHouseAnalyticsStore('clickhouse', client)
    }
    // chdb is a native module of a few hundred MB: load it only when the embedded store is wanted.
    const { createChdbConnection } = await import('chdb/connection')
    if (target.chdbPath !== ':memory:') mkdirSync(target.chdbPath, { recursive: true })
    const client = createClient({
      // chdb types its connection against @clickhouse/client-common, the client against its bundled copy of it.
      connection: createChdbConnection({ path: target.chdbPath }) as unknown as ClientConnection,
      clickhouse_settings: SETTINGS,
    })
    return new ClickHouseAnalyticsStore('chdb', client)
  }

  async command(sql: string, params: Record<string, unknown> = {}): Promise<void> {
    await this.#client.command({ query: sql, query_params: params })
  }

  async insert<Row extends Record<string, unknown>>(table: string, rows: readonly Row[]): Promise<void> {
    if (rows.length === 0) return
    // No per-insert settings: chdb's connection keeps an insert's settings in its session for the next ones.
    await this.#client.insert({ table, values: [...rows], format: 'JSONEachRow' })
  }

  async query<Row>(sql: string, params: Record<string, unknown> = {}): Promise<Row[]> {
    const result = await this.#client.query({ query: sql, query_params: params, format: 'JSONEachRow' })
    return result.json<Row>()
  }

  async check(): Promise<void> {
    const ping = await this.#client.ping()
    if (!ping.success) throw ping.error
  }

  async close(): Promise<void> {
    await this.#client.close()
  }
}
