import type { ConsumedMessage, EventLog, MessageBatch, Subscription } from '../events/event-log.ts'
import type { SqlStore } from '../infra/postgres/sql-store.ts'
import type { AnalyticsStore } from './analytics-store.ts'
import { migrateAnalytics } from './schema.ts'
import { UnreadableUsageEvent, USAGE_FACT_TYPES, usageRow } from './usage-rows.ts'
import type { UsageRow } from './usage-rows.ts'

/** The sink's name in the SQL store's offset and dead-letter tables, and its consumer group. */
export const SINK_NAME = 'analytics-sink'

export interface UsageSinkOptions {
  eventLog: EventLog
  analytics: AnalyticsStore
  /** Where the sink stores the offsets it has written and parks what it cannot read (the projections' tables). */
  sql: SqlStore
  topics: readonly string[]
  /** The consumer group (default `analytics-sink`); a benchmark or a second deployment on one cluster names its own. */
  groupId?: string
  /** A flush starts once this many messages wait (default 10,000). */
  maxRows?: number
  /** …or once the oldest has waited this long (default 1,000 ms)… */
  maxWaitMs?: number
  /** …or once no batch has arrived for this long (default 25 ms): the log has handed over what it had. */
  idleMs?: number
  /** Told of a flush that failed; its batches are delivered again. */
  onError?: (error: unknown) => void
}

interface Waiting {
  batch: MessageBatch
  resolve: () => void
  reject: (error: unknown) => void
}

export interface FlushResult {
  /** Rows written to usage_events. */
  inserted: number
  /** Messages below the stored offsets or events already written: delivered again, not counted again. */
  skipped: number
  deadLetters: number
}

/**
 * Writes usage events into ClickHouse (DESIGN.md §6), after OpenMeter's sink: batches by count or time;
 * insert, then store offsets, then mark dedupe keys. Each batch the log delivers waits in `handleBatch` until
 * the flush that wrote it has finished, so the log commits its own offset only after the rows are in; a
 * flush that fails rejects every batch in it and the log delivers them all again.
 *
 * An event is written once however often it arrives, by two checks before each insert: the offsets the
 * sink stored (a batch delivered again) and the event ids already written (the same event appended twice,
 * or a batch delivered again after a crash between the insert and storing its offsets).
 */
export class UsageSink {
  /** As projections are named, for the lag metric. */
  readonly name = SINK_NAME
  readonly #log: EventLog
  readonly #analytics: AnalyticsStore
  readonly #sql: SqlStore
  readonly #topics: readonly string[]
  readonly #groupId: string
  readonly #maxRows: number
  readonly #maxWaitMs: number
  readonly #idleMs: number
  readonly #onError: ((error: unknown) => void) | undefined
  #subscription: Subscription | undefined
  #waiting: Waiting[] = []
  #waitingRows = 0
  #firstAt = 0
  #timer: NodeJS.Timeout | undefined
  #flushing: Promise<void> = Promise.resolve()
  /** Rows written since start, for metrics and the benchmark. */
  written = 0

  constructor(options: UsageSinkOptions) {
    this.#log = options.eventLog
    this.#analytics = options.analytics
    this.#sql = options.sql
    this.#topics = options.topics
    this.#groupId = options.groupId ?? SINK_NAME
    this.#maxRows = options.maxRows ?? 10_000
    this.#maxWaitMs = options.maxWaitMs ?? 1_000
    this.#idleMs = options.idleMs ?? 25
    this.#onError = options.onError
  }

  /** Migrates the ClickHouse schema, then follows the topics as the consumer group `analytics-sink`. */
  async start(): Promise<void> {
    if (this.#subscription !== undefined) return
    await migrateAnalytics(this.#analytics)
    this.#subscription = await this.#log.subscribe({
      groupId: this.#groupId,
      topics: this.#topics,
      fromBeginning: true,
      // Kafka hands over several partitions' batches at once, so that one flush writes them together.
      concurrency: 8,
      // About 10,000 usage events: a batch fills a flush by itself.
      maxBatchBytes: 8 * 1024 * 1024,
      handleBatch: (batch) => this.handleBatch(batch),
    })
  }

