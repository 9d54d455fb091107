import type { RouteOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../infra/telemetry/logger.ts'
import { startEmbeddedGateway } from '../../test/support/embedded-gateway.ts'
import type { EmbeddedGateway } from '../../test/support/embedded-gateway.ts'
import { openApiDocument as adminOpenApiDocument } from '../admin/openapi.ts'
import { buildApp } from '../app.ts'
import { publicOpenApiDocument } from './public-openapi.ts'

/**
 * The two OpenAPI documents against the routes the real app registers, both ways: no route without an
 * operation, no operation without a route. Fastify's `:id` becomes `{id}`; its wildcard `*` (a last
 * parameter that may hold '/') takes the name the document gives the parameter there.
 */

interface Document {
  servers?: { url: string }[]
  paths: Record<string, Record<string, unknown>>
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']

/** `GET /admin/v1/tenants/{tenantId}`: each operation of the documents, its path below the document's server. */
function documentedOperations(...documents: Document[]): string[] {
  return documents.flatMap((doc) => {
    const prefix = (doc.servers?.[0]?.url ?? '').replace(/\/$/, '')
    return Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((key) => METHODS.includes(key))
        .map((method) => `${method.toUpperCase()} ${prefix}${path}`),
    )
  })
}

interface Route {
  method: string
  url: string
}

/** Collects what `onRoute` sees: one entry per method of each route, the prefix included. */
function routeRecorder(): { routes: Route[]; onRoute: (route: RouteOptions) => void } {
  const routes: Route[] = []
  return { routes, onRoute: (route) => routes.push(...[route.method].flat().map((method) => ({ method, url: route.url }))) }
}

function openApiPath(url: string, documentedPaths: readonly string[]): string {
  const template = url.replace(/:(\w+)/g, '{$1}')
  if (!template.endsWith('*')) return template
  const head = template.slice(0, -1)
  return documentedPaths.find((path) => path.startsWith(head) && /^\{\w+\}$/.test(path.slice(head.length))) ?? `${head}{*}`
}

/** What the routes are, in the documents' terms. Fastify adds a HEAD route for each GET (exposeHeadRoutes): the GET documents it. */
function registeredOperations(routes: readonly Route[], documented: readonly string[]): string[] {
  const documentedPaths = documented.map((operation) => operation.slice(operation.indexOf(' ') + 1))
  const gets = new Set(routes.filter((r) => r.method === 'GET').map((r) => r.url))
  return routes.filter((r) => !(r.method === 'HEAD' && gets.has(r.url))).map((r) => `${r.method} ${openApiPath(r.url, documentedPaths)}`)
}

function compare(routes: readonly Route[], documents: Document[]): { undocumented: string[]; missing: string[]; documentedTwice: string[] } {
  const documented = documentedOperations(...documents)
  const registered = registeredOperations(routes, documented)
  return {
    undocumented: registered.filter((operation) => !documented.includes(operation)).sort(),
    missing: documented.filter((operation) => !registered.includes(operation)).sort(),
    documentedTwice: documented.filter((operation, i) => documented.indexOf(operation) !== i),
  }
}

const NOTHING_AMISS = { undocumented: [], missing: [], documentedTwice: [] }
const fullSurface = { dataPlane: true, admin: true, metrics: true }

describe('the OpenAPI documents and the routes', () => {
  const recorder = routeRecorder()
  let gateway: EmbeddedGateway

  beforeAll(async () => {
    gateway = await startEmbeddedGateway({ onRoute: recorder.onRoute })
    await gateway.app.ready()
  }, 60_000)
  afterAll(async () => {
    await gateway?.close()
  })

  it('documents every route of the whole gateway, and no route it does not have', () => {
    expect(recorder.routes.length).toBeGreaterThan(40)
    expect(compare(recorder.routes, [publicOpenApiDocument(fullSurface) as unknown as Document, adminOpenApiDocument() as unknown as Document])).toEqual(NOTHING_AMISS)
  })

  it('documents only the probes and itself where the app serves nothing else, and serves that document', async () => {
    const bare = routeRecorder()
    const app = buildApp({ deps: gateway.deps, logger: createLogger({ level: 'silent' }), onRoute: bare.onRoute })
    await app.ready()
    const surface = { dataPlane: false, admin: false, metrics: false }
    expect(compare(bare.routes, [publicOpenApiDocument(surface) as unknown as Document])).toEqual(NOTHING_AMISS)
    const served = await app.inject({ method: 'GET', url: '/openapi.json' })
    expect(served.json()).toEqual(publicOpenApiDocument(surface))
    await app.close()
  })

  it('reports a route added without an operation, and an operation whose route is gone', async () => {
    const extra = routeRecorder()
    const app = buildApp({ deps: gateway.deps, logger: createLogger({ level: 'silent' }), onRoute: extra.onRoute })
    app.get('/v1/undocumented/:id/*', () => ({}))
    await app.ready()
    const surface = { dataPlane: true, admin: false, metrics: false }
    expect(compare(extra.routes, [publicOpenApiDocument(surface) as unknown as Document])).toEqual({
      undocumented: ['GET /v1/undocumented/{id}/{*}'],
      // The document says this app has a data plane; it was built without one.
      missing: ['GET /v1/models', 'GET /v1/models/{model}', 'POST /v1/chat/completions', 'POST /v1/embeddings', 'POST /v1/messages'],
      documentedTwice: [],
    })
    await app.close()
  })
})
