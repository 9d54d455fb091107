import type { Envelope } from '../../events/envelope.ts'
import type { SqlExecutor } from '../../infra/postgres/sql-store.ts'
import type { Projection } from '../runner/projection-runner.ts'
import { parseCreditGrant, parseRequestSpend } from './spend-events.ts'

/**
 * Balances (DESIGN.md §5): credits granted minus spend, per tenant, and spend per project, in integer
 * micro-USD. Reads `credits.granted` from the control topic and `request.completed` from the usage topic.
 */
export const balancesProjection: Projection = {
  handles: (type) => type === 'credits.granted' || type === 'request.completed',

  async apply(tx: SqlExecutor, envelope: Envelope): Promise<void> {
    if (envelope.type === 'credits.granted') {
      const { amountMicroUsd } = parseCreditGrant(envelope)
      await tx.query(
        `INSERT INTO tenant_balances (tenant_id, credited_micro_usd) VALUES ($1, $2)
         ON CONFLICT (tenant_id) DO UPDATE SET credited_micro_usd = tenant_balances.credited_micro_usd + $2`,
        [envelope.tenantId, amountMicroUsd],
      )
      return
    }
    const spend = parseRequestSpend(envelope)
    if (spend.costMicroUsd === 0) return
    await tx.query(
      `INSERT INTO tenant_balances (tenant_id, spent_micro_usd) VALUES ($1, $2)
       ON CONFLICT (tenant_id) DO UPDATE SET spent_micro_usd = tenant_balances.spent_micro_usd + $2`,
      [envelope.tenantId, spend.costMicroUsd],
    )
    // A request outside any project counts towards the tenant only.
    if (spend.projectId !== null && spend.projectId !== undefined) {
      await tx.query(
        `INSERT INTO project_spend (tenant_id, project_id, spent_micro_usd) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id, project_id) DO UPDATE SET spent_micro_usd = project_spend.spent_micro_usd + $3`,
        [envelope.tenantId, spend.projectId, spend.costMicroUsd],
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
