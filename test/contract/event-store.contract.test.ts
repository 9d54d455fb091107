import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { DuplicateEventError, WrongExpectedVersionError } from '../../events/event-store.ts'
import type { EventStore, NewEvent } from '../../events/event-store.ts'
import { uuidv7 } from '../../events/ids.ts'
import { SqlEventStore } from '../../events/sql-event-store.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import { sqlAdapters } from '../support/sql.ts'
import type { OpenedSqlStore } from '../support/sql.ts'

const event = (type: string, data: unknown = {}): NewEvent => ({ id: uuidv7(), type, data, metadata: { actor: 'test' } })

describe.each(sqlAdapters(inject('services').databaseUrl))('EventStore contract: $name', ({ open }) => {
  let opened: OpenedSqlStore
  let store: EventStore

  beforeAll(async () => {
    opened = await open()
    await migrate(opened.store)
    store = new SqlEventStore(opened.store)
  })
  afterAll(() => opened.dispose())

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
    expect(read[1]!.globalPosition).toBe(read[0]!.globalPosition + 1)
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
    await store.appendToStream(`project-${randomUUID()}`, [first], 'no_stream')
    await expect(store.appendToStream(`project-${randomUUID()}`, [first], 'no_stream')).rejects.toBeInstanceOf(
      DuplicateEventError,
    )
  })

  it('reads all streams by global position without ever skipping an event committed later', async () => {
    const start = (await store.readAll({ after: 0, limit: 100_000 })).at(-1)?.globalPosition ?? 0
    const writers = Array.from({ length: 6 }, async (_, w) => {
      for (let i = 0; i < 10; i++) await store.appendToStream(`writer-${w}-${randomUUID()}`, [event('x', { w, i })], 'no_stream')
    })
    // A reader polls while the writers race. Positions must arrive gap-free: a reader that saw position N
    // and later found N-1 would have skipped it for good.
    let seen = start
    let reads = 0
    const done = Promise.all(writers)
    let finished = false
    void done.then(() => (finished = true))
    while (!finished || seen < start + 60) {
      const batch = await store.readAll({ after: seen, limit: 7 })
      for (const e of batch) {
        expect(e.globalPosition).toBe(seen + 1)
        seen = e.globalPosition
      }
      reads++
    }
    await done
    expect(seen).toBe(start + 60)
    expect(reads).toBeGreaterThan(1)
    const page = await store.readAll({ after: start, limit: 5 })
    expect(page.map((e) => e.globalPosition)).toEqual([1, 2, 3, 4, 5].map((n) => start + n))
  })
})
