import {
  ANY,
  BACKWARDS,
  END,
  FORWARDS,
  KurrentDBClient,
  NO_STREAM,
  START,
  StreamNotFoundError,
  WrongExpectedVersionError as KurrentWrongExpectedVersionError,
} from '@kurrent/kurrentdb-client'
import type {
  AllStreamResolvedEvent,
  AppendResult as KurrentAppendResult,
  AppendStreamState,
  AppendToStreamOptions,
  CurrentStreamState,
  EventData,
  JSONType,
  ReadAllOptions,
  ReadPosition,
  ReadStreamOptions,
  RecordedEvent,
  ResolvedEvent,
} from '@kurrent/kurrentdb-client'
import { DuplicateEventError, WrongExpectedVersionError } from '../../events/event-store.ts'
import type { AppendResult, EventStore, ExpectedVersion, NewEvent, StoredEvent } from '../../events/event-store.ts'

/** The part of the KurrentDB client this adapter uses; the real client satisfies it, and so can a test double. */
export interface KurrentClient {
  appendToStream(streamName: string, events: EventData[], options: AppendToStreamOptions): Promise<KurrentAppendResult>
  readAll(options: ReadAllOptions): AsyncIterable<AllStreamResolvedEvent>
  readStream(streamName: string, options: ReadStreamOptions): AsyncIterable<ResolvedEvent>
  dispose(): Promise<void>
}

export interface KurrentDbEventStoreOptions {
  /** How long `check()` waits for the server. */
  checkTimeoutMs?: number
}

type Recorded = Pick<RecordedEvent, 'id' | 'type' | 'streamId' | 'revision' | 'created' | 'data' | 'metadata' | 'position'>

/** What the server sends as a position when it does not know where an event sits in $all. */
const NO_POSITION = 0xffff_ffff_ffff_ffffn
/** Events fetched per $all request; more than the caller's limit only to step over system events. */
const MAX_PAGE = 1_000

/**
 * Our expected version as KurrentDB's stream state. Versions count events (0 = empty stream); KurrentDB
 * revisions number them from 0, so version n is "the last event is revision n - 1".
 */
export function toStreamState(expected: ExpectedVersion): AppendStreamState {
  if (expected === 'any') return ANY
  if (expected === 'no_stream' || expected === 0) return NO_STREAM
  if (!Number.isSafeInteger(expected) || expected < 0) throw new RangeError(`Invalid expected version: ${expected}`)
  return BigInt(expected - 1)
}

/** A stream revision (0-based) as our stream version (1-based). */
export function toStreamVersion(revision: bigint): number {
  return toSafeNumber(revision + 1n, 'stream version')
}

/** The stream version KurrentDB reports in a wrong-expected-version answer. */
export function actualVersion(current: CurrentStreamState): number {
  return current === NO_STREAM ? 0 : toStreamVersion(current)
}

/**
 * A commit position as our global position. Commit positions are byte offsets in KurrentDB's log: strictly
 * increasing along $all but not contiguous, so readers must compare positions, never count them.
 */
export function toGlobalPosition(commit: bigint | undefined): number {
  if (commit === undefined || commit === NO_POSITION) {
    throw new RangeError('KurrentDB returned no $all position for an event (stream reads carry one from server 22.6 on)')
  }
  return toSafeNumber(commit, 'commit position')
}

/**
 * Where a forward $all read starts for `readAll({ after })`. KurrentDB reads forwards from a position
 * inclusively and must start on a record boundary, so the read starts *at* `after` (a position this store
 * returned) and the adapter drops that first event.
 */
export function readStartFor(after: number): ReadPosition {
  if (after === 0) return START
  const position = BigInt(after)
  return { commit: position, prepare: position }
}

/** Records KurrentDB writes for itself ($epochs, $settings, stream metadata, links): never ours. */
export function isSystemRecord(record: { streamId: string; type: string }): boolean {
  return record.streamId.startsWith('$') || record.type.startsWith('$')
}

function toSafeNumber(value: bigint, what: string): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`KurrentDB ${what} ${value} does not fit a JavaScript number exactly (0..2^53-1)`)
  }
  return Number(value)
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
}

function toEventData(event: NewEvent): EventData {
  return {
    id: event.id,
    contentType: 'application/json',
    type: event.type,
    // The client JSON-encodes any value; its JSONType is narrower than what JSON can hold (null, numbers).
    data: (event.data ?? null) as JSONType,
    metadata: event.metadata ?? {},
  }
}

function toStoredEvent(recorded: Recorded, globalPosition: number): StoredEvent {
  return {
    id: recorded.id,
    type: recorded.type,
    data: recorded.data,
    metadata: isPlainObject(recorded.metadata) ? recorded.metadata : {},
    streamId: recorded.streamId,
    streamVersion: toStreamVersion(recorded.revision),
    globalPosition,
    recordedAt: recorded.created,
  }
}

