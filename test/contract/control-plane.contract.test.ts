import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { SqlEventStore } from '../../events/sql-event-store.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import { appendAuditRecords, queryAudit, verifyAuditChain } from '../../projections/audit/audit-trail.ts'
import { ControlProjector } from '../../projections/control/control-projector.ts'
import type { Principal } from '../../gateway/auth/api-keys.ts'
import { ControlPlaneAuth } from '../../gateway/auth/control-plane-auth.ts'
import { ControlPlane } from '../../gateway/control/control-plane.ts'
import type { CommandContext } from '../../gateway/control/control-plane.ts'
import type { MasterKey } from '../../gateway/security/envelope-encryption.ts'
import { sqlAdapters } from '../support/sql.ts'
import type { OpenedSqlStore } from '../support/sql.ts'

const ctx: CommandContext = { actor: { type: 'admin', id: 'bootstrap' }, sourceIp: '203.0.113.7', userAgent: 'contract-test', reason: 'testing', correlationId: 'req-1' }
const scope = { projectId: null, allowedModels: null, fallbackModels: null, limits: null, expiresAt: null }
const v1: MasterKey = { version: 1, key: Buffer.alloc(32, 1) }
const v2: MasterKey = { version: 2, key: Buffer.alloc(32, 2) }
const gatewayCredential = { apiKey: 'gateway-openai-key', baseUrl: 'http://gateway.example/v1' }

