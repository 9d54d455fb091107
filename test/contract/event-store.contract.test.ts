import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { DuplicateEventError, WrongExpectedVersionError } from '../../events/event-store.ts'
import type { EventStore, NewEvent } from '../../events/event-store.ts'
import { uuidv7 } from '../../events/ids.ts'
import { SqlEventStore } from '../../events/sql-event-store.ts'
import { KurrentDbEventStore } from '../../infra/kurrentdb/kurrentdb-event-store.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import { sqlAdapters } from '../support/sql.ts'

const event = (type: string, data: unknown = {}): NewEvent => ({ id: uuidv7(), type, data, metadata: { actor: 'test' } })

interface OpenedEventStore {
  store: EventStore
  dispose(): Promise<void>
}

const adapters: { name: string; open: () => Promise<OpenedEventStore> }[] = sqlAdapters(inject('services').databaseUrl).map(
  ({ name, open }) => ({
    name,
    open: async () => {
      const opened = await open()
      await migrate(opened.store)
      return { store: new SqlEventStore(opened.store), dispose: () => opened.dispose() }
    },
  }),
)
// No KurrentDB here unless one is given: `docker compose -f infra/docker-compose.yml up -d --wait kurrentdb`,
// then KURRENTDB_URL='kurrentdb://127.0.0.1:2113?tls=false'.
const kurrentDbUrl = process.env.KURRENTDB_URL
if (kurrentDbUrl) {
  adapters.push({
    name: 'kurrentdb',
    open: async () => {
      const store = new KurrentDbEventStore(kurrentDbUrl)
      await store.check().catch(async (error: unknown) => {
        await store.close()
        throw error
      })
      return { store, dispose: () => store.close() }
    },
  })
} else {
  console.error('[event-store contract] KURRENTDB_URL unset: the KurrentDB adapter is not run (see infra/README.md)')
}

describe.each(adapters)('EventStore contract: $name', ({ open }) => {
  let opened: OpenedEventStore | undefined
  let store: EventStore

  beforeAll(async () => {
    opened = await open()
    store = opened.store
  })
  afterAll(() => opened?.dispose())

  it('appends to a new stream and reads it back in version order', async () => {
    const stream = `tenant-${randomUUID()}`
    const events = [event('tenant.created', { name: 'Acme' }), event('tenant.renamed', { name: 'Acme Ltd' })]
    const result = await store.appendToStream(stream, events, 'no_stream')
    expect(result.nextExpectedVersion).toBe(2)
    const read = await store.readStream(stream)
    expect(read.map((e) => [e.id, e.type, e.streamVersion, e.data, e.metadata])).toEqual([
      [events[0]!.id, 'tenant.created', 1, { name: 'Acme' }, { actor: 'test' }],
      [events[1]!.id, 'tenant.renamed', 2, { name: 'Acme Ltd' }, { actor: 'test' }],
    ])
    expect(read[1]!.globalPosition).toBeGreaterThan(read[0]!.globalPosition)
    expect(result.lastGlobalPosition).toBe(read[1]!.globalPosition)
    expect(await store.readStream(stream, { fromVersion: 2 })).toHaveLength(1)
  })

  it('rejects an append at the wrong expected version and writes nothing', async () => {
    const stream = `key-${randomUUID()}`
    await store.appendToStream(stream, [event('key.issued')], 'no_stream')
    await expect(store.appendToStream(stream, [event('key.issued')], 'no_stream')).rejects.toBeInstanceOf(
      WrongExpectedVersionError,
    )
    await expect(store.appendToStream(stream, [event('key.revoked')], 0)).rejects.toMatchObject({ actual: 1, expected: 0 })
    await store.appendToStream(stream, [event('key.rotated')], 1)
    await store.appendToStream(stream, [event('key.revoked')], 'any')
    expect((await store.readStream(stream)).map((e) => e.type)).toEqual(['key.issued', 'key.rotated', 'key.revoked'])
  })

  it('lets exactly one of several concurrent appends at the same version win', async () => {
    const stream = `budget-${randomUUID()}`
    await store.appendToStream(stream, [event('budget.set')], 'no_stream')
    const attempts = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => store.appendToStream(stream, [event('budget.changed', { i })], 1)),
    )
    expect(attempts.filter((a) => a.status === 'fulfilled')).toHaveLength(1)
    for (const a of attempts.filter((a) => a.status === 'rejected')) {
      expect(a.reason).toBeInstanceOf(WrongExpectedVersionError)
    }
    expect(await store.readStream(stream)).toHaveLength(2)
  })

  it('rejects an event id that was appended before', async () => {
    const first = event('project.created')
    const stream = `project-${randomUUID()}`
    await store.appendToStream(stream, [first], 'no_stream')
    await expect(store.appendToStream(stream, [first], 'any')).rejects.toBeInstanceOf(DuplicateEventError)
    expect(await store.readStream(stream)).toHaveLength(1)
    const elsewhere = store.appendToStream(`project-${randomUUID()}`, [first], 'no_stream')
    if (store.adapter === 'kurrentdb') {
      // KurrentDB has no index by event id, so ids are unique per stream only (see kurrentdb-event-store.ts).
      await expect(elsewhere).resolves.toMatchObject({ nextExpectedVersion: 1 })
    } else {
      await expect(elsewhere).rejects.toBeInstanceOf(DuplicateEventError)
    }
  })

  it('reads all streams by global position without ever skipping an event committed later', async () => {
    // Positions are compared, never counted: KurrentDB's are log offsets, increasing but not contiguous.
    // The store may hold other events (KurrentDB's outlives the run), so the read starts after a marker.
    const start = (await store.appendToStream(`marker-${randomUUID()}`, [event('marker')], 'no_stream')).lastGlobalPosition
    const appended: string[][] = Array.from({ length: 6 }, () => [])
    const writers = Array.from({ length: 6 }, async (_, w) => {
      for (let i = 0; i < 10; i++) {
        const e = event('x', { w, i })
        await store.appendToStream(`writer-${w}-${randomUUID()}`, [e], 'no_stream')
        appended[w]!.push(e.id)
      }
    })
    // A reader polls while the writers race. Every event must arrive exactly once and in increasing
    // positions: a reader that saw position N and later found an event below N would have skipped it for good.
    const seen: string[] = []
    let last = start
    let reads = 0
    let finished = false
    const writes = Promise.allSettled(writers).finally(() => {
      finished = true
    })
    for (;;) {
      const writersDone = finished
      const batch = await store.readAll({ after: last, limit: 7 })
      for (const e of batch) {
        expect(e.globalPosition).toBeGreaterThan(last)
        last = e.globalPosition
        seen.push(e.id)
      }
      reads++
      // Empty after every write had finished: nothing is left to arrive.
      if (writersDone && batch.length === 0) break
    }
    expect((await writes).filter((w) => w.status === 'rejected')).toEqual([])
    for (const ids of appended) {
      const mine = new Set(ids)
      expect(seen.filter((id) => mine.has(id))).toEqual(ids)
    }
    expect(new Set(seen).size).toBe(60)
    expect(seen).toHaveLength(60)
    expect(reads).toBeGreaterThan(1)
    const page = await store.readAll({ after: start, limit: 5 })
    expect(page.map((e) => e.id)).toEqual(seen.slice(0, 5))
    expect(page[0]!.globalPosition).toBeGreaterThan(start)
  })
})
