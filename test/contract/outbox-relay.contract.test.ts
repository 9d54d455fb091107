import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest'
import { envelopeSchema } from '../../events/envelope.ts'
import type { ControlMetadata } from '../../events/envelope.ts'
import type { ConsumedMessage, EventLog, LogMessage } from '../../events/event-log.ts'
import type { EventStore, NewEvent } from '../../events/event-store.ts'
import { uuidv7 } from '../../events/ids.ts'
import { InProcessEventLog } from '../../events/in-process-event-log.ts'
import { InvalidOutboxEventError, OutboxRelay, OutboxTopicMismatchError } from '../../events/outbox-relay.ts'
import type { OutboxRelayOptions } from '../../events/outbox-relay.ts'
import { SqlEventStore } from '../../events/sql-event-store.ts'
import { KafkaEventLog } from '../../infra/kafka/kafka-event-log.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import type { SqlStore } from '../../infra/postgres/sql-store.ts'
import { openIsolatedPostgres, openPglite } from '../support/sql.ts'
import type { OpenedSqlStore } from '../support/sql.ts'

interface Adapter {
  name: string
  openSql(): Promise<OpenedSqlStore>
  /** A new event log, as a process started after a crash would open. */
  openLog(sql: SqlStore): EventLog
}

const adapters: Adapter[] = [
  {
    name: 'in-process log on PGlite',
    openSql: openPglite,
    openLog: (sql) => new InProcessEventLog(sql, { pollIntervalMs: 50 }),
  },
  {
    name: 'Kafka and PostgreSQL',
    openSql: () => openIsolatedPostgres(inject('services').databaseUrl),
    openLog: () => new KafkaEventLog({ brokers: inject('services').kafkaBrokers, clientId: 'outbox-contract' }),
  },
]

function metadata(tenantId: string, overrides: Partial<ControlMetadata> = {}): ControlMetadata {
  return {
    tenantId,
    actor: { type: 'admin', id: 'bootstrap' },
    sourceIp: '203.0.113.7',
    userAgent: 'contract-test',
    reason: null,
    correlationId: `req-${randomUUID()}`,
    occurredAt: new Date().toISOString(),
    version: 1,
    ...overrides,
  }
}

const controlEvent = (tenantId: string, type: string, data: Record<string, unknown> = {}): NewEvent => ({
  id: uuidv7(),
  type,
  data,
  metadata: metadata(tenantId),
})

async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

const positionOf = (m: ConsumedMessage) => Number(m.headers['global-position'])

