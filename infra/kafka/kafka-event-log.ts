import { randomUUID } from 'node:crypto'
import { Kafka, logLevel as KafkaLogLevel, Partitioners } from 'kafkajs'
import type { Admin, Consumer, Producer, logCreator } from 'kafkajs'
import type {
  ConsumedMessage,
  EventLog,
  LogMessage,
  SubscribeOptions,
  Subscription,
  TopicSpec,
} from '../../events/event-log.ts'

export interface KafkaLogger {
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export interface KafkaEventLogOptions {
  brokers: readonly string[]
  clientId?: string
  logger?: KafkaLogger
  /** How long a request to the broker may take before it counts as failed. */
  requestTimeoutMs?: number
  /** How long `readTail` may take, group join included, before it fails rather than answer in part. */
  tailTimeoutMs?: number
}

function toLogCreator(logger: KafkaLogger | undefined): logCreator {
  return () =>
    ({ level, log }) => {
      if (logger === undefined) return
      const { message, ...rest } = log
      if (level === KafkaLogLevel.ERROR) logger.error({ kafka: rest }, message)
      else if (level === KafkaLogLevel.WARN) logger.warn({ kafka: rest }, message)
    }
}

function headersToStrings(headers: Record<string, Buffer | string | (Buffer | string)[] | undefined> | undefined) {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue
    const first = Array.isArray(value) ? value[0] : value
    if (first !== undefined) out[name] = first.toString()
  }
  return out
}

/**
 * The production event log on Apache Kafka through kafkajs. The producer is idempotent (acks from all
 * in-sync replicas, one request in flight) so a retried send never writes a message twice, and it uses
 * Kafka's default partitioner so a tenant's events stay in one partition, in order.
 */
export class KafkaEventLog implements EventLog {
  readonly adapter = 'kafka' as const
  readonly #kafka: Kafka
  readonly #consumers = new Set<Consumer>()
  readonly #clientId: string
  readonly #tailTimeoutMs: number
  #producer: Promise<Producer> | undefined
  #admin: Promise<Admin> | undefined
  #identity: Promise<string> | undefined

