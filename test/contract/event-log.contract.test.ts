import { randomUUID } from 'node:crypto'
import { afterAll, describe, expect, inject, it } from 'vitest'
import type { ConsumedMessage, EventLog, Subscription } from '../../events/event-log.ts'
import { InProcessEventLog } from '../../events/in-process-event-log.ts'
import { partitionForKey } from '../../events/partitioner.ts'
import { KafkaEventLog } from '../../infra/kafka/kafka-event-log.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import { openPglite } from '../support/sql.ts'
import type { OpenedSqlStore } from '../support/sql.ts'

interface Adapter {
  name: string
  open(): Promise<{ log: EventLog; dispose(): Promise<void> }>
}

// One PGlite for all in-process cases (each starts in seconds); every case uses topics of its own.
let pglite: Promise<OpenedSqlStore> | undefined
const sharedPglite = () =>
  (pglite ??= openPglite().then(async (opened) => {
    await migrate(opened.store)
    return opened
  }))
afterAll(async () => (await pglite)?.dispose())

const adapters: Adapter[] = [
  {
    name: 'in-process (PGlite)',
    open: async () => {
      const sql = await sharedPglite()
      const log = new InProcessEventLog(sql.store, { pollIntervalMs: 50, retryDelayMs: 20 })
      return { log, dispose: () => log.close() }
    },
  },
  {
    name: 'kafka',
    open: () => {
      const log = new KafkaEventLog({ brokers: inject('services').kafkaBrokers, clientId: 'contract' })
      return Promise.resolve({ log, dispose: () => log.close() })
    },
  },
]

