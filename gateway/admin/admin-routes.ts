import type { FastifyInstance } from 'fastify'
import type { SqlStore } from '../../infra/postgres/sql-store.ts'
import type { KeyResolver } from '../auth/api-keys.ts'
import type { ControlPlane } from '../control/control-plane.ts'
import { ADMIN_PREFIX, openApiDocument } from './openapi.ts'
import { registerRoute } from './route.ts'
import type { AdminAnalytics } from './route.ts'
import { ADMIN_ROUTES } from './routes/index.ts'

export interface AdminRoutesOptions {
  controlPlane: ControlPlane
  /** The bootstrap admin token resolves to the `platform` role; an API key to its role in its tenant. */
  keys: KeyResolver
  sql: SqlStore
  /** Without it the report endpoints answer 503. */
  analytics?: AdminAnalytics
}

/**
 * The admin API under /admin/v1 (DESIGN.md §10): thin handlers over the control plane's use cases and
 * read models. Errors take the OpenAI shape through the errors plugin, which the app registers first.
 */
export function adminRoutes(app: FastifyInstance, options: AdminRoutesOptions): void {
  const services = { controlPlane: options.controlPlane, sql: options.sql, ...(options.analytics === undefined ? {} : { analytics: options.analytics }) }
  const document = openApiDocument()
  void app.register(
    (admin, _opts, done) => {
      for (const route of ADMIN_ROUTES) registerRoute(admin, route, options.keys, services)
      // Public, like most API descriptions: it holds no data, and clients generate code from it.
      admin.get('/openapi.json', (_request, reply) => reply.send(document))
      done()
    },
    { prefix: ADMIN_PREFIX },
  )
}
