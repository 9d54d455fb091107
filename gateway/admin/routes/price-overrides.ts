import { z } from 'zod'
import type { PriceOverride } from '../../control/settings.ts'
import { defineRoute } from '../route.ts'
import { id, listOf, microUsd, tenantParams } from '../schemas.ts'

/** A model id as routing knows it, `provider/model` included: sent URL-encoded or as it is. */
const model = z.string().min(1).max(200)
const modelParams = z.strictObject({ tenantId: id, model })

const priceBody = z.strictObject({
  inputMicroUsdPerMillion: microUsd.nullable().optional().describe('Per million input tokens; null or omitted: the price table’s'),
  outputMicroUsdPerMillion: microUsd.nullable().optional(),
  cachedInputMicroUsdPerMillion: microUsd.nullable().optional(),
  markupBasisPoints: z.number().int().min(0).max(100_000).optional().describe('Added on top of the price: 100 = 1%'),
})
const price = z.strictObject({
  model: z.string(),
  inputMicroUsdPerMillion: microUsd.nullable(),
  outputMicroUsdPerMillion: microUsd.nullable(),
  cachedInputMicroUsdPerMillion: microUsd.nullable(),
  markupBasisPoints: z.number().int(),
})

export const priceOverrideRoutes = [
  defineRoute({
    method: 'PUT',
    path: '/tenants/{tenantId}/price-overrides/{model}',
    greedyParam: 'model',
    summary: "Override a model's price for this tenant, and/or add a markup",
    tag: 'price-overrides',
    access: 'price.write',
    params: modelParams,
    body: priceBody,
    status: 200,
    response: price,
    handle: async ({ params, body, context }, { controlPlane }) => {
      const override: PriceOverride = {
        inputMicroUsdPerMillion: body.inputMicroUsdPerMillion ?? null,
        outputMicroUsdPerMillion: body.outputMicroUsdPerMillion ?? null,
        cachedInputMicroUsdPerMillion: body.cachedInputMicroUsdPerMillion ?? null,
        markupBasisPoints: body.markupBasisPoints ?? 0,
      }
      await controlPlane.setPriceOverride(params.tenantId, params.model, override, context)
      return { model: params.model, ...override }
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}/price-overrides',
    summary: "List the tenant's price overrides",
    tag: 'price-overrides',
    access: 'price.read',
    params: tenantParams,
    status: 200,
    response: listOf(price),
    handle: async ({ params }, { controlPlane }) => {
      const rows = await controlPlane.readAsTenant(params.tenantId, (tx) =>
        tx.query<{ model: string; price: PriceOverride }>('SELECT model, price FROM price_overrides WHERE tenant_id = $1 ORDER BY model', [params.tenantId]),
      )
      return { data: rows.rows.map((r) => ({ model: r.model, ...r.price })) }
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: '/tenants/{tenantId}/price-overrides/{model}',
    greedyParam: 'model',
    summary: 'Remove a price override',
    tag: 'price-overrides',
    access: 'price.write',
    params: modelParams,
    status: 204,
    handle: ({ params, context }, { controlPlane }) => controlPlane.removePriceOverride(params.tenantId, params.model, context),
  }),
]
