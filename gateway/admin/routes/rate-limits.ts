import { z } from 'zod'
import type { LimiterUnavailablePolicy } from '../../control/settings.ts'
import { defineRoute } from '../route.ts'
import { id, listOf, tenantParams } from '../schemas.ts'
import { budgetScope } from './budgets.ts'

const perMinute = z.number().int().min(1).max(1_000_000_000).nullable()
const limitsBody = z.strictObject({
  requestsPerMinute: perMinute.optional().describe('Requests per minute; null or omitted: no limit of this kind here'),
  tokensPerMinute: perMinute.optional().describe('Prompt plus completion tokens per minute (estimated before the call, reconciled after)'),
  concurrentRequests: perMinute.optional().describe('Calls in flight at once, streams included'),
})
const rateLimit = z.strictObject({
  scope: budgetScope,
  requestsPerMinute: perMinute,
  tokensPerMinute: perMinute,
  concurrentRequests: perMinute,
})
const scopeParams = z.strictObject({ tenantId: id, scope: budgetScope })
const onLimiterUnavailable = z.enum(['fail_open', 'fail_closed'])
const policy = z.strictObject({ onLimiterUnavailable })

export const rateLimitRoutes = [
  defineRoute({
    method: 'PUT',
    path: '/tenants/{tenantId}/rate-limits/{scope}',
    summary: 'Set the request, token and concurrency limits of a scope (tenant, project:<id> or key:<id>)',
    tag: 'rate-limits',
    access: 'limits.write',
    params: scopeParams,
    body: limitsBody,
    status: 200,
    response: rateLimit,
    handle: async ({ params, body, context }, { controlPlane }) => {
      const limits = {
        requestsPerMinute: body.requestsPerMinute ?? null,
        tokensPerMinute: body.tokensPerMinute ?? null,
        concurrentRequests: body.concurrentRequests ?? null,
      }
      await controlPlane.setRateLimit(params.tenantId, params.scope, limits, context)
      return { scope: params.scope, ...limits }
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}/rate-limits',
    summary: "List the tenant's rate limits",
    tag: 'rate-limits',
    access: 'limits.read',
    params: tenantParams,
    status: 200,
    response: listOf(rateLimit),
    handle: async ({ params }, { controlPlane }) => {
      const rows = await controlPlane.readAsTenant(params.tenantId, (tx) =>
        tx.query<{ scope: string; requests_per_minute: number | null; tokens_per_minute: number | null; concurrent_requests: number | null }>(
          'SELECT scope, requests_per_minute, tokens_per_minute, concurrent_requests FROM rate_limits WHERE tenant_id = $1 ORDER BY scope',
          [params.tenantId],
        ),
      )
      return {
        data: rows.rows.map((r) => ({
          scope: r.scope,
          requestsPerMinute: r.requests_per_minute,
          tokensPerMinute: r.tokens_per_minute,
          concurrentRequests: r.concurrent_requests,
        })),
      }
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: '/tenants/{tenantId}/rate-limits/{scope}',
    summary: 'Remove the rate limits of a scope',
    tag: 'rate-limits',
    access: 'limits.write',
    params: scopeParams,
    status: 204,
    handle: ({ params, context }, { controlPlane }) => controlPlane.removeRateLimit(params.tenantId, params.scope, context),
  }),
  defineRoute({
    method: 'PUT',
    path: '/tenants/{tenantId}/limits-policy',
    summary: "What happens to the tenant's calls while the shared limiter (Redis) is unreachable: fail_open admits them unlimited, fail_closed refuses them (503)",
    tag: 'rate-limits',
    access: 'limits.write',
    params: tenantParams,
    body: policy,
    status: 200,
    response: policy,
    handle: async ({ params, body, context }, { controlPlane }) => {
      await controlPlane.setLimitsPolicy(params.tenantId, body.onLimiterUnavailable, context)
      return body
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenantId}/limits-policy',
    summary: "The tenant's policy for an unreachable limiter (fail_open unless set)",
    tag: 'rate-limits',
    access: 'limits.read',
    params: tenantParams,
    status: 200,
    response: policy,
    handle: async ({ params }, { controlPlane }) => {
      const rows = await controlPlane.readAsTenant(params.tenantId, (tx) =>
        tx.query<{ on_limiter_unavailable: LimiterUnavailablePolicy }>('SELECT on_limiter_unavailable FROM limit_policies WHERE tenant_id = $1', [params.tenantId]),
      )
      return { onLimiterUnavailable: rows.rows[0]?.on_limiter_unavailable ?? 'fail_open' }
    },
  }),
]
