import { z } from 'zod'
import type { ControlPlane } from '../../control/control-plane.ts'
import type { Role } from '../../control/roles.ts'
import { GatewayError } from '../../errors.ts'
import { requireGrant } from '../permissions.ts'
import { defineRoute } from '../route.ts'
import { id, listOf, role, tenantParams } from '../schemas.ts'

const member = z.strictObject({ id: z.string(), email: z.string(), role })
const memberParams = z.strictObject({ tenantId: id, memberId: id })

async function findMember(controlPlane: ControlPlane, tenantId: string, memberId: string): Promise<{ id: string; email: string; role: Role }> {
  const rows = await controlPlane.readAsTenant(tenantId, (tx) =>
    tx.query<{ id: string; email: string; role: Role }>('SELECT id, email, role FROM members WHERE tenant_id = $1 AND id = $2', [tenantId, memberId]),
  )
  const row = rows.rows[0]
  if (row === undefined) throw new GatewayError('not_found', 'No such member')
  return row
}

export const memberRoutes = [
  defineRoute({
    method: 'POST',
    path: '/tenants/{tenantId}/members',
    summary: 'Add a member with a role (no higher than the caller may grant)',
    tag: 'members',
    access: 'member.write',
    params: tenantParams,
    body: z.strictObject({ email: z.email().max(320), role }),
    status: 201,
    response: member,
    handle: ({ params, body, principal, context }, { controlPlane }) => {
      requireGrant(principal, body.role, 'role')
      return controlPlane.addMember(params.tenantId, body, context)
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}/members',
    summary: "List the tenant's members",
    tag: 'members',
    access: 'member.read',
    params: tenantParams,
    status: 200,
    response: listOf(member),
    handle: async ({ params }, { controlPlane }) => {
      const rows = await controlPlane.readAsTenant(params.tenantId, (tx) =>
        tx.query<{ id: string; email: string; role: Role }>('SELECT id, email, role FROM members WHERE tenant_id = $1 ORDER BY email, id', [params.tenantId]),
      )
      return { data: rows.rows }
    },
  }),
  defineRoute({
    method: 'PATCH',
    path: '/tenants/{tenantId}/members/{memberId}',
    summary: "Change a member's role (the caller must be able to grant both the old and the new role)",
    tag: 'members',
    access: 'member.write',
    params: memberParams,
    body: z.strictObject({ role }),
    status: 200,
    response: member,
    handle: async ({ params, body, principal, context }, { controlPlane }) => {
      const current = await findMember(controlPlane, params.tenantId, params.memberId)
      requireGrant(principal, current.role)
      requireGrant(principal, body.role, 'role')
      await controlPlane.changeMemberRole(params.tenantId, params.memberId, body.role, context)
      return { ...current, role: body.role }
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: '/tenants/{tenantId}/members/{memberId}',
    summary: 'Remove a member (the caller must be able to grant their role)',
    tag: 'members',
    access: 'member.write',
    params: memberParams,
    status: 204,
    handle: async ({ params, principal, context }, { controlPlane }) => {
      const current = await findMember(controlPlane, params.tenantId, params.memberId)
      requireGrant(principal, current.role)
      await controlPlane.removeMember(params.tenantId, params.memberId, context)
    },
  }),
]
