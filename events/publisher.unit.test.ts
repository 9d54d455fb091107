import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Envelope } from './envelope.ts'
import type { EventLog, LogMessage } from './event-log.ts'
import { EventPublisher } from './publisher.ts'
import type { EventPublisherOptions, PublisherLogger } from './publisher.ts'
import { usageEvent, waitFor } from '../test/support/events.ts'

const TOPIC = 'supergate.usage.v1'

/** An event log that refuses appends, or leaves them hanging, while told to. */
class FakeEventLog implements EventLog {
  readonly adapter = 'in-process' as const
  readonly appended: LogMessage[] = []
  appends = 0
  mode: 'up' | 'down' | 'hang' = 'up'
  readonly #hanging: (() => void)[] = []

  append(_topic: string, messages: readonly LogMessage[]): Promise<void> {
    this.appends++
    if (this.mode === 'down') return Promise.reject(new Error('broker unreachable'))
    if (this.mode === 'hang') {
      return new Promise((resolve) => {
        this.#hanging.push(() => {
          this.appended.push(...messages)
          resolve()
        })
      })
    }
    this.appended.push(...messages)
    return Promise.resolve()
  }

  /** The hanging appends land after all, as a send retried by a client library can. */
  landHanging(): void {
    for (const land of this.#hanging.splice(0)) land()
  }

  ids(): string[] {
    return this.appended.map((m) => m.headers!['event-id']!)
  }

  ensureTopics = () => Promise.resolve()
  subscribe = () => Promise.reject(new Error('not used'))
  readTail = () => Promise.resolve([])
  endOffsets = () => Promise.resolve([])
  identity = () => Promise.resolve('fake')
  check = () => Promise.resolve()
  close = () => Promise.resolve()
}

function captureLogger(): PublisherLogger & { lines: string[] } {
  const lines: string[] = []
  return { lines, info: (_o, msg) => lines.push(msg), warn: (_o, msg) => lines.push(msg), error: (_o, msg) => lines.push(msg) }
}

let seq = 0
const nextEvent = (tenantId: string): Envelope => usageEvent(tenantId, ++seq)