  constructor(options: KafkaEventLogOptions) {
    this.#clientId = options.clientId ?? 'supergate'
    this.#tailTimeoutMs = options.tailTimeoutMs ?? 10_000
    this.#kafka = new Kafka({
      clientId: this.#clientId,
      brokers: [...options.brokers],
      requestTimeout: options.requestTimeoutMs ?? 10_000,
      connectionTimeout: 3_000,
      logLevel: KafkaLogLevel.WARN,
      logCreator: toLogCreator(options.logger),
    })
  }

  #connectedProducer(): Promise<Producer> {
    this.#producer ??= (async () => {
      const producer = this.#kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: true,
        createPartitioner: Partitioners.DefaultPartitioner,
      })
      await producer.connect()
      return producer
    })().catch((error: unknown) => {
      // A failed connect must not stick: the next call tries again.
      this.#producer = undefined
      throw error
    })
    return this.#producer
  }

  #connectedAdmin(): Promise<Admin> {
    this.#admin ??= (async () => {
      const admin = this.#kafka.admin()
      await admin.connect()
      return admin
    })().catch((error: unknown) => {
      this.#admin = undefined
      throw error
    })
    return this.#admin
  }

  async ensureTopics(topics: readonly TopicSpec[]): Promise<void> {
    const admin = await this.#connectedAdmin()
    const existing = new Set(await admin.listTopics())
    const missing = topics.filter((t) => !existing.has(t.name))
    if (missing.length === 0) return
    await admin.createTopics({
      waitForLeaders: false,
      topics: missing.map((t) => ({ topic: t.name, numPartitions: t.partitions })),
    })
    await waitForLeaders(admin, missing.map((t) => t.name))
  }

  async append(topic: string, messages: readonly LogMessage[]): Promise<void> {
    if (messages.length === 0) return
    const producer = await this.#connectedProducer()
    await producer.send({
      topic,
      acks: -1,
      messages: messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers ?? {} })),
    })
  }

  /**
   * A consumer group member that outlives a broker outage. kafkajs restarts a consumer after most crashes,
   * but not after some (a group coordinator it cannot find once the broker is back, seen in the fault suite):
   * that consumer stops for good. Such a crash is answered here by a new consumer for the same group, after
   * a pause, again until it runs or the subscription is stopped.
   */
  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    if (options.topics.length === 0) throw new RangeError('subscribe needs at least one topic')
    let stopped = false
    let current: Consumer | undefined
    let restart: NodeJS.Timeout | undefined
    const replace = (delayMs: number) => {
      if (stopped) return
      clearTimeout(restart)
      restart = setTimeout(() => {
        const old = current
        current = undefined
        void (async () => {
          if (old !== undefined) {
            this.#consumers.delete(old)
            await old.disconnect().catch(() => {})
          }
          if (stopped) return
          try {
            const consumer = await this.#consume(options, () => replace(5_000))
            if (!stopped) current = consumer
            else {
              // Stopped while it was joining: it must not run on unowned.
              this.#consumers.delete(consumer)
              await consumer.disconnect().catch(() => {})
            }
          } catch {
            replace(5_000)
          }
        })()
      }, delayMs)
    }
    current = await this.#consume(options, () => replace(1_000))
    return {
      stop: async () => {
        stopped = true
        clearTimeout(restart)
        const consumer = current
        current = undefined
        if (consumer === undefined) return
        this.#consumers.delete(consumer)
        await consumer.disconnect()
      },
    }
  }

  /** One consumer of the group, running; `onDead` is called if it crashes and kafkajs will not restart it. */
  async #consume(options: SubscribeOptions, onDead: () => void): Promise<Consumer> {
    const consumer = this.#kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: 10_000,
      // How long a rebalance waits for members to rejoin (kafkajs: 60 s). A member gone without leaving (a process
      // stopped while the broker was down) holds every partition of the group that long; 15 s is ample for a live one.
      rebalanceTimeout: 15_000,
      heartbeatInterval: 1_000,
      allowAutoTopicCreation: false,
      ...(options.maxBatchBytes === undefined ? {} : { maxBytesPerPartition: options.maxBatchBytes, maxBytes: Math.max(options.maxBatchBytes, 10_485_760) }),
    })
    consumer.on(consumer.events.CRASH, (event) => {
      if (!event.payload.restart) onDead()
    })
    this.#consumers.add(consumer)
    try {
      await consumer.connect()
      await consumer.subscribe({ topics: [...options.topics], fromBeginning: options.fromBeginning ?? true })
      await consumer.run({
        partitionsConsumedConcurrently: options.concurrency ?? 1,
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async (payload) => {
          const { batch } = payload
          if (batch.messages.length === 0 || !payload.isRunning() || payload.isStale()) return
          const messages: ConsumedMessage[] = batch.messages.map((m) => ({
            topic: batch.topic,
            partition: batch.partition,
            offset: Number(m.offset),
            key: m.key?.toString() ?? '',
            value: m.value ?? Buffer.alloc(0),
            headers: headersToStrings(m.headers),
          }))
          // A throw here leaves the offsets uncommitted; kafkajs retries, then restarts the consumer, which
          // fetches again from the last committed offset.
          // A consumer may hold a batch a while (the analytics sink until its flush): heartbeats go on meanwhile, so
          // that the group does not hand its partition to another member while the batch is being written.
          const beating = setInterval(() => void payload.heartbeat().catch(() => {}), 1_000)
          try {
            await options.handleBatch({ topic: batch.topic, partition: batch.partition, messages })
          } catch (error) {
            // kafkajs may already hold the batches that follow (fetched ahead): without this, after a failed batch
            // it can hand over the next one, and the failed one is never delivered again (seen in the fault suite,
            // PostgreSQL restarted). Fetching resumes at the failed batch's first message.
            consumer.seek({ topic: batch.topic, partition: batch.partition, offset: batch.messages[0]!.offset })
            throw error
          } finally {
            clearInterval(beating)
          }
          const last = batch.messages.at(-1)!.offset
          payload.resolveOffset(last)
          // If the process dies before this commit, the batch is delivered again: consumers dedupe by event id.
          await consumer.commitOffsets([
            { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
          ])
          await payload.heartbeat()
        },
      })
    } catch (error) {
      this.#consumers.delete(consumer)
      await consumer.disconnect().catch(() => {})
      throw error
    }
    return consumer
  }

  async endOffsets(topic: string): Promise<{ partition: number; next: number }[]> {
    const admin = await this.#connectedAdmin()
    if (!(await admin.listTopics()).includes(topic)) return []
    const offsets = await admin.fetchTopicOffsets(topic)
    return offsets.map((o) => ({ partition: o.partition, next: Number(o.high) })).sort((a, b) => a.partition - b.partition)
  }

  /**
   * Reads the high watermarks, then the message just below each with a short-lived consumer of a group of
   * its own that seeks there and commits nothing. Fails after `tailTimeoutMs` rather than answer without
   * a partition's last message: a caller deciding where to resume must not be told less than there is.
   */
  async readTail(topic: string): Promise<ConsumedMessage[]> {
    const admin = await this.#connectedAdmin()
    // Asked first because a metadata request for a missing topic can create it where auto-create is on.
    if (!(await admin.listTopics()).includes(topic)) return []
    const wanted = new Map<number, string>()
    for (const w of await admin.fetchTopicOffsets(topic)) {
      // low == high: nothing written yet, or everything written has expired.
      if (BigInt(w.high) > BigInt(w.low)) wanted.set(w.partition, (BigInt(w.high) - 1n).toString())
    }
    if (wanted.size === 0) return []

    const consumer = this.#kafka.consumer({
      groupId: `${this.#clientId}.tail.${randomUUID()}`,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      maxWaitTimeInMs: 100,
      allowAutoTopicCreation: false,
    })
    const found = new Map<number, ConsumedMessage>()
    let timer: NodeJS.Timeout | undefined
    const read = new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => {
        const missing = [...wanted.keys()].filter((p) => !found.has(p))
        reject(new Error(`readTail(${topic}): no message read from partitions ${missing.join(', ')} within ${this.#tailTimeoutMs} ms`))
      }, this.#tailTimeoutMs)
      const start = async () => {
        await consumer.connect()
        await consumer.subscribe({ topics: [topic], fromBeginning: true })
        await consumer.run({
          autoCommit: false,
          eachBatch: ({ batch }) => {
            const target = wanted.get(batch.partition)
            if (target === undefined || found.has(batch.partition)) return Promise.resolve()
            const last = batch.messages.find((m) => BigInt(m.offset) >= BigInt(target))
            if (last !== undefined) {
              found.set(batch.partition, {
                topic,
                partition: batch.partition,
                offset: Number(last.offset),
                key: last.key?.toString() ?? '',
                value: last.value ?? Buffer.alloc(0),
                headers: headersToStrings(last.headers),
              })
            }
            if (found.size === wanted.size) resolve()
            return Promise.resolve()
          },
        })
        // Seeks are kept until the partitions are assigned, then replace the group's starting offsets.
        for (const [partition, offset] of wanted) consumer.seek({ topic, partition, offset })
      }
      start().catch(reject)
    })
    try {
      await read
    } finally {
      clearTimeout(timer)
      await consumer.disconnect()
    }
    return [...found.values()].sort((a, b) => a.partition - b.partition)
  }

  /** `kafka:<cluster id>`: a cluster keeps its id across restarts; one formatted afresh is another log. */
  identity(): Promise<string> {
    this.#identity ??= this.#connectedAdmin()
      .then(async (admin) => `kafka:${(await admin.describeCluster()).clusterId}`)
      .catch((error: unknown) => {
        this.#identity = undefined
        throw error
      })
    return this.#identity
  }

  async check(): Promise<void> {
    const admin = await this.#connectedAdmin()
    await admin.describeCluster()
  }

  async close(): Promise<void> {
    const producer = this.#producer
    const admin = this.#admin
    this.#producer = undefined
    this.#admin = undefined
    await Promise.allSettled([
      ...[...this.#consumers].map((c) => c.disconnect()),
      producer?.then((p) => p.disconnect()),
      admin?.then((a) => a.disconnect()),
    ])
    this.#consumers.clear()
  }
}

/** Errors a broker answers while a topic created a moment ago is not yet served by its partitions' leaders. */
const NOT_YET = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION'])

/**
 * Waits until every partition of `topics` has a leader that answers for it: the metadata names one, and a
 * request for the partitions' offsets succeeds. kafkajs's own wait (`waitForLeaders`) retries only
 * LEADER_NOT_AVAILABLE; a KRaft broker also answers UNKNOWN_TOPIC_OR_PARTITION, and then NOT_LEADER_FOR_PARTITION
 * to an offsets request, for a moment after createTopics (both seen in CI).
 */
export async function waitForLeaders(admin: Admin, topics: readonly string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const { topics: found } = await admin.fetchTopicMetadata({ topics: [...topics] })
      if (found.length === topics.length && found.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) {
        for (const topic of topics) await admin.fetchTopicOffsets(topic)
        return
      }
    } catch (error) {
      if (!NOT_YET.has((error as { type?: string }).type ?? '')) throw error
    }
    if (Date.now() > deadline) throw new Error(`Topics ${topics.join(', ')} have no leader ${timeoutMs} ms after they were created`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
