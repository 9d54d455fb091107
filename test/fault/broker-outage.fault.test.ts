import { execFileSync } from 'node:child_process'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, inject, it } from 'vitest'
import type { ConsumedMessage } from '../../events/event-log.ts'
import { uuidv7 } from '../../events/ids.ts'
import { EventPublisher } from '../../events/publisher.ts'
import { KafkaEventLog } from '../../infra/kafka/kafka-event-log.ts'
import { usageEvent, waitFor } from '../support/events.ts'

/**
 * The broker-outage test (issue 5): Kafka is stopped while events are published, they spool, Kafka comes back,
 * and every event arrives once, in order per tenant. It stops the shared broker, so it runs in the `fault`
 * tier, after the others and alone.
 */

const repoRoot = new URL('../../', import.meta.url).pathname
const services = (action: 'up' | 'down') =>
  execFileSync('bash', ['infra/services.sh', action, 'kafka'], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] })

const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli']
const N = 500



const cleanups: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})

it('events published while Kafka is down spool, then all arrive once it is back, in order per tenant, none twice', { timeout: 90_000 }, async () => {
  const log = new KafkaEventLog({ brokers: inject('services').kafkaBrokers, clientId: 'broker-outage', requestTimeoutMs: 3_000 })
  cleanups.push(() => log.close())
  const topic = `broker-outage-${uuidv7()}`
  await log.ensureTopics([{ name: topic, partitions: 3 }])
  const dir = await mkdtemp(join(tmpdir(), 'sg-outage-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  const publisher = new EventPublisher({ eventLog: log, topic, spoolDir: dir, appendTimeoutMs: 5_000, retryInitialMs: 250, retryMaxMs: 2_000 })
  cleanups.push(() => publisher.close())

  // The producer is connected before the outage, as in a gateway that has been running.
  const warmUp = usageEvent('acme', -1)
  publisher.publish(warmUp)
  await waitFor(() => publisher.stats().delivered === 1, 'the warm-up event', 20_000)

  let down = true
  services('down')
  cleanups.push(() => {
    if (down) services('up')
    return Promise.resolve()
  })
  const events = Array.from({ length: N }, (_, i) => usageEvent(TENANTS[i % TENANTS.length]!, i))
  const publishStarted = performance.now()
  for (const e of events) publisher.publish(e)
  const publishMs = performance.now() - publishStarted
  await waitFor(() => publisher.stats().spooledEvents === N, 'every event to be spooled', 20_000)
  const spooled = publisher.stats().spooledEvents
  expect((await readdir(dir)).length).toBeGreaterThan(0)

  services('up')
  down = false
  await waitFor(() => publisher.stats().delivered === N + 1, 'the spool to be replayed', 60_000)
  expect(publisher.stats()).toMatchObject({ spooledEvents: 0, droppedEvents: 0 })
  expect(await readdir(dir)).toEqual([])

  const received: ConsumedMessage[] = []
  const subscription = await log.subscribe({
    groupId: `broker-outage-check-${uuidv7()}`,
    topics: [topic],
    handleBatch: (batch) => {
      received.push(...batch.messages)
      return Promise.resolve()
    },
  })
  cleanups.push(() => subscription.stop())
  await waitFor(() => new Set(received.map((m) => m.headers['event-id'])).size >= N + 1, 'every event on the topic', 30_000)
  // A little longer, so that a duplicate behind the last first copy would be seen too.
  await new Promise((r) => setTimeout(r, 2_000))

  const counts = new Map<string, number>()
  for (const m of received) counts.set(m.headers['event-id']!, (counts.get(m.headers['event-id']!) ?? 0) + 1)
  const duplicates = [...counts.values()].reduce((sum, n) => sum + n - 1, 0)
  const delivered = events.filter((e) => counts.has(e.id)).length
  console.error(
    `[broker-outage] sent ${N}, spooled ${spooled}, delivered ${delivered}, duplicates ${duplicates}, ` +
      `publish() of ${N} took ${publishMs.toFixed(1)} ms, append failures ${publisher.stats().failures}`,
  )
  expect({ delivered, duplicates }).toEqual({ delivered: N, duplicates: 0 })
  for (const tenant of TENANTS) {
    const got = received.filter((m) => m.key === tenant && m.headers['event-id'] !== warmUp.id).map((m) => m.headers['event-id'])
    expect(got).toEqual(events.filter((e) => e.tenantId === tenant).map((e) => e.id))
  }
})
