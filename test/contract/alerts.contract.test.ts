import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingMessage, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest'
import { buildEvent } from '../../events/catalogue/registry.ts'
import type { AdminServices, RouteInput } from '../../gateway/admin/route.ts'
import { alertRoutes } from '../../gateway/admin/routes/alerts.ts'
import type { Envelope } from '../../events/envelope.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import type { SqlStore } from '../../infra/postgres/sql-store.ts'
import { alertPeriodStart, alertsProjection } from '../../projections/alerts/alerts-projection.ts'
import type { AlertTriggeredPayload } from '../../projections/alerts/alerts-projection.ts'
import { AlertEventRelay, ALERTS_TOPIC } from '../../projections/alerts/alert-events.ts'
import { WebhookDispatcher, verifyWebhook, webhookSecret } from '../../projections/alerts/webhooks.ts'
import { parseEvent } from '../../events/catalogue/registry.ts'
import type { EventLog, LogMessage } from '../../events/event-log.ts'
import { sqlAdapters } from '../support/sql.ts'
import type { OpenedSqlStore } from '../support/sql.ts'

const MASTER_KEY = Buffer.alloc(32, 3)
const secretFor = (tenantId: string) => webhookSecret(MASTER_KEY, tenantId)

function spend(tenantId: string, cost: number, o: { projectId?: string | null; keyId?: string; at?: Date } = {}): Envelope {
  const keyId = o.keyId ?? 'key_1'
  return buildEvent(
    'request.completed',
    {
      requestId: randomUUID(),
      projectId: o.projectId ?? null,
      keyId,
      provider: 'openai',
      model: 'openai/gpt-4o-mini',
      endpoint: 'chat.completions',
      stream: false,
      outcome: 'completed',
      httpStatus: 200,
      cacheOutcome: 'miss',
      usage: { promptTokens: 10, completionTokens: 5, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false },
      costMicroUsd: cost,
      priceVersion: 'contract-1',
      latencyMs: 12,
      timeToFirstTokenMs: null,
      keySource: 'gateway',
      errorCode: null,
      user: null,
    },
    { tenantId, correlationId: randomUUID(), actor: { type: 'key', id: keyId }, occurredAt: (o.at ?? new Date()).toISOString() },
  )
}

interface Received {
  deliveryId: string
  verified: boolean
  payload: AlertTriggeredPayload
}

