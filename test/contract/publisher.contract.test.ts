import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, inject, it } from 'vitest'
import type { Envelope } from '../../events/envelope.ts'
import type { ConsumedMessage, EventLog } from '../../events/event-log.ts'
import { uuidv7 } from '../../events/ids.ts'
import { InProcessEventLog } from '../../events/in-process-event-log.ts'
import { EventPublisher } from '../../events/publisher.ts'
import { KafkaEventLog } from '../../infra/kafka/kafka-event-log.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import { openPglite } from '../support/sql.ts'
import { usageEvent, waitFor } from '../support/events.ts'

interface Adapter {
  name: string
  /** The spool the adapter is used with: in memory for the embedded log, a directory for Kafka. */
  durableSpool: boolean
  open(): Promise<{ log: EventLog; dispose(): Promise<void> }>
}

const adapters: Adapter[] = [
  {
    name: 'in-process (PGlite)',
    durableSpool: false,
    open: async () => {
      const sql = await openPglite()
      await migrate(sql.store)
      const log = new InProcessEventLog(sql.store, { pollIntervalMs: 50, retryDelayMs: 20 })
      return { log, dispose: async () => (await log.close(), await sql.dispose()) }
    },
  },
  {
    name: 'kafka',
    durableSpool: true,
    open: () => {
      const log = new KafkaEventLog({ brokers: inject('services').kafkaBrokers, clientId: 'publisher-contract' })
      return Promise.resolve({ log, dispose: () => log.close() })
    },
  },
]

const TENANTS = ['acme', 'globex', 'initech', 'umbrella']



describe.each(adapters)('EventPublisher contract: $name', (adapter) => {
  const cleanups: (() => Promise<void>)[] = []
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c()
  })

  it('delivers every published event once, keyed by tenant, in order per tenant, without spooling', async () => {
    const opened = await adapter.open()
    const log = opened.log
    cleanups.push(() => opened.dispose())
    const topic = `publisher-contract-${uuidv7()}`
    await log.ensureTopics([{ name: topic, partitions: 3 }])
    const dir = adapter.durableSpool ? await mkdtemp(join(tmpdir(), 'sg-pub-contract-')) : undefined
    if (dir !== undefined) cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const publisher = new EventPublisher({ eventLog: log, topic, spoolDir: dir, maxBatch: 50 })
    cleanups.push(() => publisher.close())

    const events = Array.from({ length: 300 }, (_, i) => usageEvent(TENANTS[i % TENANTS.length]!, i))
    for (const e of events) publisher.publish(e)
    await publisher.flush()
    await waitFor(() => publisher.stats().delivered === events.length, 'the publisher to deliver everything')
    expect(publisher.stats()).toMatchObject({ spooledEvents: 0, droppedEvents: 0, failures: 0, queued: 0 })

    const received: ConsumedMessage[] = []
    const subscription = await log.subscribe({
      groupId: `publisher-contract-${uuidv7()}`,
      topics: [topic],
      handleBatch: (batch) => {
        received.push(...batch.messages)
        return Promise.resolve()
      },
    })
    cleanups.push(() => subscription.stop())
    await waitFor(() => received.length >= events.length, 'all events to be consumed')

    expect(received).toHaveLength(events.length)
    for (const m of received) {
      const envelope = JSON.parse(m.value.toString()) as Envelope
      expect(m.key).toBe(envelope.tenantId)
      expect(m.headers).toMatchObject({ 'event-type': 'request.completed', 'event-id': envelope.id })
    }
    for (const tenant of TENANTS) {
      const got = received.filter((m) => m.key === tenant).map((m) => m.headers['event-id'])
      expect(got).toEqual(events.filter((e) => e.tenantId === tenant).map((e) => e.id))
    }
  })
})