  async stop(): Promise<void> {
    const subscription = this.#subscription
    this.#subscription = undefined
    await subscription?.stop()
    await this.#flushing
  }

  /** Resolves once the batch is written (or was written before). Public so that a test can deliver a batch again. */
  handleBatch(batch: MessageBatch): Promise<void> {
    if (batch.messages.length === 0) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      if (this.#waiting.length === 0) this.#firstAt = Date.now()
      this.#waiting.push({ batch, resolve, reject })
      this.#waitingRows += batch.messages.length
      this.#schedule()
    })
  }

  #schedule(): void {
    clearTimeout(this.#timer)
    if (this.#waitingRows >= this.#maxRows) return this.#startFlush()
    const untilMax = this.#firstAt + this.#maxWaitMs - Date.now()
    this.#timer = setTimeout(() => this.#startFlush(), Math.max(0, Math.min(this.#idleMs, untilMax)))
  }

  #startFlush(): void {
    clearTimeout(this.#timer)
    const waiting = this.#waiting
    this.#waiting = []
    this.#waitingRows = 0
    if (waiting.length === 0) return
    // One flush at a time, in arrival order: a partition's next batch never overtakes its previous one.
    this.#flushing = this.#flushing.then(async () => {
      try {
        await this.flush(waiting.map((w) => w.batch))
        for (const w of waiting) w.resolve()
      } catch (error) {
        this.#onError?.(error)
        for (const w of waiting) w.reject(error)
      }
    })
  }

  /** Writes the batches' new usage events; the steps and what a crash at each leaves are below. */
  async flush(batches: readonly MessageBatch[]): Promise<FlushResult> {
    const stored = await this.#storedOffsets()
    const fresh = batches.flatMap((b) => b.messages.filter((m) => m.offset >= (stored.get(`${m.topic}:${m.partition}`) ?? 0)))
    const rows = new Map<string, UsageRow>()
    const unreadable: { message: ConsumedMessage; reason: string }[] = []
    for (const message of fresh) {
      const read = readMessage(message)
      if (read === undefined) continue
      if ('reason' in read) unreadable.push({ message, reason: read.reason })
      else if (!rows.has(read.row.event_id)) rows.set(read.row.event_id, read.row)
    }
    const written = await this.#alreadyWritten([...rows.values()])
    const toInsert = [...rows.values()].filter((r) => !written.has(r.event_id))

    // 1. Insert the rows; the materialized views fill the rollups from the same insert.
    //    Dies here: no offset is stored, so every batch comes again. Rows that made it in are found by
    //    #alreadyWritten (the fact table itself) and are not inserted twice.
    await this.#analytics.insert('usage_events', toInsert)

    // 2. Store the offsets, and park what could not be read, in one SQL transaction.
    //    Dies here: as in 1; the rows are in, so the batches come again and are all skipped.
    await this.#storeOffsets(fresh, unreadable)

    // 3. Mark the dedupe keys: the ids written, so that a later copy of an event is skipped cheaply.
    //    Dies here: the offsets are stored, so these batches do not come again; a copy of one of their
    //    events appended later is still found in the fact table.
    await this.#analytics.insert('usage_event_ids', toInsert.map((r) => ({ event_id: r.event_id })))

    this.written += toInsert.length
    // Returning lets each batch's handleBatch resolve; the log then commits its own offset (where fetching
    // resumes). Dies before that commit: the log delivers the batches again and the stored offsets skip them.
    return { inserted: toInsert.length, skipped: batches.reduce((n, b) => n + b.messages.length, 0) - toInsert.length - unreadable.length, deadLetters: unreadable.length }
  }

  async #storedOffsets(): Promise<Map<string, number>> {
    const rows = await this.#sql.query<{ topic: string; partition: number; next_offset: number | string }>(
      'SELECT topic, partition, next_offset FROM projection_offsets WHERE projection = $1',
      [SINK_NAME],
    )
    return new Map(rows.rows.map((r) => [`${r.topic}:${r.partition}`, Number(r.next_offset)]))
  }

  /**
   * The ids among `rows` that ClickHouse holds already: marked as dedupe keys, or (for a crash between
   * an insert and its marking) present in the fact table, looked up by its primary key.
   */
  async #alreadyWritten(rows: readonly UsageRow[]): Promise<Set<string>> {
    const found = new Set<string>()
    // A server takes query parameters in the URL (at most 1 MiB by default): 4,000 ids are about 150 kB.
    for (let i = 0; i < rows.length; i += 4_000) {
      for (const id of await this.#written(rows.slice(i, i + 4_000))) found.add(id)
    }
    return found
  }

  async #written(rows: readonly UsageRow[]): Promise<string[]> {
    const ids = rows.map((r) => r.event_id)
    const tenants = [...new Set(rows.map((r) => r.tenant_id))]
    let from = rows[0]!.occurred_at
    let to = from
    for (const r of rows) {
      if (r.occurred_at < from) from = r.occurred_at
      if (r.occurred_at > to) to = r.occurred_at
    }
    const found = await this.#analytics.query<{ event_id: string }>(
      `SELECT event_id FROM usage_event_ids WHERE event_id IN {ids:Array(String)}
       UNION DISTINCT
       SELECT event_id FROM usage_events
       WHERE tenant_id IN {tenants:Array(String)} AND occurred_at BETWEEN {from:DateTime64(3, 'UTC')} AND {to:DateTime64(3, 'UTC')}
         AND event_id IN {ids:Array(String)}`,
      { ids, tenants, from, to },
    )
    return found.map((r) => r.event_id)
  }

  async #storeOffsets(fresh: readonly ConsumedMessage[], unreadable: readonly { message: ConsumedMessage; reason: string }[]): Promise<void> {
    const next = new Map<string, { topic: string; partition: number; offset: number }>()
    for (const m of fresh) {
      const key = `${m.topic}:${m.partition}`
      if ((next.get(key)?.offset ?? -1) < m.offset + 1) next.set(key, { topic: m.topic, partition: m.partition, offset: m.offset + 1 })
    }
    if (next.size === 0) return
    const offsets = [...next.values()]
    await this.#sql.transaction(async (tx) => {
      // GREATEST: two sinks handed the same partition during a rebalance never move it backwards.
      await tx.query(
        `INSERT INTO projection_offsets (projection, topic, partition, next_offset)
         SELECT $1, * FROM unnest($2::text[], $3::int[], $4::bigint[])
         ON CONFLICT (projection, topic, partition) DO UPDATE SET next_offset = GREATEST(projection_offsets.next_offset, EXCLUDED.next_offset)`,
        [SINK_NAME, offsets.map((o) => o.topic), offsets.map((o) => o.partition), offsets.map((o) => o.offset)],
      )
      for (const { message, reason } of unreadable) {
        await tx.query(
          `INSERT INTO projection_dead_letters (projection, topic, partition, "offset", key, value, reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
          [SINK_NAME, message.topic, message.partition, message.offset, message.key, message.value, reason],
        )
      }
    })
  }

  /** Per partition (`topic:partition`), how many messages the log holds past what the sink has written. */
  async lag(): Promise<Record<string, number>> {
    const stored = await this.#storedOffsets()
    const lag: Record<string, number> = {}
    for (const topic of this.#topics) {
      for (const last of await this.#log.readTail(topic)) {
        const key = `${topic}:${last.partition}`
        lag[key] = Math.max(0, last.offset + 1 - (stored.get(key) ?? 0))
      }
    }
    return lag
  }
}

/** A usage fact, a reason to park the message, or undefined for an event that is not a usage fact. */
function readMessage(message: ConsumedMessage): { row: UsageRow } | { reason: string } | undefined {
  let json: unknown
  try {
    json = JSON.parse(message.value.toString('utf8'))
  } catch (error) {
    return { reason: `not JSON: ${(error as Error).message}` }
  }
  const type = (json as { type?: unknown } | null)?.type
  if (typeof type === 'string' && !USAGE_FACT_TYPES.has(type)) return undefined
  try {
    return { row: usageRow(json) }
  } catch (error) {
    if (error instanceof UnreadableUsageEvent) return { reason: error.message }
    throw error
  }
}
