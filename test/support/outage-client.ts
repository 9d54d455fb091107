import { randomUUID } from 'node:crypto'
import { parseEvent } from '../../events/catalogue/registry.ts'
import type { ConsumedMessage } from '../../events/event-log.ts'
import { KafkaEventLog } from '../../infra/kafka/kafka-event-log.ts'
import type { RunningGateway } from './gateway-process.ts'

/**
 * A client of a running gateway for the fault and e2e suites: admin calls, a tenant with a developer and a billing key,
 * chat calls that record what the client saw, and what the stores hold for a tenant once they settle.
 */

/** gpt-4o-mini, 19 prompt and 10 completion tokens from the mock: 8.85 µUSD, rounded half up once (usage-events.int.test.ts). */
export const HELLO_COST_MICRO_USD = 9

export interface Outcome {
  status: number
  requestId: string | null
  /** The error body's type, for answers that are errors. */
  errorType?: string
}

export class OutageClient {
  readonly #url: () => string
  readonly #adminToken: string

  /** `url` is read at each call: a test may restart its gateway on another port. */
  constructor(url: () => string, adminToken: string) {
    this.#url = url
    this.#adminToken = adminToken
  }

  async admin(method: string, path: string, body?: unknown, token = this.#adminToken): Promise<Record<string, unknown>> {
    const response = await fetch(`${this.#url()}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const json = (await response.json()) as Record<string, unknown>
    if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`)
    return json
  }

  async tenant(name: string): Promise<{ id: string; key: string; billing: string }> {
    const id = String((await this.admin('POST', '/tenants', { name })).id)
    const key = String((await this.admin('POST', `/tenants/${id}/keys`, { name: 'app', role: 'developer' })).key)
    const billing = String((await this.admin('POST', `/tenants/${id}/keys`, { name: 'finance', role: 'billing' })).key)
    return { id, key, billing }
  }

  /** One chat completion; a call that gets no answer at all is status 0. */
  async chat(key: string): Promise<Outcome> {
    try {
      const response = await fetch(`${this.#url()}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 10 }),
      })
      await response.arrayBuffer()
      return { status: response.status, requestId: response.headers.get('x-request-id') }
    } catch {
      return { status: 0, requestId: null }
    }
  }

  /** Waits until ClickHouse and the Postgres balance hold `served` calls of HELLO_COST_MICRO_USD, then reads them again. */
  async settledStores(t: { id: string; billing: string }, served: number, timeoutMs = 150_000) {
    const read = async () => {
      const report = (await this.admin('GET', `/tenants/${t.id}/reports/chargeback?groupBy=model`, undefined, t.billing)) as { totals: { requests: number; costMicroUsd: number } }
      const balance = (await this.admin('GET', `/tenants/${t.id}/balance`, undefined, t.billing)) as { spentMicroUsd: number }
      const reconciliation = (await this.admin('GET', `/tenants/${t.id}/reports/reconciliation`, undefined, t.billing)) as { reconciled: boolean }
      return { clickhouseRequests: report.totals.requests, clickhouseSpent: report.totals.costMicroUsd, postgresSpent: balance.spentMicroUsd, reconciled: reconciliation.reconciled }
    }
    const deadline = Date.now() + timeoutMs
    let last = await read().catch(() => undefined)
    while ((last === undefined || last.clickhouseRequests < served || last.postgresSpent < served * HELLO_COST_MICRO_USD || !last.reconciled) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500))
      last = await read().catch(() => undefined)
    }
    // Settled: nothing more arrives a moment later (a duplicate would).
    await new Promise((r) => setTimeout(r, 2_000))
    return read()
  }
}

/** Every request.completed of the tenant on the usage topic, read from the start by a group of its own. */
export async function eventsInKafka(brokers: readonly string[], tenantId: string, atLeast: number): Promise<{ total: number; ids: Set<string>; requestIds: Map<string, number> }> {
  const log = new KafkaEventLog({ brokers, clientId: 'outage-check' })
  const mine: ConsumedMessage[] = []
  const subscription = await log.subscribe({
    groupId: `gateway-outage-check-${randomUUID()}`,
    topics: ['supergate.usage.v1'],
    handleBatch: (batch) => {
      for (const m of batch.messages) if (m.key === tenantId) mine.push(m)
      return Promise.resolve()
    },
  })
  try {
    const completed = () => mine.filter((m) => m.headers['event-type'] === 'request.completed')
    const deadline = Date.now() + 60_000
    while (completed().length < atLeast && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200))
    // A little longer, so that a copy behind the last first copy would be seen too.
    await new Promise((r) => setTimeout(r, 2_000))
    const events = completed().map((m) => parseEvent(JSON.parse(m.value.toString()) as unknown))
    const requestIds = new Map<string, number>()
    for (const e of events) {
      const requestId = (e.data as { requestId: string }).requestId
      requestIds.set(requestId, (requestIds.get(requestId) ?? 0) + 1)
    }
    return { total: events.length, ids: new Set(events.map((e) => e.id)), requestIds }
  } finally {
    await subscription.stop()
    await log.close()
  }
}

/** When the stores fall short of `served`: the gateway's lag and producer metrics and its last log lines, for the CI log. */
export async function dumpOnMismatch(gateway: RunningGateway, served: number, found: { clickhouseRequests: number }): Promise<void> {
  if (found.clickhouseRequests === served) return
  const metrics = await (await fetch(`${gateway.url}/metrics`)).text().catch(() => '')
  console.error(metrics.split('\n').filter((l) => l.startsWith('supergate_projection_lag') || l.startsWith('supergate_event')).join('\n'))
  console.error(gateway.output().split('\n').slice(-60).join('\n'))
}