async function waitFor(condition: () => boolean, what: string, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

const encode = (key: string, seq: number) => ({
  key,
  value: Buffer.from(JSON.stringify({ key, seq })),
  headers: { 'event-type': 'test.appended', seq: String(seq) },
})
const seqOf = (m: ConsumedMessage) => (JSON.parse(m.value.toString()) as { seq: number }).seq

describe.each(adapters)('EventLog contract: $name', (adapter) => {
  const cleanups: (() => Promise<void>)[] = []
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c()
  })

  async function openLog(): Promise<EventLog> {
    const opened = await adapter.open()
    cleanups.push(() => opened.dispose())
    return opened.log
  }

  async function consume(log: EventLog, groupId: string, topic: string, into: ConsumedMessage[], fail?: (m: ConsumedMessage) => boolean): Promise<Subscription> {
    const subscription = await log.subscribe({
      groupId,
      topics: [topic],
      handleBatch: (batch) => {
        for (const m of batch.messages) {
          if (fail?.(m) === true) return Promise.reject(new Error(`handler refused offset ${m.offset}`))
        }
        into.push(...batch.messages)
        return Promise.resolve()
      },
    })
    cleanups.push(() => subscription.stop())
    return subscription
  }

  it('keeps each key in one partition, in order, as Kafka’s partitioner places it', async () => {
    const log = await openLog()
    const topic = `contract.order.${randomUUID()}`
    await log.ensureTopics([{ name: topic, partitions: 3 }])
    const keys = ['tenant-a', 'tenant-b', 'tenant-c', 'tenant-d', 'tenant-e', 'tenant-f']
    for (let round = 0; round < 10; round++) await log.append(topic, keys.map((k) => encode(k, round)))
    const received: ConsumedMessage[] = []
    await consume(log, `g-${randomUUID()}`, topic, received)
    await waitFor(() => received.length >= 60, '60 messages')
    expect(received).toHaveLength(60)
    for (const key of keys) {
      const mine = received.filter((m) => m.key === key)
      expect(mine.map(seqOf)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      expect(new Set(mine.map((m) => m.partition))).toEqual(new Set([partitionForKey(key, 3)]))
    }
    expect(received[0]!.headers).toMatchObject({ 'event-type': 'test.appended' })
  })

  it('resumes a consumer group after its committed offsets, and lets another group read everything', async () => {
    const log = await openLog()
    const topic = `contract.offsets.${randomUUID()}`
    await log.ensureTopics([{ name: topic, partitions: 2 }])
    await log.append(topic, Array.from({ length: 20 }, (_, i) => encode(`k${i % 4}`, i)))
    const group = `g-${randomUUID()}`
    const first: ConsumedMessage[] = []
    const sub = await consume(log, group, topic, first)
    await waitFor(() => first.length >= 20, 'the first 20 messages')
    await sub.stop()

    await log.append(topic, Array.from({ length: 5 }, (_, i) => encode(`k${i % 4}`, 100 + i)))
    const second: ConsumedMessage[] = []
    await consume(log, group, topic, second)
    await waitFor(() => second.length >= 5, 'the 5 new messages')
    await new Promise((r) => setTimeout(r, 1_500))
    expect(second.map(seqOf).sort((a, b) => a - b)).toEqual([100, 101, 102, 103, 104])

    const other: ConsumedMessage[] = []
    await consume(log, `g-${randomUUID()}`, topic, other)
    await waitFor(() => other.length >= 25, 'all 25 messages in a new group')
  })

  it('delivers a batch again when its handler fails, losing nothing', async () => {
    const log = await openLog()
    const topic = `contract.retry.${randomUUID()}`
    await log.ensureTopics([{ name: topic, partitions: 1 }])
    await log.append(topic, Array.from({ length: 10 }, (_, i) => ({ ...encode('k', i), value: Buffer.from([0, 255, i, ...Buffer.from(JSON.stringify({ seq: i }))]) })))
    let failures = 0
    const received: ConsumedMessage[] = []
    await consume(log, `g-${randomUUID()}`, topic, received, (m) => m.offset === 5 && failures++ < 2)
    await waitFor(() => received.length >= 10, 'all 10 messages after two failures')
    expect(failures).toBe(3)
    // The value is binary-safe, and every offset arrived once the handler accepted it.
    expect(received.map((m) => m.value[2])).toEqual(expect.arrayContaining([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]))
    expect(received[0]!.value.subarray(0, 2)).toEqual(Buffer.from([0, 255]))
    expect(new Set(received.map((m) => m.offset)).size).toBe(10)
  })

  it('reads the last message of each partition, none for an empty one', async () => {
    const log = await openLog()
    const topic = `contract.tail.${randomUUID()}`
    await log.ensureTopics([{ name: topic, partitions: 3 }])
    expect(await log.readTail(topic)).toEqual([])
    // Keys for partitions 0 and 2 only, so partition 1 stays empty.
    const keyFor = (partition: number) =>
      Array.from({ length: 100 }, (_, i) => `tenant-${i}`).find((k) => partitionForKey(k, 3) === partition)!
    const [k0, k2] = [keyFor(0), keyFor(2)]
    await log.append(topic, [encode(k0, 0), encode(k2, 1), encode(k0, 2)])
    await log.append(topic, [encode(k0, 3), encode(k2, 4)])

    const started = Date.now()
    const tail = await log.readTail(topic)
    expect(Date.now() - started).toBeLessThan(8_000)
    expect(tail.map((m) => ({ partition: m.partition, offset: m.offset, key: m.key, seq: seqOf(m), headers: m.headers }))).toEqual([
      { partition: 0, offset: 2, key: k0, seq: 3, headers: { 'event-type': 'test.appended', seq: '3' } },
      { partition: 2, offset: 1, key: k2, seq: 4, headers: { 'event-type': 'test.appended', seq: '4' } },
    ])
    expect(tail.every((m) => m.topic === topic)).toBe(true)
    expect(await log.endOffsets(topic)).toEqual([
      { partition: 0, next: 3 },
      { partition: 1, next: 0 },
      { partition: 2, next: 2 },
    ])

    // A later append moves the tail; nothing was committed for anyone by reading it.
    await log.append(topic, [encode(k2, 5)])
    expect((await log.readTail(topic)).map(seqOf)).toEqual([3, 5])
    const all: ConsumedMessage[] = []
    await consume(log, `g-${randomUUID()}`, topic, all)
    await waitFor(() => all.length >= 6, 'all 6 messages')
  })

  it('reads no tail of a topic that does not exist, and does not create it', async () => {
    const log = await openLog()
    const topic = `contract.tail-missing.${randomUUID()}`
    expect(await log.readTail(topic)).toEqual([])
    expect(await log.endOffsets(topic)).toEqual([])
    // Had the read created the topic, the broker or the log would have given it its default partition count.
    await log.ensureTopics([{ name: topic, partitions: 1 }])
    await log.append(topic, [encode('a', 0), encode('b', 1)])
    expect((await log.readTail(topic)).map((m) => [m.partition, m.offset])).toEqual([[0, 1]])
  })

  it('answers its health check', async () => {
    const log = await openLog()
    await expect(log.check()).resolves.toBeUndefined()
  })
})
