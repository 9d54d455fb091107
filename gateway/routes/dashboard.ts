import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'

/**
 * The spend dashboard (DESIGN.md §6): static files under /dashboard, no data in them. The page signs in
 * with an API key and reads the admin API itself, so these routes need no auth.
 */
export const DASHBOARD_PATH = '/dashboard'

/** Scripts and styles from our own origin only: no inline code, so an injected string cannot run. */
export const DASHBOARD_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'"

const asset = (name: string) => fileURLToPath(new URL(`../../analytics/dashboard/${name}`, import.meta.url))
// chart.js's exports map names no UMD file: find the package's dist/ folder from its entry point.
const chartJsDist = dirname(createRequire(import.meta.url).resolve('chart.js'))

const HTML = 'text/html; charset=utf-8'
const JS = 'text/javascript; charset=utf-8'
const CSS = 'text/css; charset=utf-8'

/** Every file the dashboard serves, by URL path: a fixed list, so no request names a file of its own. */
const FILES: readonly { path: string; file: string; type: string }[] = [
  { path: DASHBOARD_PATH, file: asset('index.html'), type: HTML },
  { path: `${DASHBOARD_PATH}/assets/dashboard.js`, file: asset('dashboard.js'), type: JS },
  { path: `${DASHBOARD_PATH}/assets/api.js`, file: asset('api.js'), type: JS },
  { path: `${DASHBOARD_PATH}/assets/charts.js`, file: asset('charts.js'), type: JS },
  { path: `${DASHBOARD_PATH}/assets/format.js`, file: asset('format.js'), type: JS },
  { path: `${DASHBOARD_PATH}/assets/dashboard.css`, file: asset('dashboard.css'), type: CSS },
  // Chart.js's self-contained UMD build: its ESM build imports a bare specifier, which needs an (inline) import map.
  { path: `${DASHBOARD_PATH}/assets/chart.umd.min.js`, file: join(chartJsDist, 'chart.umd.min.js'), type: JS },
]

/**
 * Serves the dashboard. The files are read once, here: a missing one fails the gateway's start rather
 * than a user's page load. Names carry no content hash, so browsers revalidate (`no-cache`) and get a 304
 * from the ETag while a file is unchanged.
 */
export function dashboardRoutes(app: FastifyInstance): void {
  for (const { path, file, type } of FILES) {
    const body = readFileSync(file)
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`
    app.get(path, (request, reply) => {
      void reply.headers({
        'content-type': type,
        'content-security-policy': DASHBOARD_CSP,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-cache',
        etag,
      })
      if (request.headers['if-none-match'] === etag) return reply.status(304).send()
      return reply.send(body)
    })
  }
  // One address for the page: a trailing slash is sent there rather than answered with a 404.
  app.get(`${DASHBOARD_PATH}/`, (_request, reply) => reply.redirect(DASHBOARD_PATH, 301))
}
