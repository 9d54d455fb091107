import { z } from 'zod'
import { buildEvent } from '../../events/catalogue/registry.ts'
import type { Envelope } from '../../events/envelope.ts'
import type { SqlExecutor } from '../../infra/postgres/sql-store.ts'
import { parseRequestSpend } from '../balances/spend-events.ts'
import { spendScopes } from '../budgets/budgets-projection.ts'
import type { Projection } from '../runner/projection-runner.ts'

export type AlertPeriod = 'hour' | 'day' | 'month'
const PERIODS: readonly AlertPeriod[] = ['hour', 'day', 'month']

/** The start of the UTC hour, day or month that `at` falls in, as an ISO timestamp. */
export function alertPeriodStart(at: Date, period: AlertPeriod): string {
  const iso = at.toISOString()
  if (period === 'hour') return `${iso.slice(0, 13)}:00:00.000Z`
  if (period === 'day') return `${iso.slice(0, 10)}T00:00:00.000Z`
  return `${iso.slice(0, 7)}-01T00:00:00.000Z`
}

/** alert_rules.rule, as gateway/control/settings.ts AlertRuleDefinition stores it. */
const ruleSchema = z.object({
  kind: z.enum(['budget_percent', 'absolute_spend', 'spend_rate']),
  scope: z.string(),
  threshold: z.number().int().min(1),
  period: z.enum(['day', 'month']),
  webhookUrl: z.string().nullable().optional(),
})
export type AlertRule = z.output<typeof ruleSchema>

/** What the alert webhook POSTs (and the delivery log stores). */
export interface AlertTriggeredPayload {
  id: string
  type: 'alert.triggered'
  tenantId: string
  ruleId: string
  rule: AlertRule
  periodStart: string
  spentMicroUsd: number
  threshold: number
  firedAt: string
}

/** Whether a rule fires at this spend, and the period it fires for; null when it cannot (no budget). */
export function evaluateRule(
  rule: AlertRule,
  spent: (period: AlertPeriod) => { start: string; micro: number },
  budgetMicroUsd: number | undefined,
): { periodStart: string; spentMicroUsd: number } | null {
  const counter = spent(rule.kind === 'spend_rate' ? 'hour' : rule.period)
  const crossed =
    rule.kind === 'budget_percent'
      ? budgetMicroUsd !== undefined && budgetMicroUsd > 0 && counter.micro * 100 >= rule.threshold * budgetMicroUsd
      : counter.micro >= rule.threshold
  return crossed ? { periodStart: counter.start, spentMicroUsd: counter.micro } : null
}

/**
 * Spend alerts (DESIGN.md §5) from `request.completed`: counts the spend per scope and hour, day and month
 * itself, and after each event checks the tenant's rules for the event's scopes. A rule fires once per
 * period: alert_firings' primary key (rule, period start) refuses a second firing, even from a concurrent
 * transaction, and only a firing actually inserted queues its webhook, in the same transaction.
 */
