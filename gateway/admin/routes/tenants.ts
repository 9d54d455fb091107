import { z } from 'zod'
import { KEY_MODES } from '../../control/tenancy.ts'
import { GatewayError } from '../../errors.ts'
import { defineRoute } from '../route.ts'
import type { AdminServices } from '../route.ts'
import { iso, name, tenantParams, timestamp } from '../schemas.ts'

const keyMode = z.enum(KEY_MODES)
const tenant = z.strictObject({ id: z.string(), name: z.string(), keyMode, createdAt: timestamp })

const createTenantBody = z.strictObject({ name, keyMode: keyMode.optional() })
const updateTenantBody = z
  .strictObject({ name: name.optional(), keyMode: keyMode.optional() })
  .refine((body) => body.name !== undefined || body.keyMode !== undefined, { message: 'give name, keyMode or both', path: ['name'] })

async function readTenant(services: AdminServices, tenantId: string): Promise<z.infer<typeof tenant>> {
  const rows = await services.controlPlane.readAsTenant(tenantId, (tx) =>
    tx.query<{ id: string; name: string; key_mode: z.infer<typeof keyMode>; created_at: Date }>('SELECT id, name, key_mode, created_at FROM tenants WHERE id = $1', [tenantId]),
  )
  const row = rows.rows[0]
  if (row === undefined) throw new GatewayError('not_found', 'No such tenant')
  return { id: row.id, name: row.name, keyMode: row.key_mode, createdAt: iso(row.created_at) }
}

export const tenantRoutes = [
  defineRoute({
    method: 'POST',
    path: '/tenants',
    summary: 'Create a tenant (bootstrap admin token only)',
    tag: 'tenants',
    access: 'platform',
    body: createTenantBody,
    status: 201,
    response: z.strictObject({ id: z.string(), name: z.string(), keyMode }),
    handle: ({ body, context }, { controlPlane }) => controlPlane.createTenant(body, context),
  }),
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}',
    summary: 'Read a tenant',
    tag: 'tenants',
    access: 'tenant.read',
    params: tenantParams,
    status: 200,
    response: tenant,
    handle: ({ params }, services) => readTenant(services, params.tenantId),
  }),
  defineRoute({
    method: 'PATCH',
    path: '/tenants/{tenantId}',
    summary: "Rename a tenant or change how its calls get provider credentials (keyMode)",
    tag: 'tenants',
    access: 'tenant.update',
    params: tenantParams,
    body: updateTenantBody,
    status: 200,
    response: tenant,
    handle: async ({ params, body, context }, services) => {
      await services.controlPlane.updateTenant(params.tenantId, body, context)
      return readTenant(services, params.tenantId)
    },
  }),
]
