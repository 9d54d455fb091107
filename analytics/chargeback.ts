import type { AnalyticsStore } from './analytics-store.ts'

/** What a chargeback report may be grouped by, and the column of each in the rollups. */
export const GROUP_BY = ['project', 'key', 'user', 'model', 'provider', 'day', 'hour'] as const
export type GroupBy = (typeof GROUP_BY)[number]

const COLUMN: Record<Exclude<GroupBy, 'day' | 'hour'>, string> = {
  project: 'project_id',
  key: 'key_id',
  user: 'user',
  model: 'model',
  provider: 'provider',
}

/** The name of each dimension in a report row. */
export const FIELD: Record<GroupBy, string> = { project: 'projectId', key: 'keyId', user: 'user', model: 'model', provider: 'provider', day: 'day', hour: 'hour' }

export interface Measures {
  requests: number
  failedRequests: number
  rejectedRequests: number
  cacheHits: number
  promptTokens: number
  completionTokens: number
  cachedTokens: number
  reasoningTokens: number
  costMicroUsd: number
  cacheSavingsMicroUsd: number
}
export const MEASURES: readonly (keyof Measures)[] = [
  'requests',
  'failedRequests',
  'rejectedRequests',
  'cacheHits',
  'promptTokens',
  'completionTokens',
  'cachedTokens',
  'reasoningTokens',
  'costMicroUsd',
  'cacheSavingsMicroUsd',
]

export type ReportRow = Measures & { [dimension: string]: string | number | null }

export interface ChargebackQuery {
  tenantId: string
  /** Inclusive. */
  from: Date
  /** Exclusive. */
  to: Date
  groupBy: readonly GroupBy[]
  /** Only this project's usage (a key issued for one project). */
  projectId?: string
}

export interface ChargebackReport {
  tenantId: string
  from: string
  to: string
  groupBy: GroupBy[]
  rows: ReportRow[]
  totals: Measures
}

const HOUR = 3_600_000
const DAY = 24 * HOUR
const floorTo = (t: number, unit: number) => Math.floor(t / unit) * unit
const ceilTo = (t: number, unit: number) => Math.ceil(t / unit) * unit
const chTime = (t: number) => new Date(t).toISOString().replace('T', ' ').replace('Z', '')

interface Rollup {
  table: string
  /** Its time column and the span each of its rows covers. */
  time: 'hour' | 'day'
  unitMs: number
  /** What it can be grouped by. */
  dims: ReadonlySet<GroupBy>
}

/** The rollups of analytics/schema.ts, coarsest first: a report takes the first that has every dimension it asks for. */
const ROLLUPS: readonly Rollup[] = [
  { table: 'usage_daily', time: 'day', unitMs: DAY, dims: new Set(['project', 'key', 'provider', 'model', 'day']) },
  { table: 'usage_daily_users', time: 'day', unitMs: DAY, dims: new Set(['user', 'project', 'day']) },
  { table: 'usage_hourly', time: 'hour', unitMs: HOUR, dims: new Set(['project', 'key', 'provider', 'model', 'day', 'hour']) },
]

/** The rollup a report reads, or undefined when none has every dimension it asks for (the facts serve it alone). */
export function rollupFor(groupBy: readonly GroupBy[]): string | undefined {
  return ROLLUPS.find((r) => groupBy.every((g) => r.dims.has(g)))?.table
}

/** Sums that may pass 2^53 come back as strings; a report refuses to round money rather than lose a cent. */
function exactNumber(value: unknown, what: string): number {
  const n = typeof value === 'number' ? value : Number(value)
  if (!Number.isSafeInteger(n)) throw new RangeError(`${what} (${String(value)}) is beyond what a JSON number holds exactly`)
  return n
}

const ROLLUP_SUMS = `sum(requests) AS requests, sum(failed_requests) AS failed_requests, sum(rejected_requests) AS rejected_requests,
  sum(cache_hits) AS cache_hits, sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens,
  sum(cached_tokens) AS cached_tokens, sum(reasoning_tokens) AS reasoning_tokens, sum(cost_micro_usd) AS cost_micro_usd,
  sum(saved_micro_usd) AS saved_micro_usd`

/** The fact table's rows as rollup rows: each counts once in its measure. */
const FACT_MEASURES = `toUInt64(kind = 'request') AS requests, toUInt64(kind = 'request' AND outcome = 'failed') AS failed_requests,
  toUInt64(kind = 'rejection') AS rejected_requests, toUInt64(kind = 'cache_hit') AS cache_hits, prompt_tokens, completion_tokens,
  cached_tokens, reasoning_tokens, cost_micro_usd, saved_micro_usd`

const MEASURE_COLUMNS = 'requests, failed_requests, rejected_requests, cache_hits, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_micro_usd, saved_micro_usd'

/**
 * The SQL of a report over [from, to), exact to the event whatever the bounds: the whole days (or hours) inside
 * the range from the coarsest rollup that has the dimensions asked for, the ragged ends from the fact table;
 * the fact table alone for a grouping no rollup holds (user and model together, say).
 */
