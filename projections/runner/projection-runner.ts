import { z } from 'zod'
import { envelopeSchema } from '../../events/envelope.ts'
import type { Envelope } from '../../events/envelope.ts'
import type { ConsumedMessage, EventLog, MessageBatch, Subscription } from '../../events/event-log.ts'
import type { SqlExecutor, SqlStore } from '../../infra/postgres/sql-store.ts'
import { OffsetsLog } from './offsets-log.ts'

/**
 * Thrown by a projection's reader (see `readEvents`) for an event whose data it cannot read: the runner
 * records the message as a dead letter and goes on, instead of retrying it forever.
 */
export class InvalidEventDataError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'InvalidEventDataError'
  }
}

/** Hands the runner an event whose data a projection cannot read; the runner records it as a dead letter. */
export type RejectEvent = (envelope: Envelope, reason: string) => void

export interface Projection {
  handles(type: string): boolean
  /**
   * Applies a batch's events (those it handles, in log order, each seen for the first time) inside the
   * runner's transaction, so that it can write aggregates once per batch rather than once per event. An
   * event whose data it cannot read goes to `reject` and is not applied; anything thrown rolls the whole
   * batch back and the log delivers it again.
   */
  applyBatch(tx: SqlExecutor, envelopes: readonly Envelope[], reject: RejectEvent): Promise<void>
  /** Deletes everything the projection wrote, for `rebuild()`. */
  reset?(tx: SqlExecutor): Promise<void>
}

export interface ProjectionErrorContext {
  projection: string
  topic: string
  partition: number
}

export interface ProjectionRunnerOptions {
  name: string
  eventLog: EventLog
  sql: SqlStore
  topics: readonly string[]
  projection: Projection
  /** Told of a batch that failed; the event log delivers it again. */
  onError?: (error: unknown, context: ProjectionErrorContext) => void
}

/** The projection was rebuilt by another runner: this one's consumer group reads a stale generation. */
export class StaleGenerationError extends Error {
  constructor(projection: string, mine: number, current: number) {
    super(`Projection ${projection} is at generation ${current}; this runner reads generation ${mine}`)
    this.name = 'StaleGenerationError'
  }
}

/**
 * The envelope as the runner accepts it: envelope.ts wants version ≥ 1, but `request.completed` had a version
 * 0 before the envelope settled (events/catalogue/registry.ts), and a spooled v0 event is still money.
 */
const incomingEnvelopeSchema = envelopeSchema.extend({ version: z.number().int().min(0) })

/**
 * Reads each envelope with `read`; one that throws `InvalidEventDataError` goes to `reject` and is left out.
 * For a projection's `applyBatch`, before it writes anything.
 */
export function readEvents<T>(envelopes: readonly Envelope[], read: (envelope: Envelope) => T, reject: RejectEvent): { envelope: Envelope; value: T }[] {
  const out: { envelope: Envelope; value: T }[] = []
  for (const envelope of envelopes) {
    try {
      out.push({ envelope, value: read(envelope) })
    } catch (error) {
      if (!(error instanceof InvalidEventDataError)) throw error
      reject(envelope, error.message)
    }
  }
  return out
}

/** The log handed over a batch that starts after the next message the consumer expects: it must not be applied. */
export class OffsetGapError extends Error {
  constructor(consumer: string, batch: MessageBatch, expected: number) {
    super(`${consumer}: ${batch.topic}:${batch.partition} delivered from offset ${batch.messages[0]!.offset}, but ${expected} is next; not applied, delivered again`)
    this.name = 'OffsetGapError'
  }
}

/** Throws OffsetGapError when `batch` begins after `expected` (what the consumer stored as its next offset). */
export function assertNoGap(consumer: string, batch: MessageBatch, expected: number): void {
  const first = batch.messages[0]
  if (first !== undefined && first.offset > expected) throw new OffsetGapError(consumer, batch, expected)
}

type Parsed = { message: ConsumedMessage; envelope: Envelope } | { message: ConsumedMessage; reason: string }

function parseMessage(message: ConsumedMessage): Parsed {
  let json: unknown
  try {
    json = JSON.parse(message.value.toString('utf8'))
  } catch (error) {
    return { message, reason: `not JSON: ${(error as Error).message}` }
  }
  const parsed = incomingEnvelopeSchema.safeParse(json)
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    return { message, reason: `not an envelope: ${issues.join('; ')}` }
  }
  return { message, envelope: parsed.data }
}

