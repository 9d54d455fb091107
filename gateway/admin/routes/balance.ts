import { z } from 'zod'
import { readBalance } from '../../../projections/balances/balances-projection.ts'
import { readBudgetStatus } from '../../../projections/budgets/budgets-projection.ts'
import { defineRoute } from '../route.ts'
import { listOf, tenantParams } from '../schemas.ts'

/** Whole micro-USD that may be negative: an overspent balance or budget. */
const signedMicroUsd = z.number().int()

export const balanceRoutes = [
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}/balance',
    summary: 'Credits granted minus spend, from the usage and credit events (integers in micro-USD)',
    tag: 'balance',
    access: 'balance.read',
    params: tenantParams,
    status: 200,
    response: z.strictObject({
      balanceMicroUsd: signedMicroUsd,
      creditedMicroUsd: signedMicroUsd,
      spentMicroUsd: signedMicroUsd,
      projects: z.array(z.strictObject({ projectId: z.string(), spentMicroUsd: signedMicroUsd })),
    }),
    handle: ({ params }, { controlPlane }) => controlPlane.readAsTenant(params.tenantId, (tx) => readBalance(tx, params.tenantId)),
  }),
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}/budgets/status',
    summary: "Each budget with the current period's spend and what remains",
    tag: 'balance',
    access: 'budget.read',
    params: tenantParams,
    status: 200,
    response: listOf(
      z.strictObject({ scope: z.string(), period: z.enum(['day', 'month']), limitMicroUsd: signedMicroUsd, spentMicroUsd: signedMicroUsd, remainingMicroUsd: signedMicroUsd }),
    ),
    handle: async ({ params }, { controlPlane }) => ({
      data: await controlPlane.readAsTenant(params.tenantId, (tx) => readBudgetStatus(tx, params.tenantId, new Date())),
    }),
  }),
]
