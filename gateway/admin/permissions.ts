import type { Principal } from '../auth/api-keys.ts'
import { can, canGrant } from '../control/roles.ts'
import type { Action, Role } from '../control/roles.ts'
import { GatewayError } from '../errors.ts'

/**
 * The admin API's access rules over the permission matrix (gateway/control/roles.ts). The bootstrap admin
 * token (`platform`) acts on every tenant; a key acts only on its own. Another tenant's path answers 404,
 * exactly as a tenant that does not exist, so a key cannot probe which tenant ids are real.
 */
export function requirePermission(principal: Principal, tenantId: string, action: Action): void {
  if (principal.role !== 'platform' && principal.tenantId !== tenantId) throw noSuchTenant()
  if (!can(principal.role, action)) {
    throw new GatewayError('permission_denied', `A key with the ${principal.role} role may not do ${action}`)
  }
}

/** Calls only the bootstrap admin token may make: creating tenants, re-wrapping every tenant's credentials. */
export function requirePlatform(principal: Principal): void {
  if (principal.role !== 'platform') throw new GatewayError('permission_denied', 'Only the bootstrap admin token may do this')
}

/**
 * Handing out a role (a new key or member), or acting on a key or member that holds one: a caller may not
 * reach above its own role, e.g. an admin may neither mint an owner key nor rotate one (which would show
 * it the owner key's new secret).
 */
export function requireGrant(principal: Principal, role: Role, param: string | null = null): void {
  if (!canGrant(principal.role, role)) {
    throw new GatewayError('permission_denied', `A key with the ${principal.role} role may not grant or act on the ${role} role`, param)
  }
}

export function noSuchTenant(): GatewayError {
  return new GatewayError('not_found', 'No such tenant')
}
