import Fastify, { LogController } from 'fastify'
import type { FastifyBaseLogger, FastifyInstance, onRouteHookHandler } from 'fastify'
import type { MetricsEndpoint } from '../infra/telemetry/metrics.ts'
import { uuidv7 } from '../events/ids.ts'
import type { Dependencies } from './dependencies.ts'
import { adminRoutes } from './admin/admin-routes.ts'
import type { AdminRoutesOptions } from './admin/admin-routes.ts'
import { GatewayError } from './errors.ts'
import { publicOpenApiRoute } from './openapi/public-openapi.ts'
import { accessLog } from './plugins/access-log.ts'
import { answerClientError, answerFrameworkError, errorsPlugin } from './plugins/errors.ts'
import { jsonBodyPlugin } from './plugins/json-body.ts'
import { dashboardRoutes } from './routes/dashboard.ts'
import { healthRoutes } from './routes/health.ts'
import { messagesRoutes } from './routes/messages.ts'
import { v1Routes } from './routes/v1.ts'
import type { V1RoutesOptions } from './routes/v1.ts'

export interface AppOptions {
  deps: Dependencies
  /** A pino logger; typed as Fastify's base logger so the instance keeps Fastify's default generics. */
  logger: FastifyBaseLogger
  bodyLimitBytes?: number
  /**
   * How long a client may take to send its whole request, headers and body; then Node answers 408 and
   * closes the connection. Without it a client that trickles its body, or stops, holds a socket forever.
   */
  requestTimeoutMs?: number
  isDraining?: () => boolean
  /** The data plane (keys, routing, providers); without it the app serves only health probes. */
  gateway?: V1RoutesOptions
  /** The admin API (control plane); without it /admin/v1 does not exist. */
  admin?: AdminRoutesOptions
  /** Served as Prometheus text at /metrics. */
  metrics?: MetricsEndpoint
  /** Log each model call's request body (SUPERGATE_LOG_PROMPTS=on); off by default. */
  logPrompts?: boolean
  /** Request spans (gateway/plugins/tracing.ts), when traces are exported. */
  tracing?: { register(app: FastifyInstance): void }
  /** Called with every route as it is registered, before any other route hook (the OpenAPI tests list routes so). */
  onRoute?: onRouteHookHandler
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/
const REQUEST_TIMEOUT_MS = 60_000

/** Builds the gateway; never listens (the entry point does), so tests drive it with `inject()`. */
export function buildApp(options: AppOptions): FastifyInstance {
  const requestTimeout = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS
  const app = Fastify({
    loggerInstance: options.logger,
    bodyLimit: options.bodyLimitBytes ?? 32 * 1024 * 1024,
    requestTimeout,
    http: {
      // Node swaps the two timeouts when the headers' is the longer one: a body would then get 60 s.
      headersTimeout: Math.min(60_000, requestTimeout),
      // Node looks for timed-out requests every 30 s by default: often enough that the timeout holds.
      connectionsCheckingInterval: Math.min(30_000, Math.ceil(requestTimeout / 4)),
    },
    clientErrorHandler: answerClientError,
    frameworkErrors: answerFrameworkError,
    // A caller's request id is kept when it is safe to echo and log; otherwise we mint one.
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : uuidv7()
    },
    // Fastify's two lines per request are replaced by one (gateway/plugins/access-log.ts), with the tenant and no query values.
    logController: new LogController({ requestIdLogLabel: 'requestId', disableRequestLogging: true }),
    // Fastify's own 503 while closing is not in the OpenAI shape: the draining hook below answers instead.
    return503OnClosing: false,
  })
  if (options.onRoute !== undefined) app.addHook('onRoute', options.onRoute)
  const isDraining = options.isDraining ?? (() => false)
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id)
    // Shutting down: a request that still arrives (on a kept-alive connection) is refused, so a load balancer
    // or client retries it elsewhere; the probes keep answering. Fastify adds `connection: close`.
    if (isDraining() && request.url !== '/health' && request.url !== '/ready') {
      done(new GatewayError('service_unavailable', 'The gateway is shutting down; retry the request'))
      return
    }
    done()
  })
  // A streamed answer's handler goes on after its connection closed, to meter what was produced: closing waits
  // for every /v1 handler to return, so none meters after the producer's last flush.
  const running = new Set<Promise<unknown>>()
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/v1/')) return
    const handle = route.handler
    route.handler = function (request, reply) {
      const result: unknown = handle.call(this, request, reply)
      if (result instanceof Promise) {
        running.add(result)
        const settled = () => running.delete(result)
        result.then(settled, settled)
      }
      return result
    }
  })
  app.addHook('onClose', async () => {
    await Promise.allSettled(running)
  })
  options.tracing?.register(app)
  accessLog(app, { logPrompts: options.logPrompts ?? false })
  void app.register(errorsPlugin)
  void app.register(jsonBodyPlugin)
  const { deps } = options
  healthRoutes(app, {
    isDraining,
    dependencies: [
      { name: 'sql', adapter: deps.sql.adapter, check: () => deps.sql.check() },
      // The data plane serves without these; the control plane's writes wait for the event store.
      { name: 'eventStore', adapter: deps.eventStore.adapter, check: () => deps.eventStore.check(), degradable: 'API calls are served; control-plane changes are refused until it returns' },
      { name: 'eventLog', adapter: deps.eventLog.adapter, check: () => deps.eventLog.check(), degradable: 'usage events wait in the spool and are delivered when it returns' },
      { name: 'rateLimiter', adapter: deps.rateLimiter.adapter, check: () => deps.rateLimiter.check(), degradable: "each tenant's limiter policy applies: fail_open admits, fail_closed refuses" },
      { name: 'analytics', adapter: deps.analytics.adapter, check: () => deps.analytics.check(), degradable: 'reports are unavailable; usage waits in the log for the sink' },
    ],
  })
  // The public API's description, of the parts below that this process serves; public, as the admin API's is.
  publicOpenApiRoute(app, { dataPlane: options.gateway !== undefined, admin: options.admin !== undefined, metrics: options.metrics !== undefined })
  const metrics = options.metrics
  if (metrics !== undefined) {
    app.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.metrics()))
  }
  if (options.admin !== undefined) {
    adminRoutes(app, options.admin)
    // The dashboard is a page over the admin API: it exists where that API does.
    dashboardRoutes(app)
  }
  if (options.gateway !== undefined) {
    v1Routes(app, options.gateway)
    messagesRoutes(app, options.gateway)
  }
  return app
}
