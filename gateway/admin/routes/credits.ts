import { z } from 'zod'
import { defineRoute } from '../route.ts'
import { iso, listOf, microUsd, positiveMicroUsd, tenantParams, timestamp } from '../schemas.ts'

const grant = z.strictObject({ id: z.string(), amountMicroUsd: microUsd, reason: z.string().nullable(), grantedAt: timestamp })

export const creditRoutes = [
  defineRoute({
    method: 'POST',
    path: '/tenants/{tenantId}/credits',
    summary: 'Grant credits, in whole micro-USD',
    tag: 'credits',
    access: 'credits.write',
    params: tenantParams,
    body: z.strictObject({ amountMicroUsd: positiveMicroUsd, reason: z.string().trim().min(1).max(500).optional() }),
    status: 201,
    response: z.strictObject({ id: z.string(), amountMicroUsd: positiveMicroUsd }),
    handle: ({ params, body, context }, { controlPlane }) =>
      controlPlane.grantCredits(params.tenantId, { amountMicroUsd: body.amountMicroUsd, reason: body.reason ?? null }, context),
  }),
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}/credits',
    summary: 'List credit grants, newest first, with their total',
    tag: 'credits',
    access: 'balance.read',
    params: tenantParams,
    status: 200,
    response: listOf(grant).extend({ totalMicroUsd: microUsd }),
    handle: async ({ params }, { controlPlane }) => {
      const rows = await controlPlane.readAsTenant(params.tenantId, (tx) =>
        tx.query<{ id: string; amount_micro_usd: number; reason: string | null; granted_at: Date }>(
          'SELECT id, amount_micro_usd, reason, granted_at FROM credit_grants WHERE tenant_id = $1 ORDER BY granted_at DESC, id',
          [params.tenantId],
        ),
      )
      const data = rows.rows.map((r) => ({ id: r.id, amountMicroUsd: r.amount_micro_usd, reason: r.reason, grantedAt: iso(r.granted_at) }))
      return { data, totalMicroUsd: data.reduce((sum, g) => sum + g.amountMicroUsd, 0) }
    },
  }),
]