describe.each(adapters)('OutboxRelay contract: $name', (adapter) => {
  let opened: OpenedSqlStore
  let sql: SqlStore
  let store: EventStore
  let topic: string
  const cleanups: (() => Promise<void>)[] = []

  beforeEach(async () => {
    opened = await adapter.openSql()
    sql = opened.store
    await migrate(sql)
    store = new SqlEventStore(sql)
    topic = `outbox.contract.${randomUUID()}`
  })
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
    await opened.dispose()
  })

  function openLog(): EventLog {
    const log = adapter.openLog(sql)
    cleanups.push(() => log.close())
    return log
  }

  function relay(eventLog: EventLog, options: Partial<OutboxRelayOptions> = {}): OutboxRelay {
    const r = new OutboxRelay({ eventStore: store, eventLog, sql, topic, pollIntervalMs: 50, ...options })
    cleanups.push(() => r.stop())
    return r
  }

  /** Everything on the topic, in partition and offset order; the tail's offsets say how much that is. */
  async function readTopic(log: EventLog): Promise<ConsumedMessage[]> {
    const count = (await log.readTail(topic)).reduce((n, m) => n + m.offset + 1, 0)
    const received: ConsumedMessage[] = []
    if (count === 0) return received
    const subscription = await log.subscribe({
      groupId: `check-${randomUUID()}`,
      topics: [topic],
      handleBatch: (batch) => {
        received.push(...batch.messages)
        return Promise.resolve()
      },
    })
    try {
      await waitFor(() => received.length >= count, `${count} messages on the topic`)
    } finally {
      await subscription.stop()
    }
    return received.sort((a, b) => a.partition - b.partition || a.offset - b.offset)
  }

  async function expectOnTopicOnce(log: EventLog, events: readonly NewEvent[]): Promise<ConsumedMessage[]> {
    const messages = await readTopic(log)
    expect(messages.map((m) => m.headers['event-id']).sort()).toEqual(events.map((e) => e.id).sort())
    return messages
  }

  const storedPosition = async () =>
    (await sql.query<{ position: number }>('SELECT position FROM outbox_relay_positions WHERE relay = $1', ['control'])).rows[0]
      ?.position

  it('relays every appended event once, keyed by tenant, with its headers and envelope', async () => {
    const log = openLog()
    const acme = [controlEvent('acme', 'tenant.created', { name: 'Acme' }), controlEvent('acme', 'project.created', { name: 'web' })]
    const globex = [{ ...controlEvent('globex', 'key.issued', { keyId: 'k1' }), metadata: metadata('globex', { actor: { type: 'key', id: 'k0' }, correlationId: null, version: 2 }) }]
    await store.appendToStream(`tenant-acme`, acme, 'no_stream')
    await store.appendToStream(`tenant-globex`, globex, 'no_stream')
    await store.appendToStream(`budget-acme`, [controlEvent('acme', 'budget.set', { limitMicroUsd: 5_000_000 })], 'no_stream')

    const r = relay(log)
    expect(await r.relayOnce()).toBe(4)
    expect(await r.relayOnce()).toBe(0)

    const stored = await store.readAll()
    const messages = await expectOnTopicOnce(log, stored)
    for (const event of stored) {
      const meta = event.metadata as ControlMetadata
      const message = messages.find((m) => m.headers['event-id'] === event.id)!
      expect(message.key).toBe(meta.tenantId)
      expect(message.headers).toEqual({ 'event-type': event.type, 'event-id': event.id, 'global-position': String(event.globalPosition) })
      const envelope: unknown = JSON.parse(message.value.toString())
      expect(envelope).toEqual({
        id: event.id,
        type: event.type,
        version: meta.version,
        tenantId: meta.tenantId,
        occurredAt: meta.occurredAt,
        correlationId: meta.correlationId,
        causationId: null,
        actor: meta.actor,
        data: event.data,
      })
      expect(envelopeSchema.safeParse(envelope).success).toBe(true)
    }
    expect(await storedPosition()).toBe(4)
  })

  it('keeps each tenant’s events in order, across batches and partitions', async () => {
    const log = openLog()
    const tenants = ['t-north', 't-south', 't-east', 't-west', 't-centre']
    // Runs of one tenant of varying length, interleaved, so batches cut through them.
    for (let i = 0; i < 40; i++) {
      const tenant = tenants[Math.floor(i / ((i % 3) + 1)) % tenants.length]!
      await store.appendToStream(`stream-${tenant}-${i}`, [controlEvent(tenant, 'setting.changed', { i })], 'no_stream')
    }
    const r = relay(log, { batchSize: 7 })
    let total = 0
    for (let n = await r.relayOnce(); n > 0; n = await r.relayOnce()) total += n
    expect(total).toBe(40)

    const stored = await store.readAll()
    const messages = await expectOnTopicOnce(log, stored)
    for (const tenant of tenants) {
      const mine = messages.filter((m) => m.key === tenant)
      expect(new Set(mine.map((m) => m.partition)).size).toBe(1)
      const expected = stored.filter((e) => (e.metadata as ControlMetadata).tenantId === tenant).map((e) => e.globalPosition)
      expect(mine.map(positionOf)).toEqual(expected)
    }
  })

  it('sends nothing twice after dying between the append and the position store', async () => {
    const first = Array.from({ length: 5 }, (_, i) => controlEvent(i % 2 === 0 ? 'acme' : 'globex', 'key.issued', { i }))
    for (const e of first) await store.appendToStream(`key-${e.id}`, [e], 'no_stream')

    // Process A: its appends reach the log, then it dies as it goes to store the position.
    const died = relay(openLog(), { sql: failingPositionStore(sql) })
    await expect(died.relayOnce()).rejects.toThrow('died before storing the position')
    expect(await storedPosition()).toBeUndefined()

    // Process B starts afresh: the topic's tail tells it everything was sent.
    const log = openLog()
    const restarted = relay(log)
    expect(await restarted.relayOnce()).toBe(0)
    expect(await storedPosition()).toBe(5)
    await expectOnTopicOnce(log, first)

    const second = [controlEvent('acme', 'key.revoked'), controlEvent('initech', 'tenant.created')]
    for (const e of second) await store.appendToStream(`key-${e.id}`, [e], 'no_stream')
    expect(await restarted.relayOnce()).toBe(2)
    await expectOnTopicOnce(log, [...first, ...second])
  })

  it('sends nothing twice when the stored position lags several batches behind the topic', async () => {
    const events = Array.from({ length: 9 }, (_, i) => controlEvent(['a', 'b', 'c'][i % 3]!, 'credit.granted', { i }))
    for (const e of events) await store.appendToStream(`credits-${e.id}`, [e], 'no_stream')
    const before = relay(openLog(), { batchSize: 2 })
    while ((await before.relayOnce()) > 0);
    await sql.query('UPDATE outbox_relay_positions SET position = 1')

    const log = openLog()
    const after = relay(log, { batchSize: 2 })
    expect(await after.relayOnce()).toBe(0)
    expect(await storedPosition()).toBe(9)
    await expectOnTopicOnce(log, events)
  })

  it('relays as soon as it is notified, and a restarted relay resumes where the last one stopped', async () => {
    const log = openLog()
    // Polls too seldom to matter: only notify() can explain a prompt delivery.
    const r = relay(log, { pollIntervalMs: 60_000 })
    await r.start()
    const first = [controlEvent('acme', 'tenant.created'), controlEvent('acme', 'project.created'), controlEvent('globex', 'tenant.created')]
    await store.appendToStream('mixed-1', first, 'no_stream')
    r.notify()
    await waitFor(async () => (await storedPosition()) === 3, 'the notified relay to send 3 events', 10_000)
    await r.stop()

    const second = [controlEvent('globex', 'key.issued'), controlEvent('acme', 'key.issued')]
    await store.appendToStream('mixed-2', second, 'no_stream')
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await storedPosition()).toBe(3)

    const resumed = relay(openLog(), { pollIntervalMs: 60_000 })
    await resumed.start()
    await waitFor(async () => (await storedPosition()) === 5, 'the restarted relay to send the 2 new events', 10_000)
    await resumed.stop()
    const messages = await expectOnTopicOnce(log, [...first, ...second])
    expect(messages.filter((m) => m.key === 'acme').map(positionOf)).toEqual([1, 2, 5])
  })

  it('retries a failed append with the same batch, losing nothing', async () => {
    const log = openLog()
    const calls: LogMessage[][] = []
    let failing = true
    const flaky: EventLog = {
      adapter: log.adapter,
      ensureTopics: (topics) => log.ensureTopics(topics),
      append: (t, messages) => {
        calls.push([...messages])
        return failing ? Promise.reject(new Error('broker unreachable')) : log.append(t, messages)
      },
      subscribe: (options) => log.subscribe(options),
      readTail: (t) => log.readTail(t),
      endOffsets: (t) => log.endOffsets(t),
      identity: () => log.identity(),
      check: () => log.check(),
      close: () => log.close(),
    }
    await store.appendToStream('acme-1', [controlEvent('acme', 'budget.set'), controlEvent('acme', 'budget.changed')], 'no_stream')
    const r = relay(flaky)
    await expect(r.relayOnce()).rejects.toThrow('broker unreachable')
    // More of the same tenant arrives meanwhile; the retry must still be the batch that failed.
    await store.appendToStream('acme-2', [controlEvent('acme', 'budget.changed')], 'no_stream')
    failing = false
    expect(await r.relayOnce()).toBe(3)
    const ids = (batch: LogMessage[]) => batch.map((m) => m.headers?.['global-position'])
    expect(calls.map(ids)).toEqual([['1', '2'], ['1', '2'], ['3']])
    await expectOnTopicOnce(log, await store.readAll())
  })

  it('stops at an event whose metadata is invalid, relaying those before it and skipping none', async () => {
    const log = openLog()
    const valid = controlEvent('acme', 'tenant.created')
    const broken: NewEvent = { id: uuidv7(), type: 'tenant.renamed', data: {}, metadata: { tenantId: 'acme' } }
    const later = controlEvent('acme', 'tenant.deleted')
    await store.appendToStream('tenant-acme', [valid, broken, later], 'no_stream')

    const errors: unknown[] = []
    const r = relay(log, { onError: (error) => errors.push(error) })
    await r.start()
    await waitFor(() => errors.length > 0, 'the relay to report the invalid event')
    await r.stop()
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(InvalidOutboxEventError)
    expect(errors[0]).toMatchObject({ globalPosition: 2, eventId: broken.id })
    expect(await storedPosition()).toBe(1)

    // Still stuck on it after a restart, rather than skipping it.
    await expect(relay(openLog()).relayOnce()).rejects.toBeInstanceOf(InvalidOutboxEventError)
    await expectOnTopicOnce(log, [valid])
  })

  it('refuses to resume from a topic whose tail names an event this store does not hold', async () => {
    const log = openLog()
    await store.appendToStream('tenant-acme', [controlEvent('acme', 'tenant.created')], 'no_stream')
    await log.ensureTopics([{ name: topic, partitions: 3 }])
    await log.append(topic, [{ key: 'acme', value: Buffer.from('{}'), headers: { 'event-id': uuidv7(), 'global-position': '1' } }])
    const r = relay(log)
    await expect(r.start()).rejects.toBeInstanceOf(OutboxTopicMismatchError)
    expect(await storedPosition()).toBeUndefined()
    expect(await readTopic(log)).toHaveLength(1)
  })
})

/** The SQL store of a process that dies as it goes to store the relay's position. */
function failingPositionStore(sql: SqlStore): SqlStore {
  return {
    adapter: sql.adapter,
    query<Row>(text: string, params?: readonly unknown[]) {
      if (text.includes('INSERT INTO outbox_relay_positions')) {
        return Promise.reject(new Error('died before storing the position'))
      }
      return sql.query<Row>(text, params)
    },
    exec: (script) => sql.exec(script),
    transaction: (work, options) => sql.transaction(work, options),
    check: () => sql.check(),
    close: () => Promise.resolve(),
  }
}
