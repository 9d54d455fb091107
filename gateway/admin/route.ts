import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import type { Actor } from '../../events/envelope.ts'
import type { AnalyticsStore } from '../../analytics/analytics-store.ts'
import type { SqlStore } from '../../infra/postgres/sql-store.ts'
import { isStorableText, refuseUnstorableText } from '../api/text.ts'
import { presentedSecret } from '../auth/api-keys.ts'
import type { KeyResolver, Principal } from '../auth/api-keys.ts'
import type { CommandContext, ControlPlane } from '../control/control-plane.ts'
import type { Action } from '../control/roles.ts'
import { GatewayError } from '../errors.ts'
import { noSuchTenant, requirePermission, requirePlatform } from './permissions.ts'

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

export interface AdminServices {
  controlPlane: ControlPlane
  sql: SqlStore
  /** Reports: the ClickHouse store, and how many events the sink and the balances have yet to read. */
  analytics?: AdminAnalytics
}

export interface AdminAnalytics {
  store: AnalyticsStore
  pending?: () => Promise<{ sink: number; balances: number }>
}

export interface RouteInput<P, Q, B> {
  params: P
  query: Q
  body: B
  principal: Principal
  /** Who, from where, why: stored with every event the call produces. */
  context: CommandContext
  /** For answers that are not one JSON document (the JSONL export): send on it and return it. */
  reply: FastifyReply
}

const noInput = z.strictObject({})
type NoInput = typeof noInput

/**
 * One admin endpoint, as data: the same definition registers the Fastify route and writes its part of
 * the OpenAPI document, so the two cannot drift apart.
 */
export interface AdminRoute<P extends z.ZodType = NoInput, Q extends z.ZodType = NoInput, B extends z.ZodType = z.ZodUndefined> {
  method: Method
  /** Below /admin/v1, in OpenAPI's form: `/tenants/{tenantId}/keys`. */
  path: string
  summary: string
  tag: string
  /**
   * An action in the path's tenant (the path has `{tenantId}`); `platform`: the bootstrap admin token only;
   * `self`: any valid key, about itself.
   */
  access: Action | 'platform' | 'self'
  params?: P
  query?: Q
  body?: B
  /** The last path parameter, which may hold '/' (a model id such as `openai/gpt-4o`). */
  greedyParam?: string
  status: 200 | 201 | 204
  /** The answer's shape, for the OpenAPI document; omitted for 204 and non-JSON answers. */
  response?: z.ZodType
  /** Another media type than JSON that the route may answer with, documented as such. */
  alsoProduces?: string
  handle(input: RouteInput<z.output<P>, z.output<Q>, z.output<B>>, services: AdminServices): Promise<unknown>
}

/** Keeps a route's types while it is written; the list of routes only needs the erased shape. */
export function defineRoute<P extends z.ZodType = NoInput, Q extends z.ZodType = NoInput, B extends z.ZodType = z.ZodUndefined>(
  route: AdminRoute<P, Q, B>,
): AdminRoute<z.ZodType, z.ZodType, z.ZodType> {
  return route
}

export const REASON_HEADER = 'x-supergate-reason'
const reasonSchema = z.string().trim().min(1).max(1000).refine(isStorableText)

/** The Fastify form of a path: `{id}` becomes `:id`, and a greedy last parameter a wildcard. */
export function fastifyPath(route: Pick<AdminRoute, 'path' | 'greedyParam'>): string {
  return route.path.replace(/\{([A-Za-z]+)\}/g, (_all, name: string) => (name === route.greedyParam ? '*' : `:${name}`))
}

function header(request: FastifyRequest, name: string): string | null {
  const value = request.headers[name]
  return typeof value === 'string' ? value : null
}

function reasonOf(request: FastifyRequest): string | null {
  const raw = request.headers[REASON_HEADER]
  if (raw === undefined) return null
  const parsed = reasonSchema.safeParse(raw)
  if (!parsed.success) throw new GatewayError('invalid_request', `${REASON_HEADER} must be 1 to 1000 characters of well-formed text`, REASON_HEADER)
  return parsed.data
}

export function actorOf(principal: Principal): Actor {
  return principal.role === 'platform' ? { type: 'admin', id: 'bootstrap' } : { type: 'key', id: principal.keyId }
}

async function authenticate(keys: KeyResolver, request: FastifyRequest): Promise<Principal> {
  const secret = presentedSecret(request.headers)
  const principal = secret === undefined ? undefined : await keys.authenticate(secret)
  if (principal === undefined) {
    throw new GatewayError(
      'invalid_api_key',
      secret === undefined ? "You didn't provide an admin token or API key. Send it as 'Authorization: Bearer <token>'." : 'Incorrect admin token or API key provided.',
    )
  }
  return principal
}

/**
 * The one handler every admin route runs through, in an order that leaks nothing: who is calling (401),
 * the path (400), the tenant and the permission (404, 403), the query and body (400), then the use case.
 */
export function registerRoute(app: FastifyInstance, route: AdminRoute<z.ZodType, z.ZodType, z.ZodType>, keys: KeyResolver, services: AdminServices): void {
  const params = route.params ?? noInput
  const query = route.query ?? noInput
  app.route({
    method: route.method,
    url: fastifyPath(route),
    handler: async (request, reply) => {
      const principal = await authenticate(keys, request)
      const rawParams = { ...(request.params as Record<string, string>) }
      if (route.greedyParam !== undefined) {
        rawParams[route.greedyParam] = rawParams['*'] ?? ''
        delete rawParams['*']
      }
      // Before any schema: text the stores cannot hold (NUL, lone surrogates) is the caller's error, by name.
      refuseUnstorableText(rawParams)
      const parsedParams = params.parse(rawParams)
      if (route.access === 'platform') requirePlatform(principal)
      else if (route.access !== 'self') {
        const tenantId = (parsedParams as { tenantId: string }).tenantId
        requirePermission(principal, tenantId, route.access)
        if (!(await services.controlPlane.tenantExists(tenantId))) throw noSuchTenant()
      }
      refuseUnstorableText(request.query)
      const parsedQuery = query.parse(request.query ?? {})
      if (route.body !== undefined) refuseUnstorableText(request.body)
      const parsedBody: unknown = route.body === undefined ? undefined : route.body.parse(request.body ?? {})
      const context: CommandContext = {
        actor: actorOf(principal),
        sourceIp: request.ip,
        userAgent: header(request, 'user-agent'),
        reason: reasonOf(request),
        correlationId: request.id,
      }
      const result = await route.handle({ params: parsedParams, query: parsedQuery, body: parsedBody, principal, context, reply }, services)
      // A route that answered by itself (a stream) returns the reply, as Fastify's async handlers do.
      if (result === reply) return reply
      if (route.status === 204) return reply.status(204).send()
      return reply.status(route.status).send(result)
    },
  })
}
