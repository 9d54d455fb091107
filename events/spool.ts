import { mkdir, open, readdir, readFile, rm } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { join } from 'node:path'

/** One event as the publisher keeps it: the envelope's JSON, with the fields its Kafka message needs. */
export interface SpooledEvent {
  id: string
  tenantId: string
  type: string
  json: string
}

/** A run of spooled events, replayed as one append and forgotten only once that append is acknowledged. */
export interface SpoolSegment {
  readonly seq: number
  readonly events: readonly SpooledEvent[]
}

/**
 * Where the publisher keeps events the log did not acknowledge, oldest first. `write` takes as many events
 * as fit under the size bound and says how many; those are durable when it resolves.
 */
export interface Spool {
  readonly events: number
  readonly bytes: number
  /** Loads what a previous run left behind. */
  open(): Promise<void>
  write(events: readonly SpooledEvent[]): Promise<number>
  /** The oldest segment, sealed: later writes go to a new one, so what is replayed is what is removed. */
  oldest(): SpoolSegment | undefined
  remove(segment: SpoolSegment): Promise<void>
  close(): Promise<void>
}

export interface SpoolLogger {
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

const lineBytes = (event: SpooledEvent) => Buffer.byteLength(event.json) + 1

/** How many of `events`, from the front, fit into `room` bytes. */
function fitting(events: readonly SpooledEvent[], room: number): { count: number; bytes: number } {
  let bytes = 0
  let count = 0
  for (const event of events) {
    const size = lineBytes(event)
    if (bytes + size > room) break
    bytes += size
    count++
  }
  return { count, bytes }
}

interface Segment {
  seq: number
  events: SpooledEvent[]
  bytes: number
  sealed: boolean
}

/** The spool of the embedded mode, whose in-process log cannot be unreachable: bounded, but not durable. */
export class MemorySpool implements Spool {
  readonly #segments: Segment[] = []
  readonly #maxBytes: number
  readonly #maxSegmentEvents: number
  #nextSeq = 1
  #bytes = 0
  #events = 0

  constructor(options: { maxBytes: number; maxSegmentEvents: number }) {
    this.#maxBytes = options.maxBytes
    this.#maxSegmentEvents = options.maxSegmentEvents
  }

  get events(): number {
    return this.#events
  }

  get bytes(): number {
    return this.#bytes
  }

  open(): Promise<void> {
    return Promise.resolve()
  }

