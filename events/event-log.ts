/**
 * The event log port (DESIGN.md §3, §4): Kafka in production, an in-process log persisted in the SQL store
 * when embedded. Both keep Kafka's model: topics of partitions, a message's key choosing its partition (so
 * messages with one key stay in order), and consumer groups whose committed offsets survive restarts.
 */

export interface LogMessage {
  /** The tenant id for data-plane topics: it picks the partition. */
  key: string
  value: Buffer
  headers?: Record<string, string>
}

export interface ConsumedMessage extends LogMessage {
  topic: string
  partition: number
  offset: number
  headers: Record<string, string>
}

export interface MessageBatch {
  topic: string
  partition: number
  messages: readonly ConsumedMessage[]
}

export interface SubscribeOptions {
  groupId: string
  topics: readonly string[]
  /** Where a group with no committed offset starts: the beginning (default) or only new messages. */
  fromBeginning?: boolean
  /**
   * How many partitions' batches may be handed over at once (default 1), for a consumer that writes
   * several together. Kafka honours it; the in-process log delivers one batch at a time.
   */
  concurrency?: number
  /** The most bytes one batch of a partition may hold (Kafka's default is 1 MiB); for a consumer that writes in bulk. */
  maxBatchBytes?: number
  /**
   * Called with each batch, in offset order per partition. When it resolves, the group's offset moves past
   * the batch; when it throws, nothing is committed and the batch is delivered again.
   */
  handleBatch(batch: MessageBatch): Promise<void>
}

export interface Subscription {
  /** Stops fetching, waits for a batch in progress, and leaves the group. */
  stop(): Promise<void>
}

export interface TopicSpec {
  name: string
  partitions: number
}

export interface EventLog {
  readonly adapter: 'kafka' | 'in-process'
  /** Creates missing topics; existing ones are left as they are. */
  ensureTopics(topics: readonly TopicSpec[]): Promise<void>
  /** Resolves once the messages are durably stored (acknowledged by the broker, or committed). */
  append(topic: string, messages: readonly LogMessage[]): Promise<void>
  subscribe(options: SubscribeOptions): Promise<Subscription>
  /**
   * The last message of each partition of `topic`, in partition order: none for an empty partition, nothing
   * for a topic that does not exist (and it is not created). How a writer learns where it stopped, such as
   * the outbox relay after a crash between its append and its bookkeeping.
   */
  readTail(topic: string): Promise<ConsumedMessage[]>
  /**
   * Per partition of `topic` in partition order, the offset its next message will get (Kafka's high
   * watermark): how a consumer's lag is measured without reading a message. Nothing for a topic that does not
   * exist (and it is not created).
   */
  endOffsets(topic: string): Promise<{ partition: number; next: number }[]>
  /**
   * Names the log that offsets are positions in: `in-process` for the embedded log (its messages live in the
   * database that also stores the readers' offsets), `kafka:<cluster id>` for a Kafka cluster. A reader keeps
   * its stored offsets per identity: offset 7 of one log says nothing about another log's topic of the same
   * name, and taking it for that would skip the other log's first messages.
   */
  identity(): Promise<string>
  check(): Promise<void>
  close(): Promise<void>
}