/**
 * Runs one projection as the consumer group `projection-<name>` (DESIGN.md §5). Each delivered batch is
 * applied in ONE transaction that also stores the projection's next offset per partition, so its effects
 * happen exactly once: a batch delivered again finds its offsets already stored and applies nothing, and
 * a process that dies mid-batch leaves nothing of it behind. The consumer group's committed offset only
 * says where fetching resumes; the stored offset decides what is applied.
 */
export class ProjectionRunner {
  readonly name: string
  readonly #log: EventLog
  readonly #sql: SqlStore
  readonly #topics: readonly string[]
  readonly #projection: Projection
  readonly #onError: ProjectionRunnerOptions['onError']
  readonly #offsetsLog: OffsetsLog
  #subscription: Subscription | undefined
  #generation = 0

  constructor(options: ProjectionRunnerOptions) {
    if (options.topics.length === 0) throw new RangeError('A projection needs at least one topic')
    this.name = options.name
    this.#log = options.eventLog
    this.#sql = options.sql
    this.#topics = options.topics
    this.#projection = options.projection
    this.#onError = options.onError
    this.#offsetsLog = new OffsetsLog(options.eventLog, options.sql, options.name)
  }

  /** The consumer group of a generation: a rebuilt projection reads the log afresh through a new group. */
  groupId(generation = this.#generation): string {
    return generation === 0 ? `projection-${this.name}` : `projection-${this.name}.g${generation}`
  }

