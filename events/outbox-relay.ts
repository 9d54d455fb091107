import type { SqlStore } from '../infra/postgres/sql-store.ts'
import { CONTROL_TOPIC, controlMetadataSchema, envelopeSchema } from './envelope.ts'
import type { Envelope } from './envelope.ts'
import type { ConsumedMessage, EventLog, LogMessage } from './event-log.ts'
import type { EventStore, StoredEvent } from './event-store.ts'

/** Partitions the relay gives its topic when it creates it; a tenant's events share one of them. */
export const OUTBOX_TOPIC_PARTITIONS = 3

/** An event whose metadata or data does not make a valid envelope: a bug upstream, never skipped. */
export class InvalidOutboxEventError extends Error {
  readonly globalPosition: number
  readonly eventId: string

  constructor(event: StoredEvent, cause: unknown) {
    super(`Event ${event.id} at global position ${event.globalPosition} (${event.type}) does not make a valid envelope`, { cause })
    this.name = 'InvalidOutboxEventError'
    this.globalPosition = event.globalPosition
    this.eventId = event.id
  }
}

/** The topic's tail names an event this store does not hold there: the topic belongs to another store. */
export class OutboxTopicMismatchError extends Error {
  constructor(topic: string, position: number, eventId: string | undefined) {
    super(`Topic ${topic} ends with event ${eventId ?? '(no id)'} at global position ${position}, which this event store does not hold there`)
    this.name = 'OutboxTopicMismatchError'
  }
}

/** The Kafka envelope of a stored control event; throws `InvalidOutboxEventError` when it cannot be one. */
export function toControlEnvelope(event: StoredEvent): Envelope {
  try {
    const metadata = controlMetadataSchema.parse(event.metadata)
    return envelopeSchema.parse({
      id: event.id,
      type: event.type,
      version: metadata.version,
      tenantId: metadata.tenantId,
      occurredAt: metadata.occurredAt,
      correlationId: metadata.correlationId,
      causationId: null,
      actor: metadata.actor,
      data: event.data,
    })
  } catch (error) {
    throw new InvalidOutboxEventError(event, error)
  }
}

export function toOutboxMessage(event: StoredEvent): LogMessage {
  const envelope = toControlEnvelope(event)
  return {
    key: envelope.tenantId,
    value: Buffer.from(JSON.stringify(envelope)),
    headers: { 'event-type': event.type, 'event-id': event.id, 'global-position': String(event.globalPosition) },
  }
}

/** The highest global position among the tail's messages, and the event id it carries; 0 when none. */
function lastRelayed(tail: readonly ConsumedMessage[]): { position: number; eventId: string | undefined } {
  let last = { position: 0, eventId: undefined as string | undefined }
  for (const message of tail) {
    const header = message.headers['global-position']
    // A message without the header was not written by a relay and says nothing about where one stopped.
    if (header === undefined) continue
    if (!/^[1-9][0-9]*$/.test(header)) {
      throw new Error(`Message ${message.partition}/${message.offset} of ${message.topic} has global-position ${header}`)
    }
    const position = Number(header)
    if (position > last.position) last = { position, eventId: message.headers['event-id'] }
  }
  return last
}

export interface OutboxRelayOptions {
  eventStore: EventStore
  eventLog: EventLog
  sql: SqlStore
  topic?: string
  /** The row of `outbox_relay_positions` this relay keeps. */
  relayName?: string
  pollIntervalMs?: number
  batchSize?: number
  /** Told of every failed pass (retried after a back-off) and of an invalid event (which stops the relay). */
  onError?: (error: unknown) => void
}

const RETRY_BASE_MS = 200
const RETRY_MAX_MS = 10_000

/**
 * Relays every event appended to the event store to Kafka, exactly once and in order (DESIGN.md §1, §4).
 * The event store's table is the outbox: an event is in it the moment its append commits.
 *
 * Exactly once rests on three things. (1) One append at a time, each carrying one tenant's consecutive
 * events: one key, so one partition and one record batch, which Kafka writes whole or not at all. So the
 * topic always holds a prefix of the store's order, and its highest `global-position` is where the relay
 * stopped. (2) A crash after an append but before the position is stored is found on start by reading the
 * topic's tail. (3) A failed append is retried as the very same batch, so the idempotent producer
 * recognises a copy that did land (kafkajs rolls the sequence number back after a failed send; a different
 * batch under that number would be taken for the copy and dropped).
 *
 * One relay per `relayName` may run at a time: two would each send every event.
 */
export class OutboxRelay {
  readonly #eventStore: EventStore
  readonly #eventLog: EventLog
  readonly #sql: SqlStore
  readonly #topic: string
  readonly #relayName: string
  readonly #pollIntervalMs: number
  readonly #batchSize: number
  readonly #onError: (error: unknown) => void
  /** The global position of the last event Kafka acknowledged; undefined until the tail was read. */
  #position: number | undefined
  /** Set when an append failed: the next pass sends exactly those events again first. */
  #retryLength: number | undefined
  /** Passes never overlap, whether from the loop or from `relayOnce`. */
  #exclusive: Promise<unknown> = Promise.resolve()
  #loop: Promise<void> | undefined
  #stopping = false
  #signalled = false
  #wake: (() => void) | undefined

  constructor(options: OutboxRelayOptions) {
    this.#eventStore = options.eventStore
    this.#eventLog = options.eventLog
    this.#sql = options.sql
    this.#topic = options.topic ?? CONTROL_TOPIC
    this.#relayName = options.relayName ?? 'control'
    this.#pollIntervalMs = options.pollIntervalMs ?? 1_000
    this.#batchSize = options.batchSize ?? 200
    this.#onError = options.onError ?? ((error) => console.error('outbox relay:', error))
  }

