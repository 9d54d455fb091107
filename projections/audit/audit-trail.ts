import { createHash } from 'node:crypto'
import type { StoredEvent } from '../../events/event-store.ts'
import { controlMetadataSchema } from '../../events/envelope.ts'
import type { Actor } from '../../events/envelope.ts'
import type { SqlExecutor, SqlStore } from '../../infra/postgres/sql-store.ts'

/**
 * The compliance audit trail (DESIGN.md §5): one record per control event, per tenant, append-only and
 * hash-chained. A record's hash covers every field of it and the previous record's hash, so altering,
 * deleting or re-linking one record breaks the chain where `verifyAuditChain` can point at it.
 */

export interface AuditRecord {
  tenantId: string
  /** 1, 2, 3… per tenant, with no gap. */
  seq: number
  eventId: string
  globalPosition: number
  type: string
  actorType: Actor['type']
  actorId: string
  sourceIp: string | null
  userAgent: string | null
  reason: string | null
  occurredAt: Date
  data: unknown
  prevHash: string
  hash: string
}

export interface AuditQuery {
  /** Inclusive. */
  from?: Date
  /** Exclusive, so consecutive windows never count a record twice. */
  to?: Date
  actorId?: string
  type?: string
  /** Records with a seq above this one: the cursor for the next page. */
  after?: number
  /** Default 100; more than 1000 is cut to 1000. */
  limit?: number
}

export type AuditVerification =
  | { ok: true; records: number }
  | {
      ok: false
      /** Records that verified before the break. */
      records: number
      brokenAtSeq: number
      reason: 'hash_mismatch' | 'prev_hash_mismatch' | 'sequence_gap'
    }

export const GENESIS_HASH = '0'.repeat(64)
const DEFAULT_LIMIT = 100
const MAX_LIMIT = 1000

/**
 * JSON with object keys sorted by UTF-16 code units and ECMAScript number formatting, as in RFC 8785
 * (JCS). Parsing the output and serialising it again gives the same text, which is what lets a hash taken
 * before the data went into jsonb be recomputed from what jsonb gives back.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  const withToJson = value as { toJSON?: () => unknown }
  if (typeof withToJson.toJSON === 'function') return canonicalJson(withToJson.toJSON())
  if (Array.isArray(value)) return `[${value.map((item: unknown) => canonicalJson(item)).join(',')}]`
  const object = value as Record<string, unknown>
  const keys = Object.keys(object)
    .filter((key) => object[key] !== undefined && typeof object[key] !== 'function' && typeof object[key] !== 'symbol')
    .sort()
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(object[key])}`).join(',')}}`
}

/**
 * SHA-256 hex over the canonical JSON array of the record's fields in this fixed order. Exported so that
 * anyone holding a JSONL export can recompute the chain without the database.
 */
export function auditRecordHash(record: Omit<AuditRecord, 'hash'>): string {
  const fields = [
    record.tenantId,
    record.seq,
    record.eventId.toLowerCase(),
    record.globalPosition,
    record.type,
    record.actorType,
    record.actorId,
    record.sourceIp,
    record.userAgent,
    record.reason,
    record.occurredAt.toISOString(),
    record.data,
    record.prevHash,
  ]
  return createHash('sha256').update(canonicalJson(fields)).digest('hex')
}

/**
 * The inline projection: call it inside the transaction that appended `events`, so the trail commits
 * with them or not at all and can never miss or reorder one. Events already in the trail (by id) are
 * skipped. An event without valid control metadata throws, which rolls the append back: a control event
 * the trail cannot attribute must not be accepted.
 */
export async function appendAuditRecords(tx: SqlExecutor, events: readonly StoredEvent[]): Promise<void> {
  if (events.length === 0) return
  const parsed = events.map((event) => {
    const metadata = controlMetadataSchema.safeParse(event.metadata)
    if (!metadata.success) {
      throw new TypeError(`Event ${event.id} (${event.type}) has no valid control metadata: ${metadata.error.message}`)
    }
    return { event, metadata: metadata.data }
  })

  // One lock per tenant, taken in a fixed order so that two batches spanning the same tenants cannot
  // deadlock. Held to commit: a concurrent append for the tenant waits here, then reads the head this
  // transaction wrote (READ COMMITTED takes a fresh snapshot per statement).
  const tenants = [...new Set(parsed.map((p) => p.metadata.tenantId))].sort()
  for (const tenantId of tenants) {
    await tx.query("SELECT pg_advisory_xact_lock(hashtextextended('supergate.audit:' || $1, 0))", [tenantId])
  }

  // Read after the locks, so a concurrent append of the same event has committed and is seen here.
  const ids = parsed.map((p) => p.event.id.toLowerCase())
  const existing = await tx.query<{ event_id: string }>(
    'SELECT event_id::text AS event_id FROM audit_log WHERE event_id = ANY($1::uuid[])',
    [ids],
  )
  const recorded = new Set(existing.rows.map((r) => r.event_id))

  const heads = new Map<string, { seq: number; hash: string }>()
  for (const tenantId of tenants) {
    const head = await tx.query<{ seq: number; hash: string }>(
      'SELECT seq, hash FROM audit_log WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1',
      [tenantId],
    )
    heads.set(tenantId, head.rows[0] ?? { seq: 0, hash: GENESIS_HASH })
  }

  for (const { event, metadata } of parsed) {
    const eventId = event.id.toLowerCase()
    if (recorded.has(eventId)) continue
    recorded.add(eventId)
    const head = heads.get(metadata.tenantId)!
    // The canonical text goes into jsonb, and the hash is taken over the same text's value.
    const dataJson = canonicalJson(event.data)
    const record: Omit<AuditRecord, 'hash'> = {
      tenantId: metadata.tenantId,
      seq: head.seq + 1,
      eventId,
      globalPosition: event.globalPosition,
      type: event.type,
      actorType: metadata.actor.type,
      actorId: metadata.actor.id,
      sourceIp: metadata.sourceIp,
      userAgent: metadata.userAgent,
      reason: metadata.reason,
      // timestamptz keeps microseconds but a Date only milliseconds: store what the hash can see again.
      occurredAt: new Date(metadata.occurredAt),
      data: JSON.parse(dataJson) as unknown,
      prevHash: head.hash,
    }
    const hash = auditRecordHash(record)
    await tx.query(
      `INSERT INTO audit_log (tenant_id, seq, event_id, global_position, type, actor_type, actor_id, source_ip,
                              user_agent, reason, occurred_at, data, prev_hash, hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14)`,
      [
        record.tenantId,
        record.seq,
        record.eventId,
        record.globalPosition,
        record.type,
        record.actorType,
        record.actorId,
        record.sourceIp,
        record.userAgent,
        record.reason,
        record.occurredAt,
        dataJson,
        record.prevHash,
        hash,
      ],
    )
    heads.set(metadata.tenantId, { seq: record.seq, hash })
  }
}

