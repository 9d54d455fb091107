import Fastify, { LogController } from 'fastify'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import { uuidv7 } from '../events/ids.ts'
import type { Dependencies } from './dependencies.ts'
import { adminRoutes } from './admin/admin-routes.ts'
import type { AdminRoutesOptions } from './admin/admin-routes.ts'
import { errorsPlugin } from './plugins/errors.ts'
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
  isDraining?: () => boolean
  /** The data plane (keys, routing, providers); without it the app serves only health probes. */
  gateway?: V1RoutesOptions
  /** The admin API (control plane); without it /admin/v1 does not exist. */
  admin?: AdminRoutesOptions
  /** Served as Prometheus text at /metrics. */
  metrics?: Registry
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** Builds the gateway; never listens (the entry point does), so tests drive it with `inject()`. */
export function buildApp(options: AppOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger,
    bodyLimit: options.bodyLimitBytes ?? 32 * 1024 * 1024,
    // A caller's request id is kept when it is safe to echo and log; otherwise we mint one.
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : uuidv7()
    },
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    return503OnClosing: true,
  })
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id)
    done()
  })
  void app.register(errorsPlugin)
  const { deps } = options
  healthRoutes(app, {
    isDraining: options.isDraining ?? (() => false),
    dependencies: [
      { name: 'sql', adapter: deps.sql.adapter, check: () => deps.sql.check() },
      { name: 'eventStore', adapter: deps.eventStore.adapter, check: () => deps.eventStore.check() },
      { name: 'eventLog', adapter: deps.eventLog.adapter, check: () => deps.eventLog.check() },
      { name: 'rateLimiter', adapter: deps.rateLimiter.adapter, check: () => deps.rateLimiter.check() },
      { name: 'analytics', adapter: deps.analytics.adapter, check: () => deps.analytics.check() },
    ],
  })
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
