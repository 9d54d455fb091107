import { z } from 'zod'
import { DEFAULT_CACHE_SETTINGS } from '../../control/settings.ts'
import type { CacheSettings } from '../../control/settings.ts'
import { defineRoute } from '../route.ts'
import { tenantParams } from '../schemas.ts'

const threshold = z.number().min(0).max(1)
const settings = z.strictObject({
  mode: z.enum(['off', 'exact', 'semantic']),
  ttlSeconds: z.number().int().min(1).max(365 * 86_400),
  maxEntries: z.number().int().min(1).max(10_000_000),
  similarityThreshold: threshold,
  modelThresholds: z
    .record(z.string().max(200).regex(/^[a-z0-9-]+\/\S+$/, "a model named 'provider/model'"), threshold)
    .refine((thresholds) => Object.keys(thresholds).length <= 100, 'at most 100 models'),
  perProject: z.boolean(),
  semanticWithTools: z.boolean(),
  semanticMaxTemperature: z.number().min(0).max(2),
  embeddingModel: z.union([z.literal('local'), z.string().max(200).regex(/^[a-z0-9-]+\/\S+$/, "'local' or an embedding model named 'provider/model'")]),
})

export const cacheSettingsRoutes = [
  defineRoute({
    method: 'PUT',
    path: '/tenants/{tenantId}/cache-settings',
    summary: "Set the tenant's response cache: off, exact or semantic, TTL, size, similarity threshold and what may be reused",
    tag: 'cache',
    access: 'tenant.update',
    params: tenantParams,
    body: settings.partial(),
    status: 200,
    response: settings,
    handle: async ({ params, body, context }, { controlPlane }) => {
      const current = await controlPlane.readAsTenant(params.tenantId, (tx) =>
        tx.query<{ settings: CacheSettings }>('SELECT settings FROM cache_settings WHERE tenant_id = $1', [params.tenantId]),
      )
      // Fields not sent keep their value: a PUT of { mode } does not reset the threshold.
      const merged: CacheSettings = { ...DEFAULT_CACHE_SETTINGS, ...current.rows[0]?.settings, ...(body as Partial<CacheSettings>) }
      await controlPlane.setCacheSettings(params.tenantId, merged, context)
      return merged
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}/cache-settings',
    summary: "The tenant's response cache settings (the defaults until set: off)",
    tag: 'cache',
    access: 'tenant.read',
    params: tenantParams,
    status: 200,
    response: settings,
    handle: async ({ params }, { controlPlane }) => {
      const rows = await controlPlane.readAsTenant(params.tenantId, (tx) =>
        tx.query<{ settings: CacheSettings }>('SELECT settings FROM cache_settings WHERE tenant_id = $1', [params.tenantId]),
      )
      return { ...DEFAULT_CACHE_SETTINGS, ...rows.rows[0]?.settings }
    },
  }),
]
