import { EventEmitter } from 'node:events'
import type { SqlStore } from '../infra/postgres/sql-store.ts'
import type {
  ConsumedMessage,
  EventLog,
  LogMessage,
  MessageBatch,
  SubscribeOptions,
  Subscription,
  TopicSpec,
} from './event-log.ts'
import { partitionForKey } from './partitioner.ts'

interface MessageRow {
  offset: number
  key: string
  value: Uint8Array
  headers: Record<string, string>
}

export interface InProcessEventLogOptions {
  /** Partitions of a topic that is appended to before `ensureTopics` named it, as Kafka's auto-create does. */
  defaultPartitions?: number
  /** How often a subscription looks for messages appended by another process sharing the database. */
  pollIntervalMs?: number
  batchSize?: number
  /** A failed batch is retried after this delay, doubling up to ten times it. */
  retryDelayMs?: number
  onError?: (error: unknown, context: { groupId: string; topic: string; partition: number }) => void
}

/**
 * The embedded event log: Kafka's model kept in SQL tables (migration 0001). Meant for one gateway
 * process: a consumer group is served by one subscription at a time, in this process.
 */
export class InProcessEventLog implements EventLog {
  readonly adapter = 'in-process' as const
  readonly #sql: SqlStore
  readonly #appended = new EventEmitter()
  readonly #subscriptions = new Map<string, Subscription>()
  readonly #options: Required<Omit<InProcessEventLogOptions, 'onError'>> & Pick<InProcessEventLogOptions, 'onError'>
  readonly #partitionCounts = new Map<string, number>()

