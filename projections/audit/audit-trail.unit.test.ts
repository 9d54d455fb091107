import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { auditRecordHash, canonicalJson, GENESIS_HASH } from './audit-trail.ts'
import type { AuditRecord } from './audit-trail.ts'

const record: Omit<AuditRecord, 'hash'> = {
  tenantId: 'tenant-1',
  seq: 1,
  eventId: '0190F3A0-0000-7000-8000-000000000001',
  globalPosition: 7,
  type: 'tenant.created',
  actorType: 'admin',
  actorId: 'bootstrap',
  sourceIp: '10.0.0.1',
  userAgent: null,
  reason: 'onboarding',
  occurredAt: new Date('2026-01-02T03:04:05.006Z'),
  data: { name: 'Acme', limits: { z: 1, a: [2, { d: 4, c: 3 }] } },
  prevHash: GENESIS_HASH,
}

describe('canonicalJson', () => {
  it('sorts keys at every depth by code unit, and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { y: 1, x: 2 }], c: null }, 10: 'ten', 9: 'nine' })).toBe(
      '{"10":"ten","9":"nine","a":{"c":null,"d":[3,{"x":2,"y":1}]},"b":1}',
    )
  })

  it('gives the same text for the same value whatever the key order, and survives a parse round trip', () => {
    const a = canonicalJson({ x: 1.5, y: 'é\n"', z: [true, false, null] })
    expect(canonicalJson({ z: [true, false, null], y: 'é\n"', x: 1.5 })).toBe(a)
    expect(canonicalJson(JSON.parse(a))).toBe(a)
  })

  it('drops undefined properties and writes undefined array items as null, as JSON does', () => {
    const value = { a: undefined, b: [undefined, 1], c: new Date('2026-01-01T00:00:00Z') }
    expect(canonicalJson(value)).toBe('{"b":[null,1],"c":"2026-01-01T00:00:00.000Z"}')
    expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)))
  })
})

describe('auditRecordHash', () => {
  it('is SHA-256 over a fixed, documented serialisation, so an export can be checked without our code', () => {
    const text =
      '["tenant-1",1,"0190f3a0-0000-7000-8000-000000000001",7,"tenant.created","admin","bootstrap","10.0.0.1",null,' +
      '"onboarding","2026-01-02T03:04:05.006Z",{"limits":{"a":[2,{"c":3,"d":4}],"z":1},"name":"Acme"},' +
      `"${GENESIS_HASH}"]`
    expect(auditRecordHash(record)).toBe(createHash('sha256').update(text).digest('hex'))
  })

  it('changes when any field changes', () => {
    const base = auditRecordHash(record)
    const changes: Partial<Omit<AuditRecord, 'hash'>>[] = [
      { tenantId: 'tenant-2' },
      { seq: 2 },
      { eventId: '0190f3a0-0000-7000-8000-000000000002' },
      { globalPosition: 8 },
      { type: 'tenant.renamed' },
      { actorType: 'key' },
      { actorId: 'someone' },
      { sourceIp: null },
      { userAgent: 'curl/8' },
      { reason: null },
      { occurredAt: new Date('2026-01-02T03:04:05.007Z') },
      { data: { name: 'Acme', limits: { z: 2, a: [2, { d: 4, c: 3 }] } } },
      { prevHash: 'f'.repeat(64) },
    ]
    for (const change of changes) expect(auditRecordHash({ ...record, ...change }), JSON.stringify(change)).not.toBe(base)
  })
})
