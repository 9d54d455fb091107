import { z } from 'zod'
import { chargebackReport, FIELD, GROUP_BY } from '../../../analytics/chargeback.ts'
import type { GroupBy } from '../../../analytics/chargeback.ts'
import { chargebackCsv } from '../../../analytics/csv.ts'
import { reconcile } from '../../../analytics/reconciliation.ts'
import { readBalance } from '../../../projections/balances/balances-projection.ts'
import { GatewayError } from '../../errors.ts'
import type { AdminServices } from '../route.ts'
import { defineRoute } from '../route.ts'
import { tenantParams } from '../schemas.ts'
import { AnalyticsUnavailableError } from '../../../analytics/unavailable-analytics-store.ts'

const DAY_MS = 86_400_000
/** Longest span of one report: finance asks for a year; hourly series beyond a quarter are unreadable. */
const MAX_DAYS = 366
const MAX_HOURLY_DAYS = 92

/** A date (midnight UTC) or an ISO 8601 time with its offset, within what ClickHouse's time types hold. */
const instant = z
  .union([z.iso.date(), z.iso.datetime({ offset: true })])
  .transform((v) => new Date(v.length === 10 ? `${v}T00:00:00Z` : v))
  .refine((d) => d.getUTCFullYear() >= 1970 && d.getUTCFullYear() <= 2105, 'a time between 1970 and 2105')

const chargebackQuery = z
  .strictObject({
    from: instant.optional().describe("Inclusive: a date (midnight UTC) or an ISO 8601 time; default the first of `to`'s month, UTC"),
    to: instant.optional().describe('Exclusive: a date or an ISO 8601 time; default now'),
    groupBy: z
      .string()
      .default('project')
      .transform((v, ctx) => {
        const parts = v.split(',').map((p) => p.trim())
        const bad = parts.filter((p) => !(GROUP_BY as readonly string[]).includes(p))
        if (bad.length > 0 || new Set(parts).size !== parts.length || parts.length > 3) {
          ctx.addIssue({ code: 'custom', message: `groupBy is one to three distinct dimensions, comma-separated, of: ${GROUP_BY.join(', ')}` })
          return z.NEVER
        }
        return parts as GroupBy[]
      })
      .describe(`One to three of ${GROUP_BY.join(', ')}, comma-separated (default project)`),
    format: z.enum(['json', 'csv']).default('json'),
  })
  .transform((q, ctx) => {
    const to = q.to ?? new Date()
    // Default: the month that `to` falls in (a `to` on the 1st at midnight closes the month before).
    const last = new Date(to.getTime() - 1)
    const from = q.from ?? new Date(Date.UTC(last.getUTCFullYear(), last.getUTCMonth(), 1))
    const days = (to.getTime() - from.getTime()) / DAY_MS
    if (!(to > from)) ctx.addIssue({ code: 'custom', path: ['to'], message: 'to must be after from' })
    else if (days > MAX_DAYS) ctx.addIssue({ code: 'custom', path: ['to'], message: `A report spans at most ${MAX_DAYS} days; ask for several` })
    else if (q.groupBy.includes('hour') && days > MAX_HOURLY_DAYS) ctx.addIssue({ code: 'custom', path: ['groupBy'], message: `groupBy=hour spans at most ${MAX_HOURLY_DAYS} days` })
    return { ...q, from, to }
  })

const measures = {
  requests: z.number().int(),
  failedRequests: z.number().int(),
  rejectedRequests: z.number().int(),
  cacheHits: z.number().int(),
  promptTokens: z.number().int(),
  completionTokens: z.number().int(),
  cachedTokens: z.number().int(),
  reasoningTokens: z.number().int(),
  costMicroUsd: z.number().int(),
  cacheSavingsMicroUsd: z.number().int(),
}

const reportResponse = z.strictObject({
  tenantId: z.string(),
  from: z.string(),
  to: z.string(),
  groupBy: z.array(z.enum(GROUP_BY)),
  rows: z.array(
    z.object({
      ...measures,
      projectId: z.string().nullable().optional(),
      projectName: z.string().nullable().optional(),
      keyId: z.string().nullable().optional(),
      keyName: z.string().nullable().optional(),
      user: z.string().nullable().optional(),
      model: z.string().nullable().optional(),
      provider: z.string().nullable().optional(),
      day: z.string().optional(),
      hour: z.string().optional(),
    }),
  ),
  totals: z.strictObject(measures),
})

function analyticsOf(services: AdminServices): NonNullable<AdminServices['analytics']> {
  if (services.analytics === undefined) throw new GatewayError('service_unavailable', 'Reports need the analytics store, which this gateway was started without')
  return services.analytics
}

/**
 * A failure of the analytics store is the store's, not the caller's: 503, and a message that names neither
 * its address nor its credentials (a server URL may hold a password). Sums past what a JSON number holds
 * exactly ask for a narrower report.
 */
