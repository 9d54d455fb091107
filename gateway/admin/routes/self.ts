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
    handle: ({ principal }) =>
      Promise.resolve({
        keyId: principal.keyId,
        name: principal.name,
        tenantId: principal.role === 'platform' ? null : principal.tenantId,
        role: principal.role,
        projectId: principal.projectId ?? null,
      }),
  }),
]