  async start(): Promise<void> {
    if (this.#subscription !== undefined) return
    // The row must exist for a batch's FOR SHARE to lock it against a concurrent rebuild.
    await this.#sql.query(
      'INSERT INTO projection_generations (projection, generation) VALUES ($1, 0) ON CONFLICT DO NOTHING',
      [this.name],
    )
    this.#generation = await this.#currentGeneration(this.#sql)
    this.#subscription = await this.#log.subscribe({
      groupId: this.groupId(),
      topics: this.#topics,
      fromBeginning: true,
      handleBatch: async (batch) => {
        try {
          await this.applyBatch(batch)
        } catch (error) {
          this.#onError?.(error, { projection: this.name, topic: batch.topic, partition: batch.partition })
          throw error
        }
      },
    })
  }

  async stop(): Promise<void> {
    const subscription = this.#subscription
    this.#subscription = undefined
    await subscription?.stop()
  }

  /**
   * Applies one batch of one partition, exactly once. Public so that a test can deliver a batch again,
   * as the event log does after a crash between this transaction and its own commit.
   */
  async applyBatch(batch: MessageBatch): Promise<void> {
    if (batch.messages.length === 0) return
    const log = await this.#offsetsLog.id()
    await this.#sql.transaction(async (tx) => {
      // FOR SHARE: a rebuild (which updates this row) waits for the batch, and the batch for the rebuild.
      const generation = await this.#currentGeneration(tx, 'FOR SHARE')
      if (generation !== this.#generation) throw new StaleGenerationError(this.name, this.#generation, generation)
      // The row lock serialises two runners handed the same partition during a consumer-group rebalance.
      const created = await tx.query(
        `INSERT INTO projection_offsets (projection, log, topic, partition, next_offset) VALUES ($1, $4, $2, $3, 0)
         ON CONFLICT DO NOTHING`,
        [this.name, batch.topic, batch.partition, log],
      )
      const stored = await tx.query<{ next_offset: number }>(
        `SELECT next_offset FROM projection_offsets WHERE projection = $1 AND log = $4 AND topic = $2 AND partition = $3 FOR UPDATE`,
        [this.name, batch.topic, batch.partition, log],
      )
      const from = stored.rows[0]!.next_offset
      // A batch that starts past the stored offset would leave the messages between unapplied for good.
      if (created.rowCount === 0) assertNoGap(this.name, batch, Number(from))
      const fresh = batch.messages.filter((m) => m.offset >= from)
      if (fresh.length === 0) return

      const parsed = fresh.map(parseMessage)
      const handled = parsed.flatMap((p) => ('envelope' in p && this.#projection.handles(p.envelope.type) ? [p.envelope.id] : []))
      const firstTime = await this.#markApplied(tx, handled)
      const toApply: Envelope[] = []
      const messageOf = new Map<Envelope, ConsumedMessage>()
      for (const p of parsed) {
        if (!('envelope' in p)) {
          await this.#deadLetter(tx, p.message, p.reason)
          continue
        }
        // Not handled, or the same event id seen before (a message appended twice): nothing to apply.
        if (!firstTime.has(p.envelope.id)) continue
        firstTime.delete(p.envelope.id)
        toApply.push(p.envelope)
        messageOf.set(p.envelope, p.message)
      }
      const rejected: { envelope: Envelope; reason: string }[] = []
      if (toApply.length > 0) await this.#projection.applyBatch(tx, toApply, (envelope, reason) => rejected.push({ envelope, reason }))
      for (const { envelope, reason } of rejected) {
        const message = messageOf.get(envelope)
        if (message !== undefined) await this.#deadLetter(tx, message, `invalid ${envelope.type} v${envelope.version}: ${reason}`)
      }
      await tx.query(
        'UPDATE projection_offsets SET next_offset = $4 WHERE projection = $1 AND log = $5 AND topic = $2 AND partition = $3',
        [this.name, batch.topic, batch.partition, fresh.at(-1)!.offset + 1, log],
      )
    })
    // If the process dies here, the event log delivers the batch again and the stored offsets skip it.
  }

  /**
   * Deletes the projection's state, offsets, applied ids and dead letters in one transaction and moves it
   * to a new generation, so it is applied again from offset 0 through a new consumer group. A running
   * runner is stopped first and started again after.
   */
  async rebuild(): Promise<void> {
    const projection = this.#projection
    if (projection.reset === undefined) throw new Error(`Projection ${this.name} cannot be rebuilt: it has no reset`)
    const wasRunning = this.#subscription !== undefined
    await this.stop()
    await this.#sql.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO projection_generations (projection, generation) VALUES ($1, 1)
         ON CONFLICT (projection) DO UPDATE SET generation = projection_generations.generation + 1`,
        [this.name],
      )
      await projection.reset?.(tx)
      for (const table of ['projection_offsets', 'projection_applied_events', 'projection_dead_letters']) {
        await tx.query(`DELETE FROM ${table} WHERE projection = $1`, [this.name])
      }
    })
    if (wasRunning) await this.start()
  }

  /**
   * Per partition (`topic:partition`), how many messages the log holds past what this projection has
   * applied: the log's end offset minus the stored next offset (none are read; cheap enough for each scrape).
   */
  async lag(): Promise<Record<string, number>> {
    const stored = await this.#sql.query<{ topic: string; partition: number; next_offset: number }>(
      'SELECT topic, partition, next_offset FROM projection_offsets WHERE projection = $1 AND log = $3 AND topic = ANY($2::text[])',
      [this.name, [...this.#topics], await this.#offsetsLog.id()],
    )
    const applied = new Map(stored.rows.map((r) => [`${r.topic}:${r.partition}`, r.next_offset]))
    const lag: Record<string, number> = {}
    for (const topic of this.#topics) {
      for (const end of await this.#log.endOffsets(topic)) {
        const key = `${topic}:${end.partition}`
        lag[key] = Math.max(0, end.next - (applied.get(key) ?? 0))
      }
    }
    return lag
  }

  async #currentGeneration(sql: SqlExecutor, lock = ''): Promise<number> {
    const row = await sql.query<{ generation: number }>(
      `SELECT generation FROM projection_generations WHERE projection = $1 ${lock}`,
      [this.name],
    )
    return row.rows[0]?.generation ?? 0
  }

  /** Records the ids as applied; returns those not recorded before. */
  async #markApplied(tx: SqlExecutor, ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set()
    const inserted = await tx.query<{ event_id: string }>(
      `INSERT INTO projection_applied_events (projection, event_id) SELECT $1, unnest($2::text[])
       ON CONFLICT DO NOTHING RETURNING event_id`,
      [this.name, [...new Set(ids)]],
    )
    return new Set(inserted.rows.map((r) => r.event_id))
  }

  async #deadLetter(tx: SqlExecutor, message: ConsumedMessage, reason: string): Promise<void> {
    await tx.query(
      `INSERT INTO projection_dead_letters (projection, topic, partition, "offset", key, value, reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
      [this.name, message.topic, message.partition, message.offset, message.key, message.value, reason],
    )
  }
}
