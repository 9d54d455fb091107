import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { ControlMetadata } from '../../events/envelope.ts'
import type { StoredEvent } from '../../events/event-store.ts'
import { uuidv7 } from '../../events/ids.ts'
import { SqlEventStore } from '../../events/sql-event-store.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import type { SqlStore } from '../../infra/postgres/sql-store.ts'
import {
  appendAuditRecords,
  auditRecordHash,
  exportAuditJsonl,
  GENESIS_HASH,
  queryAudit,
  verifyAuditChain,
} from '../../projections/audit/audit-trail.ts'
import type { AuditRecord } from '../../projections/audit/audit-trail.ts'
import { sqlAdapters } from '../support/sql.ts'
import type { OpenedSqlStore } from '../support/sql.ts'

let position = 0

interface EventSpec {
  type?: string
  data?: unknown
  actorId?: string
  occurredAt?: string
}

function controlEvent(tenantId: string, spec: EventSpec = {}): StoredEvent {
  const metadata: ControlMetadata = {
    tenantId,
    actor: { type: 'admin', id: spec.actorId ?? 'admin-1' },
    sourceIp: '203.0.113.7',
    userAgent: 'supergate-cli/1.0',
    reason: 'contract test',
    correlationId: randomUUID(),
    occurredAt: spec.occurredAt ?? new Date().toISOString(),
    version: 1,
  }
  position += 1
  return {
    id: uuidv7(),
    type: spec.type ?? 'key.issued',
    data: spec.data ?? { n: position },
    metadata,
    streamId: `tenant-${tenantId}`,
    streamVersion: 1,
    globalPosition: position,
    recordedAt: new Date(),
  }
}

const tenant = (): string => `tenant-${randomUUID()}`

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = []
  for await (const line of lines) out.push(line)
  return out
}

