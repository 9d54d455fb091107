import type { AnalyticsStore } from './analytics-store.ts'

/**
 * The ClickHouse schema (DESIGN.md §6), migrated on start by `migrateAnalytics`, the same SQL on a server
 * and on chdb. Every table is ordered by tenant first: a tenant's report reads its own ranges only.
 *
 * - `usage_events`: the fact table, one row per usage event (a request, a cache hit, a rejection).
 * - rollups, kept by materialized views as rows arrive, one per set of dimensions whose product stays small
 *   (a rollup by every dimension at once would hold nearly a row per event, once users are many):
 *   `usage_hourly` and `usage_daily` by project, key, provider and model; `usage_daily_users` by end user
 *   and project. SummingMergeTree adds rows with equal keys as parts merge, so a query must still `sum()`
 *   and `GROUP BY`: until a merge, one key may have several rows.
 * - `usage_event_ids`: the sink's dedupe keys (event ids it has written), for a month.
 *
 * An absent project, key, user or provider is stored as '' (GROUP BY over Nullable columns is slower and
 * gains nothing); reports turn '' back into null.
 */

const ROLLUP_MEASURES = `
  requests UInt64,
  failed_requests UInt64,
  rejected_requests UInt64,
  cache_hits UInt64,
  prompt_tokens UInt64,
  completion_tokens UInt64,
  cached_tokens UInt64,
  reasoning_tokens UInt64,
  cost_micro_usd UInt64,
  saved_micro_usd UInt64`

/** What each rollup row sums; only request rows carry tokens and cost, only cache-hit rows savings. */
const ROLLUP_SELECT = `
  countIf(kind = 'request') AS requests,
  countIf(kind = 'request' AND outcome = 'failed') AS failed_requests,
  countIf(kind = 'rejection') AS rejected_requests,
  countIf(kind = 'cache_hit') AS cache_hits,
  sum(prompt_tokens) AS prompt_tokens,
  sum(completion_tokens) AS completion_tokens,
  sum(cached_tokens) AS cached_tokens,
  sum(reasoning_tokens) AS reasoning_tokens,
  sum(cost_micro_usd) AS cost_micro_usd,
  sum(saved_micro_usd) AS saved_micro_usd`


/** A rollup kept by a materialized view: its table, its time column and the dimensions it keeps. */
export interface RollupView {
  table: string
  time: 'hour' | 'day'
  timeExpression: string
  dimensions: readonly string[]
}

export const ROLLUP_VIEWS: readonly RollupView[] = [
  { table: 'usage_hourly', time: 'hour', timeExpression: 'toStartOfHour(occurred_at)', dimensions: ['project_id', 'key_id', 'provider', 'model'] },
  { table: 'usage_daily', time: 'day', timeExpression: 'toDate(occurred_at)', dimensions: ['project_id', 'key_id', 'provider', 'model'] },
  { table: 'usage_daily_users', time: 'day', timeExpression: 'toDate(occurred_at)', dimensions: ['user', 'project_id'] },
]

/**
 * A rollup's rows computed from facts: the materialized view's query, and (with a WHERE) what the sink runs
 * to rebuild a tenant-day whose insert was cut short between the fact table and the views.
 */
export function rollupSelect(view: RollupView, where = ''): string {
  const keys = ['tenant_id', view.time, ...view.dimensions].join(', ')
  return `SELECT tenant_id, ${view.timeExpression} AS ${view.time}, ${view.dimensions.join(', ')}, ${ROLLUP_SELECT}
      FROM usage_events ${where} GROUP BY ${keys}`
}

const view = (table: string) => ROLLUP_VIEWS.find((v) => v.table === table)!

