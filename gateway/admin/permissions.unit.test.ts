import { describe, expect, it } from 'vitest'
import type { Principal } from '../auth/api-keys.ts'
import { ROLES } from '../control/roles.ts'
import type { Role } from '../control/roles.ts'
import { GatewayError } from '../errors.ts'
import { requireGrant, requirePermission, requirePlatform } from './permissions.ts'

const platform: Principal = { keyId: 'admin', name: 'bootstrap admin', tenantId: 'default', role: 'platform' }
const keyOf = (role: Role, tenantId = 'ten_a'): Principal => ({ keyId: `key_${role}`, name: role, tenantId, role })

function codeOf(run: () => void): string | null {
  try {
    run()
    return null
  } catch (error) {
    if (error instanceof GatewayError) return error.code
    throw error
  }
}

describe('requirePermission', () => {
  it('lets the bootstrap admin token act on any tenant', () => {
    expect(codeOf(() => requirePermission(platform, 'ten_anything', 'credits.write'))).toBeNull()
    expect(codeOf(() => requirePermission(platform, 'ten_other', 'tenant.create'))).toBeNull()
  })

  it("answers not_found, never permission_denied, for another tenant's id, whatever the role may do", () => {
    for (const role of ROLES) {
      expect(codeOf(() => requirePermission(keyOf(role), 'ten_b', 'tenant.read'))).toBe('not_found')
      expect(codeOf(() => requirePermission(keyOf(role), 'ten_b', 'credits.write'))).toBe('not_found')
    }
  })

  it('follows the matrix in the key’s own tenant', () => {
    expect(codeOf(() => requirePermission(keyOf('viewer'), 'ten_a', 'key.read'))).toBeNull()
    expect(codeOf(() => requirePermission(keyOf('viewer'), 'ten_a', 'key.write'))).toBe('permission_denied')
    expect(codeOf(() => requirePermission(keyOf('admin'), 'ten_a', 'credits.write'))).toBe('permission_denied')
    expect(codeOf(() => requirePermission(keyOf('billing'), 'ten_a', 'credits.write'))).toBeNull()
    expect(codeOf(() => requirePermission(keyOf('owner'), 'ten_a', 'tenant.create'))).toBe('permission_denied')
  })
})

describe('requirePlatform', () => {
  it('admits only the bootstrap admin token', () => {
    expect(codeOf(() => requirePlatform(platform))).toBeNull()
    for (const role of ROLES) expect(codeOf(() => requirePlatform(keyOf(role)))).toBe('permission_denied')
  })
})

describe('requireGrant', () => {
  const cases: [Role | 'platform', Role, boolean][] = [
    ['platform', 'owner', true],
    ['owner', 'owner', true],
    ['admin', 'owner', false],
    ['admin', 'admin', true],
    ['admin', 'billing', true],
    ['developer', 'admin', false],
    ['developer', 'billing', false],
    ['developer', 'developer', true],
    ['developer', 'viewer', true],
    ['billing', 'viewer', false],
    ['viewer', 'viewer', false],
  ]
  it.each(cases)('%s granting %s: %s', (granter, role, allowed) => {
    const principal = granter === 'platform' ? platform : keyOf(granter)
    expect(codeOf(() => requireGrant(principal, role, 'role'))).toBe(allowed ? null : 'permission_denied')
  })

  it('names the field that asked for the role', () => {
    expect(() => requireGrant(keyOf('admin'), 'owner', 'role')).toThrow(expect.objectContaining({ param: 'role' }) as Error)
  })
})
