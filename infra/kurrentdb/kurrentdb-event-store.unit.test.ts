import {
  ANY,
  NO_STREAM,
  START,
  StreamNotFoundError,
  WrongExpectedVersionError as KurrentWrongExpectedVersionError,
} from '@kurrent/kurrentdb-client'
import type {
  AllStreamResolvedEvent,
  AppendResult,
  AppendToStreamOptions,
  EventData,
  ReadAllOptions,
  ReadStreamOptions,
  ResolvedEvent,
} from '@kurrent/kurrentdb-client'
import { describe, expect, it } from 'vitest'
import { DuplicateEventError, WrongExpectedVersionError } from '../../events/event-store.ts'
import type { NewEvent } from '../../events/event-store.ts'
import { uuidv7 } from '../../events/ids.ts'
import {
  KurrentDbEventStore,
  actualVersion,
  isSystemRecord,
  readStartFor,
  toGlobalPosition,
  toStreamState,
  toStreamVersion,
} from './kurrentdb-event-store.ts'
import type { KurrentClient } from './kurrentdb-event-store.ts'

describe('expected versions and revisions', () => {
  it('maps an expected version (events in the stream) to the revision of its last event', () => {
    expect(toStreamState('any')).toBe(ANY)
    expect(toStreamState('no_stream')).toBe(NO_STREAM)
    expect(toStreamState(0)).toBe(NO_STREAM)
    expect(toStreamState(1)).toBe(0n)
    expect(toStreamState(42)).toBe(41n)
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) expect(() => toStreamState(bad)).toThrow(RangeError)
  })

  it('maps revisions back to versions, and a missing stream to version 0', () => {
    expect(toStreamVersion(0n)).toBe(1)
    expect(toStreamVersion(41n)).toBe(42)
    expect(actualVersion(NO_STREAM)).toBe(0)
    expect(actualVersion(4n)).toBe(5)
  })
})

