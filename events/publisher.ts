import { envelopeSchema, isValidated } from './envelope.ts'
import type { Envelope } from './envelope.ts'
import type { EventLog, LogMessage } from './event-log.ts'
import { FileSpool, MemorySpool } from './spool.ts'
import type { Spool, SpoolSegment, SpooledEvent } from './spool.ts'

export interface PublisherLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export interface SpoolFullReport {
  spooledBytes: number
  spooledEvents: number
  queued: number
  droppedEvents: number
}

export interface EventPublisherOptions {
  eventLog: EventLog
  topic: string
  /** The durable spool's directory, one per process; undefined keeps the spool in memory (embedded mode). */
  spoolDir: string | undefined
  maxBatch?: number
  lingerMs?: number
  maxSpoolBytes?: number
  /** Events held in memory while the spool is full; beyond this, new events are dropped and counted. */
  maxQueuedEvents?: number
  /** How long one append may take before the log counts as unreachable. */
  appendTimeoutMs?: number
  /** How long a timed-out append may stay unsettled before its events are sent again regardless. */
  inFlightGraceMs?: number
  retryInitialMs?: number
  retryMaxMs?: number
  /** Called once each time the spool fills up, and again for every drop that follows. */
  onSpoolFull?: (report: SpoolFullReport) => void
  logger?: PublisherLogger
}

export interface PublisherStats {
  queued: number
  spooledEvents: number
  spooledBytes: number
  delivered: number
  /** Events that were lost: the spool and the memory bound were both full, or published after close. */
  droppedEvents: number
  /** Events refused by the envelope schema: a bug in the caller, logged with the event. */
  rejectedEvents: number
  /** Appends that failed or timed out. */
  failures: number
}

const MiB = 1024 * 1024

const consoleLogger: PublisherLogger = {
  info: () => {},
  warn: (obj, msg) => console.error(msg, obj),
  error: (obj, msg) => console.error(msg, obj),
}

/** An append that timed out but may still land: its events are not sent again until it settles. */
interface InFlight {
  segmentSeq: number
  settled: 'pending' | 'acknowledged' | 'failed'
  giveUpAt: number
}

const toMessage = (event: SpooledEvent): LogMessage => ({
  key: event.tenantId,
  value: Buffer.from(event.json),
  headers: { 'event-type': event.type, 'event-id': event.id },
})

/**
 * The data-plane producer (DESIGN.md §4). `publish` never blocks, waits or throws: events are queued in memory
 * and a single background loop appends them in batches (by count or linger time), keyed by tenant.
 *
 * When an append fails or times out, that batch and everything after it goes to the spool; while the spool
 * holds anything, new events go behind it, and the loop replays it oldest segment first, with back-off, so a
 * tenant's events reach the log in the order they were published. A segment is removed only after the append
 * of all its events was acknowledged. A restarted publisher replays the spool its previous run left.
 *
 * Delivery is at least once: a crash between an acknowledged append and the removal of its segment, or a
 * timed-out append that lands after `inFlightGraceMs`, sends events again. The event id (header `event-id`)
 * is the idempotency key: consumers dedupe by it.
 *
 * When the spool is full, new events are kept in memory, in order, up to `maxQueuedEvents`, and the spool
 * takes them as replay frees room. Past that bound, the NEWEST events are dropped: dropping older ones would
 * mean rewriting fsync'd segments and would leave gaps inside what is delivered, while dropping the newest keeps
 * what arrives a gap-free prefix per tenant. Each drop is counted (`droppedEvents`), logged, and reported to
 * `onSpoolFull`: never silent.
 */
export class EventPublisher {
  readonly #log: EventLog
  readonly #topic: string
  readonly #spool: Spool
  readonly #logger: PublisherLogger
  readonly #onSpoolFull: ((report: SpoolFullReport) => void) | undefined
  readonly #maxBatch: number
  readonly #lingerMs: number
  readonly #maxQueued: number
  readonly #appendTimeoutMs: number
  readonly #inFlightGraceMs: number
  readonly #retryInitialMs: number
  readonly #retryMaxMs: number

  #queue: SpooledEvent[] = []
  /** Events taken from the queue and being appended directly (the spool was empty). */
  #sending = 0
  #delivered = 0
  #dropped = 0
  #rejected = 0
  #failures = 0
  #retryDelayMs = 0
  #retryAt = 0
  #spoolFull = false
  #inFlight: InFlight | undefined
  #closing = false
  #closed = false
  #flushWaiters: (() => void)[] = []
  #wake: (() => void) | undefined
  readonly #running: Promise<void>