export function chargebackSql(query: ChargebackQuery): { sql: string; params: Record<string, unknown> } {
  const from = query.from.getTime()
  const to = query.to.getTime()
  const dims = query.groupBy
  // Inner names differ from every column name: an alias named like a column would shadow it in WHERE.
  const dimensionOf = (g: GroupBy, time: string) =>
    g === 'day'
      ? `toString(toDate(${time})) AS dim_day`
      : g === 'hour'
        ? `formatDateTime(toStartOfHour(${time}), '%Y-%m-%dT%H:00:00Z') AS dim_hour`
        : `${COLUMN[g]} AS dim_${g}`
  const select = (time: string) => dims.map((g) => dimensionOf(g, time)).join(', ')
  const params: Record<string, unknown> = { tenant: query.tenantId, from: chTime(from), to: chTime(to) }
  // Every rollup has project_id: a project's report reads the same tables.
  const scope = query.projectId === undefined ? '' : ' AND project_id = {project:String}'
  if (query.projectId !== undefined) params.project = query.projectId
  const parts: string[] = []
  const rollup = ROLLUPS.find((r) => dims.every((g) => r.dims.has(g)))
  // [m0, m1): the whole rollup rows inside the range; empty when there is no rollup or no whole unit.
  let [m0, m1] = [to, to]
  if (rollup !== undefined) {
    m0 = ceilTo(from, rollup.unitMs)
    m1 = Math.max(m0, floorTo(to, rollup.unitMs))
  }
  Object.assign(params, { m0: chTime(m0), m1: chTime(m1) })
  if (rollup !== undefined && m1 > m0) {
    const bound = rollup.time === 'day' ? (t: number) => new Date(t).toISOString().slice(0, 10) : (t: number) => chTime(t).slice(0, 19)
    Object.assign(params, { r0: bound(m0), r1: bound(m1) })
    const type = rollup.time === 'day' ? 'Date' : "DateTime('UTC')"
    parts.push(`SELECT ${[select(rollup.time), MEASURE_COLUMNS].filter(Boolean).join(', ')} FROM ${rollup.table}
      WHERE tenant_id = {tenant:String}${scope} AND ${rollup.time} >= {r0:${type}} AND ${rollup.time} < {r1:${type}}`)
  }
  parts.push(`SELECT ${[select('occurred_at'), FACT_MEASURES].filter(Boolean).join(', ')} FROM usage_events
    WHERE tenant_id = {tenant:String}${scope} AND occurred_at >= {from:DateTime64(3, 'UTC')} AND occurred_at < {to:DateTime64(3, 'UTC')}
      AND NOT (occurred_at >= {m0:DateTime64(3, 'UTC')} AND occurred_at < {m1:DateTime64(3, 'UTC')})`)
  const groupBy = dims.length === 0 ? '' : `GROUP BY ${dims.map((g) => `dim_${g}`).join(', ')}`
  // Time first (a series reads in order), then the biggest spenders, then the names for a stable order.
  const time = dims.filter((g) => g === 'day' || g === 'hour')
  const named = dims.filter((g) => g !== 'day' && g !== 'hour')
  const orderBy = [...time, 'cost_micro_usd DESC', ...named].join(', ')
  const sql = `SELECT ${[...dims.map((g) => `dim_${g} AS ${g}`), ROLLUP_SUMS].join(', ')} FROM (${parts.join('\nUNION ALL\n')}) ${groupBy}
    HAVING requests + rejected_requests + cache_hits > 0 ORDER BY ${orderBy}`
  return { sql, params }
}

interface RawRow {
  [column: string]: string | number
}

function measuresOf(raw: RawRow): Measures {
  return {
    requests: exactNumber(raw.requests, 'requests'),
    failedRequests: exactNumber(raw.failed_requests, 'failed requests'),
    rejectedRequests: exactNumber(raw.rejected_requests, 'rejected requests'),
    cacheHits: exactNumber(raw.cache_hits, 'cache hits'),
    promptTokens: exactNumber(raw.prompt_tokens, 'prompt tokens'),
    completionTokens: exactNumber(raw.completion_tokens, 'completion tokens'),
    cachedTokens: exactNumber(raw.cached_tokens, 'cached tokens'),
    reasoningTokens: exactNumber(raw.reasoning_tokens, 'reasoning tokens'),
    costMicroUsd: exactNumber(raw.cost_micro_usd, 'spend'),
    cacheSavingsMicroUsd: exactNumber(raw.saved_micro_usd, 'cache savings'),
  }
}

export function emptyMeasures(): Measures {
  return { requests: 0, failedRequests: 0, rejectedRequests: 0, cacheHits: 0, promptTokens: 0, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0, costMicroUsd: 0, cacheSavingsMicroUsd: 0 }
}

/** The chargeback report: one row per group with its measures, and the totals over every row. */
export async function chargebackReport(store: AnalyticsStore, query: ChargebackQuery): Promise<ChargebackReport> {
  const { sql, params } = chargebackSql(query)
  const raw = await store.query<RawRow>(sql, params)
  const totals = emptyMeasures()
  const rows = raw.map((r) => {
    const measures = measuresOf(r)
    for (const m of MEASURES) totals[m] += measures[m]
    const row: ReportRow = { ...measures }
    // '' is how the fact table stores "none" (analytics/schema.ts).
    for (const g of query.groupBy) row[FIELD[g]] = r[g] === '' ? null : String(r[g])
    return row
  })
  for (const m of MEASURES) exactNumber(totals[m], `total ${m}`)
  return { tenantId: query.tenantId, from: query.from.toISOString(), to: query.to.toISOString(), groupBy: [...query.groupBy], rows, totals }
}
