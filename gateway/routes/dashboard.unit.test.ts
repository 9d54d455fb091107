import Fastify from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'
import { errorsPlugin } from '../plugins/errors.ts'
import { DASHBOARD_CSP, dashboardRoutes } from './dashboard.ts'

function dashboardApp() {
  const app = Fastify()
  void app.register(errorsPlugin)
  dashboardRoutes(app)
  return app
}

describe('the dashboard routes', () => {
  const app = dashboardApp()
  afterAll(() => app.close())

  it.each([
    ['/dashboard', 'text/html; charset=utf-8', '<script type="module" src="/dashboard/assets/dashboard.js">'],
    ['/dashboard/assets/dashboard.js', 'text/javascript; charset=utf-8', "from './api.js'"],
    ['/dashboard/assets/api.js', 'text/javascript; charset=utf-8', 'sessionStorage'],
    ['/dashboard/assets/charts.js', 'text/javascript; charset=utf-8', 'data-rendered'],
    ['/dashboard/assets/format.js', 'text/javascript; charset=utf-8', 'export function formatUsd'],
    ['/dashboard/assets/dashboard.css', 'text/css; charset=utf-8', '.kpi'],
    ['/dashboard/assets/chart.umd.min.js', 'text/javascript; charset=utf-8', 'window.Chart='],
  ])('serves %s as %s with the CSP, nosniff and revalidation', async (url, type, excerpt) => {
    const response = await app.inject({ method: 'GET', url })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toBe(type)
    expect(response.headers['content-security-policy']).toBe(DASHBOARD_CSP)
    expect(response.headers['x-content-type-options']).toBe('nosniff')
    expect(response.headers['cache-control']).toBe('no-cache')
    expect(response.headers.etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/)
    expect(response.body).toContain(excerpt)
  })

  it('sends the CSP the page relies on: scripts and styles from its own origin only, no framing', () => {
    expect(DASHBOARD_CSP.split('; ')).toEqual(["default-src 'self'", "img-src 'self' data:", "style-src 'self'", "frame-ancestors 'none'"])
  })

  it('has no inline script or style in the page, which the CSP would block', async () => {
    const html = (await app.inject({ method: 'GET', url: '/dashboard' })).body
    for (const script of html.match(/<script\b[^>]*>[\s\S]*?<\/script>/g) ?? []) expect(script).toMatch(/^<script [^>]*src="\/dashboard\/assets\/[a-z.]+\.js"[^>]*><\/script>$/)
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i)
  })

  it('answers 304 to a browser that holds the current file', async () => {
    const first = await app.inject({ method: 'GET', url: '/dashboard/assets/dashboard.css' })
    const again = await app.inject({ method: 'GET', url: '/dashboard/assets/dashboard.css', headers: { 'if-none-match': String(first.headers.etag) } })
    expect(again.statusCode).toBe(304)
    expect(again.body).toBe('')
    const stale = await app.inject({ method: 'GET', url: '/dashboard/assets/dashboard.css', headers: { 'if-none-match': '"something-older"' } })
    expect(stale.statusCode).toBe(200)
  })

  it('sends /dashboard/ to /dashboard, where the page is written to live', async () => {
    const response = await app.inject({ method: 'GET', url: '/dashboard/' })
    expect(response.statusCode).toBe(301)
    expect(response.headers.location).toBe('/dashboard')
  })

  it.each([
    '/dashboard/assets/unknown.js',
    '/dashboard/assets/chart.umd.min.js.map',
    '/dashboard/assets/index.html',
    '/dashboard/assets/dashboard.unit.test.ts',
    '/dashboard/assets/..%2f..%2fpackage.json',
    '/dashboard/assets/..%2F..%2F..%2Fetc%2Fpasswd',
    '/dashboard/assets/../../package.json',
    '/dashboard/assets/%2e%2e/%2e%2e/package.json',
    '/dashboard/assets/',
    '/dashboard/assets',
    '/dashboard/../package.json',
    '/dashboard/index.html',
  ])('answers 404 in the API error shape for %s', async (url) => {
    const response = await app.inject({ method: 'GET', url })
    expect(response.statusCode).toBe(404)
    expect(response.json<{ error: { code: string } }>().error.code).toBe('route_not_found')
    expect(response.body).not.toContain('"name": "supergate"')
  })

  it('serves no method but GET and HEAD', async () => {
    expect((await app.inject({ method: 'HEAD', url: '/dashboard' })).statusCode).toBe(200)
    expect((await app.inject({ method: 'POST', url: '/dashboard', payload: {} })).statusCode).toBe(404)
  })
})

interface Format {
  formatUsd: (microUsd: number) => string
  sumMicro: (amounts: number[]) => number
  percentOf: (part: number, whole: number) => number
  rangeFor: (choice: string, now: Date) => { from: string; to: string; days: string[] }
}

/** The page's own formatting module, as the browser runs it (plain JavaScript, so imported untyped). */
const formatModule = new URL('../../analytics/dashboard/format.js', import.meta.url).href
const format = (await import(formatModule)) as Format

describe("the dashboard's money and ranges", () => {
  it('formats integer micro-USD to the cent with integer arithmetic, and keeps amounts under a cent', () => {
    expect(format.formatUsd(12_340_000)).toBe('$12.34')
    expect(format.formatUsd(0)).toBe('$0.00')
    expect(format.formatUsd(9)).toBe('$0.000009')
    expect(format.formatUsd(1_500)).toBe('$0.0015')
    expect(format.formatUsd(10_000)).toBe('$0.01')
    expect(format.formatUsd(14_999)).toBe('$0.01')
    expect(format.formatUsd(15_000)).toBe('$0.02')
    expect(format.formatUsd(1_234_567_894_999)).toBe('$1,234,567.89')
    expect(format.formatUsd(-2_505_000)).toBe('-$2.51')
    expect(format.formatUsd(Number.MAX_SAFE_INTEGER)).toBe('$9,007,199,254.74')
    expect(() => format.formatUsd(0.1)).toThrow(/whole micro-USD/)
  })

  it('sums exactly where floats would not', () => {
    expect(format.sumMicro([100_000, 200_000])).toBe(300_000)
    expect(format.sumMicro([])).toBe(0)
    expect(format.percentOf(1, 3)).toBe(33)
    expect(format.percentOf(5, 0)).toBe(0)
  })

  it('turns the range picker into whole UTC days, today included', () => {
    const now = new Date('2026-03-03T23:30:00Z')
    expect(format.rangeFor('7d', now)).toEqual({
      from: '2026-02-25',
      to: '2026-03-04',
      days: ['2026-02-25', '2026-02-26', '2026-02-27', '2026-02-28', '2026-03-01', '2026-03-02', '2026-03-03'],
    })
    expect(format.rangeFor('30d', now).days).toHaveLength(30)
    expect(format.rangeFor('month', now)).toEqual({ from: '2026-03-01', to: '2026-03-04', days: ['2026-03-01', '2026-03-02', '2026-03-03'] })
  })
})