export const alertsProjection: Projection = {
  handles: (type) => type === 'request.completed',

  async apply(tx: SqlExecutor, envelope: Envelope): Promise<void> {
    const spend = parseRequestSpend(envelope)
    if (spend.costMicroUsd === 0) return
    const at = new Date(envelope.occurredAt)
    const tenantId = envelope.tenantId
    const scopes = spendScopes(spend.projectId, spend.keyId)
    const rows = scopes.flatMap((scope) => PERIODS.map((period) => ({ scope, period, start: alertPeriodStart(at, period) })))
    // The upsert's row locks order concurrent transactions: each one sees the total including the other's.
    const counted = await tx.query<{ scope: string; period: AlertPeriod; spent_micro_usd: number }>(
      `INSERT INTO alert_spend (tenant_id, scope, period, period_start, spent_micro_usd)
       SELECT $1, r.scope, r.period, r.start::timestamptz, $5 FROM unnest($2::text[], $3::text[], $4::text[]) AS r(scope, period, start)
       ON CONFLICT (tenant_id, scope, period, period_start)
       DO UPDATE SET spent_micro_usd = alert_spend.spent_micro_usd + EXCLUDED.spent_micro_usd
       RETURNING scope, period, spent_micro_usd`,
      [tenantId, rows.map((r) => r.scope), rows.map((r) => r.period), rows.map((r) => r.start), spend.costMicroUsd],
    )
    const totals = new Map(counted.rows.map((r) => [`${r.scope}|${r.period}`, Number(r.spent_micro_usd)]))

    const rules = await tx.query<{ id: string; rule: unknown }>(
      `SELECT id, rule FROM alert_rules WHERE tenant_id = $1 AND rule->>'scope' = ANY($2::text[]) ORDER BY id`,
      [tenantId, scopes],
    )
    if (rules.rows.length === 0) return
    const budgets = await tx.query<{ scope: string; period: string; limit_micro_usd: number }>(
      'SELECT scope, period, limit_micro_usd FROM budgets WHERE tenant_id = $1 AND scope = ANY($2::text[])',
      [tenantId, scopes],
    )
    const limits = new Map(budgets.rows.map((b) => [`${b.scope}|${b.period}`, Number(b.limit_micro_usd)]))

    for (const row of rules.rows) {
      const parsed = ruleSchema.safeParse(row.rule)
      // A rule the control plane stored in a shape this code does not know is skipped, not a stuck batch.
      if (!parsed.success) continue
      const rule = parsed.data
      const fired = evaluateRule(
        rule,
        (period) => ({ start: alertPeriodStart(at, period), micro: totals.get(`${rule.scope}|${period}`) ?? 0 }),
        limits.get(`${rule.scope}|${rule.period}`),
      )
      if (fired === null) continue
      const inserted = await tx.query(
        `INSERT INTO alert_firings (rule_id, period_start, tenant_id, fired_at, spent_micro_usd, threshold, event_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (rule_id, period_start) DO NOTHING RETURNING rule_id`,
        [row.id, fired.periodStart, tenantId, envelope.occurredAt, fired.spentMicroUsd, rule.threshold, envelope.id],
      )
      if (inserted.rows.length === 0) continue
      const webhookUrl = rule.webhookUrl ?? null
      // The alert.triggered event, in the outbox of the same transaction (./alert-events.ts relays it).
      const event = buildEvent(
        'alert.triggered',
        {
          ruleId: row.id,
          kind: rule.kind,
          scope: rule.scope,
          period: rule.period,
          threshold: rule.threshold,
          periodStart: fired.periodStart,
          spentMicroUsd: fired.spentMicroUsd,
          budgetMicroUsd: rule.kind === 'budget_percent' ? (limits.get(`${rule.scope}|${rule.period}`) ?? null) : null,
          webhook: webhookUrl !== null,
        },
        { tenantId, correlationId: envelope.correlationId, causationId: envelope.id, actor: { type: 'system', id: 'alerts' } },
      )
      await tx.query('INSERT INTO alert_events (event_id, tenant_id, envelope) VALUES ($1, $2, $3::jsonb)', [event.id, tenantId, JSON.stringify(event)])
      if (webhookUrl === null) continue
      // The webhook's payload id is the event's id: one alert, one idempotency key.
      const payload: AlertTriggeredPayload = {
        id: event.id,
        type: 'alert.triggered',
        tenantId,
        ruleId: row.id,
        rule,
        periodStart: fired.periodStart,
        spentMicroUsd: fired.spentMicroUsd,
        threshold: rule.threshold,
        firedAt: envelope.occurredAt,
      }
      await tx.query('INSERT INTO webhook_deliveries (id, tenant_id, rule_id, url, payload) VALUES ($1, $2, $3, $4, $5::jsonb)', [
        payload.id,
        tenantId,
        row.id,
        webhookUrl,
        JSON.stringify(payload),
      ])
    }
  },

  /**
   * A rebuild recounts the spend but keeps the firings and their deliveries: an alert that was sent is not
   * sent again because the counters were rebuilt.
   */
  async reset(tx: SqlExecutor): Promise<void> {
    await tx.query('DELETE FROM alert_spend')
  },
}
