import { Readable } from 'node:stream'
import { z } from 'zod'
import { exportAuditJsonl, queryAudit, verifyAuditChain } from '../../../projections/audit/audit-trail.ts'
import type { AuditQuery } from '../../../projections/audit/audit-trail.ts'
import { GatewayError } from '../../errors.ts'
import { defineRoute } from '../route.ts'
import { tenantParams, timestamp } from '../schemas.ts'

const PAGE_MAX = 1000

const auditQuery = z.strictObject({
  from: timestamp.optional().describe('Inclusive'),
  to: timestamp.optional().describe('Exclusive'),
  actor: z.string().min(1).max(200).optional().describe('An actor id: `bootstrap` or a key id'),
  type: z.string().min(1).max(200).optional().describe('An event type such as apikey.issued'),
  limit: z.coerce.number().int().min(1).max(PAGE_MAX).optional().describe('Page size for format=json (default 100)'),
  after: z.coerce.number().int().min(0).optional().describe('The `next` cursor of the previous page'),
  format: z.enum(['json', 'jsonl']).default('json'),
})

const auditRecord = z.object({
  tenantId: z.string(),
  seq: z.number().int(),
  eventId: z.string(),
  globalPosition: z.number().int(),
  type: z.string(),
  actorType: z.enum(['admin', 'key', 'system']),
  actorId: z.string(),
  sourceIp: z.string().nullable(),
  userAgent: z.string().nullable(),
  reason: z.string().nullable(),
  occurredAt: timestamp,
  data: z.unknown(),
  prevHash: z.string(),
  hash: z.string(),
})

function filters(query: z.output<typeof auditQuery>): AuditQuery {
  return {
    ...(query.from === undefined ? {} : { from: new Date(query.from) }),
    ...(query.to === undefined ? {} : { to: new Date(query.to) }),
    ...(query.actor === undefined ? {} : { actorId: query.actor }),
    ...(query.type === undefined ? {} : { type: query.type }),
    ...(query.after === undefined ? {} : { after: query.after }),
  }
}

export const auditRoutes = [
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}/audit',
    summary: 'The audit trail: a page of records as JSON, or every matching record as JSONL (format=jsonl)',
    tag: 'audit',
    access: 'audit.read',
    params: tenantParams,
    query: auditQuery,
    status: 200,
    response: z.strictObject({ data: z.array(auditRecord), next: z.number().int().nullable().describe('Pass as `after` for the next page; null on the last') }),
    alsoProduces: 'application/x-ndjson',
    handle: async ({ params, query, reply }, { sql }) => {
      if (query.format === 'jsonl') {
        if (query.limit !== undefined) throw new GatewayError('invalid_request', 'limit pages format=json; format=jsonl exports every matching record', 'limit')
        return reply
          .type('application/x-ndjson')
          .header('content-disposition', `attachment; filename="audit-${params.tenantId}.jsonl"`)
          .send(Readable.from(exportAuditJsonl(sql, params.tenantId, filters(query))))
      }
      const limit = query.limit ?? 100
      const data = await queryAudit(sql, params.tenantId, { ...filters(query), limit })
      return { data, next: data.length === limit ? data.at(-1)!.seq : null }
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}/audit/verify',
    summary: "Recompute the tenant's hash chain and report the first broken link, if any",
    tag: 'audit',
    access: 'audit.read',
    params: tenantParams,
    status: 200,
    response: z.strictObject({
      ok: z.boolean(),
      records: z.number().int(),
      brokenAtSeq: z.number().int().optional(),
      reason: z.enum(['hash_mismatch', 'prev_hash_mismatch', 'sequence_gap']).optional(),
    }),
    handle: ({ params }, { sql }) => verifyAuditChain(sql, params.tenantId),
  }),
]
