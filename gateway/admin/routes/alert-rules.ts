import { z } from 'zod'
import type { AlertRuleDefinition } from '../../control/settings.ts'
import { defineRoute } from '../route.ts'
import { httpUrl, id, iso, listOf, period, tenantParams, timestamp } from '../schemas.ts'
import { budgetScope } from './budgets.ts'

const ruleBody = z.strictObject({
  kind: z.enum(['budget_percent', 'absolute_spend', 'spend_rate']),
  scope: budgetScope,
  /** budget_percent: whole percent of the budget; absolute_spend: micro-USD; spend_rate: micro-USD per hour. */
  threshold: z.number().int().min(1).describe('budget_percent: whole percent (at most 1000); absolute_spend: micro-USD; spend_rate: micro-USD per hour'),
  period,
  webhookUrl: httpUrl.optional().describe('Receives a signed (HMAC-SHA256) POST when the rule fires'),
})
const rule = ruleBody.extend({ id: z.string(), webhookUrl: z.string().nullable(), createdAt: timestamp })

export const alertRuleRoutes = [
  defineRoute({
    method: 'POST',
    path: '/tenants/{tenantId}/alert-rules',
    summary: 'Create an alert rule; it fires once per period per threshold',
    tag: 'alert-rules',
    access: 'alert.write',
    params: tenantParams,
    body: ruleBody,
    status: 201,
    response: z.strictObject({ id: z.string() }),
    handle: ({ params, body, context }, { controlPlane }) =>
      controlPlane.createAlertRule(params.tenantId, { ...body, webhookUrl: body.webhookUrl ?? null }, context),
  }),
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}/alert-rules',
    summary: "List the tenant's alert rules",
    tag: 'alert-rules',
    access: 'alert.read',
    params: tenantParams,
    status: 200,
    response: listOf(rule),
    handle: async ({ params }, { controlPlane }) => {
      const rows = await controlPlane.readAsTenant(params.tenantId, (tx) =>
        tx.query<{ id: string; rule: AlertRuleDefinition; created_at: Date }>('SELECT id, rule, created_at FROM alert_rules WHERE tenant_id = $1 ORDER BY created_at, id', [
          params.tenantId,
        ]),
      )
      return { data: rows.rows.map((r) => ({ id: r.id, ...r.rule, createdAt: iso(r.created_at) })) }
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: '/tenants/{tenantId}/alert-rules/{ruleId}',
    summary: 'Delete an alert rule',
    tag: 'alert-rules',
    access: 'alert.write',
    params: z.strictObject({ tenantId: id, ruleId: id }),
    status: 204,
    handle: ({ params, context }, { controlPlane }) => controlPlane.deleteAlertRule(params.tenantId, params.ruleId, context),
  }),
]
