import type { Role } from './roles.ts'
import { DomainError } from './decider.ts'
import type { Decider } from './decider.ts'

export interface KeyScope {
  projectId: string | null
  /** Patterns as in gateway/routing/models.ts; null: every model. */
  allowedModels: string[] | null
  fallbackModels: string[] | null
  /** Per-key limits, enforced by the hot path (issue 6). */
  limits: { requestsPerMinute?: number; tokensPerMinute?: number; concurrentRequests?: number } | null
  expiresAt: string | null
}

export type ApiKeyEvent =
  | { type: 'apikey.issued'; data: { tenantId: string; keyId: string; publicId: string; name: string; role: Role; secretHash: string; scope: KeyScope } }
  | { type: 'apikey.rotated'; data: { tenantId: string; keyId: string; secretHash: string; previousValidUntil: string } }
  | { type: 'apikey.revoked'; data: { tenantId: string; keyId: string } }

export type ApiKeyCommand =
  | { type: 'IssueKey'; tenantId: string; keyId: string; publicId: string; name: string; role: Role; secretHash: string; scope: KeyScope; now: Date }
  | { type: 'RotateKey'; secretHash: string; now: Date; graceSeconds: number }
  | { type: 'RevokeKey' }

export type ApiKeyState = { exists: false } | { exists: true; tenantId: string; keyId: string; revoked: boolean }

export const apiKeyDecider: Decider<ApiKeyCommand, ApiKeyEvent, ApiKeyState> = {
  initialState: () => ({ exists: false }),
  evolve(state, event) {
    if (event.type === 'apikey.issued') return { exists: true, tenantId: event.data.tenantId, keyId: event.data.keyId, revoked: false }
    if (event.type === 'apikey.revoked' && state.exists) return { ...state, revoked: true }
    return state
  },
  decide(command, state) {
    if (command.type === 'IssueKey') {
      if (state.exists) throw new DomainError('conflict', 'Key exists already')
      if (command.scope.expiresAt !== null && Date.parse(command.scope.expiresAt) <= command.now.getTime()) {
        throw new DomainError('invalid', 'expiresAt must be in the future', 'expiresAt')
      }
      const { type: _type, now: _now, ...data } = command
      return [{ type: 'apikey.issued', data }]
    }
    if (!state.exists) throw new DomainError('not_found', 'No such key')
    if (state.revoked) throw new DomainError('conflict', 'The key is revoked')
    if (command.type === 'RotateKey') {
      if (!(command.graceSeconds >= 0 && command.graceSeconds <= 30 * 86_400)) {
        throw new DomainError('invalid', 'gracePeriodSeconds must be between 0 and 2592000', 'gracePeriodSeconds')
      }
      const previousValidUntil = new Date(command.now.getTime() + command.graceSeconds * 1000).toISOString()
      return [{ type: 'apikey.rotated', data: { tenantId: state.tenantId, keyId: state.keyId, secretHash: command.secretHash, previousValidUntil } }]
    }
    return [{ type: 'apikey.revoked', data: { tenantId: state.tenantId, keyId: state.keyId } }]
  },
}
