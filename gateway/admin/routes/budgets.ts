import { z } from 'zod'
import type { BudgetPeriod } from '../../control/settings.ts'
import { defineRoute } from '../route.ts'
import { id, listOf, microUsd, period, tenantParams } from '../schemas.ts'

/** What a budget or an alert rule watches: the whole tenant, one project or one key. */
export const budgetScope = z.string().regex(/^(tenant|(project|key):[A-Za-z0-9_-]{1,64})$/, 'expected tenant, project:<projectId> or key:<keyId>')

const budget = z.strictObject({ scope: budgetScope, period, limitMicroUsd: microUsd })
const budgetParams = z.strictObject({ tenantId: id, scope: budgetScope })

export const budgetRoutes = [
  defineRoute({
    method: 'PUT',
    path: '/tenants/{tenantId}/budgets/{scope}',
    summary: 'Set the spend limit of a scope (tenant, project:<id> or key:<id>) for a day or a month',
    tag: 'budgets',
    access: 'budget.write',
    params: budgetParams,
    body: z.strictObject({ period, limitMicroUsd: microUsd }),
    status: 200,
    response: budget,
    handle: async ({ params, body, context }, { controlPlane }) => {
      await controlPlane.setBudget(params.tenantId, params.scope, body, context)
      return { scope: params.scope, ...body }
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}/budgets',
    summary: "List the tenant's budgets",
    tag: 'budgets',
    access: 'budget.read',
    params: tenantParams,
    status: 200,
    response: listOf(budget),
    handle: async ({ params }, { controlPlane }) => {
      const rows = await controlPlane.readAsTenant(params.tenantId, (tx) =>
        tx.query<{ scope: string; period: BudgetPeriod; limit_micro_usd: number }>(
          'SELECT scope, period, limit_micro_usd FROM budgets WHERE tenant_id = $1 ORDER BY scope, period',
          [params.tenantId],
        ),
      )
      return { data: rows.rows.map((r) => ({ scope: r.scope, period: r.period, limitMicroUsd: r.limit_micro_usd })) }
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: '/tenants/{tenantId}/budgets/{scope}',
    summary: 'Remove the budget of a scope for one period',
    tag: 'budgets',
    access: 'budget.write',
    params: budgetParams,
    query: z.strictObject({ period }),
    status: 204,
    handle: ({ params, query, context }, { controlPlane }) => controlPlane.removeBudget(params.tenantId, params.scope, query.period, context),
  }),
]
