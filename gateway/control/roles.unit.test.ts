import { describe, expect, it } from 'vitest'
import { ACTIONS, ROLES, can, canGrant } from './roles.ts'
import type { Action, Role } from './roles.ts'

/** The specification, written out independently of the matrix in roles.ts: each role's allowed actions. */
const ALLOWED: Record<Role, readonly Action[]> = {
  owner: ACTIONS.filter((a) => a !== 'tenant.create'),
  admin: ACTIONS.filter((a) => !['tenant.create', 'credits.write', 'price.write'].includes(a)),
  developer: ['tenant.read', 'project.read', 'key.write', 'key.read', 'credential.read', 'budget.read', 'limits.read', 'alert.read', 'price.read', 'chat.use'],
  billing: ['tenant.read', 'project.read', 'budget.write', 'budget.read', 'limits.read', 'credits.write', 'balance.read', 'alert.write', 'alert.read', 'price.write', 'price.read', 'reports.read'],
  viewer: ['tenant.read', 'project.read', 'member.read', 'key.read', 'credential.read', 'budget.read', 'limits.read', 'balance.read', 'alert.read', 'price.read'],
}

describe('the permission matrix', () => {
  for (const role of ROLES) {
    for (const action of ACTIONS) {
      const expected = ALLOWED[role].includes(action)
      it(`${role} ${expected ? 'may' : 'may not'} ${action}`, () => expect(can(role, action)).toBe(expected))
    }
  }

  it('lets the bootstrap admin do everything, creating tenants included', () => {
    for (const action of ACTIONS) expect(can('platform', action)).toBe(true)
  })

  it('never lets a key hand out a role above its own', () => {
    expect(ROLES.filter((r) => canGrant('admin', r))).toEqual(['admin', 'developer', 'billing', 'viewer'])
    expect(ROLES.filter((r) => canGrant('developer', r))).toEqual(['developer', 'viewer'])
    expect(ROLES.filter((r) => canGrant('billing', r))).toEqual([])
    expect(ROLES.filter((r) => canGrant('viewer', r))).toEqual([])
    expect(ROLES.filter((r) => canGrant('owner', r))).toEqual([...ROLES])
  })
})