/** A webhook receiver on 127.0.0.1 that checks every signature; `answer` picks each response's status. */
async function startReceiver(answer: (n: number) => number): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = []
  let calls = 0
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const payload = JSON.parse(body) as AlertTriggeredPayload
      const header = String(req.headers['supergate-signature'] ?? '')
      const status = answer(++calls)
      if (status >= 200 && status < 300) {
        received.push({
          deliveryId: String(req.headers['supergate-delivery-id']),
          verified: verifyWebhook(secretFor(payload.tenantId), header, body, Math.floor(Date.now() / 1000)) && req.headers['content-type'] === 'application/json',
          payload,
        })
      }
      res.writeHead(status).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}/hooks`, received, server }
}

describe.each(sqlAdapters(inject('services').databaseUrl))('alerts on $name', ({ open }) => {
  let opened: OpenedSqlStore
  let sql: SqlStore
  let tenantId: string

  beforeAll(async () => {
    opened = await open()
    sql = opened.store
    await migrate(sql)
  })
  afterAll(() => opened.dispose())
  beforeEach(() => {
    tenantId = `ten_${randomUUID().slice(0, 8)}`
  })

  const apply = (events: Envelope[]) =>
    sql.transaction(async (tx) => {
      await alertsProjection.applyBatch(tx, events, (e, reason) => {
        throw new Error(`rejected ${e.id}: ${reason}`)
      })
    })

  async function addRule(rule: { kind: string; scope: string; threshold: number; period: string; webhookUrl?: string | null }): Promise<string> {
    const id = `alr_${randomUUID().slice(0, 12)}`
    await sql.query('INSERT INTO alert_rules (id, tenant_id, rule, created_at) VALUES ($1, $2, $3::jsonb, now())', [
      id,
      tenantId,
      JSON.stringify({ webhookUrl: null, ...rule }),
    ])
    return id
  }

  const setBudget = (scope: string, period: string, limit: number) =>
    sql.query('INSERT INTO budgets (tenant_id, scope, period, limit_micro_usd) VALUES ($1, $2, $3, $4)', [tenantId, scope, period, limit])

  /** An admin route's answer, read as the app role under RLS as ControlPlane.readAsTenant does, checked against its schema. */
  async function viaRoute(path: string, asTenant: string): Promise<{ data: Record<string, unknown>[] }> {
    const route = alertRoutes.find((r) => r.path === path)!
    const controlPlane = {
      readAsTenant: <T>(id: string, read: (tx: Parameters<Parameters<SqlStore['transaction']>[0]>[0]) => Promise<T>) =>
        sql.transaction(async (tx) => {
          await tx.query('SET LOCAL ROLE supergate_app')
          return read(tx)
        }, { tenantId: id }),
    }
    const input = { params: { tenantId: asTenant }, query: { limit: 100 } } as unknown as RouteInput<unknown, unknown, unknown>
    const answer = await route.handle(input, { controlPlane, sql } as unknown as AdminServices)
    return route.response!.parse(answer) as { data: Record<string, unknown>[] }
  }

  async function firings(): Promise<{ rule_id: string; spent_micro_usd: number; period_start: Date }[]> {
    const rows = await sql.query<{ rule_id: string; spent_micro_usd: number; period_start: Date }>(
      'SELECT rule_id, spent_micro_usd, period_start FROM alert_firings WHERE tenant_id = $1 ORDER BY fired_at, spent_micro_usd, rule_id',
      [tenantId],
    )
    return rows.rows.map((r) => ({ ...r, spent_micro_usd: Number(r.spent_micro_usd) }))
  }

  it('fires each budget threshold (50/80/100 %) once, as spend crosses it, and never again on the same events', async () => {
    await setBudget('tenant', 'month', 1_000_000)
    const r50 = await addRule({ kind: 'budget_percent', scope: 'tenant', threshold: 50, period: 'month' })
    const r80 = await addRule({ kind: 'budget_percent', scope: 'tenant', threshold: 80, period: 'month' })
    const r100 = await addRule({ kind: 'budget_percent', scope: 'tenant', threshold: 100, period: 'month' })
    // A rule on another project's scope never sees this spend.
    await addRule({ kind: 'budget_percent', scope: 'project:other', threshold: 1, period: 'month' })

    const events = [400_000, 200_000, 250_000, 100_000, 100_000].map((c) => spend(tenantId, c, { projectId: 'prj_1' }))
    const firedAfter: string[][] = []
    for (const e of events) {
      await apply([e])
      firedAfter.push((await firings()).map((f) => f.rule_id))
    }
    expect(firedAfter).toEqual([[], [r50], [r50, r80], [r50, r80], [r50, r80, r100]])
    expect((await firings()).map((f) => f.spent_micro_usd)).toEqual([600_000, 850_000, 1_050_000])

    await apply(events)
    await apply(events)
    expect((await firings()).map((f) => f.rule_id)).toEqual([r50, r80, r100])
  })

  it('fires at the same events and running totals when the spend arrives as one batch', async () => {
    await setBudget('tenant', 'month', 1_000_000)
    const rules = [50, 80, 100].map((threshold) => addRule({ kind: 'budget_percent', scope: 'tenant', threshold, period: 'month' }))
    const [r50, r80, r100] = await Promise.all(rules)
    const events = [400_000, 200_000, 250_000, 100_000, 100_000].map((c) => spend(tenantId, c, { projectId: 'prj_1' }))
    await apply(events)
    expect((await firings()).map((f) => [f.rule_id, f.spent_micro_usd])).toEqual([
      [r50, 600_000],
      [r80, 850_000],
      [r100, 1_050_000],
    ])
    const causes = await sql.query<{ rule_id: string; event_id: string }>('SELECT rule_id, event_id FROM alert_firings WHERE tenant_id = $1', [tenantId])
    expect(Object.fromEntries(causes.rows.map((r) => [r.rule_id, r.event_id]))).toEqual({ [r50!]: events[1]!.id, [r80!]: events[2]!.id, [r100!]: events[4]!.id })
  })

  it('fires once per threshold when concurrent transactions cross it together', async () => {
    await setBudget('tenant', 'day', 1_000_000)
    const hook = 'http://127.0.0.1:9/never-called'
    const rules = await Promise.all([50, 80, 100].map((threshold) => addRule({ kind: 'budget_percent', scope: 'tenant', threshold, period: 'day', webhookUrl: hook })))
    await Promise.all(Array.from({ length: 12 }, (_, i) => apply([spend(tenantId, 200_000, { keyId: `key_${i % 3}` })])))

    expect((await firings()).map((f) => f.rule_id).sort()).toEqual([...rules].sort())
    const total = await sql.query<{ spent_micro_usd: number }>(
      "SELECT spent_micro_usd FROM alert_spend WHERE tenant_id = $1 AND scope = 'tenant' AND period = 'day'",
      [tenantId],
    )
    expect(Number(total.rows[0]!.spent_micro_usd)).toBe(2_400_000)
    const deliveries = await sql.query<{ rule_id: string }>('SELECT rule_id FROM webhook_deliveries WHERE tenant_id = $1', [tenantId])
    expect(deliveries.rows.map((d) => d.rule_id).sort()).toEqual([...rules].sort())
  })

  it('fires an absolute-spend rule once per period and a spend-rate rule once per UTC hour', async () => {
    const absolute = await addRule({ kind: 'absolute_spend', scope: 'key:key_a', threshold: 500_000, period: 'day' })
    const rate = await addRule({ kind: 'spend_rate', scope: 'tenant', threshold: 500_000, period: 'day' })
    const hour = Date.parse('2026-03-10T09:00:00Z')
    const at = (minutes: number) => new Date(hour + minutes * 60_000)

    await apply([spend(tenantId, 300_000, { keyId: 'key_a', at: at(5) })])
    expect(await firings()).toEqual([])
    await apply([spend(tenantId, 300_000, { keyId: 'key_b', at: at(50) })])
    // 600k in the 09:00 hour: the rate fires; key_a alone has 300k of its 500k.
    expect((await firings()).map((f) => [f.rule_id, f.period_start.toISOString()])).toEqual([[rate, '2026-03-10T09:00:00.000Z']])

    await apply([spend(tenantId, 300_000, { keyId: 'key_a', at: at(70) })])
    await apply([spend(tenantId, 100_000, { keyId: 'key_a', at: at(80) })])
    // 10:00 has 400k so far: no rate alert; key_a has 600k today: the absolute rule fires.
    expect((await firings()).map((f) => [f.rule_id, f.period_start.toISOString()])).toEqual([
      [rate, '2026-03-10T09:00:00.000Z'],
      [absolute, '2026-03-10T00:00:00.000Z'],
    ])
    await apply([spend(tenantId, 200_000, { keyId: 'key_a', at: at(90) })])
    await apply([spend(tenantId, 900_000, { keyId: 'key_b', at: at(95) })])
    expect((await firings()).map((f) => [f.rule_id, f.period_start.toISOString()])).toEqual([
      [rate, '2026-03-10T09:00:00.000Z'],
      [absolute, '2026-03-10T00:00:00.000Z'],
      [rate, '2026-03-10T10:00:00.000Z'],
    ])
  })

  describe('alert.triggered events', () => {
    /** An event log that records appends, and fails the next `failNext` of them. */
    function recordingLog(): { log: EventLog; sent: { topic: string; message: LogMessage }[]; failNext: { n: number } } {
      const sent: { topic: string; message: LogMessage }[] = []
      const failNext = { n: 0 }
      const log = {
        append: (topic: string, messages: readonly LogMessage[]) => {
          if (failNext.n > 0) {
            failNext.n--
            return Promise.reject(new Error('broker unreachable'))
          }
          for (const message of messages) sent.push({ topic, message })
          return Promise.resolve()
        },
      } as unknown as EventLog
      return { log, sent, failNext }
    }

    it('publishes one event per firing, after the transaction, with the webhook payload\'s id; a failed append is sent again', async () => {
      await setBudget('tenant', 'month', 1_000_000)
      const r50 = await addRule({ kind: 'budget_percent', scope: 'tenant', threshold: 50, period: 'month', webhookUrl: 'http://127.0.0.1:9/x' })
      const rAbs = await addRule({ kind: 'absolute_spend', scope: 'key:key_z', threshold: 700_000, period: 'day' })
      const events = [300_000, 300_000, 300_000].map((c) => spend(tenantId, c, { keyId: 'key_z' }))
      await apply(events)
      await apply(events)

      const { log, sent, failNext } = recordingLog()
      // Two relays race for the same rows; a failing one leaves them for the next run.
      failNext.n = 1
      const relays = [new AlertEventRelay({ sql, eventLog: log }), new AlertEventRelay({ sql, eventLog: log })]
      await Promise.allSettled(relays.map((r) => r.runOnce()))
      await relays[0]!.runOnce()
      await relays[1]!.runOnce()

      // Racing relays may each claim one of the two firings, and the one whose append fails sends its own later:
      // each firing once, in either order (firings of different rules are independent).
      const mine = sent
        .filter((s) => s.message.key === tenantId)
        .map((s) => ({ s, kind: String((JSON.parse(s.message.value.toString('utf8')) as { data: { kind: string } }).data.kind) }))
        // budget_percent first, as the expectations below list them.
        .sort((a, b) => b.kind.localeCompare(a.kind))
        .map(({ s }) => s)
      expect(mine.map((s) => s.topic)).toEqual([ALERTS_TOPIC, ALERTS_TOPIC])
      const parsed = mine.map((s) => parseEvent(JSON.parse(s.message.value.toString('utf8'))))
      expect(parsed.map((e) => e.data)).toEqual([
        { ruleId: r50, kind: 'budget_percent', scope: 'tenant', period: 'month', threshold: 50, periodStart: alertPeriodStart(new Date(events[1]!.occurredAt), 'month'), spentMicroUsd: 600_000, budgetMicroUsd: 1_000_000, webhook: true },
        { ruleId: rAbs, kind: 'absolute_spend', scope: 'key:key_z', period: 'day', threshold: 700_000, periodStart: alertPeriodStart(new Date(events[2]!.occurredAt), 'day'), spentMicroUsd: 900_000, budgetMicroUsd: null, webhook: false },
      ])
      expect(parsed.map((e) => [e.type, e.causationId, e.actor])).toEqual([
        ['alert.triggered', events[1]!.id, { type: 'system', id: 'alerts' }],
        ['alert.triggered', events[2]!.id, { type: 'system', id: 'alerts' }],
      ])
      expect(mine.map((s) => s.message.headers?.['event-id'])).toEqual(parsed.map((e) => e.id))
      const delivery = await sql.query<{ id: string }>('SELECT id FROM webhook_deliveries WHERE tenant_id = $1', [tenantId])
      expect(delivery.rows.map((d) => d.id)).toEqual([parsed[0]!.id])
    })
  })

  describe('webhooks', () => {
    let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined
    // The dispatcher sends every tenant's due deliveries: leave only this test's.
    beforeEach(() => sql.query('DELETE FROM webhook_deliveries'))
    afterEach(async () => {
      await new Promise((r) => receiver?.server.close(r))
      receiver = undefined
    })

    it('delivers each firing once, signed so the receiver can verify it', async () => {
      receiver = await startReceiver(() => 204)
      await setBudget('project:prj_w', 'month', 100_000)
      const r50 = await addRule({ kind: 'budget_percent', scope: 'project:prj_w', threshold: 50, period: 'month', webhookUrl: receiver.url })
      const r100 = await addRule({ kind: 'budget_percent', scope: 'project:prj_w', threshold: 100, period: 'month', webhookUrl: receiver.url })
      const events = [60_000, 50_000].map((c) => spend(tenantId, c, { projectId: 'prj_w' }))
      await apply(events)
      await apply(events)

      const dispatcher = new WebhookDispatcher({ sql, secretFor, now: () => new Date(Date.now() + 5_000) })
      expect(await dispatcher.runOnce()).toBe(2)
      expect(await dispatcher.runOnce()).toBe(0)
      await dispatcher.runOnce()
      const mine = receiver.received.filter((r) => r.payload.tenantId === tenantId)
      expect(mine.map((r) => r.verified)).toEqual([true, true])
      expect(mine.map((r) => r.payload.ruleId).sort()).toEqual([r50, r100].sort())
      expect(mine.map((r) => r.deliveryId).sort()).toEqual(mine.map((r) => r.payload.id).sort())
      const by100 = mine.find((r) => r.payload.ruleId === r100)!.payload
      expect(by100).toMatchObject({ type: 'alert.triggered', spentMicroUsd: 110_000, threshold: 100, rule: { kind: 'budget_percent', scope: 'project:prj_w' } })

      // A signature made for another tenant does not verify with this tenant's secret.
      expect(secretFor(tenantId)).not.toBe(secretFor(`${tenantId}x`))
    })

    it('retries a failed delivery with backoff and logs the attempts; gives up after maxAttempts', async () => {
      receiver = await startReceiver((n) => (n === 1 ? 500 : 200))
      const ok = await addRule({ kind: 'absolute_spend', scope: 'tenant', threshold: 1_000, period: 'day', webhookUrl: receiver.url })
      await apply([spend(tenantId, 5_000)])

      let clock = Date.now() + 5_000
      const dispatcher = new WebhookDispatcher({ sql, secretFor, now: () => new Date(clock) })
      expect(await dispatcher.runOnce()).toBe(1)
      const log = async () =>
        (
          await sql.query<{ rule_id: string; status: string; attempts: number; last_status: number | null; delivered_at: Date | null; last_error: string | null }>(
            'SELECT rule_id, status, attempts, last_status, delivered_at, last_error FROM webhook_deliveries WHERE tenant_id = $1 ORDER BY rule_id',
            [tenantId],
          )
        ).rows
      expect(await log()).toMatchObject([{ rule_id: ok, status: 'pending', attempts: 1, last_status: 500, delivered_at: null, last_error: 'HTTP 500' }])
      expect(receiver.received).toEqual([])
      // Not due again before its 1 s backoff.
      clock += 500
      expect(await dispatcher.runOnce()).toBe(0)
      clock += 700
      expect(await dispatcher.runOnce()).toBe(1)
      expect(await log()).toMatchObject([{ rule_id: ok, status: 'delivered', attempts: 2, last_status: 200, last_error: null }])
      expect(receiver.received.map((r) => r.verified)).toEqual([true])
      clock += 600_000
      expect(await dispatcher.runOnce()).toBe(0)

      // A receiver that never answers 2xx: failed after maxAttempts.
      await new Promise((r) => receiver!.server.close(r))
      receiver = await startReceiver(() => 503)
      await addRule({ kind: 'absolute_spend', scope: 'key:key_1', threshold: 1_000, period: 'day', webhookUrl: receiver.url })
      await apply([spend(tenantId, 5_000)])
      const giving = new WebhookDispatcher({ sql, secretFor, maxAttempts: 3, now: () => new Date(clock) })
      for (let i = 0; i < 5; i++) {
        await giving.runOnce()
        clock += 10_000
      }
      const failed = (await log()).filter((d) => d.rule_id !== ok)
      expect(failed).toMatchObject([{ status: 'failed', attempts: 3, last_status: 503 }])

      // The delivery log and the alerts as the admin API answers them, and nothing of them to another tenant.
      const deliveries = await viaRoute('/tenants/{tenantId}/webhook-deliveries', tenantId)
      expect(deliveries.data.map((d) => [d.ruleId, d.status, d.attempts, d.lastStatus])).toEqual(
        expect.arrayContaining([
          [ok, 'delivered', 2, 200],
          [failed[0]!.rule_id, 'failed', 3, 503],
        ]),
      )
      expect(deliveries.data).toHaveLength(2)
      const alerts = await viaRoute('/tenants/{tenantId}/alerts', tenantId)
      // Newest first: key_1's rule fired on the second request, at 10,000 µUSD (both requests were key_1's).
      expect(alerts.data.map((a) => [a.ruleId, a.spentMicroUsd, a.threshold])).toEqual([
        [failed[0]!.rule_id, 10_000, 1_000],
        [ok, 5_000, 1_000],
      ])
      expect((await viaRoute('/tenants/{tenantId}/webhook-deliveries', 'ten_someone_else')).data).toEqual([])
      expect((await viaRoute('/tenants/{tenantId}/alerts', 'ten_someone_else')).data).toEqual([])
    })
  })
})
