import type { ConsumedMessage, EventLog, MessageBatch, Subscription } from '../events/event-log.ts'
import { assertNoGap } from '../projections/runner/projection-runner.ts'
import type { SqlStore } from '../infra/postgres/sql-store.ts'
import type { AnalyticsStore } from './analytics-store.ts'
import { migrateAnalytics } from './schema.ts'
import { alreadyWritten, markWritten } from './sink-dedupe.ts'
import { rebuildRollups } from './rollup-repair.ts'
import type { TenantDay } from './rollup-repair.ts'
import { OffsetsLog } from '../projections/runner/offsets-log.ts'
import { SinkOffsets } from './sink-offsets.ts'
import type { PendingMark, Unreadable } from './sink-offsets.ts'
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
  /** As projections are named, for the lag metric: the consumer group. */
  readonly name: string
  readonly #log: EventLog
  readonly #analytics: AnalyticsStore
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
  readonly #offsets: SinkOffsets
  /** Rows written since start, for metrics and the benchmark. */
  written = 0

  constructor(options: UsageSinkOptions) {
    this.#log = options.eventLog
    this.#analytics = options.analytics
    this.#topics = options.topics
    this.#groupId = options.groupId ?? SINK_NAME
    this.name = this.#groupId
    // Offsets are kept per consumer group: two sinks of different groups (two ClickHouse targets) never share them.
    this.#offsets = new SinkOffsets(options.sql, this.#groupId, new OffsetsLog(options.eventLog, options.sql, this.#groupId))
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
      let failure: { error: unknown } | undefined
      try {
        await this.flush(waiting.map((w) => w.batch))
      } catch (error) {
        failure = { error }
        try {
          this.#onError?.(error)
        } catch {
          // A reporter that throws must not leave the batches waiting for ever.
        }
      }
      for (const w of waiting) {
        if (failure === undefined) w.resolve()
        else w.reject(failure.error)
      }
    })
  }

  /** Writes the batches' new usage events; the steps and what a crash at each leaves are below. */
  async flush(batches: readonly MessageBatch[]): Promise<FlushResult> {
    const partitions = batches.map((b) => ({ topic: b.topic, partition: b.partition }))
    const result = await this.#offsets.withLocked(partitions, async (stored, pending, storeOffsets) => {
      // 0. Tenant-days an earlier flush of these partitions marked and never cleared: its insert was cut short,
      //    perhaps between the fact table and the views. Their rollups are rebuilt from the facts first.
      if (pending.length > 0) await rebuildRollups(this.#analytics, uniqueTenantDays(pending))

      // A batch that starts past the stored offset would leave the events between unwritten for good.
      for (const b of batches) {
        const next = stored.get(`${b.topic}:${b.partition}`)
        if (next !== undefined && next > 0) assertNoGap(this.name, b, next)
      }
      const fresh = batches.flatMap((b) => b.messages.filter((m) => m.offset >= (stored.get(`${m.topic}:${m.partition}`) ?? 0)))
      const rows = new Map<string, { row: UsageRow; topic: string; partition: number }>()
      const unreadable: Unreadable[] = []
      for (const message of fresh) {
        const read = readMessage(message)
        if (read === undefined) continue
        if ('reason' in read) unreadable.push({ message, reason: read.reason })
        else if (!rows.has(read.row.event_id)) rows.set(read.row.event_id, { row: read.row, topic: message.topic, partition: message.partition })
      }
      const written = await alreadyWritten(this.#analytics, [...rows.values()].map((r) => r.row))
      const toInsert = [...rows.values()].filter((r) => !written.has(r.row.event_id))
      const marks = uniqueMarks(toInsert.map((r) => ({ topic: r.topic, partition: r.partition, tenantId: r.row.tenant_id, day: r.row.occurred_at.slice(0, 10) })))

      // 1. Mark the tenant-days about to be written, committed before the insert.
      //    Dies here: nothing written; the marks make the next flush rebuild rollups that need no rebuilding.
      await this.#offsets.markPending(marks)

      // 2. Insert the rows; the materialized views fill the rollups from the same insert.
      //    Dies here, or it fails: no offset is stored, so every batch comes again. Rows that made it into the
      //    facts are found by alreadyWritten and not inserted twice; the marks rebuild any rollup they missed.
      await this.#analytics.insert('usage_events', toInsert.map((r) => r.row))

      // 3. Store the offsets, park what could not be read and clear the marks, in the locks' transaction.
      //    Dies here: as in 2; the rows are in, so the batches come again and are all skipped.
      await storeOffsets(fresh, unreadable, [...pending, ...marks])
      return { toInsert: toInsert.map((r) => r.row), unreadable: unreadable.length }
    })

    // 4. Mark the dedupe keys: the ids written, so that a later copy of an event is skipped cheaply.
    //    Dies here: the offsets are stored, so these batches do not come again; a copy of one of their
    //    events appended later is still found in the fact table.
    await markWritten(this.#analytics, result.toInsert)

    this.written += result.toInsert.length
    // Returning lets each batch's handleBatch resolve; the log then commits its own offset (where fetching
    // resumes). Dies before that commit: the log delivers the batches again and the stored offsets skip them.
    const inserted = result.toInsert.length
    return { inserted, skipped: batches.reduce((n, b) => n + b.messages.length, 0) - inserted - result.unreadable, deadLetters: result.unreadable }
  }

  /** Per partition (`topic:partition`), how many messages the log holds past what the sink has written. */
  async lag(): Promise<Record<string, number>> {
    const stored = await this.#offsets.stored()
    const lag: Record<string, number> = {}
    for (const topic of this.#topics) {
      for (const end of await this.#log.endOffsets(topic)) {
        const key = `${topic}:${end.partition}`
        lag[key] = Math.max(0, end.next - (stored.get(key) ?? 0))
      }
    }
    return lag
  }
}

function uniqueMarks(marks: readonly PendingMark[]): PendingMark[] {
  return [...new Map(marks.map((m) => [`${m.topic}:${m.partition}:${m.tenantId}:${m.day}`, m])).values()]
}

function uniqueTenantDays(marks: readonly PendingMark[]): TenantDay[] {
  return [...new Map(marks.map((m) => [`${m.tenantId}:${m.day}`, { tenantId: m.tenantId, day: m.day }])).values()]
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
