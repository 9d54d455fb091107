import type { AnalyticsStore } from './analytics-store.ts'
import { ROLLUP_VIEWS, rollupSelect } from './schema.ts'

export interface TenantDay {
  tenantId: string
  /** 'YYYY-MM-DD', UTC. */
  day: string
}

/**
 * Rebuilds each rollup's rows of the tenant-days from the fact table: deleted, then computed again as the
 * materialized view would. For an insert cut short between the facts and the views (a killed process, an
 * error in one view); idempotent, so a rebuild interrupted in turn is simply run again. The caller holds the
 * partition the tenant's events come from, so no insert for those tenant-days runs meanwhile.
 */
export async function rebuildRollups(store: AnalyticsStore, tenantDays: readonly TenantDay[]): Promise<void> {
  for (const { tenantId, day } of tenantDays) {
    for (const view of ROLLUP_VIEWS) {
      const inDay = view.time === 'day' ? 'day = {day:Date}' : 'toDate(hour) = {day:Date}'
      await store.command(`ALTER TABLE ${view.table} DELETE WHERE tenant_id = {tenant:String} AND ${inDay} SETTINGS mutations_sync = 2`, { tenant: tenantId, day })
      await store.command(
        `INSERT INTO ${view.table} ${rollupSelect(view, 'WHERE tenant_id = {tenant:String} AND toDate(occurred_at) = {day:Date}')}`,
        { tenant: tenantId, day },
      )
    }
  }
}
