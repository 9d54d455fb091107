import type { ConsumedMessage } from '../events/event-log.ts'
import type { SqlExecutor, SqlStore } from '../infra/postgres/sql-store.ts'

export interface Unreadable {
  message: ConsumedMessage
  reason: string
}

/** Stores how far a flush got: the next offset of each partition it read, and the messages it parked. */
export type StoreOffsets = (fresh: readonly ConsumedMessage[], unreadable: readonly Unreadable[]) => Promise<void>

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

  constructor(sql: SqlStore, name: string) {
    this.#sql = sql
    this.#name = name
  }

  async stored(): Promise<Map<string, number>> {
    const rows = await this.#sql.query<{ topic: string; partition: number; next_offset: number | string }>(
      'SELECT topic, partition, next_offset FROM projection_offsets WHERE projection = $1',
      [this.#name],
    )
    return new Map(rows.rows.map((r) => [`${r.topic}:${r.partition}`, Number(r.next_offset)]))
  }

  /** Runs `work` with the stored offsets of `partitions`, held as the class says; `store` records its progress. */
  async withLocked<T>(partitions: readonly { topic: string; partition: number }[], work: (stored: Map<string, number>, store: StoreOffsets) => Promise<T>): Promise<T> {
    if (this.#sql.adapter !== 'postgres') {
      return work(await this.stored(), (fresh, unreadable) => this.#sql.transaction((tx) => this.#write(tx, fresh, unreadable)))
    }
    // In one order, so that two flushes over overlapping partitions cannot deadlock.
    const sorted = [...new Map(partitions.map((p) => [`${p.topic}:${p.partition}`, p])).values()].sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition)
    return this.#sql.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO projection_offsets (projection, topic, partition, next_offset)
         SELECT $1, * FROM unnest($2::text[], $3::int[], $4::bigint[]) ON CONFLICT DO NOTHING`,
        [this.#name, sorted.map((p) => p.topic), sorted.map((p) => p.partition), sorted.map(() => 0)],
      )
      const locked = await tx.query<{ topic: string; partition: number; next_offset: number | string }>(
        `SELECT topic, partition, next_offset FROM projection_offsets
         WHERE projection = $1 AND (topic, partition) IN (SELECT * FROM unnest($2::text[], $3::int[]))
         ORDER BY topic, partition FOR UPDATE`,
        [this.#name, sorted.map((p) => p.topic), sorted.map((p) => p.partition)],
      )
      const stored = new Map(locked.rows.map((r) => [`${r.topic}:${r.partition}`, Number(r.next_offset)]))
      return work(stored, (fresh, unreadable) => this.#write(tx, fresh, unreadable))
    })
  }

  async #write(tx: SqlExecutor, fresh: readonly ConsumedMessage[], unreadable: readonly Unreadable[]): Promise<void> {
    const next = new Map<string, { topic: string; partition: number; offset: number }>()
    for (const m of fresh) {
      const key = `${m.topic}:${m.partition}`
      if ((next.get(key)?.offset ?? -1) < m.offset + 1) next.set(key, { topic: m.topic, partition: m.partition, offset: m.offset + 1 })
    }
    const offsets = [...next.values()]
    if (offsets.length > 0) {
      // GREATEST: an offset never moves backwards, whoever stores it.
      await tx.query(
        `INSERT INTO projection_offsets (projection, topic, partition, next_offset)
         SELECT $1, * FROM unnest($2::text[], $3::int[], $4::bigint[])
         ON CONFLICT (projection, topic, partition) DO UPDATE SET next_offset = GREATEST(projection_offsets.next_offset, EXCLUDED.next_offset)`,
        [this.#name, offsets.map((o) => o.topic), offsets.map((o) => o.partition), offsets.map((o) => o.offset)],
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
