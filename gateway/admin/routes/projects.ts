import { z } from 'zod'
import { defineRoute } from '../route.ts'
import { id, iso, listOf, name, tenantParams, timestamp } from '../schemas.ts'

const project = z.strictObject({ id: z.string(), name: z.string(), archived: z.boolean(), createdAt: timestamp })

export const projectRoutes = [
  defineRoute({
    method: 'POST',
    path: '/tenants/{tenantId}/projects',
    summary: 'Create a project',
    tag: 'projects',
    access: 'project.write',
    params: tenantParams,
    body: z.strictObject({ name }),
    status: 201,
    response: z.strictObject({ id: z.string(), name: z.string() }),
    handle: ({ params, body, context }, { controlPlane }) => controlPlane.createProject(params.tenantId, body.name, context),
  }),
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}/projects',
    summary: "List the tenant's projects, archived ones included",
    tag: 'projects',
    access: 'project.read',
    params: tenantParams,
    status: 200,
    response: listOf(project),
    handle: async ({ params }, { controlPlane }) => {
      const rows = await controlPlane.readAsTenant(params.tenantId, (tx) =>
        tx.query<{ id: string; name: string; archived: boolean; created_at: Date }>(
          'SELECT id, name, archived, created_at FROM projects WHERE tenant_id = $1 ORDER BY created_at, id',
          [params.tenantId],
        ),
      )
      return { data: rows.rows.map((r) => ({ id: r.id, name: r.name, archived: r.archived, createdAt: iso(r.created_at) })) }
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: '/tenants/{tenantId}/projects/{projectId}',
    summary: 'Archive a project (its history stays)',
    tag: 'projects',
    access: 'project.write',
    params: z.strictObject({ tenantId: id, projectId: id }),
    status: 204,
    handle: ({ params, context }, { controlPlane }) => controlPlane.archiveProject(params.tenantId, params.projectId, context),
  }),
]
