import type { Envelope } from '../../events/envelope.ts'
import type { SqlExecutor } from '../../infra/postgres/sql-store.ts'
import { parseRequestSpend } from '../balances/spend-events.ts'
import type { Projection } from '../runner/projection-runner.ts'

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

  async apply(tx: SqlExecutor, envelope: Envelope): Promise<void> {
    const spend = parseRequestSpend(envelope)
    if (spend.costMicroUsd === 0) return
    const at = new Date(envelope.occurredAt)
    const scopes = spendScopes(spend.projectId, spend.keyId)
    const rows = scopes.flatMap((scope) => PERIODS.map((period) => ({ scope, period, start: periodStart(at, period) })))
    await tx.query(
      `INSERT INTO spend_by_period (tenant_id, scope, period, period_start, spent_micro_usd)
       SELECT $1, r.scope, r.period, r.start::date, $5 FROM unnest($2::text[], $3::text[], $4::text[]) AS r(scope, period, start)
       ON CONFLICT (tenant_id, scope, period, period_start)
       DO UPDATE SET spent_micro_usd = spend_by_period.spent_micro_usd + EXCLUDED.spent_micro_usd`,
      [envelope.tenantId, rows.map((r) => r.scope), rows.map((r) => r.period), rows.map((r) => r.start), spend.costMicroUsd],
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