async function fromAnalytics<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read()
  } catch (error) {
    if (error instanceof GatewayError) throw error
    if (error instanceof AnalyticsUnavailableError) throw new GatewayError('service_unavailable', error.message)
    if (error instanceof RangeError) throw new GatewayError('invalid_request', `${error.message}: ask for a shorter range or a finer grouping`)
    throw new GatewayError('service_unavailable', 'The analytics store (ClickHouse) did not answer; try again shortly')
  }
}

/** Project and key names by id, for the report's readers: ids alone mean nothing to finance. */
async function namesFor(services: AdminServices, tenantId: string, groupBy: readonly GroupBy[]): Promise<Record<string, Map<string, string>>> {
  const names: Record<string, Map<string, string>> = {}
  if (!groupBy.includes('project') && !groupBy.includes('key')) return names
  await services.controlPlane.readAsTenant(tenantId, async (tx) => {
    if (groupBy.includes('project')) {
      const rows = await tx.query<{ id: string; name: string }>('SELECT id, name FROM projects WHERE tenant_id = $1', [tenantId])
      names[FIELD.project] = new Map(rows.rows.map((r) => [r.id, r.name]))
    }
    if (groupBy.includes('key')) {
      const rows = await tx.query<{ id: string; name: string }>('SELECT id, name FROM api_keys WHERE tenant_id = $1', [tenantId])
      names[FIELD.key] = new Map(rows.rows.map((r) => [r.id, r.name]))
    }
  })
  return names
}

export const reportRoutes = [
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}/reports/chargeback',
    summary:
      'Spend, tokens, cache savings and rejections over [from, to), grouped by project, key, user, model, provider, day or hour (up to three), from ClickHouse; JSON or CSV (format=csv). Integers in micro-USD; the CSV adds exact decimal USD.',
    tag: 'reports',
    access: 'reports.read',
    params: tenantParams,
    query: chargebackQuery,
    status: 200,
    response: reportResponse,
    alsoProduces: 'text/csv',
    handle: async ({ params, query, reply, principal }, services) => {
      const { store } = analyticsOf(services)
      // A key issued for one project reports on that project only.
      const projectId = principal.role === 'platform' ? undefined : (principal.projectId ?? undefined)
      const [report, names] = await Promise.all([
        fromAnalytics(() => chargebackReport(store, { tenantId: params.tenantId, from: query.from, to: query.to, groupBy: query.groupBy, ...(projectId === undefined ? {} : { projectId }) })),
        namesFor(services, params.tenantId, query.groupBy),
      ])
      if (query.format === 'csv') {
        const file = `chargeback-${params.tenantId}-${report.from.slice(0, 10)}-${report.to.slice(0, 10)}.csv`
        return reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${file}"`).status(200).send(chargebackCsv(report, names))
      }
      const projects = names[FIELD.project]
      const keys = names[FIELD.key]
      return {
        ...report,
        rows: report.rows.map((r) => ({
          ...r,
          ...(projects === undefined ? {} : { projectName: r.projectId === null ? null : (projects.get(String(r.projectId)) ?? null) }),
          ...(keys === undefined ? {} : { keyName: r.keyId === null ? null : (keys.get(String(r.keyId)) ?? null) }),
        })),
      }
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}/reports/reconciliation',
    summary:
      "All-time spend in ClickHouse against the Postgres balances built from the same events, in total and per project, to the micro-USD; `pending` says how many events each side has yet to read, so a difference while they are in flight is told from a real one",
    tag: 'reports',
    access: 'reports.read',
    params: tenantParams,
    status: 200,
    response: z.strictObject({
      tenantId: z.string(),
      reconciled: z.boolean(),
      clickhouse: z.strictObject({ spentMicroUsd: z.number().int(), requests: z.number().int() }),
      postgres: z.strictObject({ spentMicroUsd: z.number().int() }),
      differenceMicroUsd: z.number().int(),
      projects: z.array(
        z.strictObject({ projectId: z.string().nullable(), clickhouseMicroUsd: z.number().int(), postgresMicroUsd: z.number().int(), differenceMicroUsd: z.number().int() }),
      ),
      pending: z.strictObject({ sink: z.number().int(), balances: z.number().int() }).nullable(),
      checkedAt: z.string(),
    }),
    handle: async ({ params, principal }, services) => {
      const analytics = analyticsOf(services)
      if (principal.role !== 'platform' && principal.projectId !== undefined && principal.projectId !== null) {
        throw new GatewayError('permission_denied', 'Reconciliation covers the whole tenant; a key issued for one project may not run it')
      }
      // The lag first: a difference found after it was read is at most what was then in flight. An event log
      // that does not answer leaves it unknown (null) rather than failing the comparison.
      const pending = analytics.pending === undefined ? null : await analytics.pending().catch(() => null)
      const balance = await services.controlPlane.readAsTenant(params.tenantId, (tx) => readBalance(tx, params.tenantId))
      const result = await fromAnalytics(() => reconcile(analytics.store, params.tenantId, balance))
      return { ...result, pending, checkedAt: new Date().toISOString() }
    },
  }),
]
