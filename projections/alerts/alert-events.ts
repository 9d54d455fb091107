import type { EventLog } from '../../events/event-log.ts'
import type { SqlStore } from '../../infra/postgres/sql-store.ts'
import { PollingLoop } from '../runner/polling-loop.ts'

/** Where `alert.triggered` events go: consumers (a pager bridge, the analytics sink) read alerts here. */
export const ALERTS_TOPIC = 'supergate.alerts.v1'

export interface AlertEventRelayOptions {
  sql: SqlStore
  eventLog: EventLog
  topic?: string
  batchSize?: number
  pollIntervalMs?: number
  onError?: (error: unknown) => void
}

/** How long a claimed batch stays with its relay before another may send it. */
const LEASE_SECONDS = 30

/**
 * Relays the `alert.triggered` events the alert projection wrote to `alert_events` (its outbox) to the event
 * log. A batch is claimed (leased) with FOR UPDATE SKIP LOCKED, appended, then marked published, so any
 * number of processes can run a relay: none sends a batch another holds, and a process that dies after the
 * append but before marking it leaves the batch to be sent again when the lease runs out. Delivery is at least
 * once, in order of firing per tenant; the event id (header `event-id`) is the consumers' idempotency key.
 */
export class AlertEventRelay {
  readonly #o: Required<Omit<AlertEventRelayOptions, 'onError'>> & Pick<AlertEventRelayOptions, 'onError'>
  readonly #loop: PollingLoop

  constructor(options: AlertEventRelayOptions) {
    this.#o = { topic: ALERTS_TOPIC, batchSize: 100, pollIntervalMs: 500, ...options }
    this.#loop = new PollingLoop(() => this.runOnce(), this.#o.pollIntervalMs, this.#o.onError)
  }

  /** Appends every unpublished alert event, oldest first; resolves to how many it published. */
  async runOnce(): Promise<number> {
    let total = 0
    for (;;) {
      const sent = await this.#relayBatch()
      total += sent
      if (sent < this.#o.batchSize) return total
    }
  }

  async #relayBatch(): Promise<number> {
    // Claimed in one statement, appended outside any transaction (the in-process log writes to the same
    // database), then marked published.
    const claimed = await this.#o.sql.query<{ event_id: string; tenant_id: string; envelope: unknown; created_at: Date }>(
      `UPDATE alert_events SET leased_until = clock_timestamp() + make_interval(secs => $2)
       WHERE event_id IN (
         SELECT event_id FROM alert_events
         WHERE published_at IS NULL AND (leased_until IS NULL OR leased_until < clock_timestamp())
         ORDER BY created_at, event_id LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING event_id, tenant_id, envelope, created_at`,
      [this.#o.batchSize, LEASE_SECONDS],
    )
    const rows = claimed.rows.sort((a, b) => a.created_at.getTime() - b.created_at.getTime() || a.event_id.localeCompare(b.event_id))
    if (rows.length === 0) return 0
    const ids = rows.map((r) => r.event_id)
    try {
      await this.#o.eventLog.append(
        this.#o.topic,
        rows.map((r) => ({
          key: r.tenant_id,
          value: Buffer.from(typeof r.envelope === 'string' ? r.envelope : JSON.stringify(r.envelope)),
          headers: { 'event-type': 'alert.triggered', 'event-id': r.event_id },
        })),
      )
    } catch (error) {
      // Released at once, so the next run sends them again, in order.
      await this.#o.sql.query('UPDATE alert_events SET leased_until = NULL WHERE event_id = ANY($1::uuid[])', [ids])
      throw error
    }
    await this.#o.sql.query('UPDATE alert_events SET published_at = clock_timestamp() WHERE event_id = ANY($1::uuid[])', [ids])
    return rows.length
  }

  start(): void {
    this.#loop.start()
  }

  /** Stops polling and waits for the work in flight. */
  async stop(): Promise<void> {
    await this.#loop.stop()
  }
}
