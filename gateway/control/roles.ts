/**
 * Roles and what each may do: the one permission matrix of the control plane (DESIGN.md §7), tested
 * cell by cell. `platform` is the bootstrap admin token: it may do everything, in every tenant.
 */
export const ROLES = ['owner', 'admin', 'developer', 'billing', 'viewer'] as const
export type Role = (typeof ROLES)[number]

export const ACTIONS = [
  'tenant.create',
  'tenant.read',
  'tenant.update',
  'project.write',
  'project.read',
  'member.write',
  'member.read',
  'key.write',
  'key.read',
  'credential.write',
  'credential.read',
  'budget.write',
  'budget.read',
  'limits.write',
  'limits.read',
  'credits.write',
  'balance.read',
  'alert.write',
  'alert.read',
  'price.write',
  'price.read',
  'audit.read',
  'reports.read',
  'chat.use',
] as const
export type Action = (typeof ACTIONS)[number]

const Y = true
const N = false

/** Rows: actions; columns: owner, admin, developer, billing, viewer. */
const MATRIX: Record<Action, readonly [boolean, boolean, boolean, boolean, boolean]> = {
  'tenant.create': [N, N, N, N, N],
  'tenant.read': [Y, Y, Y, Y, Y],
  'tenant.update': [Y, Y, N, N, N],
  'project.write': [Y, Y, N, N, N],
  'project.read': [Y, Y, Y, Y, Y],
  'member.write': [Y, Y, N, N, N],
  'member.read': [Y, Y, N, N, Y],
  'key.write': [Y, Y, Y, N, N],
  'key.read': [Y, Y, Y, N, Y],
  'credential.write': [Y, Y, N, N, N],
  'credential.read': [Y, Y, Y, N, Y],
  'budget.write': [Y, Y, N, Y, N],
  'budget.read': [Y, Y, Y, Y, Y],
  'limits.write': [Y, Y, N, N, N],
  'limits.read': [Y, Y, Y, Y, Y],
  'credits.write': [Y, N, N, Y, N],
  'balance.read': [Y, Y, N, Y, Y],
  'alert.write': [Y, Y, N, Y, N],
  'alert.read': [Y, Y, Y, Y, Y],
  'price.write': [Y, N, N, Y, N],
  'price.read': [Y, Y, Y, Y, Y],
  'audit.read': [Y, Y, N, N, N],
  'reports.read': [Y, Y, N, Y, N],
  'chat.use': [Y, Y, Y, N, N],
}

export function can(role: Role | 'platform', action: Action): boolean {
  if (role === 'platform') return true
  return MATRIX[action][ROLES.indexOf(role)]!
}

/** A key may only hand out roles up to its own: an admin cannot mint an owner key. */
export function canGrant(granter: Role | 'platform', role: Role): boolean {
  if (granter === 'platform' || granter === 'owner') return true
  if (granter === 'admin') return role !== 'owner'
  if (granter === 'developer') return role === 'developer' || role === 'viewer'
  return false
}

export function matrixRows(): { action: Action; allowed: Record<Role, boolean> }[] {
  return ACTIONS.map((action) => ({ action, allowed: Object.fromEntries(ROLES.map((r, i) => [r, MATRIX[action][i]!])) as Record<Role, boolean> }))
}
