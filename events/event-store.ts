/**
 * The control-plane event store port (DESIGN.md §1, §3), after Emmett's `EventStore`: streams of events
 * per aggregate, appended with an expected version, and one global order that projections read.
 */

export interface NewEvent {
  /** UUID; the idempotency key end to end. */
  id: string
  type: string
  data: unknown
  metadata?: Record<string, unknown>
}

export interface StoredEvent {
  id: string
  type: string
  data: unknown
  metadata: Record<string, unknown>
  streamId: string
  /** 1 for a stream's first event. */
  streamVersion: number
  /** Strictly increasing over the whole store (contiguous from 1 in the SQL store; commit offsets in KurrentDB). */
  globalPosition: number
  recordedAt: Date
}

/**
 * `'no_stream'`: the stream must not exist yet; a number: the stream's current version (0 = empty);
 * `'any'`: no check.
 */
export type ExpectedVersion = number | 'no_stream' | 'any'

export interface AppendResult {
  nextExpectedVersion: number
  lastGlobalPosition: number
}

export interface EventStore {
  readonly adapter: 'postgres' | 'pglite' | 'kurrentdb'
  appendToStream(streamId: string, events: readonly NewEvent[], expected: ExpectedVersion): Promise<AppendResult>
  readStream(streamId: string, options?: { fromVersion?: number }): Promise<StoredEvent[]>
  /** Events with `globalPosition > after`, in order, at most `limit` of them. */
  readAll(options?: { after?: number; limit?: number }): Promise<StoredEvent[]>
  check(): Promise<void>
  close(): Promise<void>
}

export class WrongExpectedVersionError extends Error {
  readonly streamId: string
  readonly expected: ExpectedVersion
  readonly actual: number

  constructor(streamId: string, expected: ExpectedVersion, actual: number) {
    super(`Stream ${streamId} is at version ${actual}, expected ${String(expected)}`)
    this.name = 'WrongExpectedVersionError'
    this.streamId = streamId
    this.expected = expected
    this.actual = actual
  }
}

export class DuplicateEventError extends Error {
  constructor(eventId: string) {
    super(`Event ${eventId} was appended before`)
    this.name = 'DuplicateEventError'
  }
}
