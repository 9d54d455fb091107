import { describe, expect, it } from 'vitest'
import { DomainError, fold } from './decider.ts'
import type { Decider } from './decider.ts'
import { apiKeyDecider } from './keys.ts'
import type { ApiKeyEvent, KeyScope } from './keys.ts'
import { budgetDecider, creditDecider, credentialDecider } from './settings.ts'
import { memberDecider, tenantDecider } from './tenancy.ts'

/** given(events).when(command).then(events | error), after Emmett's decider specifications. */
function spec<C, E extends { type: string; data: unknown }, S>(decider: Decider<C, E, S>) {
  return (given: E[]) => ({
    when: (command: C) => ({
      then: (expected: E[]) => expect(decider.decide(command, fold(decider, given))).toEqual(expected),
      thenThrows: (kind: DomainError['kind'], param?: string) => {
        let error: unknown
        try {
          decider.decide(command, fold(decider, given))
        } catch (e) {
          error = e
        }
        expect(error).toBeInstanceOf(DomainError)
        expect(error).toMatchObject({ kind, ...(param === undefined ? {} : { param }) })
      },
    }),
  })
}

const scope: KeyScope = { projectId: null, allowedModels: ['openai/*'], fallbackModels: null, limits: null, expiresAt: null }
const now = new Date('2026-11-24T12:00:00Z')
const issued: ApiKeyEvent = { type: 'apikey.issued', data: { tenantId: 't1', keyId: 'k1', publicId: 'p1', name: 'ci', role: 'developer', secretHash: 'h1', scope } }

describe('tenant decider', () => {
  const tenant = spec(tenantDecider)
  it('creates a tenant once', () => {
    tenant([]).when({ type: 'CreateTenant', tenantId: 't1', name: 'Acme', keyMode: 'gateway' }).then([{ type: 'tenant.created', data: { tenantId: 't1', name: 'Acme', keyMode: 'gateway' } }])
    tenant([{ type: 'tenant.created', data: { tenantId: 't1', name: 'Acme', keyMode: 'gateway' } }]).when({ type: 'CreateTenant', tenantId: 't1', name: 'Acme', keyMode: 'gateway' }).thenThrows('conflict')
  })
  it('records a change of key mode, and nothing when it is the same', () => {
    const created = { type: 'tenant.created' as const, data: { tenantId: 't1', name: 'Acme', keyMode: 'gateway' as const } }
    tenant([created]).when({ type: 'SetKeyMode', keyMode: 'byok_only' }).then([{ type: 'tenant.key_mode_changed', data: { tenantId: 't1', keyMode: 'byok_only' } }])
    tenant([created]).when({ type: 'SetKeyMode', keyMode: 'gateway' }).then([])
    tenant([]).when({ type: 'RenameTenant', name: 'x' }).thenThrows('not_found')
  })
})

describe('API key decider', () => {
  const key = spec(apiKeyDecider)
  it('issues a key, refusing an expiry in the past', () => {
    key([]).when({ type: 'IssueKey', tenantId: 't1', keyId: 'k1', publicId: 'p1', name: 'ci', role: 'developer', secretHash: 'h1', scope, now }).then([issued])
    key([]).when({ type: 'IssueKey', tenantId: 't1', keyId: 'k1', publicId: 'p1', name: 'ci', role: 'developer', secretHash: 'h1', scope: { ...scope, expiresAt: '2026-01-01T00:00:00Z' }, now }).thenThrows('invalid', 'expiresAt')
  })
  it('rotates with a grace period that keeps the old secret valid until it ends', () => {
    key([issued]).when({ type: 'RotateKey', secretHash: 'h2', now, graceSeconds: 600 }).then([
      { type: 'apikey.rotated', data: { tenantId: 't1', keyId: 'k1', secretHash: 'h2', previousValidUntil: '2026-11-24T12:10:00.000Z' } },
    ])
    key([issued]).when({ type: 'RotateKey', secretHash: 'h2', now, graceSeconds: -1 }).thenThrows('invalid', 'gracePeriodSeconds')
  })
  it('refuses to rotate or revoke a revoked key', () => {
    const revoked: ApiKeyEvent = { type: 'apikey.revoked', data: { tenantId: 't1', keyId: 'k1' } }
    key([issued]).when({ type: 'RevokeKey' }).then([revoked])
    key([issued, revoked]).when({ type: 'RevokeKey' }).thenThrows('conflict')
    key([issued, revoked]).when({ type: 'RotateKey', secretHash: 'h3', now, graceSeconds: 0 }).thenThrows('conflict')
    key([]).when({ type: 'RevokeKey' }).thenThrows('not_found')
  })
})

describe('money and membership deciders', () => {
  it('grants only positive whole micro-USD', () => {
    spec(creditDecider)([]).when({ type: 'GrantCredits', tenantId: 't1', grantId: 'g1', amountMicroUsd: 5_000_000, reason: 'trial' }).then([
      { type: 'credits.granted', data: { tenantId: 't1', grantId: 'g1', amountMicroUsd: 5_000_000, reason: 'trial' } },
    ])
    spec(creditDecider)([]).when({ type: 'GrantCredits', tenantId: 't1', grantId: 'g1', amountMicroUsd: 1.5, reason: null }).thenThrows('invalid', 'amountMicroUsd')
    spec(creditDecider)([]).when({ type: 'GrantCredits', tenantId: 't1', grantId: 'g1', amountMicroUsd: -1, reason: null }).thenThrows('invalid', 'amountMicroUsd')
  })
  it('sets budgets in whole micro-USD and removes only existing ones', () => {
    spec(budgetDecider)([]).when({ type: 'SetBudget', tenantId: 't1', scope: 'tenant', period: 'month', limitMicroUsd: 0.5 }).thenThrows('invalid', 'limitMicroUsd')
    spec(budgetDecider)([]).when({ type: 'RemoveBudget', tenantId: 't1', scope: 'tenant', period: 'month' }).thenThrows('not_found')
  })
  it('adds a member once, and removes only a present one', () => {
    const added = { type: 'member.added' as const, data: { tenantId: 't1', memberId: 'm1', email: 'a@b.c', role: 'viewer' as const } }
    spec(memberDecider)([added]).when({ type: 'AddMember', tenantId: 't1', memberId: 'm1', email: 'a@b.c', role: 'viewer' }).thenThrows('conflict')
    spec(memberDecider)([added]).when({ type: 'ChangeRole', role: 'admin' }).then([{ type: 'member.role_changed', data: { tenantId: 't1', memberId: 'm1', role: 'admin' } }])
    spec(memberDecider)([added, { type: 'member.removed', data: { tenantId: 't1', memberId: 'm1' } }]).when({ type: 'RemoveMember' }).thenThrows('not_found')
  })
  it('cannot delete or rewrap a credential that is not set', () => {
    spec(credentialDecider)([]).when({ type: 'DeleteCredential' }).thenThrows('not_found')
  })
})