  constructor(options: EventPublisherOptions) {
    this.#log = options.eventLog
    this.#topic = options.topic
    this.#logger = options.logger ?? consoleLogger
    this.#onSpoolFull = options.onSpoolFull
    this.#maxBatch = options.maxBatch ?? 500
    this.#lingerMs = options.lingerMs ?? 5
    this.#maxQueued = options.maxQueuedEvents ?? 100_000
    this.#appendTimeoutMs = options.appendTimeoutMs ?? 5_000
    this.#inFlightGraceMs = options.inFlightGraceMs ?? 60_000
    this.#retryInitialMs = options.retryInitialMs ?? 200
    this.#retryMaxMs = options.retryMaxMs ?? 5_000
    const maxBytes = options.maxSpoolBytes ?? 256 * MiB
    this.#spool =
      options.spoolDir === undefined
        ? new MemorySpool({ maxBytes, maxSegmentEvents: this.#maxBatch })
        : new FileSpool({ dir: options.spoolDir, maxBytes, maxSegmentEvents: this.#maxBatch, logger: this.#logger })
    this.#running = this.#run().catch((error: unknown) => {
      this.#logger.error({ err: error }, 'event publisher stopped on an unexpected error; queued events stay in memory')
      this.#closed = true
      this.#releaseFlushWaiters()
    })
  }

  publish(envelope: Envelope): void {
    let e = envelope
    if (!isValidated(envelope)) {
      const parsed = envelopeSchema.safeParse(envelope)
      if (!parsed.success) {
        this.#rejected++
        this.#logger.error({ event: envelope, issues: parsed.error.issues }, 'event publisher: an invalid envelope was refused')
        return
      }
      e = parsed.data
    }
    if (this.#closing) {
      this.#drop(1, 'published after close')
      return
    }
    if (this.#queue.length >= this.#maxQueued) {
      this.#drop(1, 'spool full and memory bound reached')
      return
    }
    this.#queue.push({ id: e.id, tenantId: e.tenantId, type: e.type, json: JSON.stringify(e) })
    if (this.#queue.length === 1 || this.#queue.length >= this.#maxBatch) this.#wake?.()
  }

  stats(): PublisherStats {
    return {
      queued: this.#queue.length + this.#sending,
      spooledEvents: this.#spool.events,
      spooledBytes: this.#spool.bytes,
      delivered: this.#delivered,
      droppedEvents: this.#dropped,
      rejectedEvents: this.#rejected,
      failures: this.#failures,
    }
  }

  /** Resolves once every event published so far is delivered or spooled (or held in memory by a full spool). */
  flush(): Promise<void> {
    if (this.#closed || this.#idle()) return Promise.resolve()
    return new Promise((resolve) => {
      this.#flushWaiters.push(resolve)
      this.#wake?.()
    })
  }

  /** Flushes, then stops. Spooled events stay in the spool directory for the next start. */
  async close(): Promise<void> {
    await this.flush()
    this.#closing = true
    this.#wake?.()
    await this.#running
    if (this.#queue.length > 0) this.#drop(this.#queue.splice(0).length, 'held in memory by a full spool at close')
    await this.#spool.close()
  }

  #idle(): boolean {
    return this.#sending === 0 && (this.#queue.length === 0 || this.#spoolFull)
  }

  #releaseFlushWaiters(): void {
    for (const resolve of this.#flushWaiters.splice(0)) resolve()
  }

  #checkIdle(): void {
    if (this.#idle()) this.#releaseFlushWaiters()
  }

  #drop(count: number, reason: string): void {
    const first = this.#dropped === 0
    this.#dropped += count
    // Every drop is counted; the log says so on the first and then every thousandth, not once per event.
    if (first || this.#dropped % 1_000 < count) {
      this.#logger.error({ reason, ...this.#report() }, 'event publisher: EVENTS DROPPED')
    }
    this.#onSpoolFull?.(this.#report())
  }

  #report(): SpoolFullReport {
    return {
      spooledBytes: this.#spool.bytes,
      spooledEvents: this.#spool.events,
      queued: this.#queue.length,
      droppedEvents: this.#dropped,
    }
  }

  /** Sleeps until `ms` passed or something wakes the loop (a publish, a flush, close). */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === Infinity ? undefined : setTimeout(done, ms)
      const wake = () => done()
      this.#wake = wake
      function done() {
        clearTimeout(timer)
        resolve()
      }
    })
  }

  async #run(): Promise<void> {
    // A previous run's spool goes first: until it is empty, new events queue behind it.
    await this.#spool.open()
    if (this.#spool.events > 0) {
      this.#logger.warn({ spooledEvents: this.#spool.events, spooledBytes: this.#spool.bytes }, 'event publisher: replaying the spool a previous run left')
    }
    while (true) {
      if (this.#spool.events > 0 || this.#inFlight !== undefined) {
        await this.#spoolQueued()
        if (this.#closing) return
        await this.#replayStep()
        continue
      }
      if (this.#queue.length === 0) {
        this.#checkIdle()
        if (this.#closing) return
        await this.#sleep(Infinity)
        continue
      }
      const now = Date.now()
      if (now < this.#retryAt) {
        await this.#sleep(this.#retryAt - now)
        continue
      }
      if (this.#queue.length < this.#maxBatch && this.#flushWaiters.length === 0 && !this.#closing) {
        await this.#sleep(this.#lingerMs)
      }
      await this.#sendQueued()
    }
  }

  /** Appends a batch straight from the queue; on failure, spools it and everything queued after it. */
  async #sendQueued(): Promise<void> {
    const batch = this.#queue.splice(0, this.#maxBatch)
    this.#sending = batch.length
    const outcome = await this.#append(batch)
    if (outcome === 'acknowledged') {
      this.#sending = 0
      this.#delivered += batch.length
      this.#retryDelayMs = 0
      this.#checkIdle()
      return
    }
    const written = await this.#toSpool(batch)
    this.#sending = 0
    // What the spool could not take goes back to the front of the queue, ahead of newer events.
    if (written < batch.length) this.#queue.unshift(...batch.slice(written))
    if (outcome === 'timed-out' && written === batch.length) {
      // The batch is the spool's first segment: it is not replayed before its lost append has settled.
      this.#inFlight!.segmentSeq = this.#spool.oldest()!.seq
    } else {
      this.#inFlight = undefined
    }
    this.#backOff()
    await this.#spoolQueued()
    this.#checkIdle()
  }

  /** One step of replay: settle a timed-out append, wait out the back-off, or append the oldest segment. */
  async #replayStep(): Promise<void> {
    const inFlight = this.#inFlight
    if (inFlight !== undefined) {
      if (inFlight.settled === 'pending' && Date.now() < inFlight.giveUpAt) {
        await this.#sleep(Math.min(100, inFlight.giveUpAt - Date.now()))
        return
      }
      this.#inFlight = undefined
      const segment = this.#spool.oldest()
      if (inFlight.settled === 'acknowledged' && segment?.seq === inFlight.segmentSeq) {
        // The append that timed out did land: its events are delivered, replaying them would send them twice.
        await this.#acknowledge(segment)
        return
      }
      if (inFlight.settled === 'pending') {
        this.#logger.warn({ graceMs: this.#inFlightGraceMs }, 'event publisher: a timed-out append never settled; replaying its events (consumers dedupe by id)')
      }
    }
    const now = Date.now()
    if (now < this.#retryAt) {
      await this.#sleep(this.#retryAt - now)
      return
    }
    const segment = this.#spool.oldest()
    if (segment === undefined) return
    const outcome = await this.#append(segment.events)
    if (outcome === 'acknowledged') {
      this.#retryDelayMs = 0
      await this.#acknowledge(segment)
      return
    }
    if (outcome === 'timed-out') this.#inFlight!.segmentSeq = segment.seq
    this.#backOff()
  }

  async #acknowledge(segment: SpoolSegment): Promise<void> {
    await this.#spool.remove(segment)
    this.#delivered += segment.events.length
    if (this.#spool.events === 0) this.#logger.info({ delivered: this.#delivered }, 'event publisher: spool replayed')
  }

  /** Moves queued events to the spool, in order, while it has room. */
  async #spoolQueued(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.slice(0, this.#maxBatch)
      const written = await this.#toSpool(batch)
      this.#queue.splice(0, written)
      if (written < batch.length) break
    }
    this.#checkIdle()
  }

  async #toSpool(batch: readonly SpooledEvent[]): Promise<number> {
    let written = 0
    try {
      written = await this.#spool.write(batch)
    } catch (error) {
      this.#logger.error({ err: error, events: batch.length }, 'event publisher: the spool could not be written; events stay in memory')
    }
    if (written < batch.length) {
      if (!this.#spoolFull) {
        this.#spoolFull = true
        this.#logger.error({ ...this.#report(), held: batch.length - written }, 'event publisher: SPOOL FULL; holding events in memory')
        this.#onSpoolFull?.(this.#report())
      }
    } else if (this.#spoolFull && this.#queue.length <= batch.length) {
      this.#spoolFull = false
      this.#logger.warn(this.#report(), 'event publisher: the spool takes events again')
    }
    return written
  }

  #backOff(): void {
    this.#retryDelayMs = Math.min(this.#retryMaxMs, this.#retryDelayMs === 0 ? this.#retryInitialMs : this.#retryDelayMs * 2)
    this.#retryAt = Date.now() + this.#retryDelayMs
  }

  /** One append with the publisher's own deadline; a timed-out append is remembered in `#inFlight`. */
  async #append(events: readonly SpooledEvent[]): Promise<'acknowledged' | 'failed' | 'timed-out'> {
    const inFlight: InFlight = { segmentSeq: -1, settled: 'pending', giveUpAt: 0 }
    const append = this.#log.append(this.#topic, events.map(toMessage)).then(
      () => {
        inFlight.settled = 'acknowledged'
      },
      (error: unknown) => {
        inFlight.settled = 'failed'
        return error
      },
    )
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#appendTimeoutMs)
    })
    const result = await Promise.race([append, timeout])
    clearTimeout(timer)
    if (inFlight.settled === 'acknowledged') return 'acknowledged'
    this.#failures++
    if (result === 'timeout') {
      inFlight.giveUpAt = Date.now() + this.#inFlightGraceMs
      this.#inFlight = inFlight
      this.#logger.warn({ events: events.length, timeoutMs: this.#appendTimeoutMs, failures: this.#failures }, 'event publisher: append timed out; spooling')
      return 'timed-out'
    }
    this.#logger.warn({ err: result, events: events.length, failures: this.#failures }, 'event publisher: append failed; spooling')
    return 'failed'
  }
}
