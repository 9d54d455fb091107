import { z } from 'zod'
import { PROVIDERS } from '../../../infra/config/config.ts'
import { defineRoute } from '../route.ts'
import { httpUrl, id, iso, listOf, tenantParams, timestamp } from '../schemas.ts'

const provider = z.enum(PROVIDERS)
const credentialParams = z.strictObject({ tenantId: id, provider })
/** A credential as the API shows it: masked; the sealed key never leaves the server. */
const maskedCredential = z.strictObject({ provider, masked: z.string(), baseUrl: z.string().nullable() })

export const credentialRoutes = [
  defineRoute({
    method: 'PUT',
    path: '/tenants/{tenantId}/credentials/{provider}',
    summary: "Set the tenant's own key for a provider (BYOK); it is encrypted at rest and only shown masked",
    tag: 'credentials',
    access: 'credential.write',
    params: credentialParams,
    body: z.strictObject({ apiKey: z.string().trim().min(1).max(4096), baseUrl: httpUrl.optional() }),
    status: 200,
    response: maskedCredential,
    handle: async ({ params, body, context }, { controlPlane }) => {
      const set = await controlPlane.setCredential(params.tenantId, params.provider, { apiKey: body.apiKey, baseUrl: body.baseUrl ?? null }, context)
      return { provider: params.provider, masked: set.masked, baseUrl: set.baseUrl }
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}/credentials',
    summary: "List the tenant's provider credentials, masked",
    tag: 'credentials',
    access: 'credential.read',
    params: tenantParams,
    status: 200,
    response: listOf(maskedCredential.extend({ updatedAt: timestamp })),
    handle: async ({ params }, { controlPlane }) => {
      const rows = await controlPlane.readAsTenant(params.tenantId, (tx) =>
        tx.query<{ provider: z.infer<typeof provider>; masked: string; base_url: string | null; updated_at: Date }>(
          'SELECT provider, masked, base_url, updated_at FROM provider_credentials WHERE tenant_id = $1 ORDER BY provider',
          [params.tenantId],
        ),
      )
      return { data: rows.rows.map((r) => ({ provider: r.provider, masked: r.masked, baseUrl: r.base_url, updatedAt: iso(r.updated_at) })) }
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: '/tenants/{tenantId}/credentials/{provider}',
    summary: "Delete the tenant's credential for a provider",
    tag: 'credentials',
    access: 'credential.write',
    params: credentialParams,
    status: 204,
    handle: ({ params, context }, { controlPlane }) => controlPlane.deleteCredential(params.tenantId, params.provider, context),
  }),
  defineRoute({
    method: 'POST',
    path: '/credentials/rewrap',
    summary: "After a master-key rotation: re-wrap every tenant's credentials under the newest master key (bootstrap admin token only)",
    tag: 'credentials',
    access: 'platform',
    status: 200,
    response: z.strictObject({ rewrapped: z.number().int() }),
    handle: ({ context }, { controlPlane }) => controlPlane.rewrapAllCredentials(context),
  }),
]