  /** Learns where to resume (rejecting if it cannot), then relays in the background until `stop`. */
  async start(): Promise<void> {
    if (this.#loop !== undefined) throw new Error(`Outbox relay ${this.#relayName} was started: stop it first`)
    await this.#serially(() => this.#prepare())
    this.#stopping = false
    this.#loop = this.#run()
  }

  /** Wakes the relay now rather than at its next poll: call it after an append. */
  notify(): void {
    this.#signalled = true
    this.#wake?.()
  }

  /** Lets the pass in flight finish, then stops. */
  async stop(): Promise<void> {
    this.#stopping = true
    this.#wake?.()
    await this.#loop
    this.#loop = undefined
  }

  /** One pass: relays up to `batchSize` events and resolves how many. */
  relayOnce(): Promise<number> {
    return this.#serially(async () => {
      await this.#prepare()
      return this.#pass()
    })
  }

  #serially<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#exclusive.then(work)
    this.#exclusive = next.catch(() => undefined)
    return next
  }

  async #run(): Promise<void> {
    let failures = 0
    while (!this.#stopping) {
      this.#signalled = false
      let relayed: number
      try {
        relayed = await this.#serially(() => this.#pass())
        failures = 0
      } catch (error) {
        this.#onError(error)
        // A bug to fix, not a fault to wait out: relaying on would skip the event or send it malformed.
        if (error instanceof InvalidOutboxEventError) return
        failures++
        await this.#sleep(Math.min(RETRY_BASE_MS * 2 ** (failures - 1), RETRY_MAX_MS), false)
        continue
      }
      if (relayed < this.#batchSize && !this.#signalled) await this.#sleep(this.#pollIntervalMs, true)
    }
  }

  #sleep(ms: number, wakeOnNotify: boolean): Promise<void> {
    if (this.#stopping) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.#wake = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.#wake = wakeOnNotify ? done : () => this.#stopping && done()
    })
  }

  /** Once per instance: never again after an append failed, or the tail could lead it past the retry. */
  async #prepare(): Promise<void> {
    if (this.#position !== undefined) return
    const stored = await this.#storedPosition()
    // Dies here: nothing was written; the next start reads the same tail.
    const tail = lastRelayed(await this.#eventLog.readTail(this.#topic))
    if (tail.position > 0) {
      const [event] = await this.#eventStore.readAll({ after: tail.position - 1, limit: 1 })
      if (event?.globalPosition !== tail.position || event.id !== tail.eventId) {
        throw new OutboxTopicMismatchError(this.#topic, tail.position, tail.eventId)
      }
    }
    await this.#eventLog.ensureTopics([{ name: this.#topic, partitions: OUTBOX_TOPIC_PARTITIONS }])
    // Dies before this store: the next start finds the same tail and stores it then.
    if (tail.position > stored) await this.#storePosition(tail.position)
    this.#position = Math.max(stored, tail.position)
  }

  async #pass(): Promise<number> {
    const after = this.#position!
    // Dies here or while converting: nothing was sent; the next start resumes from the same position.
    const events = await this.#eventStore.readAll({ after, limit: this.#batchSize })
    const messages: LogMessage[] = []
    let invalid: InvalidOutboxEventError | undefined
    for (const event of events) {
      try {
        messages.push(toOutboxMessage(event))
      } catch (error) {
        // The events before it are still relayed; this one and all after wait for the bug to be fixed.
        invalid = error as InvalidOutboxEventError
        break
      }
    }

    let sent = 0
    let position = after
    let failure: { error: unknown } | undefined
    while (sent < messages.length) {
      const run = this.#nextRun(messages, sent)
      try {
        await this.#eventLog.append(this.#topic, messages.slice(sent, sent + run))
      } catch (error) {
        // Dies or fails here: the batch may or may not have landed. A retry in this process sends the same
        // batch, which the idempotent producer writes at most once; a new process reads the tail instead.
        this.#retryLength = run
        failure = { error }
        break
      }
      this.#retryLength = undefined
      sent += run
      // Dies here: Kafka holds these events but the stored position does not say so; the next start reads
      // the tail and resumes after them.
      position = events[sent - 1]!.globalPosition
      this.#position = position
    }

    if (sent > 0) {
      // Dies or fails here: as above, the tail check on the next start covers what this store would have
      // recorded; until then this process goes on from the position it holds in memory.
      await this.#storePosition(position)
    }
    if (failure !== undefined) throw failure.error
    if (invalid !== undefined) throw invalid
    return sent
  }

  /** How many messages from `from` go in the next append: the retried batch, or one tenant's run. */
  #nextRun(messages: readonly LogMessage[], from: number): number {
    if (this.#retryLength !== undefined && from === 0) return Math.min(this.#retryLength, messages.length)
    let end = from + 1
    while (end < messages.length && messages[end]!.key === messages[from]!.key) end++
    return end - from
  }

  async #storedPosition(): Promise<number> {
    const result = await this.#sql.query<{ position: number }>(
      'SELECT position FROM outbox_relay_positions WHERE relay = $1',
      [this.#relayName],
    )
    return result.rows[0]?.position ?? 0
  }

  async #storePosition(position: number): Promise<void> {
    // GREATEST: a position never moves back, whatever order two writes land in.
    await this.#sql.query(
      `INSERT INTO outbox_relay_positions (relay, position) VALUES ($1, $2)
       ON CONFLICT (relay) DO UPDATE SET position = GREATEST(outbox_relay_positions.position, EXCLUDED.position)`,
      [this.#relayName, position],
    )
  }
}
