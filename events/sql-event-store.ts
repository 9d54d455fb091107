import type { SqlStore } from '../infra/postgres/sql-store.ts'
import { DuplicateEventError, WrongExpectedVersionError } from './event-store.ts'
import type { AppendResult, EventStore, ExpectedVersion, NewEvent, StoredEvent } from './event-store.ts'

interface EventRow {
  global_position: number
  stream_id: string
  stream_version: number
  event_id: string
  type: string
  data: unknown
  metadata: Record<string, unknown>
  recorded_at: Date
}

const COLUMNS = 'global_position, stream_id, stream_version, event_id, type, data, metadata, recorded_at'

function toStored(row: EventRow): StoredEvent {
  return {
    id: row.event_id,
    type: row.type,
    data: row.data,
    metadata: row.metadata,
    streamId: row.stream_id,
    streamVersion: row.stream_version,
    globalPosition: row.global_position,
    recordedAt: row.recorded_at,
  }
}

function isUniqueViolation(error: unknown, constraintPart: string): boolean {
  const e = error as { code?: string; constraint?: string; message?: string }
  return e.code === '23505' && `${e.constraint ?? ''} ${e.message ?? ''}`.includes(constraintPart)
}

/**
 * The event store on PostgreSQL tables; the same code runs on a PostgreSQL server and on PGlite.
 * Appends serialise on one row lock (`event_store_position`): control-plane writes are rare, and the lock
 * is what makes global positions visible in order, so `readAll` never skips an in-flight append.
 */
export class SqlEventStore implements EventStore {
  readonly adapter: 'postgres' | 'pglite'
  readonly #sql: SqlStore

  constructor(sql: SqlStore) {
    this.#sql = sql
    this.adapter = sql.adapter
  }

  async appendToStream(streamId: string, events: readonly NewEvent[], expected: ExpectedVersion): Promise<AppendResult> {
    if (events.length === 0) throw new RangeError('appendToStream needs at least one event')
    try {
      return await this.#sql.transaction(async (tx) => {
        const position = await tx.query<{ last: number }>(
          'UPDATE event_store_position SET last = last + $1 WHERE id = 1 RETURNING last',
          [events.length],
        )
        const last = position.rows[0]!.last
        const current = await tx.query<{ version: number | null }>(
          'SELECT max(stream_version) AS version FROM event_store_events WHERE stream_id = $1',
          [streamId],
        )
        const actual = current.rows[0]?.version ?? 0
        const conflict =
          (expected === 'no_stream' && actual !== 0) || (typeof expected === 'number' && expected !== actual)
        if (conflict) throw new WrongExpectedVersionError(streamId, expected, actual)
        const first = last - events.length + 1
        for (const [i, event] of events.entries()) {
          await tx.query(
            `INSERT INTO event_store_events (global_position, stream_id, stream_version, event_id, type, data, metadata)
             VALUES ($1, $2, $3, $4, $5, $6, $7)`,
            [first + i, streamId, actual + i + 1, event.id, event.type, JSON.stringify(event.data), JSON.stringify(event.metadata ?? {})],
          )
        }
        return { nextExpectedVersion: actual + events.length, lastGlobalPosition: last }
      })
    } catch (error) {
      if (isUniqueViolation(error, 'event_id')) {
        throw new DuplicateEventError(events.map((e) => e.id).join(', '))
      }
      throw error
    }
  }

  async readStream(streamId: string, options: { fromVersion?: number } = {}): Promise<StoredEvent[]> {
    const result = await this.#sql.query<EventRow>(
      `SELECT ${COLUMNS} FROM event_store_events WHERE stream_id = $1 AND stream_version >= $2 ORDER BY stream_version`,
      [streamId, options.fromVersion ?? 1],
    )
    return result.rows.map(toStored)
  }

  async readAll(options: { after?: number; limit?: number } = {}): Promise<StoredEvent[]> {
    const result = await this.#sql.query<EventRow>(
      `SELECT ${COLUMNS} FROM event_store_events WHERE global_position > $1 ORDER BY global_position LIMIT $2`,
      [options.after ?? 0, options.limit ?? 1000],
    )
    return result.rows.map(toStored)
  }

  async check(): Promise<void> {
    await this.#sql.query('SELECT last FROM event_store_position WHERE id = 1')
  }

  async close(): Promise<void> {
    // The SQL store belongs to whoever opened it.
  }
}
