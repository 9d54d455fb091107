import type { Envelope } from '../../events/envelope.ts'
import type { SqlExecutor } from '../../infra/postgres/sql-store.ts'
import { parseRequestSpend } from '../balances/spend-events.ts'
import { readEvents } from '../runner/projection-runner.ts'
import type { Projection, RejectEvent } from '../runner/projection-runner.ts'

export type BudgetPeriod = 'day' | 'month'
const PERIODS: readonly BudgetPeriod[] = ['day', 'month']

/** The UTC day, or the first day of the UTC month, that `at` falls in, as `YYYY-MM-DD`. */
export function periodStart(at: Date, period: BudgetPeriod): string {
  const day = at.toISOString().slice(0, 10)
  return period === 'day' ? day : `${day.slice(0, 7)}-01`
}

/** The budget scopes a request's spend counts towards, as budgets.scope spells them. */
export function spendScopes(projectId: string | null | undefined, keyId: string | null | undefined): string[] {
  const scopes = ['tenant']
  if (projectId !== null && projectId !== undefined) scopes.push(`project:${projectId}`)
  if (keyId !== null && keyId !== undefined) scopes.push(`key:${keyId}`)
  return scopes
}

/**
 * Spend per UTC day and month per tenant, project and key (DESIGN.md §5), from `request.completed`: what
 * the budgets set in the control plane are measured against.
 */
export const budgetsProjection: Projection = {
  handles: (type) => type === 'request.completed',

  /** Sums the batch per tenant, scope and period first: one upsert, whatever the batch's size. */
  async applyBatch(tx: SqlExecutor, envelopes: readonly Envelope[], reject: RejectEvent): Promise<void> {
    const totals = new Map<string, { tenantId: string; scope: string; period: BudgetPeriod; start: string; micro: number }>()
    for (const { envelope, value: spend } of readEvents(envelopes, parseRequestSpend, reject)) {
      if (spend.costMicroUsd === 0) continue
      const at = new Date(envelope.occurredAt)
      for (const scope of spendScopes(spend.projectId, spend.keyId)) {
        for (const period of PERIODS) {
          const start = periodStart(at, period)
          const key = JSON.stringify([envelope.tenantId, scope, period, start])
          const entry = totals.get(key) ?? { tenantId: envelope.tenantId, scope, period, start, micro: 0 }
          entry.micro += spend.costMicroUsd
          totals.set(key, entry)
        }
      }
    }
    const rows = [...totals.values()]
    if (rows.length === 0) return
    await tx.query(
      `INSERT INTO spend_by_period (tenant_id, scope, period, period_start, spent_micro_usd)
       SELECT r.tenant_id, r.scope, r.period, r.start::date, r.micro
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) AS r(tenant_id, scope, period, start, micro)
       ON CONFLICT (tenant_id, scope, period, period_start)
       DO UPDATE SET spent_micro_usd = spend_by_period.spent_micro_usd + EXCLUDED.spent_micro_usd`,
      [rows.map((r) => r.tenantId), rows.map((r) => r.scope), rows.map((r) => r.period), rows.map((r) => r.start), rows.map((r) => r.micro)],
    )
  },

  async reset(tx: SqlExecutor): Promise<void> {
    await tx.query('DELETE FROM spend_by_period')
  },
}

export interface BudgetStatus {
  scope: string
  period: BudgetPeriod
  limitMicroUsd: number
  spentMicroUsd: number
  /** Negative once the budget is overspent. */
  remainingMicroUsd: number
}

/** Each budget the tenant has set, with the spend of the period `now` falls in. */
export async function readBudgetStatus(sql: SqlExecutor, tenantId: string, now: Date): Promise<BudgetStatus[]> {
  const rows = await sql.query<{ scope: string; period: BudgetPeriod; limit_micro_usd: number; spent_micro_usd: number }>(
    `SELECT b.scope, b.period, b.limit_micro_usd, COALESCE(s.spent_micro_usd, 0)::bigint AS spent_micro_usd
     FROM budgets b
     LEFT JOIN spend_by_period s ON s.tenant_id = b.tenant_id AND s.scope = b.scope AND s.period = b.period
       AND s.period_start = CASE b.period WHEN 'day' THEN $2::date ELSE $3::date END
     WHERE b.tenant_id = $1
     ORDER BY b.scope, b.period`,
    [tenantId, periodStart(now, 'day'), periodStart(now, 'month')],
  )
  return rows.rows.map((r) => ({
    scope: r.scope,
    period: r.period,
    limitMicroUsd: r.limit_micro_usd,
    spentMicroUsd: r.spent_micro_usd,
    remainingMicroUsd: r.limit_micro_usd - r.spent_micro_usd,
  }))
}
