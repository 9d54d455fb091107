import { createHmac, timingSafeEqual } from 'node:crypto'
import type { SqlStore } from '../../infra/postgres/sql-store.ts'
import { PollingLoop } from '../runner/polling-loop.ts'

/**
 * Signed webhooks for spend alerts. The signature header is `t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<body>">`: the timestamp is signed with the body, so a receiver that rejects old timestamps cannot
 * be fed a captured delivery again.
 */

export const SIGNATURE_HEADER = 'supergate-signature'
export const DELIVERY_ID_HEADER = 'supergate-delivery-id'

function hmacHex(secret: string, timestampSeconds: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex')
}

export function signWebhook(secret: string, timestampSeconds: number, body: string): string {
  return `t=${timestampSeconds},v1=${hmacHex(secret, timestampSeconds, body)}`
}

/** True when `header` signs `body` with `secret` and its timestamp is within `toleranceSeconds` of now. */
export function verifyWebhook(secret: string, header: string, body: string, nowSeconds: number, toleranceSeconds = 300): boolean {
  let timestamp: number | undefined
  const signatures: string[] = []
  for (const part of header.split(',')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    const name = part.slice(0, eq).trim()
    const value = part.slice(eq + 1).trim()
    if (name === 't' && /^\d{1,15}$/.test(value)) timestamp = Number(value)
    else if (name === 'v1' && /^[0-9a-f]{64}$/.test(value)) signatures.push(value)
  }
  if (timestamp === undefined || signatures.length === 0) return false
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false
  const expected = Buffer.from(hmacHex(secret, timestamp, body), 'hex')
  // Every candidate is compared (a v1 per secret while one is rotated), each in constant time.
  let ok = false
  for (const signature of signatures) ok = timingSafeEqual(expected, Buffer.from(signature, 'hex')) || ok
  return ok
}

/** A tenant's webhook signing secret, derived from a master key so that nothing more is stored. */
export function webhookSecret(masterKey: Buffer, tenantId: string): string {
  return createHmac('sha256', masterKey).update(`supergate.webhook.v1:${tenantId}`).digest('base64url')
}

/** 1 s, 2 s, 4 s … after the n-th failed attempt, at most 5 minutes. */
export function backoffMs(attempts: number): number {
  return Math.min(1000 * 2 ** Math.max(0, attempts - 1), 300_000)
}

export interface WebhookDispatcherOptions {
  sql: SqlStore
  secretFor(tenantId: string): string
  fetchTimeoutMs?: number
  maxAttempts?: number
  /** How many due deliveries one `runOnce` claims. */
  batchSize?: number
  pollIntervalMs?: number
  now?: () => Date
  onError?: (error: unknown) => void
}

interface DueDelivery {
  id: string
  tenant_id: string
  url: string
  payload: unknown
  attempts: number
}

/**
 * Sends pending webhook deliveries. A delivery is claimed (FOR UPDATE SKIP LOCKED, then leased by moving
 * its next_attempt_at past the request's timeout) in a short transaction, and the POST happens outside any
 * transaction: two dispatchers never send the same delivery at once, and a dispatcher that dies mid-POST
 * leaves the delivery to be retried when its lease runs out.
 */
export class WebhookDispatcher {
  readonly #o: Required<Omit<WebhookDispatcherOptions, 'onError'>> & Pick<WebhookDispatcherOptions, 'onError'>
  readonly #loop: PollingLoop

  constructor(options: WebhookDispatcherOptions) {
    this.#o = {
      fetchTimeoutMs: 5000,
      maxAttempts: 8,
      batchSize: 20,
      pollIntervalMs: 1000,
      now: () => new Date(),
      ...options,
    }
    this.#loop = new PollingLoop(() => this.runOnce(), this.#o.pollIntervalMs, this.#o.onError)
  }

  /** Sends every delivery due now, once each; resolves to how many were attempted. */
  async runOnce(): Promise<number> {
    const now = this.#o.now()
    const leaseUntil = new Date(now.getTime() + this.#o.fetchTimeoutMs + 30_000)
    const due = await this.#o.sql.transaction(async (tx) => {
      const rows = await tx.query<DueDelivery>(
        `SELECT id, tenant_id, url, payload, attempts FROM webhook_deliveries
         WHERE status = 'pending' AND next_attempt_at <= $1
         ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [now, this.#o.batchSize],
      )
      if (rows.rows.length > 0) {
        await tx.query('UPDATE webhook_deliveries SET next_attempt_at = $2 WHERE id = ANY($1::uuid[])', [rows.rows.map((r) => r.id), leaseUntil])
      }
      return rows.rows
    })
    await Promise.all(due.map((delivery) => this.#deliver(delivery)))
    return due.length
  }

  async #deliver(delivery: DueDelivery): Promise<void> {
    const body = typeof delivery.payload === 'string' ? delivery.payload : JSON.stringify(delivery.payload)
    let status: number | null = null
    let error: string | null = null
    try {
      const signature = signWebhook(this.#o.secretFor(delivery.tenant_id), Math.floor(this.#o.now().getTime() / 1000), body)
      const response = await fetch(delivery.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature, [DELIVERY_ID_HEADER]: delivery.id },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#o.fetchTimeoutMs),
      })
      status = response.status
      await response.body?.cancel()
      if (status < 200 || status > 299) error = `HTTP ${status}`
    } catch (e) {
      error = e instanceof Error ? `${e.name}: ${e.message}` : String(e)
    }
    const attempts = delivery.attempts + 1
    const now = this.#o.now()
    if (error === null) {
      await this.#o.sql.query(
        `UPDATE webhook_deliveries SET status = 'delivered', attempts = $2, last_status = $3, last_error = NULL, delivered_at = $4 WHERE id = $1`,
        [delivery.id, attempts, status, now],
      )
      return
    }
    const failed = attempts >= this.#o.maxAttempts
    await this.#o.sql.query(
      `UPDATE webhook_deliveries SET status = $2, attempts = $3, last_status = $4, last_error = $5, next_attempt_at = $6 WHERE id = $1`,
      [delivery.id, failed ? 'failed' : 'pending', attempts, status, error.slice(0, 1000), new Date(now.getTime() + backoffMs(attempts))],
    )
  }

  start(): void {
    this.#loop.start()
  }

  /** Stops polling and waits for the work in flight. */
  async stop(): Promise<void> {
    await this.#loop.stop()
  }
}