describe.each(sqlAdapters(inject('services').databaseUrl))('audit trail contract: $name', ({ open }) => {
  let opened: OpenedSqlStore
  let sql: SqlStore

  const append = (events: readonly StoredEvent[]) => sql.transaction((tx) => appendAuditRecords(tx, events))

  /** A tenant with `count` records, seq 1..count, and the records as stored. */
  async function chain(count: number): Promise<{ tenantId: string; records: AuditRecord[] }> {
    const tenantId = tenant()
    await append(Array.from({ length: count }, () => controlEvent(tenantId)))
    return { tenantId, records: await queryAudit(sql, tenantId) }
  }

  beforeAll(async () => {
    opened = await open()
    sql = opened.store
    await migrate(sql)
  })
  afterAll(() => opened.dispose())

  it('chains each tenant on its own, from 64 zeros, each record covering the previous hash', async () => {
    const [a, b] = [tenant(), tenant()]
    const first = [controlEvent(a), controlEvent(b, { type: 'tenant.created', data: { name: 'B' } }), controlEvent(a)]
    await append(first)
    await append([controlEvent(b), controlEvent(a)])

    const trailA = await queryAudit(sql, a)
    const trailB = await queryAudit(sql, b)
    expect(trailA.map((r) => r.seq)).toEqual([1, 2, 3])
    expect(trailB.map((r) => r.seq)).toEqual([1, 2])
    for (const trail of [trailA, trailB]) {
      expect(trail[0]!.prevHash).toBe(GENESIS_HASH)
      for (let i = 1; i < trail.length; i++) expect(trail[i]!.prevHash).toBe(trail[i - 1]!.hash)
      for (const record of trail) expect(record.hash).toMatch(/^[0-9a-f]{64}$/)
    }
    const event = first[1]!
    const metadata = event.metadata as unknown as ControlMetadata
    const { hash, ...recorded } = trailB[0]!
    expect(hash).toBe(auditRecordHash(recorded))
    expect(recorded).toEqual({
      tenantId: b,
      seq: 1,
      eventId: event.id,
      globalPosition: event.globalPosition,
      type: 'tenant.created',
      actorType: 'admin',
      actorId: 'admin-1',
      sourceIp: '203.0.113.7',
      userAgent: 'supergate-cli/1.0',
      reason: 'contract test',
      occurredAt: new Date(metadata.occurredAt),
      data: { name: 'B' },
      prevHash: GENESIS_HASH,
    })
    expect(await verifyAuditChain(sql, a)).toEqual({ ok: true, records: 3 })
    expect(await verifyAuditChain(sql, b)).toEqual({ ok: true, records: 2 })
    expect(await verifyAuditChain(sql, tenant())).toEqual({ ok: true, records: 0 })
  })

  it('records events appended through the event store, with their global positions', async () => {
    const tenantId = tenant()
    const store = new SqlEventStore(sql)
    const metadata: ControlMetadata = {
      tenantId,
      actor: { type: 'key', id: 'key-9' },
      sourceIp: null,
      userAgent: null,
      reason: null,
      correlationId: null,
      occurredAt: '2026-03-04T05:06:07.123456+02:00',
      version: 1,
    }
    const appended = await store.appendToStream(
      `tenant-${tenantId}`,
      [{ id: uuidv7(), type: 'tenant.created', data: { name: 'Acme', tags: ['b', 'a'] }, metadata }],
      'no_stream',
    )
    const stored = await store.readAll({ after: appended.lastGlobalPosition - 1, limit: 1 })
    await append(stored)
    const [record] = await queryAudit(sql, tenantId)
    expect(record).toMatchObject({
      globalPosition: appended.lastGlobalPosition,
      actorType: 'key',
      actorId: 'key-9',
      sourceIp: null,
      occurredAt: new Date('2026-03-04T03:06:07.123Z'),
      data: { name: 'Acme', tags: ['b', 'a'] },
    })
    expect(await verifyAuditChain(sql, tenantId)).toEqual({ ok: true, records: 1 })
  })

  it('skips an event it has recorded before, in another batch or twice in one', async () => {
    const tenantId = tenant()
    const events = [controlEvent(tenantId), controlEvent(tenantId)]
    await append(events)
    const later = controlEvent(tenantId)
    await append([events[1]!, later, later, events[0]!])
    const trail = await queryAudit(sql, tenantId)
    expect(trail.map((r) => r.eventId)).toEqual([events[0]!.id, events[1]!.id, later.id])
    expect(await verifyAuditChain(sql, tenantId)).toEqual({ ok: true, records: 3 })
  })

  it('refuses an event without valid control metadata and records nothing of its batch', async () => {
    const tenantId = tenant()
    const valid = controlEvent(tenantId)
    const invalid = { ...controlEvent(tenantId), metadata: { tenantId } }
    await expect(append([valid, invalid])).rejects.toThrow(/control metadata/)
    expect(await queryAudit(sql, tenantId)).toEqual([])
  })

  it('filters by time window, actor and type, and pages by seq', async () => {
    const tenantId = tenant()
    await append([
      controlEvent(tenantId, { type: 'key.issued', actorId: 'alice', occurredAt: '2026-01-01T10:00:00Z' }),
      controlEvent(tenantId, { type: 'key.revoked', actorId: 'bob', occurredAt: '2026-01-02T10:00:00Z' }),
      controlEvent(tenantId, { type: 'key.issued', actorId: 'bob', occurredAt: '2026-01-03T10:00:00Z' }),
      controlEvent(tenantId, { type: 'budget.set', actorId: 'alice', occurredAt: '2026-01-04T10:00:00Z' }),
    ])
    await append([controlEvent(tenant(), { actorId: 'alice', occurredAt: '2026-01-02T10:00:00Z' })])
    const seqs = async (filters: Parameters<typeof queryAudit>[2]) =>
      (await queryAudit(sql, tenantId, filters)).map((r) => r.seq)

    expect(await seqs({ from: new Date('2026-01-02T10:00:00Z'), to: new Date('2026-01-04T10:00:00Z') })).toEqual([2, 3])
    expect(await seqs({ actorId: 'alice' })).toEqual([1, 4])
    expect(await seqs({ type: 'key.issued' })).toEqual([1, 3])
    expect(await seqs({ type: 'key.issued', actorId: 'bob' })).toEqual([3])
    expect(await seqs({ after: 1, limit: 2 })).toEqual([2, 3])
    expect(await seqs({ after: 3, limit: 2 })).toEqual([4])
    await expect(queryAudit(sql, tenantId, { limit: 0 })).rejects.toBeInstanceOf(RangeError)
  })

  it('returns 100 records by default and never more than 1000; the export pages through them all', async () => {
    const { tenantId } = await chain(1003)
    expect(await queryAudit(sql, tenantId)).toHaveLength(100)
    const capped = await queryAudit(sql, tenantId, { limit: 5000 })
    expect(capped.map((r) => r.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1))
    const lines = await collect(exportAuditJsonl(sql, tenantId))
    expect(lines.map((line) => (JSON.parse(line) as AuditRecord).seq)).toEqual(Array.from({ length: 1003 }, (_, i) => i + 1))
    expect(await verifyAuditChain(sql, tenantId)).toEqual({ ok: true, records: 1003 })
  })

  it('exports JSONL that parses back to the records and verifies without the database', async () => {
    const tenantId = tenant()
    await append([
      controlEvent(tenantId, { type: 'tenant.created', data: { name: 'Acme', nested: { z: [1, 2.5], a: null } } }),
      controlEvent(tenantId, { type: 'key.issued', data: { keyId: 'k1' } }),
      controlEvent(tenantId, { type: 'key.revoked', data: { keyId: 'k1' } }),
    ])
    const jsonl = (await collect(exportAuditJsonl(sql, tenantId))).join('')
    expect(jsonl.endsWith('\n')).toBe(true)
    const parsed = jsonl
      .trimEnd()
      .split('\n')
      .map((line) => {
        const record = JSON.parse(line) as Omit<AuditRecord, 'occurredAt'> & { occurredAt: string }
        return { ...record, occurredAt: new Date(record.occurredAt) }
      })
    expect(parsed).toEqual(await queryAudit(sql, tenantId))
    let prevHash = GENESIS_HASH
    for (const record of parsed) {
      expect(record.prevHash).toBe(prevHash)
      expect(auditRecordHash(record)).toBe(record.hash)
      prevHash = record.hash
    }
    const onlyKeys = await collect(exportAuditJsonl(sql, tenantId, { type: 'key.issued' }))
    expect(onlyKeys.map((line) => (JSON.parse(line) as AuditRecord).seq)).toEqual([2])
  })

  describe('tamper detection', () => {
    it('reports an altered record as a hash mismatch at its seq', async () => {
      const { tenantId } = await chain(5)
      await sql.query(`UPDATE audit_log SET data = '{"n": -1}' WHERE tenant_id = $1 AND seq = 3`, [tenantId])
      expect(await verifyAuditChain(sql, tenantId)).toEqual({
        ok: false,
        records: 2,
        brokenAtSeq: 3,
        reason: 'hash_mismatch',
      })
    })

    it('reports a deleted record as a sequence gap at its seq', async () => {
      const { tenantId } = await chain(5)
      await sql.query('DELETE FROM audit_log WHERE tenant_id = $1 AND seq = 3', [tenantId])
      expect(await verifyAuditChain(sql, tenantId)).toEqual({
        ok: false,
        records: 2,
        brokenAtSeq: 3,
        reason: 'sequence_gap',
      })
      const first = await chain(3)
      await sql.query('DELETE FROM audit_log WHERE tenant_id = $1 AND seq = 1', [first.tenantId])
      expect(await verifyAuditChain(sql, first.tenantId)).toMatchObject({ brokenAtSeq: 1, reason: 'sequence_gap' })
    })

    it('reports a record rewritten with a hash of its own at the next record', async () => {
      const { tenantId, records } = await chain(5)
      const forged = { ...records[2]!, data: { n: -1 } }
      await sql.query(`UPDATE audit_log SET data = $2::jsonb, hash = $3 WHERE tenant_id = $1 AND seq = 3`, [
        tenantId,
        JSON.stringify(forged.data),
        auditRecordHash(forged),
      ])
      expect(await verifyAuditChain(sql, tenantId)).toEqual({
        ok: false,
        records: 3,
        brokenAtSeq: 4,
        reason: 'prev_hash_mismatch',
      })
    })

    it('reports a record re-linked to another predecessor, with hash and prev_hash updated together', async () => {
      const { tenantId, records } = await chain(5)
      const relinked = { ...records[3]!, prevHash: records[1]!.hash }
      await sql.query('UPDATE audit_log SET prev_hash = $2, hash = $3 WHERE tenant_id = $1 AND seq = 4', [
        tenantId,
        relinked.prevHash,
        auditRecordHash(relinked),
      ])
      expect(await verifyAuditChain(sql, tenantId)).toEqual({
        ok: false,
        records: 3,
        brokenAtSeq: 4,
        reason: 'prev_hash_mismatch',
      })
    })
  })

  it('chains correctly when transactions append for one tenant at the same time', async () => {
    const [a, b] = [tenant(), tenant()]
    // Batches that touch both tenants in opposite orders must not deadlock either.
    const batches = Array.from({ length: 8 }, (_, i) => {
      const [x, y] = i % 2 === 0 ? [a, b] : [b, a]
      return [controlEvent(x), controlEvent(a), controlEvent(y)]
    })
    await Promise.all(
      batches.map((events) =>
        sql.transaction(async (tx) => {
          // Hold each transaction open a moment so that they overlap on the server.
          await tx.query('SELECT pg_sleep(0.02)')
          await appendAuditRecords(tx, events)
          await tx.query('SELECT pg_sleep(0.02)')
        }),
      ),
    )
    expect(await verifyAuditChain(sql, a)).toEqual({ ok: true, records: 16 })
    expect(await verifyAuditChain(sql, b)).toEqual({ ok: true, records: 8 })
  })

  it("lets the gateway's role read its own tenant's records and change none", async () => {
    const { tenantId } = await chain(2)
    const other = await chain(1)
    // Tests migrate into a schema of their own, which the role must be able to reach.
    await sql.exec(`DO $$ BEGIN EXECUTE format('GRANT USAGE ON SCHEMA %I TO supergate_app', current_schema()); END $$`)
    const asApp = <T>(tenant: string | undefined, statement: string) =>
      sql.transaction(
        async (tx) => {
          await tx.query('SET LOCAL ROLE supergate_app')
          return tx.query<T>(statement)
        },
        tenant === undefined ? {} : { tenantId: tenant },
      )

    const visible = await asApp<{ tenant_id: string }>(tenantId, 'SELECT DISTINCT tenant_id FROM audit_log')
    expect(visible.rows).toEqual([{ tenant_id: tenantId }])
    expect((await asApp(undefined, 'SELECT * FROM audit_log')).rows).toEqual([])
    for (const write of [
      `UPDATE audit_log SET reason = 'x'`,
      'DELETE FROM audit_log',
      `INSERT INTO audit_log SELECT * FROM audit_log WHERE tenant_id = '${other.tenantId}'`,
    ]) {
      await expect(asApp(tenantId, write), write).rejects.toMatchObject({ code: '42501' })
    }
    expect(await verifyAuditChain(sql, tenantId)).toEqual({ ok: true, records: 2 })
  })
})
