import { z } from 'zod'
import { buildEvent } from '../../events/catalogue/registry.ts'
import type { Envelope } from '../../events/envelope.ts'
import type { SqlExecutor } from '../../infra/postgres/sql-store.ts'
import { parseRequestSpend } from '../balances/spend-events.ts'
import { spendScopes } from '../budgets/budgets-projection.ts'
import { readEvents } from '../runner/projection-runner.ts'
import type { Projection, RejectEvent } from '../runner/projection-runner.ts'

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

interface Counter {
  tenantId: string
  scope: string
  period: AlertPeriod
  start: string
  /** The batch's spend on this counter. */
  micro: number
}

const counterKey = (tenantId: string, scope: string, period: AlertPeriod, start: string) => JSON.stringify([tenantId, scope, period, start])

/**
 * Records a firing; when it is the first for its rule and period, queues its alert.triggered event (in the
 * outbox that ./alert-events.ts relays) and its webhook, sharing one id.
 */
async function recordFiring(
  tx: SqlExecutor,
  cause: Envelope,
  ruleId: string,
  rule: AlertRule,
  fired: { periodStart: string; spentMicroUsd: number },
  budgetMicroUsd: number | undefined,
): Promise<void> {
  const tenantId = cause.tenantId
  const inserted = await tx.query(
    `INSERT INTO alert_firings (rule_id, period_start, tenant_id, fired_at, spent_micro_usd, threshold, event_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (rule_id, period_start) DO NOTHING RETURNING rule_id`,
    [ruleId, fired.periodStart, tenantId, cause.occurredAt, fired.spentMicroUsd, rule.threshold, cause.id],
  )
  if (inserted.rows.length === 0) return
  const webhookUrl = rule.webhookUrl ?? null
  const event = buildEvent(
    'alert.triggered',
    {
      ruleId,
      kind: rule.kind,
      scope: rule.scope,
      period: rule.period,
      threshold: rule.threshold,
      periodStart: fired.periodStart,
      spentMicroUsd: fired.spentMicroUsd,
      budgetMicroUsd: rule.kind === 'budget_percent' ? (budgetMicroUsd ?? null) : null,
      webhook: webhookUrl !== null,
    },
    { tenantId, correlationId: cause.correlationId, causationId: cause.id, actor: { type: 'system', id: 'alerts' } },
  )
  await tx.query('INSERT INTO alert_events (event_id, tenant_id, envelope) VALUES ($1, $2, $3::jsonb)', [event.id, tenantId, JSON.stringify(event)])
  if (webhookUrl === null) return
  // The webhook's payload id is the event's id: one alert, one idempotency key.
  const payload: AlertTriggeredPayload = {
    id: event.id,
    type: 'alert.triggered',
    tenantId,
    ruleId,
    rule,
    periodStart: fired.periodStart,
    spentMicroUsd: fired.spentMicroUsd,
    threshold: rule.threshold,
    firedAt: cause.occurredAt,
  }
  await tx.query('INSERT INTO webhook_deliveries (id, tenant_id, rule_id, url, payload) VALUES ($1, $2, $3, $4, $5::jsonb)', [
    payload.id,
    tenantId,
    ruleId,
    webhookUrl,
    JSON.stringify(payload),
  ])
}

/**
 * Spend alerts (DESIGN.md §5) from `request.completed`: counts the spend per scope and hour, day and month
 * itself, and checks the tenant's rules after each event, at the running total that event reached. A batch
 * adds its spend to the counters in one upsert; the row locks it takes order concurrent transactions, so the
 * total it reads back is the committed one plus its own, and the total before the batch is that minus the
 * batch's. A rule fires once per period: alert_firings' primary key (rule, period start) refuses a second
 * firing, even from a concurrent transaction, and only a firing actually inserted queues its event and
 * webhook, in the same transaction.
 */
