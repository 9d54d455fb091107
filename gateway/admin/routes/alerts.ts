import { z } from 'zod'
import { defineRoute } from '../route.ts'
import { iso, isoOrNull, listOf, tenantParams, timestamp } from '../schemas.ts'

const PAGE_MAX = 1000
const pageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(PAGE_MAX).default(100).describe('How many, newest first (default 100)'),
})

const firing = z.strictObject({
  ruleId: z.string(),
  periodStart: timestamp,
  firedAt: timestamp,
  spentMicroUsd: z.number().int(),
  threshold: z.number().int(),
  eventId: z.string().describe('The request.completed event whose spend crossed the threshold'),
})

const delivery = z.strictObject({
  id: z.string(),
  ruleId: z.string(),
  url: z.string(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  nextAttemptAt: timestamp,
  lastStatus: z.number().int().nullable().describe('The HTTP status of the last attempt; null when it got no answer'),
  lastError: z.string().nullable(),
  deliveredAt: timestamp.nullable(),
  createdAt: timestamp,
  payload: z.unknown(),
})

export const alertRoutes = [
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}/alerts',
    summary: 'The alerts that fired, newest first',
    tag: 'alerts',
    access: 'alert.read',
    params: tenantParams,
    query: pageQuery,
    status: 200,
    response: listOf(firing),
    handle: async ({ params, query }, { controlPlane }) => {
      const rows = await controlPlane.readAsTenant(params.tenantId, (tx) =>
        tx.query<{ rule_id: string; period_start: Date; fired_at: Date; spent_micro_usd: number; threshold: number; event_id: string }>(
          `SELECT rule_id, period_start, fired_at, spent_micro_usd, threshold, event_id FROM alert_firings
           WHERE tenant_id = $1 ORDER BY fired_at DESC, rule_id LIMIT $2`,
          [params.tenantId, query.limit],
        ),
      )
      return {
        data: rows.rows.map((r) => ({
          ruleId: r.rule_id,
          periodStart: iso(r.period_start),
          firedAt: iso(r.fired_at),
          spentMicroUsd: Number(r.spent_micro_usd),
          threshold: Number(r.threshold),
          eventId: String(r.event_id),
        })),
      }
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}/webhook-deliveries',
    summary: 'The webhook delivery log: each alert webhook, its attempts and its outcome, newest first',
    tag: 'alerts',
    access: 'alert.read',
    params: tenantParams,
    query: pageQuery,
    status: 200,
    response: listOf(delivery),
    handle: async ({ params, query }, { controlPlane }) => {
      const rows = await controlPlane.readAsTenant(params.tenantId, (tx) =>
        tx.query<{
          id: string
          rule_id: string
          url: string
          status: 'pending' | 'delivered' | 'failed'
          attempts: number
          next_attempt_at: Date
          last_status: number | null
          last_error: string | null
          delivered_at: Date | null
          created_at: Date
          payload: unknown
        }>(
          `SELECT id, rule_id, url, status, attempts, next_attempt_at, last_status, last_error, delivered_at, created_at, payload
           FROM webhook_deliveries WHERE tenant_id = $1 ORDER BY created_at DESC, id LIMIT $2`,
          [params.tenantId, query.limit],
        ),
      )
      return {
        data: rows.rows.map((r) => ({
          id: String(r.id),
          ruleId: r.rule_id,
          url: r.url,
          status: r.status,
          attempts: r.attempts,
          nextAttemptAt: iso(r.next_attempt_at),
          lastStatus: r.last_status,
          lastError: r.last_error,
          deliveredAt: isoOrNull(r.delivered_at),
          createdAt: iso(r.created_at),
          payload: r.payload,
        })),
      }
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}/webhook-secret',
    summary: "The secret that verifies this tenant's alert webhooks (HMAC-SHA256 over '<t>.<body>', header supergate-signature: t=…,v1=…)",
    tag: 'alerts',
    access: 'alert.write',
    params: tenantParams,
    status: 200,
    response: z.strictObject({ secret: z.string() }),
    handle: ({ params }, { controlPlane }) => Promise.resolve({ secret: controlPlane.webhookSecret(params.tenantId) }),
  }),
]
