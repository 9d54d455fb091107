import type { Balance } from '../projections/balances/balances-projection.ts'
import type { AnalyticsStore } from './analytics-store.ts'

export interface ProjectDifference {
  /** null: requests outside any project. */
  projectId: string | null
  clickhouseMicroUsd: number
  postgresMicroUsd: number
  differenceMicroUsd: number
}

export interface Reconciliation {
  tenantId: string
  /** True when ClickHouse and the Postgres balances agree to the micro-USD, in total and per project. */
  reconciled: boolean
  clickhouse: { spentMicroUsd: number; requests: number }
  postgres: { spentMicroUsd: number }
  /** ClickHouse minus Postgres. */
  differenceMicroUsd: number
  /** Every project either side knows of, differing or not; requests outside a project are the null row. */
  projects: ProjectDifference[]
}

/**
 * Compares all-time spend in ClickHouse (the sink's facts, through the daily rollup) with the Postgres
 * balances built by the balances projection from the same `request.completed` events. Both follow the log
 * on their own, so a difference while events are in flight is expected: the caller says how far behind each is.
 */
export async function reconcile(store: AnalyticsStore, tenantId: string, balance: Balance): Promise<Reconciliation> {
  const rows = await store.query<{ project_id: string; spent: string; requests: string }>(
    `SELECT project_id, sum(cost_micro_usd) AS spent, sum(requests) AS requests FROM usage_daily
     WHERE tenant_id = {tenant:String} GROUP BY project_id`,
    { tenant: tenantId },
  )
  const clickhouse = new Map<string | null, number>()
  let chSpent = 0n
  let chRequests = 0
  for (const r of rows) {
    clickhouse.set(r.project_id === '' ? null : r.project_id, Number(r.spent))
    chSpent += BigInt(r.spent)
    chRequests += Number(r.requests)
  }
  const postgres = new Map<string | null, number>(balance.projects.map((p) => [p.projectId, p.spentMicroUsd]))
  // Postgres keeps spend outside projects only inside the tenant's total.
  const inProjects = balance.projects.reduce((sum, p) => sum + p.spentMicroUsd, 0)
  postgres.set(null, balance.spentMicroUsd - inProjects)
  const ids = [...new Set([...clickhouse.keys(), ...postgres.keys()])].sort((a, b) => (a ?? '').localeCompare(b ?? ''))
  const projects = ids
    .map((projectId) => {
      const ch = clickhouse.get(projectId) ?? 0
      const pg = postgres.get(projectId) ?? 0
      return { projectId, clickhouseMicroUsd: ch, postgresMicroUsd: pg, differenceMicroUsd: ch - pg }
    })
    .filter((p) => p.projectId !== null || p.clickhouseMicroUsd !== 0 || p.postgresMicroUsd !== 0)
  const spent = Number(chSpent)
  return {
    tenantId,
    reconciled: spent === balance.spentMicroUsd && projects.every((p) => p.differenceMicroUsd === 0),
    clickhouse: { spentMicroUsd: spent, requests: chRequests },
    postgres: { spentMicroUsd: balance.spentMicroUsd },
    differenceMicroUsd: spent - balance.spentMicroUsd,
    projects,
  }
}