interface AuditRow {
  tenant_id: string
  seq: number
  event_id: string
  global_position: number
  type: string
  actor_type: Actor['type']
  actor_id: string
  source_ip: string | null
  user_agent: string | null
  reason: string | null
  occurred_at: Date
  data: unknown
  prev_hash: string
  hash: string
}

const COLUMNS = `tenant_id, seq, event_id::text AS event_id, global_position, type, actor_type, actor_id, source_ip,
  user_agent, reason, occurred_at, data, prev_hash, hash`

function toRecord(row: AuditRow): AuditRecord {
  return {
    tenantId: row.tenant_id,
    seq: row.seq,
    eventId: row.event_id,
    globalPosition: row.global_position,
    type: row.type,
    actorType: row.actor_type,
    actorId: row.actor_id,
    sourceIp: row.source_ip,
    userAgent: row.user_agent,
    reason: row.reason,
    occurredAt: row.occurred_at,
    data: row.data,
    prevHash: row.prev_hash,
    hash: row.hash,
  }
}

function pageSize(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIMIT
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`)
  return Math.min(limit, MAX_LIMIT)
}

/**
 * A tenant's records in seq order. Runs with the tenant context set, so RLS confines it to the tenant
 * when the store connects as the gateway's role; the `tenant_id` condition is the second wall.
 */
export async function queryAudit(sql: SqlStore, tenantId: string, filters: AuditQuery = {}): Promise<AuditRecord[]> {
  const conditions = ['tenant_id = $1', 'seq > $2']
  const params: unknown[] = [tenantId, filters.after ?? 0]
  const add = (condition: string, value: unknown): void => {
    params.push(value)
    conditions.push(condition.replace('?', `$${params.length}`))
  }
  if (filters.from !== undefined) add('occurred_at >= ?', filters.from)
  if (filters.to !== undefined) add('occurred_at < ?', filters.to)
  if (filters.actorId !== undefined) add('actor_id = ?', filters.actorId)
  if (filters.type !== undefined) add('type = ?', filters.type)
  params.push(pageSize(filters.limit))
  const text = `SELECT ${COLUMNS} FROM audit_log WHERE ${conditions.join(' AND ')} ORDER BY seq LIMIT $${params.length}`
  const result = await sql.transaction((tx) => tx.query<AuditRow>(text, params), { tenantId })
  return result.rows.map(toRecord)
}

/** Every matching record as one JSON object per line (each ending in `\n`), read a page at a time. */
export async function* exportAuditJsonl(
  sql: SqlStore,
  tenantId: string,
  filters: Omit<AuditQuery, 'limit'> = {},
): AsyncIterable<string> {
  let after = filters.after ?? 0
  for (;;) {
    const page = await queryAudit(sql, tenantId, { ...filters, after, limit: MAX_LIMIT })
    for (const record of page) yield `${JSON.stringify(record)}\n`
    if (page.length < MAX_LIMIT) return
    after = page.at(-1)!.seq
  }
}

/**
 * Walks the tenant's chain in seq order, recomputing every hash, and reports the first broken link:
 * a missing seq (`sequence_gap`, at the missing seq), a record whose `prevHash` is not its predecessor's
 * hash (`prev_hash_mismatch`: re-linked, or its predecessor was rewritten), or a record whose content no
 * longer matches its hash (`hash_mismatch`: altered). Records cut from the end of the chain, or a chain
 * rewritten from some record to the end, verify: only a head hash kept elsewhere can show those.
 */
export async function verifyAuditChain(sql: SqlStore, tenantId: string): Promise<AuditVerification> {
  let previous = { seq: 0, hash: GENESIS_HASH }
  for (;;) {
    const page = await queryAudit(sql, tenantId, { after: previous.seq, limit: MAX_LIMIT })
    for (const record of page) {
      const verified = previous.seq
      if (record.seq !== previous.seq + 1) {
        return { ok: false, records: verified, brokenAtSeq: previous.seq + 1, reason: 'sequence_gap' }
      }
      if (record.prevHash !== previous.hash) {
        return { ok: false, records: verified, brokenAtSeq: record.seq, reason: 'prev_hash_mismatch' }
      }
      if (auditRecordHash(record) !== record.hash) {
        return { ok: false, records: verified, brokenAtSeq: record.seq, reason: 'hash_mismatch' }
      }
      previous = record
    }
    if (page.length < MAX_LIMIT) return { ok: true, records: previous.seq }
  }
}
