import { z } from 'zod'
import type { ControlPlane } from '../../control/control-plane.ts'
import type { Role } from '../../control/roles.ts'
import { GatewayError } from '../../errors.ts'
import { requireGrant } from '../permissions.ts'
import { defineRoute } from '../route.ts'
import { id, iso, isoOrNull, listOf, name, role, tenantParams, timestamp } from '../schemas.ts'

const modelPattern = z.string().min(1).max(200)
const limits = z.strictObject({
  requestsPerMinute: z.number().int().min(1).optional(),
  tokensPerMinute: z.number().int().min(1).optional(),
  concurrentRequests: z.number().int().min(1).optional(),
})

const issueKeyBody = z.strictObject({
  name,
  role,
  projectId: id.optional(),
  /** Patterns as in model routing: `provider/model`, `provider/*`, `*` or an alias; omitted: every model. */
  allowedModels: z.array(modelPattern).min(1).max(100).optional(),
  fallbackModels: z.array(modelPattern).max(5).optional(),
  limits: limits.optional(),
  expiresAt: timestamp.optional(),
})

const keyParams = z.strictObject({ tenantId: id, keyId: id })
const MAX_GRACE_SECONDS = 30 * 86_400

/** What a key list shows: its scope and state, never its secret nor the secret's hash. */
const keySummary = z.strictObject({
  id: z.string(),
  name: z.string(),
  role,
  projectId: z.string().nullable(),
  allowedModels: z.array(z.string()).nullable(),
  fallbackModels: z.array(z.string()).nullable(),
  limits: limits.nullable(),
  expiresAt: timestamp.nullable(),
  createdAt: timestamp,
  revokedAt: timestamp.nullable(),
  previousKeyValidUntil: timestamp.nullable(),
  status: z.enum(['active', 'revoked', 'expired']),
})

interface KeyRow {
  id: string
  name: string
  role: Role
  project_id: string | null
  allowed_models: string[] | null
  fallback_models: string[] | null
  limits: z.infer<typeof limits> | null
  expires_at: Date | null
  created_at: Date
  revoked_at: Date | null
  previous_valid_until: Date | null
}

function summary(row: KeyRow, now: number): z.infer<typeof keySummary> {
  const expired = row.expires_at !== null && new Date(row.expires_at).getTime() <= now
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    projectId: row.project_id,
    allowedModels: row.allowed_models,
    fallbackModels: row.fallback_models,
    limits: row.limits,
    expiresAt: isoOrNull(row.expires_at),
    createdAt: iso(row.created_at),
    revokedAt: isoOrNull(row.revoked_at),
    previousKeyValidUntil: isoOrNull(row.previous_valid_until),
    status: row.revoked_at !== null ? 'revoked' : expired ? 'expired' : 'active',
  }
}

async function keyRole(controlPlane: ControlPlane, tenantId: string, keyId: string): Promise<Role> {
  const rows = await controlPlane.readAsTenant(tenantId, (tx) => tx.query<{ role: Role }>('SELECT role FROM api_keys WHERE tenant_id = $1 AND id = $2', [tenantId, keyId]))
  const row = rows.rows[0]
  if (row === undefined) throw new GatewayError('not_found', 'No such key')
  return row.role
}

export const keyRoutes = [
  defineRoute({
    method: 'POST',
    path: '/tenants/{tenantId}/keys',
    summary: 'Issue an API key; the answer holds its secret, shown this once and never again',
    tag: 'keys',
    access: 'key.write',
    params: tenantParams,
    body: issueKeyBody,
    status: 201,
    response: z.strictObject({ id: z.string(), key: z.string().describe('The secret: store it now, it is not shown again') }),
    handle: ({ params, body, principal, context }, { controlPlane }) => {
      requireGrant(principal, body.role, 'role')
      const scope = {
        projectId: body.projectId ?? null,
        allowedModels: body.allowedModels ?? null,
        fallbackModels: body.fallbackModels ?? null,
        limits: body.limits ?? null,
        expiresAt: body.expiresAt ?? null,
      }
      return controlPlane.issueKey(params.tenantId, { name: body.name, role: body.role, scope }, context)
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}/keys',
    summary: "List the tenant's keys (no secrets, no hashes)",
    tag: 'keys',
    access: 'key.read',
    params: tenantParams,
    status: 200,
    response: listOf(keySummary),
    handle: async ({ params }, { controlPlane }) => {
      const rows = await controlPlane.readAsTenant(params.tenantId, (tx) =>
        tx.query<KeyRow>(
          `SELECT id, name, role, project_id, allowed_models, fallback_models, limits, expires_at, created_at, revoked_at, previous_valid_until
           FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id`,
          [params.tenantId],
        ),
      )
      const now = Date.now()
      return { data: rows.rows.map((row) => summary(row, now)) }
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: '/tenants/{tenantId}/keys/{keyId}',
    summary: 'Revoke a key at once',
    tag: 'keys',
    access: 'key.write',
    params: keyParams,
    status: 204,
    handle: async ({ params, principal, context }, { controlPlane }) => {
      requireGrant(principal, await keyRole(controlPlane, params.tenantId, params.keyId))
      await controlPlane.revokeKey(params.tenantId, params.keyId, context)
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/tenants/{tenantId}/keys/{keyId}/rotate',
    summary: 'Give a key a new secret (shown this once); the old one keeps working for the grace period',
    tag: 'keys',
    access: 'key.write',
    params: keyParams,
    body: z.strictObject({ gracePeriodSeconds: z.number().int().min(0).max(MAX_GRACE_SECONDS).default(3600) }),
    status: 200,
    response: z.strictObject({ id: z.string(), key: z.string(), previousKeyValidUntil: timestamp }),
    handle: async ({ params, body, principal, context }, { controlPlane }) => {
      // Rotating shows the new secret, so it needs the right to hold the key's role.
      requireGrant(principal, await keyRole(controlPlane, params.tenantId, params.keyId))
      return controlPlane.rotateKey(params.tenantId, params.keyId, body.gracePeriodSeconds, context)
    },
  }),
]
