import type { Envelope } from '../../events/envelope.ts'
import type { SqlExecutor } from '../../infra/postgres/sql-store.ts'
import { readEvents } from '../runner/projection-runner.ts'
import type { Projection, RejectEvent } from '../runner/projection-runner.ts'
import { parseCreditGrant, parseRequestSpend } from './spend-events.ts'

/**
 * Balances (DESIGN.md §5): credits granted minus spend, per tenant, and spend per project, in integer
 * micro-USD. Reads `credits.granted` from the control topic and `request.completed` from the usage topic.
 */
/** Adds `amount` to the entry for `key` in `totals`. */
export function addTo<K>(totals: Map<K, number>, key: K, amount: number): void {
  totals.set(key, (totals.get(key) ?? 0) + amount)
}

export const balancesProjection: Projection = {
  handles: (type) => type === 'credits.granted' || type === 'request.completed',

  /** Sums the batch per tenant and project first: one upsert per table, whatever the batch's size. */
  async applyBatch(tx: SqlExecutor, envelopes: readonly Envelope[], reject: RejectEvent): Promise<void> {
    const credited = new Map<string, number>()
    const spent = new Map<string, number>()
    const byProject = new Map<string, { tenantId: string; projectId: string; micro: number }>()
    const events = readEvents(
      envelopes,
      (e) => (e.type === 'credits.granted' ? { kind: 'credit' as const, credit: parseCreditGrant(e).amountMicroUsd } : { kind: 'spend' as const, spend: parseRequestSpend(e) }),
      reject,
    )
    for (const { envelope, value } of events) {
      if (value.kind === 'credit') {
        addTo(credited, envelope.tenantId, value.credit)
        continue
      }
      if (value.spend.costMicroUsd === 0) continue
      addTo(spent, envelope.tenantId, value.spend.costMicroUsd)
      // A request outside any project counts towards the tenant only.
      const projectId = value.spend.projectId
      if (projectId === null || projectId === undefined) continue
      const key = JSON.stringify([envelope.tenantId, projectId])
      const entry = byProject.get(key) ?? { tenantId: envelope.tenantId, projectId, micro: 0 }
      entry.micro += value.spend.costMicroUsd
      byProject.set(key, entry)
    }
    const tenants = [...new Set([...credited.keys(), ...spent.keys()])]
    if (tenants.length > 0) {
      await tx.query(
        `INSERT INTO tenant_balances (tenant_id, credited_micro_usd, spent_micro_usd)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])
         ON CONFLICT (tenant_id) DO UPDATE SET
           credited_micro_usd = tenant_balances.credited_micro_usd + EXCLUDED.credited_micro_usd,
           spent_micro_usd = tenant_balances.spent_micro_usd + EXCLUDED.spent_micro_usd`,
        [tenants, tenants.map((t) => credited.get(t) ?? 0), tenants.map((t) => spent.get(t) ?? 0)],
      )
    }
    const projects = [...byProject.values()]
    if (projects.length > 0) {
      await tx.query(
        `INSERT INTO project_spend (tenant_id, project_id, spent_micro_usd)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
         ON CONFLICT (tenant_id, project_id) DO UPDATE SET spent_micro_usd = project_spend.spent_micro_usd + EXCLUDED.spent_micro_usd`,
        [projects.map((p) => p.tenantId), projects.map((p) => p.projectId), projects.map((p) => p.micro)],
      )
    }
  },

  async reset(tx: SqlExecutor): Promise<void> {
    await tx.query('DELETE FROM project_spend')
    await tx.query('DELETE FROM tenant_balances')
  },
}

export interface Balance {
  balanceMicroUsd: number
  creditedMicroUsd: number
  spentMicroUsd: number
  /** Spend per project, by project id; requests outside a project are in the tenant's spend only. */
  projects: { projectId: string; spentMicroUsd: number }[]
}

/** A tenant's balance; a tenant with no grant and no spend has a balance of zero. */
export async function readBalance(sql: SqlExecutor, tenantId: string): Promise<Balance> {
  const totals = await sql.query<{ credited_micro_usd: number; spent_micro_usd: number }>(
    'SELECT credited_micro_usd, spent_micro_usd FROM tenant_balances WHERE tenant_id = $1',
    [tenantId],
  )
  const projects = await sql.query<{ project_id: string; spent_micro_usd: number }>(
    'SELECT project_id, spent_micro_usd FROM project_spend WHERE tenant_id = $1 ORDER BY project_id',
    [tenantId],
  )
  const creditedMicroUsd = totals.rows[0]?.credited_micro_usd ?? 0
  const spentMicroUsd = totals.rows[0]?.spent_micro_usd ?? 0
  return {
    balanceMicroUsd: creditedMicroUsd - spentMicroUsd,
    creditedMicroUsd,
    spentMicroUsd,
    projects: projects.rows.map((r) => ({ projectId: r.project_id, spentMicroUsd: r.spent_micro_usd })),
  }
}