describe.each(sqlAdapters(inject('services').databaseUrl))('control plane on $name', ({ open }) => {
  let opened: OpenedSqlStore
  let plane: ControlPlane
  let auth: ControlPlaneAuth
  let masterKeys: MasterKey[] = [v1]
  let now = Date.now()
  let tenantA: string
  let tenantB: string

  beforeAll(async () => {
    opened = await open()
    await migrate(opened.store)
    const projector = new ControlProjector(opened.store, { alsoApply: appendAuditRecords })
    plane = new ControlPlane({ eventStore: new SqlEventStore(opened.store), sql: opened.store, projector, masterKeys: () => masterKeys })
    auth = new ControlPlaneAuth({
      sql: opened.store,
      fallback: { authenticate: () => undefined, credentialFor: (p) => (p === 'openai' ? gatewayCredential : undefined), has: (p) => p === 'openai' },
      masterKeys: () => masterKeys,
      baseUrlFor: (p) => `https://api.${p}.example/v1`,
      now: () => now,
    })
    await auth.refresh()
    tenantA = (await plane.createTenant({ name: 'Tenant A' }, ctx)).id
    tenantB = (await plane.createTenant({ name: 'Tenant B' }, ctx)).id
    for (const t of [tenantA, tenantB]) {
      const project = await plane.createProject(t, 'main', ctx)
      await plane.issueKey(t, { name: 'k', role: 'developer', scope: { ...scope, projectId: project.id } }, ctx)
      await plane.setCredential(t, 'anthropic', { apiKey: `sk-ant-secret-of-${t}`, baseUrl: null }, ctx)
      await plane.grantCredits(t, { amountMicroUsd: 1_000_000, reason: null }, ctx)
      await plane.setBudget(t, 'tenant', { period: 'month', limitMicroUsd: 500_000 }, ctx)
    }
  })
  afterAll(() => opened.dispose())

  it('runs tenant reads as a role that owns no table and cannot bypass Row-Level Security', async () => {
    const role = await opened.store.query<{ rolsuper: boolean; rolbypassrls: boolean }>("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'supergate_app'")
    expect(role.rows).toEqual([{ rolsuper: false, rolbypassrls: false }])
    const owned = await opened.store.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_tables WHERE tableowner = 'supergate_app'")
    expect(owned.rows[0]?.n).toBe(0)
  })

  it('shows a tenant only its own rows in every read model, and refuses writes', async () => {
    const tables = ['tenants', 'projects', 'api_keys', 'provider_credentials', 'budgets', 'credit_grants', 'audit_log']
    for (const table of tables) {
      const rows = await plane.readAsTenant(tenantA, async (tx) => (await tx.query<{ tenant_id: string }>(`SELECT tenant_id FROM ${table}`)).rows)
      expect(rows.length, table).toBeGreaterThan(0)
      expect(new Set(rows.map((r) => r.tenant_id)), table).toEqual(new Set([tenantA]))
    }
    const crossTenant = await plane.readAsTenant(tenantA, async (tx) => (await tx.query('SELECT * FROM api_keys WHERE tenant_id = $1', [tenantB])).rows)
    expect(crossTenant).toEqual([])
    await expect(plane.readAsTenant(tenantA, (tx) => tx.query("INSERT INTO projects (id, tenant_id, name, created_at) VALUES ('x', $1, 'x', now())", [tenantA]))).rejects.toThrow(/permission denied/)
    await expect(plane.readAsTenant(tenantA, (tx) => tx.query('UPDATE tenants SET name = $1 WHERE id = $2', ['hijacked', tenantB]))).rejects.toThrow(/permission denied/)
  })

  it('authenticates issued keys, honours a rotation grace period, and forgets revoked keys on refresh', async () => {
    now = Date.now()
    const issued = await plane.issueKey(tenantA, { name: 'ci', role: 'admin', scope: { ...scope, allowedModels: ['openai/*'] } }, ctx)
    const principal = (await auth.authenticate(issued.key)) as Principal
    expect(principal).toMatchObject({ keyId: issued.id, tenantId: tenantA, role: 'admin', allowedModels: ['openai/*'] })
    // One character changed (never to itself: the secret may already end in x).
    const tampered = `${issued.key.slice(0, -1)}${issued.key.endsWith('x') ? 'y' : 'x'}`
    expect(await auth.authenticate(tampered)).toBeUndefined()

    const rotated = await plane.rotateKey(tenantA, issued.id, 60, ctx)
    await auth.refresh()
    expect(await auth.authenticate(rotated.key)).toMatchObject({ keyId: issued.id })
    expect(await auth.authenticate(issued.key)).toMatchObject({ keyId: issued.id })
    now = Date.now() + 61_000
    expect(await auth.authenticate(issued.key)).toBeUndefined()

    await plane.revokeKey(tenantA, issued.id, ctx)
    await auth.refresh()
    expect(await auth.authenticate(rotated.key)).toBeUndefined()
  })

  it('uses a tenant’s own provider key by its key mode, and never another tenant’s', async () => {
    const principalA: Principal = { keyId: 'x', name: 'x', tenantId: tenantA, role: 'developer' }
    const key = await plane.issueKey(tenantA, { name: 'byok', role: 'developer', scope }, ctx)
    await auth.authenticate(key.key)
    expect(auth.credentialFor('anthropic', principalA)).toBeUndefined()
    expect(auth.credentialFor('openai', principalA)).toEqual(gatewayCredential)

    // A refresh replaces the changed tenant in place: calls already authenticated see the new mode at once,
    // never a missing tenant that would fall back to the gateway's key.
    await plane.updateTenant(tenantA, { keyMode: 'byok_with_fallback' }, ctx)
    await auth.refresh()
    expect(auth.credentialFor('anthropic', principalA)).toEqual({ apiKey: `sk-ant-secret-of-${tenantA}`, baseUrl: 'https://api.anthropic.example/v1', source: 'byok' })
    expect(auth.credentialFor('openai', principalA)).toEqual(gatewayCredential)

    await plane.updateTenant(tenantA, { keyMode: 'byok_only' }, ctx)
    await auth.refresh()
    expect(auth.credentialFor('openai', principalA)).toBeUndefined()
    expect(auth.credentialFor('anthropic', principalA)?.apiKey).not.toContain(tenantB)
  })

  it('stores credentials only encrypted, and re-wraps them under a new master key', async () => {
    const stored = await opened.store.query<{ sealed: unknown; masked: string }>('SELECT sealed, masked FROM provider_credentials WHERE tenant_id = $1', [tenantA])
    expect(JSON.stringify(stored.rows)).not.toContain('sk-ant-secret-of')
    const events = await opened.store.query<{ data: unknown }>("SELECT data FROM event_store_events WHERE type LIKE 'credential.%'")
    expect(JSON.stringify(events.rows)).not.toContain('sk-ant-secret-of')
    expect(stored.rows[0]?.masked).toMatch(/^sk-…/)

    masterKeys = [v1, v2]
    const { rewrapped } = await plane.rewrapAllCredentials(ctx)
    expect(rewrapped).toBeGreaterThanOrEqual(2)
    masterKeys = [v2]
    await auth.refresh()
    const key = await plane.issueKey(tenantA, { name: 'after-rotation', role: 'developer', scope }, ctx)
    await auth.refresh()
    await auth.authenticate(key.key)
    expect(auth.credentialFor('anthropic', { keyId: 'x', name: 'x', tenantId: tenantA, role: 'developer' })?.apiKey).toBe(`sk-ant-secret-of-${tenantA}`)
    masterKeys = [v1, v2]
  })

  it('lets one of several concurrent edits of one aggregate win and the others get a conflict', async () => {
    const attempts = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => plane.updateTenant(tenantB, { name: `B${i}` }, ctx)))
    const failures = attempts.filter((a) => a.status === 'rejected')
    expect(attempts.some((a) => a.status === 'fulfilled')).toBe(true)
    for (const f of failures) expect((f).reason).toMatchObject({ kind: 'conflict' })
  })

  it('keeps a verifiable audit trail with who, from where and why', async () => {
    expect(await verifyAuditChain(opened.store, tenantA)).toMatchObject({ ok: true })
    const records = await queryAudit(opened.store, tenantA, { type: 'credential.set' })
    expect(records[0]).toMatchObject({ actorId: 'bootstrap', sourceIp: '203.0.113.7', userAgent: 'contract-test', reason: 'testing' })
  })
})
