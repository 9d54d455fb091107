import type { ConsumedMessage } from '../events/event-log.ts'
import type { SqlExecutor, SqlStore } from '../infra/postgres/sql-store.ts'
import type { OffsetsLog } from '../projections/runner/offsets-log.ts'

export interface Unreadable {
  message: ConsumedMessage
  reason: string
}

/** A tenant-day a flush is writing, on the partition its events come from (analytics_sink_pending). */
export interface PendingMark {
  topic: string
  partition: number
  tenantId: string
  day: string
}

/**
 * Stores how far a flush got: the next offset of each partition it read, the messages it parked; and clears
 * the pending marks it has dealt with.
 */
export type StoreOffsets = (fresh: readonly ConsumedMessage[], unreadable: readonly Unreadable[], cleared: readonly PendingMark[]) => Promise<void>

/**
 * The sink's offsets and dead letters in the SQL store, in the projections' tables under the sink's name.
 * A flush runs holding its partitions' offset rows: on PostgreSQL a transaction locks them (FOR UPDATE), so
 * that two gateways handed the same partition during a consumer-group rebalance write its events one after
 * the other, the second finding them written; the offsets are stored in that transaction. PGlite belongs to
 * one process, which runs one flush at a time, so there it holds no transaction (and no connection that the
 * hot path waits for) while ClickHouse writes.
 */
export class SinkOffsets {
  readonly #sql: SqlStore
  readonly #name: string
  /** Offsets are kept per log (migration 0013): those of the log the sink reads. */
  readonly #log: OffsetsLog

  constructor(sql: SqlStore, name: string, log: OffsetsLog) {
    this.#sql = sql
    this.#name = name
    this.#log = log
  }

  async stored(): Promise<Map<string, number>> {
    const rows = await this.#sql.query<{ topic: string; partition: number; next_offset: number | string }>(
      'SELECT topic, partition, next_offset FROM projection_offsets WHERE projection = $1 AND log = $2',
      [this.#name, await this.#log.id()],
    )
    return new Map(rows.rows.map((r) => [`${r.topic}:${r.partition}`, Number(r.next_offset)]))
  }

  /**
   * Records the tenant-days an insert is about to write, committed before it starts: if the insert is cut
   * short, the marks outlive it and the next flush of their partitions rebuilds those rollups.
   */
  async markPending(marks: readonly PendingMark[]): Promise<void> {
    if (marks.length === 0) return
    await this.#sql.query(
      `INSERT INTO analytics_sink_pending (consumer, topic, partition, tenant_id, day)
       SELECT $1, * FROM unnest($2::text[], $3::int[], $4::text[], $5::date[]) ON CONFLICT DO NOTHING`,
      [this.#name, marks.map((m) => m.topic), marks.map((m) => m.partition), marks.map((m) => m.tenantId), marks.map((m) => m.day)],
    )
  }

  /**
   * Runs `work` with the stored offsets of `partitions` and the pending marks left on them, held as the class
   * says; `store` records its progress. Partitions that only hold marks of a flush cut short are held too.
   */
  async withLocked<T>(
    partitions: readonly { topic: string; partition: number }[],
    work: (stored: Map<string, number>, pending: PendingMark[], store: StoreOffsets) => Promise<T>,
  ): Promise<T> {
    const log = await this.#log.id()
    if (this.#sql.adapter !== 'postgres') {
      return work(await this.stored(), await this.#pending(this.#sql), (fresh, unreadable, cleared) =>
        this.#sql.transaction((tx) => this.#write(tx, log, fresh, unreadable, cleared)),
      )
    }
    const withMarks = [...partitions, ...(await this.#pending(this.#sql))]
    // In one order, so that two flushes over overlapping partitions cannot deadlock.
    const sorted = [...new Map(withMarks.map((p) => [`${p.topic}:${p.partition}`, { topic: p.topic, partition: p.partition }])).values()].sort(
      (a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition,
    )
    return this.#sql.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO projection_offsets (projection, log, topic, partition, next_offset)
         SELECT $1, $5, * FROM unnest($2::text[], $3::int[], $4::bigint[]) ON CONFLICT DO NOTHING`,
        [this.#name, sorted.map((p) => p.topic), sorted.map((p) => p.partition), sorted.map(() => 0), log],
      )
      const locked = await tx.query<{ topic: string; partition: number; next_offset: number | string }>(
        `SELECT topic, partition, next_offset FROM projection_offsets
         WHERE projection = $1 AND log = $4 AND (topic, partition) IN (SELECT * FROM unnest($2::text[], $3::int[]))
         ORDER BY topic, partition FOR UPDATE`,
        [this.#name, sorted.map((p) => p.topic), sorted.map((p) => p.partition), log],
      )
      const stored = new Map(locked.rows.map((r) => [`${r.topic}:${r.partition}`, Number(r.next_offset)]))
      // Read again under the locks: another gateway may have rebuilt and cleared some meanwhile.
      const held = new Set(sorted.map((p) => `${p.topic}:${p.partition}`))
      const pending = (await this.#pending(tx)).filter((m) => held.has(`${m.topic}:${m.partition}`))
      return work(stored, pending, (fresh, unreadable, cleared) => this.#write(tx, log, fresh, unreadable, cleared))
    })
  }

  async #pending(sql: SqlExecutor): Promise<PendingMark[]> {
    const rows = await sql.query<{ topic: string; partition: number; tenant_id: string; day: string | Date }>(
      `SELECT topic, partition, tenant_id, to_char(day, 'YYYY-MM-DD') AS day FROM analytics_sink_pending WHERE consumer = $1`,
      [this.#name],
    )
    return rows.rows.map((r) => ({ topic: r.topic, partition: r.partition, tenantId: r.tenant_id, day: String(r.day) }))
  }

  async #write(tx: SqlExecutor, log: string, fresh: readonly ConsumedMessage[], unreadable: readonly Unreadable[], cleared: readonly PendingMark[]): Promise<void> {
    if (cleared.length > 0) {
      await tx.query(
        `DELETE FROM analytics_sink_pending WHERE consumer = $1
         AND (topic, partition, tenant_id, day) IN (SELECT * FROM unnest($2::text[], $3::int[], $4::text[], $5::date[]))`,
        [this.#name, cleared.map((m) => m.topic), cleared.map((m) => m.partition), cleared.map((m) => m.tenantId), cleared.map((m) => m.day)],
      )
    }
    const next = new Map<string, { topic: string; partition: number; offset: number }>()
    for (const m of fresh) {
      const key = `${m.topic}:${m.partition}`
      if ((next.get(key)?.offset ?? -1) < m.offset + 1) next.set(key, { topic: m.topic, partition: m.partition, offset: m.offset + 1 })
    }
    const offsets = [...next.values()]
    if (offsets.length > 0) {
      // GREATEST: an offset never moves backwards, whoever stores it.
      await tx.query(
        `INSERT INTO projection_offsets (projection, log, topic, partition, next_offset)
         SELECT $1, $5, * FROM unnest($2::text[], $3::int[], $4::bigint[])
         ON CONFLICT (projection, log, topic, partition) DO UPDATE SET next_offset = GREATEST(projection_offsets.next_offset, EXCLUDED.next_offset)`,
        [this.#name, offsets.map((o) => o.topic), offsets.map((o) => o.partition), offsets.map((o) => o.offset), log],
      )
    }
    for (const { message, reason } of unreadable) {
      await tx.query(
        `INSERT INTO projection_dead_letters (projection, topic, partition, "offset", key, value, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
        [this.#name, message.topic, message.partition, message.offset, message.key, message.value, reason],
      )
    }
  }
}
