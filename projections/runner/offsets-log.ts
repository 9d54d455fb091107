import type { EventLog } from '../../events/event-log.ts'
import type { SqlStore } from '../../infra/postgres/sql-store.ts'

/**
 * The log a reader's stored offsets belong to (`projection_offsets.log`, migration 0013), resolved once per
 * reader. Offsets stored before that migration have no log; the first time a reader learns its log, it
 * claims those its log could have given (none past the partition's end), unless it already has offsets of
 * its own in that log, on any partition. A deployment carries on where it was. A reader moved to another log (embedded to Kafka on
 * the same database) starts that log from its beginning, and so does a partition whose unclaimed offset lies
 * past the end (another log's, or a topic deleted and created again): the event ids it has applied keep the
 * money it already counted from being counted twice.
 */
export class OffsetsLog {
  readonly #log: EventLog
  readonly #sql: SqlStore
  readonly #consumer: string
  #id: Promise<string> | undefined

  constructor(log: EventLog, sql: SqlStore, consumer: string) {
    this.#log = log
    this.#sql = sql
    this.#consumer = consumer
  }

  /** The log's identity. Fails, and is tried again next time, while the log cannot be reached. */
  id(): Promise<string> {
    this.#id ??= this.#resolve().catch((error: unknown) => {
      this.#id = undefined
      throw error
    })
    return this.#id
  }

  async #resolve(): Promise<string> {
    const id = await this.#log.identity()
    const unclaimed = await this.#sql.query<{ topic: string; partition: number; next_offset: number | string }>(
      `SELECT topic, partition, next_offset FROM projection_offsets WHERE projection = $1 AND log = ''
       AND NOT EXISTS (SELECT 1 FROM projection_offsets WHERE projection = $1 AND log = $2)`,
      [this.#consumer, id],
    )
    if (unclaimed.rows.length === 0) return id
    const claim: { topic: string; partition: number }[] = []
    for (const topic of new Set(unclaimed.rows.map((r) => r.topic))) {
      const ends = new Map((await this.#log.endOffsets(topic)).map((e) => [e.partition, e.next]))
      for (const row of unclaimed.rows) {
        if (row.topic === topic && Number(row.next_offset) <= (ends.get(row.partition) ?? 0)) claim.push(row)
      }
    }
    // A second reader claiming at the same time waits for the first's row locks, then finds the rows claimed.
    await this.#sql.query(
      `UPDATE projection_offsets SET log = $2 WHERE projection = $1 AND log = ''
       AND (topic, partition) IN (SELECT * FROM unnest($3::text[], $4::int[]))
       AND NOT EXISTS (SELECT 1 FROM projection_offsets WHERE projection = $1 AND log = $2)`,
      [this.#consumer, id, claim.map((c) => c.topic), claim.map((c) => c.partition)],
    )
    return id
  }
}