describe('global positions', () => {
  it('are commit positions, exact up to 2^53 - 1 and refused beyond', () => {
    expect(toGlobalPosition(123_456n)).toBe(123_456)
    expect(toGlobalPosition(BigInt(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER)
    expect(() => toGlobalPosition(BigInt(Number.MAX_SAFE_INTEGER) + 1n)).toThrow(RangeError)
    expect(() => toGlobalPosition(-1n)).toThrow(RangeError)
  })

  it('refuses the "no position" answer instead of inventing one', () => {
    expect(() => toGlobalPosition(undefined)).toThrow(/no \$all position/)
    expect(() => toGlobalPosition(0xffff_ffff_ffff_ffffn)).toThrow(/no \$all position/)
  })

  it('starts a forward $all read at the given position, or at the start for 0', () => {
    expect(readStartFor(0)).toBe(START)
    expect(readStartFor(9_000)).toEqual({ commit: 9_000n, prepare: 9_000n })
  })

  it('tells KurrentDB system records from ours', () => {
    expect(isSystemRecord({ streamId: '$epoch-information', type: '$epoch-information' })).toBe(true)
    expect(isSystemRecord({ streamId: '$$tenant-1', type: '$metadata' })).toBe(true)
    expect(isSystemRecord({ streamId: 'tenant-1', type: '$>' })).toBe(true)
    expect(isSystemRecord({ streamId: 'tenant-1', type: 'tenant.created' })).toBe(false)
  })
})

interface LogRecord {
  streamId: string
  id: string
  type: string
  revision: bigint
  created: Date
  data: unknown
  metadata: unknown
  position: bigint
}

/**
 * An in-memory stand-in for a KurrentDB node, as far as this adapter talks to it: $all in commit-position
 * order with gaps between positions, system records in between, inclusive forward reads that must start
 * on a record, per-stream idempotent replays, and the client's error classes.
 */
class FakeKurrent implements KurrentClient {
  readonly log: LogRecord[] = []
  readAllCalls = 0
  #next = 1_000n

  constructor() {
    this.system(3)
  }

  /** Appends `count` records KurrentDB would write for itself. */
  system(count: number): void {
    for (let i = 0; i < count; i++) this.#write('$stats-node', { id: uuidv7(), type: '$statsCollected', data: {}, metadata: {} }, 0n)
  }

  appendToStream(streamName: string, events: EventData[], options: AppendToStreamOptions): Promise<AppendResult> {
    const stream = this.log.filter((r) => r.streamId === streamName)
    const current = stream.length === 0 ? NO_STREAM : stream.at(-1)!.revision
    const state = options.streamState ?? ANY
    const replayed = events.map((e) => stream.find((r) => r.id === e.id))
    if (replayed.every((r) => r !== undefined)) {
      const last = replayed.at(-1)!
      return Promise.resolve({ success: true, nextExpectedRevision: last.revision, position: { commit: last.position, prepare: last.position } })
    }
    if ((state === NO_STREAM && current !== NO_STREAM) || (typeof state === 'bigint' && state !== current)) {
      return Promise.reject(new KurrentWrongExpectedVersionError(undefined, { streamName, expected: state, current }))
    }
    let revision = current === NO_STREAM ? 0n : current + 1n
    let last: LogRecord | undefined
    for (const e of events) last = this.#write(streamName, e, revision++)
    return Promise.resolve({ success: true, nextExpectedRevision: last!.revision, position: { commit: last!.position, prepare: last!.position } })
  }

  async *readAll(options: ReadAllOptions): AsyncIterableIterator<AllStreamResolvedEvent> {
    await Promise.resolve()
    this.readAllCalls++
    const max = Number(options.maxCount ?? Number.MAX_SAFE_INTEGER)
    let records: LogRecord[]
    if (options.direction === 'backwards') {
      records = [...this.log].reverse()
    } else {
      const from = options.fromPosition ?? START
      if (from !== START && (from === 'end' || !this.log.some((r) => r.position === from.commit))) {
        throw new Error(`read from ${typeof from === 'string' ? from : from.commit}: not the start of a record`)
      }
      records = from === START ? this.log : this.log.filter((r) => r.position >= from.commit)
    }
    for (const r of records.slice(0, max)) yield { event: this.#recorded(r), commitPosition: r.position } as AllStreamResolvedEvent
  }

  async *readStream(streamName: string, options: ReadStreamOptions): AsyncIterableIterator<ResolvedEvent> {
    await Promise.resolve()
    const stream = this.log.filter((r) => r.streamId === streamName)
    if (stream.length === 0) throw new StreamNotFoundError(undefined, streamName)
    const from = typeof options.fromRevision === 'bigint' ? options.fromRevision : 0n
    for (const r of stream.filter((r) => r.revision >= from)) yield { event: this.#recorded(r) } as ResolvedEvent
  }

  dispose(): Promise<void> {
    return Promise.resolve()
  }

  #write(streamId: string, e: Pick<EventData, 'id' | 'type' | 'data' | 'metadata'>, revision: bigint): LogRecord {
    // Positions are byte offsets: far apart, and never 1, 2, 3.
    this.#next += BigInt(100 + JSON.stringify(e.data).length)
    const record: LogRecord = {
      streamId,
      id: e.id,
      type: e.type,
      revision,
      created: new Date(),
      data: JSON.parse(JSON.stringify(e.data)) as unknown,
      metadata: JSON.parse(JSON.stringify(e.metadata ?? {})) as unknown,
      position: this.#next,
    }
    this.log.push(record)
    return record
  }

  #recorded(r: LogRecord) {
    return { ...r, isJson: true, position: { commit: r.position, prepare: r.position } }
  }
}

const event = (type: string, data: unknown = {}): NewEvent => ({ id: uuidv7(), type, data, metadata: { actor: 'test' } })

describe('KurrentDbEventStore over a stand-in client', () => {
  it('appends and reads a stream back with versions, $all positions, data and metadata', async () => {
    const store = new KurrentDbEventStore(new FakeKurrent())
    const events = [event('tenant.created', { name: 'Acme' }), event('tenant.renamed', null)]
    const result = await store.appendToStream('tenant-1', events, 'no_stream')
    const read = await store.readStream('tenant-1')
    expect(read.map((e) => [e.id, e.type, e.streamVersion, e.data, e.metadata])).toEqual([
      [events[0]!.id, 'tenant.created', 1, { name: 'Acme' }, { actor: 'test' }],
      [events[1]!.id, 'tenant.renamed', 2, null, { actor: 'test' }],
    ])
    expect(result).toEqual({ nextExpectedVersion: 2, lastGlobalPosition: read[1]!.globalPosition })
    expect(read[1]!.recordedAt).toBeInstanceOf(Date)
    expect((await store.readStream('tenant-1', { fromVersion: 2 })).map((e) => e.id)).toEqual([events[1]!.id])
    expect(await store.readStream('tenant-2')).toEqual([])
  })

  it('reports a version conflict with the stream version the server holds', async () => {
    const store = new KurrentDbEventStore(new FakeKurrent())
    await store.appendToStream('key-1', [event('key.issued')], 'no_stream')
    await expect(store.appendToStream('key-1', [event('key.issued')], 'no_stream')).rejects.toBeInstanceOf(WrongExpectedVersionError)
    await expect(store.appendToStream('key-1', [event('key.revoked')], 0)).rejects.toMatchObject({ expected: 0, actual: 1 })
    await expect(store.appendToStream('key-1', [event('key.revoked')], 3)).rejects.toMatchObject({ expected: 3, actual: 1 })
    await expect(store.appendToStream('key-1', [event('key.rotated')], 1)).resolves.toMatchObject({ nextExpectedVersion: 2 })
  })

  it('reports a replayed append as a duplicate and writes nothing', async () => {
    const fake = new FakeKurrent()
    const store = new KurrentDbEventStore(fake)
    const first = event('project.created')
    await store.appendToStream('project-1', [first], 'no_stream')
    const size = fake.log.length
    await expect(store.appendToStream('project-1', [first], 'any')).rejects.toBeInstanceOf(DuplicateEventError)
    await expect(store.appendToStream('project-1', [first], 'no_stream')).rejects.toBeInstanceOf(DuplicateEventError)
    expect(fake.log).toHaveLength(size)
  })

  it('treats an acknowledged append without a position as a replay', async () => {
    const fake = new FakeKurrent()
    fake.appendToStream = () => Promise.resolve({ success: true, nextExpectedRevision: 0n, position: undefined })
    await expect(new KurrentDbEventStore(fake).appendToStream('s', [event('x')], 'any')).rejects.toBeInstanceOf(DuplicateEventError)
  })

  it('refuses empty appends and KurrentDB-owned stream names', async () => {
    const store = new KurrentDbEventStore(new FakeKurrent())
    await expect(store.appendToStream('s', [], 'any')).rejects.toThrow(RangeError)
    await expect(store.appendToStream('$settings', [event('x')], 'any')).rejects.toThrow(RangeError)
  })

  it('reads $all after a position, in pages, stepping over system records and never repeating one', async () => {
    const fake = new FakeKurrent()
    const store = new KurrentDbEventStore(fake)
    const ids: string[] = []
    for (let i = 0; i < 5; i++) {
      // More system records between two of ours than a page holds: the read must go on to the next page.
      fake.system(i === 2 ? 12 : 1)
      const e = event('x', { i })
      await store.appendToStream(`s-${i}`, [e], 'no_stream')
      ids.push(e.id)
    }
    const firstPage = await store.readAll({ after: 0, limit: 2 })
    expect(firstPage.map((e) => e.id)).toEqual(ids.slice(0, 2))
    fake.readAllCalls = 0
    const rest = await store.readAll({ after: firstPage[1]!.globalPosition, limit: 2 })
    expect(rest.map((e) => e.id)).toEqual(ids.slice(2, 4))
    expect(fake.readAllCalls).toBeGreaterThan(1)
    const all = await store.readAll()
    expect(all.map((e) => e.id)).toEqual(ids)
    for (const [i, e] of all.entries()) if (i > 0) expect(e.globalPosition).toBeGreaterThan(all[i - 1]!.globalPosition)
    expect(await store.readAll({ after: all.at(-1)!.globalPosition })).toEqual([])
    expect(await store.readAll({ limit: 0 })).toEqual([])
    await expect(store.readAll({ after: -1 })).rejects.toThrow(RangeError)
  })

  it('checks the server within its time limit', async () => {
    const fake = new FakeKurrent()
    await expect(new KurrentDbEventStore(fake).check()).resolves.toBeUndefined()
    fake.readAll = async function* () {
      await new Promise(() => {})
      yield* []
    }
    await expect(new KurrentDbEventStore(fake, { checkTimeoutMs: 20 }).check()).rejects.toThrow(/did not answer within 20 ms/)
  })
})
