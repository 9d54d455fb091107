import { z } from 'zod'
import { ROLES } from '../../control/roles.ts'
import { defineRoute } from '../route.ts'

export const selfRoutes = [
  defineRoute({
    method: 'GET',
    path: '/me',
    summary: 'Who the presented key is: its tenant, role and project (the dashboard starts here). Never the secret.',
    tag: 'keys',
    access: 'self',
    status: 200,
    response: z.strictObject({
      keyId: z.string(),
      name: z.string(),
      tenantId: z.string().nullable().describe('null for the bootstrap admin token, which acts on every tenant'),
      role: z.enum([...ROLES, 'platform']),
      projectId: z.string().nullable(),
    }),
    handle: async ({ principal }, { controlPlane }) => {
      // The auth cache keeps what a call needs, not the key's name: that is read here, in the key's tenant.
      const named =
        principal.role === 'platform'
          ? undefined
          : await controlPlane.readAsTenant(principal.tenantId, async (tx) => (await tx.query<{ name: string }>('SELECT name FROM api_keys WHERE id = $1', [principal.keyId])).rows[0]?.name)
      return {
        keyId: principal.keyId,
        name: named ?? principal.name,
        tenantId: principal.role === 'platform' ? null : principal.tenantId,
        role: principal.role,
        projectId: principal.projectId ?? null,
      }
    },
  }),
]