export const alertsProjection: Projection = {
  handles: (type) => type === 'request.completed',

  async applyBatch(tx: SqlExecutor, envelopes: readonly Envelope[], reject: RejectEvent): Promise<void> {
    const events = readEvents(envelopes, parseRequestSpend, reject).filter((e) => e.value.costMicroUsd > 0)
    if (events.length === 0) return
    const counters = new Map<string, Counter>()
    for (const { envelope, value } of events) {
      const at = new Date(envelope.occurredAt)
      for (const scope of spendScopes(value.projectId, value.keyId)) {
        for (const period of PERIODS) {
          const start = alertPeriodStart(at, period)
          const key = counterKey(envelope.tenantId, scope, period, start)
          const counter = counters.get(key) ?? { tenantId: envelope.tenantId, scope, period, start, micro: 0 }
          counter.micro += value.costMicroUsd
          counters.set(key, counter)
        }
      }
    }
    const rows = [...counters.values()]
    const counted = await tx.query<{ tenant_id: string; scope: string; period: AlertPeriod; start: string; spent_micro_usd: number }>(
      `INSERT INTO alert_spend (tenant_id, scope, period, period_start, spent_micro_usd)
       SELECT r.tenant_id, r.scope, r.period, r.start::timestamptz, r.micro
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) AS r(tenant_id, scope, period, start, micro)
       ON CONFLICT (tenant_id, scope, period, period_start)
       DO UPDATE SET spent_micro_usd = alert_spend.spent_micro_usd + EXCLUDED.spent_micro_usd
       RETURNING tenant_id, scope, period, period_start AS start, spent_micro_usd`,
      [rows.map((r) => r.tenantId), rows.map((r) => r.scope), rows.map((r) => r.period), rows.map((r) => r.start), rows.map((r) => r.micro)],
    )
    // The running totals start where the counters stood before this batch.
    const running = new Map<string, number>()
    for (const row of counted.rows) {
      const start = new Date(row.start).toISOString()
      const key = counterKey(row.tenant_id, row.scope, row.period, start)
      running.set(key, Number(row.spent_micro_usd) - (counters.get(key)?.micro ?? 0))
    }

    const tenants = [...new Set(events.map((e) => e.envelope.tenantId))]
    const ruleRows = await tx.query<{ id: string; tenant_id: string; rule: unknown }>(
      'SELECT id, tenant_id, rule FROM alert_rules WHERE tenant_id = ANY($1::text[]) ORDER BY id',
      [tenants],
    )
    if (ruleRows.rows.length === 0) return
    const rules = new Map<string, { id: string; rule: AlertRule }[]>()
    for (const row of ruleRows.rows) {
      const parsed = ruleSchema.safeParse(row.rule)
      // A rule the control plane stored in a shape this code does not know is skipped, not a stuck batch.
      if (!parsed.success) continue
      const key = `${row.tenant_id}|${parsed.data.scope}`
      rules.set(key, [...(rules.get(key) ?? []), { id: row.id, rule: parsed.data }])
    }
    const budgets = await tx.query<{ tenant_id: string; scope: string; period: string; limit_micro_usd: number }>(
      'SELECT tenant_id, scope, period, limit_micro_usd FROM budgets WHERE tenant_id = ANY($1::text[])',
      [[...new Set(ruleRows.rows.map((r) => r.tenant_id))]],
    )
    const limits = new Map(budgets.rows.map((b) => [`${b.tenant_id}|${b.scope}|${b.period}`, Number(b.limit_micro_usd)]))

    const tried = new Set<string>()
    for (const { envelope, value } of events) {
      const at = new Date(envelope.occurredAt)
      const tenantId = envelope.tenantId
      const scopes = spendScopes(value.projectId, value.keyId)
      for (const scope of scopes) {
        for (const period of PERIODS) {
          const key = counterKey(tenantId, scope, period, alertPeriodStart(at, period))
          running.set(key, (running.get(key) ?? 0) + value.costMicroUsd)
        }
      }
      for (const scope of scopes) {
        for (const { id, rule } of rules.get(`${tenantId}|${scope}`) ?? []) {
          const budget = limits.get(`${tenantId}|${rule.scope}|${rule.period}`)
          const fired = evaluateRule(
            rule,
            (period) => {
              const start = alertPeriodStart(at, period)
              return { start, micro: running.get(counterKey(tenantId, rule.scope, period, start)) ?? 0 }
            },
            budget,
          )
          if (fired === null || tried.has(`${id}|${fired.periodStart}`)) continue
          tried.add(`${id}|${fired.periodStart}`)
          await recordFiring(tx, envelope, id, rule, fired, budget)
        }
      }
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