async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * The event store on KurrentDB (formerly EventStoreDB), through `@kurrent/kurrentdb-client`; one KurrentDB
 * stream per aggregate stream, JSON data and metadata, `readAll` over $all without system records.
 * It assumes the database belongs to Supergate: any non-system stream in it shows up in `readAll`.
 *
 * Event ids. KurrentDB has no index by event id, so it cannot refuse an id that another stream already
 * holds: such an append succeeds (the SQL adapters raise DuplicateEventError). Within one stream,
 * KurrentDB answers an append whose events are already there (same ids at the expected versions, or
 * recently written ones with `'any'`) with the original write's position instead of writing again. The
 * adapter reads the head of $all before each append: a write that really happened lands past that head,
 * so a position at or before it means a replay, reported as DuplicateEventError. The extra read is one
 * round trip per append, which control-plane write rates afford. With `'any'` the server's replay check is
 * a best-effort cache: after a server restart, a replay with `'any'` may write the events a second time.
 */
export class KurrentDbEventStore implements EventStore {
  readonly adapter = 'kurrentdb' as const
  readonly #client: KurrentClient
  readonly #checkTimeoutMs: number

  /** `connection`: a connection string such as `kurrentdb://127.0.0.1:2113?tls=false`, or a client. */
  constructor(connection: string | KurrentClient, options: KurrentDbEventStoreOptions = {}) {
    this.#client = typeof connection === 'string' ? KurrentDBClient.connectionString(connection) : connection
    this.#checkTimeoutMs = options.checkTimeoutMs ?? 5_000
  }

  async appendToStream(streamId: string, events: readonly NewEvent[], expected: ExpectedVersion): Promise<AppendResult> {
    if (events.length === 0) throw new RangeError('appendToStream needs at least one event')
    // readAll drops $-streams as KurrentDB's own; an event appended to one would vanish from it.
    if (streamId.startsWith('$')) throw new RangeError(`Stream ids starting with $ are KurrentDB's: ${streamId}`)
    const streamState = toStreamState(expected)
    const head = await this.#headPosition()
    let result: KurrentAppendResult
    try {
      result = await this.#client.appendToStream(streamId, events.map(toEventData), { streamState })
    } catch (error) {
      if (error instanceof KurrentWrongExpectedVersionError) {
        throw new WrongExpectedVersionError(streamId, expected, actualVersion(error.actualState))
      }
      throw error
    }
    // A write the server performs always has a position; only an acknowledged replay may come without one.
    const position = result.position === undefined ? undefined : toGlobalPosition(result.position.commit)
    if (position === undefined || position <= head) {
      throw new DuplicateEventError(events.map((e) => e.id).join(', '))
    }
    // The commit position of a successful append is that of its last event.
    return { nextExpectedVersion: toStreamVersion(result.nextExpectedRevision), lastGlobalPosition: position }
  }

  async readStream(streamId: string, options: { fromVersion?: number } = {}): Promise<StoredEvent[]> {
    const fromVersion = Math.max(options.fromVersion ?? 1, 1)
    const out: StoredEvent[] = []
    try {
      for await (const { event } of this.#client.readStream(streamId, {
        fromRevision: BigInt(fromVersion - 1),
        direction: FORWARDS,
      })) {
        if (event !== undefined) out.push(toStoredEvent(event, toGlobalPosition(event.position?.commit)))
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return []
      throw error
    }
    return out
  }

  async readAll(options: { after?: number; limit?: number } = {}): Promise<StoredEvent[]> {
    const after = options.after ?? 0
    const limit = options.limit ?? 1000
    if (!Number.isSafeInteger(after) || after < 0) throw new RangeError(`Invalid position: ${after}`)
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`Invalid limit: ${limit}`)
    const out: StoredEvent[] = []
    if (limit === 0) return out
    // At least 2: each page re-reads the event it starts at, so a page of 1 would never move.
    const pageSize = Math.min(limit + 1, MAX_PAGE)
    let cursor = after
    for (;;) {
      let read = 0
      for await (const { event } of this.#client.readAll({
        fromPosition: readStartFor(cursor),
        direction: FORWARDS,
        maxCount: pageSize,
      })) {
        read++
        if (event === undefined) continue
        const position = toGlobalPosition(event.position.commit)
        if (position <= cursor) continue
        cursor = position
        if (isSystemRecord(event)) continue
        out.push(toStoredEvent(event, position))
        if (out.length === limit) return out
      }
      // A short page is the end of $all; a full one may have been all system records, so read on.
      if (read < pageSize) return out
    }
  }

  async check(): Promise<void> {
    await withTimeout(this.#headPosition(), this.#checkTimeoutMs, 'KurrentDB')
  }

  async close(): Promise<void> {
    await this.#client.dispose()
  }

  /** The commit position of the last record in $all (system records included), 0 for an empty log. */
  async #headPosition(): Promise<number> {
    for await (const { event } of this.#client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 })) {
      if (event !== undefined) return toGlobalPosition(event.position.commit)
    }
    return 0
  }
}