const dirs: string[] = []
const publishers: EventPublisher[] = []
afterEach(async () => {
  for (const p of publishers.splice(0)) await p.close()
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

async function spoolDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sg-spool-'))
  dirs.push(dir)
  return dir
}

function publisher(options: Partial<EventPublisherOptions> & Pick<EventPublisherOptions, 'eventLog' | 'spoolDir'>, track = true): EventPublisher {
  const p = new EventPublisher({ topic: TOPIC, retryInitialMs: 10, retryMaxMs: 20, logger: captureLogger(), ...options })
  if (track) publishers.push(p)
  return p
}

const segmentFiles = async (dir: string) => (await readdir(dir)).filter((n) => n.endsWith('.jsonl'))

describe('EventPublisher', () => {
  it('appends batches keyed by tenant with the event type and id as headers, by count and by linger time', async () => {
    const log = new FakeEventLog()
    const p = publisher({ eventLog: log, spoolDir: undefined, maxBatch: 3, lingerMs: 20 })
    const events = [nextEvent('acme'), nextEvent('globex'), nextEvent('acme'), nextEvent('acme')]
    for (const e of events) p.publish(e)
    // Three fill a batch at once; the fourth goes after the linger time, without a flush.
    await waitFor(() => log.appended.length === 4, 'both batches')
    expect(log.appends).toBe(2)
    expect(log.appended.map((m) => m.key)).toEqual(['acme', 'globex', 'acme', 'acme'])
    expect(log.appended[1]!.headers).toEqual({ 'event-type': 'request.completed', 'event-id': events[1]!.id })
    expect(JSON.parse(log.appended[1]!.value.toString())).toEqual(events[1])
    expect(p.stats()).toMatchObject({ queued: 0, delivered: 4, spooledEvents: 0, failures: 0 })
  })

  it('never throws to the caller: an invalid envelope is refused, counted and logged', () => {
    const logger = captureLogger()
    const p = publisher({ eventLog: new FakeEventLog(), spoolDir: undefined, logger })
    expect(() => p.publish({ ...nextEvent('acme'), id: 'not-a-uuid' })).not.toThrow()
    expect(p.stats().rejectedEvents).toBe(1)
    expect(logger.lines.join('\n')).toMatch(/invalid envelope/)
  })

  it('spools to fsync’d segment files while the log fails, then delivers everything in order and deletes them', async () => {
    const dir = await spoolDir()
    const log = new FakeEventLog()
    log.mode = 'down'
    const p = publisher({ eventLog: log, spoolDir: dir, maxBatch: 4, lingerMs: 1 })
    const events = Array.from({ length: 10 }, (_, i) => nextEvent(i % 2 === 0 ? 'acme' : 'globex'))
    for (const e of events.slice(0, 6)) p.publish(e)
    await p.flush()
    for (const e of events.slice(6)) p.publish(e)
    await p.flush()
    expect(p.stats()).toMatchObject({ spooledEvents: 10, delivered: 0, queued: 0 })
    expect(p.stats().failures).toBeGreaterThan(0)
    const onDisk = (await Promise.all((await segmentFiles(dir)).sort().map((f) => readFile(join(dir, f), 'utf8')))).join('')
    expect(onDisk.trim().split('\n').map((l) => (JSON.parse(l) as Envelope).id)).toEqual(events.map((e) => e.id))

    log.mode = 'up'
    const later = nextEvent('acme')
    p.publish(later)
    await waitFor(() => p.stats().delivered === 11, 'the replay and the newer event')
    expect(log.ids()).toEqual([...events, later].map((e) => e.id))
    expect(p.stats()).toMatchObject({ spooledEvents: 0, spooledBytes: 0, delivered: 11 })
    expect(await segmentFiles(dir)).toEqual([])
  })

  it('replays the spool a previous run left before anything the new run publishes', async () => {
    const dir = await spoolDir()
    const down = new FakeEventLog()
    down.mode = 'down'
    const first = publisher({ eventLog: down, spoolDir: dir }, false)
    const old = [nextEvent('acme'), nextEvent('acme'), nextEvent('globex')]
    for (const e of old) first.publish(e)
    await first.close()
    expect(await segmentFiles(dir)).not.toEqual([])

    const log = new FakeEventLog()
    const second = publisher({ eventLog: log, spoolDir: dir })
    const fresh = [nextEvent('acme'), nextEvent('globex')]
    for (const e of fresh) second.publish(e)
    await waitFor(() => second.stats().delivered === 5, 'old and new events')
    expect(log.ids()).toEqual([...old, ...fresh].map((e) => e.id))
    expect(await segmentFiles(dir)).toEqual([])
  })

  it('keeps spooled events through a crash: a new publisher on the same directory delivers them', async () => {
    const dir = await spoolDir()
    const down = new FakeEventLog()
    down.mode = 'down'
    // Crashed: never closed, and its back-off is long enough that it never touches the spool again.
    const crashed = publisher({ eventLog: down, spoolDir: dir, retryInitialMs: 600_000, retryMaxMs: 600_000 }, false)
    const events = Array.from({ length: 7 }, (_, i) => nextEvent(`tenant-${i % 3}`))
    for (const e of events) crashed.publish(e)
    await crashed.flush()
    expect(crashed.stats().spooledEvents).toBe(7)

    const log = new FakeEventLog()
    publisher({ eventLog: log, spoolDir: dir })
    await waitFor(() => log.appended.length === 7, 'the crashed run’s events')
    expect(log.ids()).toEqual(events.map((e) => e.id))
  })

  it('does not resend a timed-out append that lands later', async () => {
    const dir = await spoolDir()
    const log = new FakeEventLog()
    log.mode = 'hang'
    const p = publisher({ eventLog: log, spoolDir: dir, appendTimeoutMs: 30, lingerMs: 1 })
    const events = [nextEvent('acme'), nextEvent('acme')]
    for (const e of events) p.publish(e)
    await waitFor(() => p.stats().spooledEvents === 2, 'the timed-out batch to be spooled')
    const more = nextEvent('acme')
    p.publish(more)
    await p.flush()
    log.mode = 'up'
    log.landHanging()
    await waitFor(() => p.stats().delivered === 3, 'everything delivered')
    expect(log.ids()).toEqual([...events, more].map((e) => e.id))
    expect(p.stats().spooledEvents).toBe(0)
  })

  it('when the spool is full, holds events in memory to a bound, then drops the newest: counted, logged, reported', async () => {
    const dir = await spoolDir()
    const log = new FakeEventLog()
    log.mode = 'down'
    const logger = captureLogger()
    const reports: number[] = []
    const events = Array.from({ length: 5 }, () => nextEvent('acme'))
    const fiveFit = events.reduce((sum, e) => sum + Buffer.byteLength(JSON.stringify(e)) + 1, 0) + 10
    const p = publisher({
      eventLog: log,
      spoolDir: dir,
      maxSpoolBytes: fiveFit,
      maxQueuedEvents: 5,
      logger,
      onSpoolFull: (r) => reports.push(r.droppedEvents),
    })
    for (const e of events) p.publish(e)
    await p.flush()
    expect(p.stats()).toMatchObject({ spooledEvents: 5, queued: 0, droppedEvents: 0 })

    const more = Array.from({ length: 10 }, () => nextEvent('acme'))
    for (const e of more) p.publish(e)
    await p.flush()
    expect(p.stats()).toMatchObject({ spooledEvents: 5, queued: 5, droppedEvents: 5 })
    expect(reports.length).toBeGreaterThan(0)
    expect(reports.at(-1)).toBe(5)
    expect(logger.lines.join('\n')).toMatch(/SPOOL FULL/)
    expect(logger.lines.join('\n')).toMatch(/EVENTS DROPPED/)

    // Once the log is back, what was kept arrives in order: the dropped are the newest, never a gap inside.
    log.mode = 'up'
    await waitFor(() => log.appended.length === 10, 'the kept events')
    expect(log.ids()).toEqual([...events, ...more.slice(0, 5)].map((e) => e.id))
  })

  it('with no spool directory, spools in memory while the log fails and delivers in order when it recovers', async () => {
    const log = new FakeEventLog()
    log.mode = 'down'
    const p = publisher({ eventLog: log, spoolDir: undefined, maxBatch: 2, lingerMs: 1 })
    const events = Array.from({ length: 5 }, () => nextEvent('acme'))
    for (const e of events) p.publish(e)
    await p.flush()
    expect(p.stats().spooledEvents).toBe(5)
    log.mode = 'up'
    await waitFor(() => log.appended.length === 5, 'the replay')
    expect(log.ids()).toEqual(events.map((e) => e.id))
  })
})