/** In order; each runs once. Never edit one that has shipped: add another. */
export const ANALYTICS_MIGRATIONS: readonly { version: number; name: string; statements: readonly string[] }[] = [
  {
    version: 1,
    name: 'usage facts, hourly and daily rollups, daily rollup by user, dedupe keys',
    statements: [
      `CREATE TABLE IF NOT EXISTS usage_events (
        tenant_id String,
        occurred_at DateTime64(3, 'UTC'),
        event_id String,
        kind LowCardinality(String),
        request_id String,
        project_id String,
        key_id String,
        user String,
        provider LowCardinality(String),
        model LowCardinality(String),
        endpoint LowCardinality(String),
        stream Bool,
        outcome LowCardinality(String),
        http_status UInt16,
        cache_outcome LowCardinality(String),
        key_source LowCardinality(String),
        reject_reason LowCardinality(String),
        error_code LowCardinality(String),
        prompt_tokens UInt64,
        completion_tokens UInt64,
        cached_tokens UInt64,
        reasoning_tokens UInt64,
        cost_micro_usd UInt64,
        saved_micro_usd UInt64,
        price_version LowCardinality(String),
        latency_ms UInt32
      ) ENGINE = MergeTree
      PARTITION BY toYYYYMM(occurred_at)
      ORDER BY (tenant_id, occurred_at, event_id)`,
      `CREATE TABLE IF NOT EXISTS usage_hourly (
        tenant_id String, hour DateTime('UTC'), project_id String, key_id String,
        provider LowCardinality(String), model LowCardinality(String), ${ROLLUP_MEASURES}
      ) ENGINE = SummingMergeTree
      PARTITION BY toYYYYMM(hour)
      ORDER BY (tenant_id, hour, project_id, key_id, provider, model)`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS usage_hourly_mv TO usage_hourly AS ${rollupSelect(view('usage_hourly'))}`,
      `CREATE TABLE IF NOT EXISTS usage_daily (
        tenant_id String, day Date, project_id String, key_id String,
        provider LowCardinality(String), model LowCardinality(String), ${ROLLUP_MEASURES}
      ) ENGINE = SummingMergeTree
      PARTITION BY toYYYYMM(day)
      ORDER BY (tenant_id, day, project_id, key_id, provider, model)`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS usage_daily_mv TO usage_daily AS ${rollupSelect(view('usage_daily'))}`,
      `CREATE TABLE IF NOT EXISTS usage_daily_users (
        tenant_id String, day Date, user String, project_id String, ${ROLLUP_MEASURES}
      ) ENGINE = SummingMergeTree
      PARTITION BY toYYYYMM(day)
      ORDER BY (tenant_id, day, user, project_id)`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS usage_daily_users_mv TO usage_daily_users AS ${rollupSelect(view('usage_daily_users'))}`,
      `CREATE TABLE IF NOT EXISTS usage_event_ids (
        event_id String, marked_at DateTime('UTC') DEFAULT now()
      ) ENGINE = ReplacingMergeTree
      ORDER BY event_id
      TTL marked_at + INTERVAL 31 DAY`,
    ],
  },
]

/**
 * Applies the migrations not yet applied, in order; returns their versions. `IF NOT EXISTS` on every
 * statement makes a migration that died half-way safe to run again. Two processes starting at once may
 * both run one: the same idempotent statements, so that is harmless too.
 */
export async function migrateAnalytics(store: AnalyticsStore): Promise<number[]> {
  await store.command(
    `CREATE TABLE IF NOT EXISTS analytics_migrations (version UInt32, name String, applied_at DateTime('UTC') DEFAULT now())
     ENGINE = ReplacingMergeTree ORDER BY version`,
  )
  const done = new Set((await store.query<{ version: number }>('SELECT DISTINCT version FROM analytics_migrations')).map((r) => Number(r.version)))
  const applied: number[] = []
  for (const migration of ANALYTICS_MIGRATIONS) {
    if (done.has(migration.version)) continue
    for (const statement of migration.statements) await store.command(statement)
    await store.insert('analytics_migrations', [{ version: migration.version, name: migration.name }])
    applied.push(migration.version)
  }
  return applied
}