  constructor(sql: SqlStore, options: InProcessEventLogOptions = {}) {
    this.#sql = sql
    this.#options = {
      defaultPartitions: options.defaultPartitions ?? 3,
      pollIntervalMs: options.pollIntervalMs ?? 1_000,
      batchSize: options.batchSize ?? 500,
      retryDelayMs: options.retryDelayMs ?? 200,
      onError: options.onError,
    }
    this.#appended.setMaxListeners(0)
  }

  async ensureTopics(topics: readonly TopicSpec[]): Promise<void> {
    for (const topic of topics) {
      if (!Number.isInteger(topic.partitions) || topic.partitions < 1) {
        throw new RangeError(`Topic ${topic.name} needs a whole number of partitions, at least 1`)
      }
      await this.#sql.query(
        `INSERT INTO event_log_partitions (topic, partition)
         SELECT $1, p FROM generate_series(0, $2 - 1) AS p
         WHERE NOT EXISTS (SELECT 1 FROM event_log_partitions WHERE topic = $1)`,
        [topic.name, topic.partitions],
      )
    }
  }

  async #partitionCount(topic: string): Promise<number> {
    const known = this.#partitionCounts.get(topic)
    if (known !== undefined) return known
    const read = async () =>
      (await this.#sql.query<{ n: number }>('SELECT count(*)::int AS n FROM event_log_partitions WHERE topic = $1', [topic]))
        .rows[0]!.n
    let count = await read()
    if (count === 0) {
      await this.ensureTopics([{ name: topic, partitions: this.#options.defaultPartitions }])
      count = await read()
    }
    this.#partitionCounts.set(topic, count)
    return count
  }

  async append(topic: string, messages: readonly LogMessage[]): Promise<void> {
    if (messages.length === 0) return
    const partitions = await this.#partitionCount(topic)
    const byPartition = new Map<number, LogMessage[]>()
    for (const message of messages) {
      const partition = partitionForKey(message.key, partitions)
      const list = byPartition.get(partition) ?? []
      list.push(message)
      byPartition.set(partition, list)
    }
    // Partitions are locked in ascending order so that two appenders can never deadlock.
    const ordered = [...byPartition.entries()].sort((a, b) => a[0] - b[0])
    await this.#sql.transaction(async (tx) => {
      for (const [partition, list] of ordered) {
        const claimed = await tx.query<{ next_offset: number }>(
          `UPDATE event_log_partitions SET next_offset = next_offset + $3
           WHERE topic = $1 AND partition = $2 RETURNING next_offset`,
          [topic, partition, list.length],
        )
        const first = claimed.rows[0]!.next_offset - list.length
        await tx.query(
          `INSERT INTO event_log_messages (topic, partition, "offset", key, value, headers)
           SELECT $1, $2, $3::bigint + m.i - 1, m.key, decode(m.value, 'base64'), m.headers
           FROM unnest($4::text[], $5::text[], $6::jsonb[]) WITH ORDINALITY AS m(key, value, headers, i)`,
          [
            topic,
            partition,
            first,
            list.map((m) => m.key),
            list.map((m) => m.value.toString('base64')),
            list.map((m) => JSON.stringify(m.headers ?? {})),
          ],
        )
      }
    })
    this.#appended.emit(topic)
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    if (options.topics.length === 0) throw new RangeError('subscribe needs at least one topic')
    if (this.#subscriptions.has(options.groupId)) {
      throw new Error(`Consumer group ${options.groupId} already has a subscription in this process`)
    }
    const assignments: { topic: string; partition: number }[] = []
    for (const topic of options.topics) {
      const count = await this.#partitionCount(topic)
      for (let partition = 0; partition < count; partition++) assignments.push({ topic, partition })
    }
    // A group new to a partition starts at its beginning, or at its end when only new messages are wanted.
    for (const { topic, partition } of assignments) {
      await this.#sql.query(
        `INSERT INTO event_log_group_offsets (group_id, topic, partition, next_offset)
         SELECT $1, $2, $3, CASE WHEN $4::boolean THEN 0 ELSE p.next_offset END
         FROM event_log_partitions p WHERE p.topic = $2 AND p.partition = $3
         ON CONFLICT DO NOTHING`,
        [options.groupId, topic, partition, options.fromBeginning ?? true],
      )
    }

    let stopped = false
    let wake: (() => void) | undefined
    // Set by an append that lands while a batch is being delivered, so the loop does not then sleep past it.
    let signalled = false
    const onAppend = () => {
      signalled = true
      wake?.()
    }
    for (const topic of options.topics) this.#appended.on(topic, onAppend)
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms)
        function done() {
          clearTimeout(timer)
          wake = undefined
          resolve()
        }
        wake = done
      })

    const loop = async () => {
      let failures = 0
      while (!stopped) {
        signalled = false
        let delivered = false
        let current = assignments[0]!
        try {
          for (const assignment of assignments) {
            if (stopped) break
            current = assignment
            delivered = (await this.#deliverNext(options, assignment.topic, assignment.partition)) || delivered
          }
          failures = 0
        } catch (error) {
          // Nothing was committed for the failed batch: after a back-off it is delivered again, in order.
          failures++
          this.#options.onError?.(error, { groupId: options.groupId, ...current })
          await sleep(this.#options.retryDelayMs * 2 ** Math.min(failures - 1, 3))
          continue
        }
        if (!delivered && !stopped && !signalled) await sleep(this.#options.pollIntervalMs)
      }
    }
    const running = loop()
    const subscription: Subscription = {
      stop: async () => {
        stopped = true
        wake?.()
        for (const topic of options.topics) this.#appended.off(topic, onAppend)
        await running
        this.#subscriptions.delete(options.groupId)
      },
    }
    this.#subscriptions.set(options.groupId, subscription)
    return subscription
  }

  /** Delivers one batch of a partition; resolves true when there was one. */
  async #deliverNext(options: SubscribeOptions, topic: string, partition: number): Promise<boolean> {
    const committed = await this.#sql.query<{ next_offset: number }>(
      'SELECT next_offset FROM event_log_group_offsets WHERE group_id = $1 AND topic = $2 AND partition = $3',
      [options.groupId, topic, partition],
    )
    const from = committed.rows[0]?.next_offset ?? 0
    const rows = await this.#sql.query<MessageRow>(
      `SELECT "offset", key, value, headers FROM event_log_messages
       WHERE topic = $1 AND partition = $2 AND "offset" >= $3 ORDER BY "offset" LIMIT $4`,
      [topic, partition, from, this.#options.batchSize],
    )
    if (rows.rows.length === 0) return false
    const messages: ConsumedMessage[] = rows.rows.map((r) => ({
      topic,
      partition,
      offset: r.offset,
      key: r.key,
      value: Buffer.from(r.value),
      headers: r.headers,
    }))
    const batch: MessageBatch = { topic, partition, messages }
    await options.handleBatch(batch)
    // If the process dies before this commit, the batch is delivered again: consumers dedupe by event id.
    await this.#sql.query(
      `UPDATE event_log_group_offsets SET next_offset = $4 WHERE group_id = $1 AND topic = $2 AND partition = $3`,
      [options.groupId, topic, partition, messages.at(-1)!.offset + 1],
    )
    return true
  }

  identity(): Promise<string> {
    return Promise.resolve('in-process')
  }

  async endOffsets(topic: string): Promise<{ partition: number; next: number }[]> {
    const rows = await this.#sql.query<{ partition: number; next_offset: number | string }>(
      'SELECT partition, next_offset FROM event_log_partitions WHERE topic = $1 ORDER BY partition',
      [topic],
    )
    return rows.rows.map((r) => ({ partition: r.partition, next: Number(r.next_offset) }))
  }

  async readTail(topic: string): Promise<ConsumedMessage[]> {
    // A partition's next_offset moves in the same transaction as its messages, so next_offset - 1 is always
    // a committed message, or nothing for an empty partition.
    const rows = await this.#sql.query<MessageRow & { partition: number }>(
      `SELECT m.partition, m."offset", m.key, m.value, m.headers
       FROM event_log_partitions p
       JOIN event_log_messages m ON m.topic = p.topic AND m.partition = p.partition AND m."offset" = p.next_offset - 1
       WHERE p.topic = $1 ORDER BY m.partition`,
      [topic],
    )
    return rows.rows.map((r) => ({
      topic,
      partition: r.partition,
      offset: r.offset,
      key: r.key,
      value: Buffer.from(r.value),
      headers: r.headers,
    }))
  }

  async check(): Promise<void> {
    await this.#sql.query('SELECT 1 FROM event_log_partitions LIMIT 1')
  }

  async close(): Promise<void> {
    await Promise.all([...this.#subscriptions.values()].map((s) => s.stop()))
  }
}