  write(events: readonly SpooledEvent[]): Promise<number> {
    const { count, bytes } = fitting(events, this.#maxBytes - this.#bytes)
    if (count === 0) return Promise.resolve(0)
    let last = this.#segments.at(-1)
    if (last === undefined || last.sealed || last.events.length + count > this.#maxSegmentEvents) {
      last = { seq: this.#nextSeq++, events: [], bytes: 0, sealed: false }
      this.#segments.push(last)
    }
    last.events.push(...events.slice(0, count))
    last.bytes += bytes
    this.#bytes += bytes
    this.#events += count
    return Promise.resolve(count)
  }

  oldest(): SpoolSegment | undefined {
    const first = this.#segments[0]
    if (first !== undefined) first.sealed = true
    return first
  }

  remove(segment: SpoolSegment): Promise<void> {
    const index = this.#segments.findIndex((s) => s.seq === segment.seq)
    if (index >= 0) {
      const [removed] = this.#segments.splice(index, 1)
      this.#bytes -= removed!.bytes
      this.#events -= removed!.events.length
    }
    return Promise.resolve()
  }

  close(): Promise<void> {
    return Promise.resolve()
  }
}

const SEGMENT_NAME = /^segment-(\d{16})\.jsonl$/
const segmentName = (seq: number) => `segment-${String(seq).padStart(16, '0')}.jsonl`

/**
 * The durable spool: append-only segment files of JSON lines (one envelope a line) in `dir`, each write
 * fsync'd before it resolves, a new file's directory entry fsync'd too. A segment file is deleted only after
 * the log acknowledged every event in it. One process per directory: two publishers sharing one would both
 * replay it.
 */
export class FileSpool implements Spool {
  readonly #dir: string
  readonly #maxBytes: number
  readonly #maxSegmentEvents: number
  readonly #logger: SpoolLogger | undefined
  readonly #segments: Segment[] = []
  #writing: { segment: Segment; handle: FileHandle } | undefined
  #nextSeq = 1
  #bytes = 0
  #events = 0

  constructor(options: { dir: string; maxBytes: number; maxSegmentEvents: number; logger?: SpoolLogger }) {
    this.#dir = options.dir
    this.#maxBytes = options.maxBytes
    this.#maxSegmentEvents = options.maxSegmentEvents
    this.#logger = options.logger
  }

  get events(): number {
    return this.#events
  }

  get bytes(): number {
    return this.#bytes
  }

  async open(): Promise<void> {
    await mkdir(this.#dir, { recursive: true })
    const names = (await readdir(this.#dir)).filter((n) => SEGMENT_NAME.test(n)).sort()
    for (const name of names) {
      const seq = Number(SEGMENT_NAME.exec(name)![1])
      this.#nextSeq = Math.max(this.#nextSeq, seq + 1)
      const text = await readFile(join(this.#dir, name), 'utf8')
      const events: SpooledEvent[] = []
      const lines = text.split('\n')
      // Every write ends with a newline, so a last line without one is a write torn by a crash: its events
      // were never reported spooled, and the process that held them in memory is gone.
      const torn = lines.pop()
      if (torn !== undefined && torn !== '') this.#logger?.error({ segment: name, bytes: torn.length }, 'event spool: ignoring a torn last line')
      for (const [index, line] of lines.entries()) {
        try {
          const parsed = JSON.parse(line) as { id: string; tenantId: string; type: string }
          events.push({ id: parsed.id, tenantId: parsed.tenantId, type: parsed.type, json: line })
        } catch (error) {
          this.#logger?.error({ segment: name, line: index + 1, err: error }, 'event spool: an unreadable line is skipped')
        }
      }
      if (events.length === 0) {
        await rm(join(this.#dir, name), { force: true })
        continue
      }
      const bytes = events.reduce((sum, e) => sum + lineBytes(e), 0)
      // Leftovers are sealed: this run writes to files of its own.
      this.#segments.push({ seq, events, bytes, sealed: true })
      this.#bytes += bytes
      this.#events += events.length
    }
  }

  async write(events: readonly SpooledEvent[]): Promise<number> {
    const { count, bytes } = fitting(events, this.#maxBytes - this.#bytes)
    if (count === 0) return 0
    let target = this.#writing
    if (target === undefined || target.segment.sealed || target.segment.events.length + count > this.#maxSegmentEvents) {
      await target?.handle.close()
      const segment: Segment = { seq: this.#nextSeq++, events: [], bytes: 0, sealed: false }
      const handle = await open(join(this.#dir, segmentName(segment.seq)), 'a')
      await this.#syncDir()
      target = { segment, handle }
      this.#writing = target
      this.#segments.push(segment)
    }
    const taken = events.slice(0, count)
    const text = taken.map((e) => `${e.json}\n`).join('')
    try {
      await target.handle.write(text)
      await target.handle.datasync()
    } catch (error) {
      // What was written may be partial: seal the file so nothing follows a torn line, and report failure.
      target.segment.sealed = true
      throw error
    }
    target.segment.events.push(...taken)
    target.segment.bytes += bytes
    this.#bytes += bytes
    this.#events += count
    return count
  }

  oldest(): SpoolSegment | undefined {
    const first = this.#segments[0]
    if (first !== undefined) first.sealed = true
    return first
  }

  async remove(segment: SpoolSegment): Promise<void> {
    const index = this.#segments.findIndex((s) => s.seq === segment.seq)
    if (index < 0) return
    if (this.#writing?.segment.seq === segment.seq) {
      await this.#writing.handle.close()
      this.#writing = undefined
    }
    // If the process dies before this unlink, the next run sends the segment again: consumers dedupe by id.
    await rm(join(this.#dir, segmentName(segment.seq)), { force: true })
    const [removed] = this.#segments.splice(index, 1)
    this.#bytes -= removed!.bytes
    this.#events -= removed!.events.length
  }

  async close(): Promise<void> {
    await this.#writing?.handle.close()
    this.#writing = undefined
  }

  async #syncDir(): Promise<void> {
    const dir = await open(this.#dir, 'r')
    try {
      await dir.sync()
    } finally {
      await dir.close()
    }
  }
}
