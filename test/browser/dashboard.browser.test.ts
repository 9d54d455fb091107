import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMock } from '../mocks/mock-server.ts'
import type { RunningMock } from '../mocks/mock-server.ts'
import { openAiMock } from '../mocks/openai.ts'
import { CHROMIUM } from '../setup/chromium.ts'
import { startGateway } from '../support/gateway-process.ts'
import type { RunningGateway } from '../support/gateway-process.ts'
import { adminClient, CREDITED_MICRO_USD, seedSpendingTenant } from './spending-tenant.ts'
import type { AdminClient, Report, SpendingTenant } from './spending-tenant.ts'

/**
 * The spend dashboard in headless Chromium against a real gateway process (embedded: PGlite, in-process
 * event log, chdb) whose provider is the OpenAI wire-format mock. A tenant spends through two projects;
 * the dashboard, signed in with a billing key, must draw the totals the chargeback report gives.
 */
const ADMIN = 'sg-admin-dashboard-browser-token-000000001'
const repoRoot = new URL('../../', import.meta.url).pathname
const SCREENSHOT = join(repoRoot, '.ci/artifacts/dashboard.png')

interface Series {
  label: string
  microUsd: number
}

interface Format {
  formatUsd: (microUsd: number) => string
}
const { formatUsd } = (await import(new URL('../../analytics/dashboard/format.js', import.meta.url).href)) as Format

let mock: RunningMock
let gateway: RunningGateway
let client: AdminClient
let seeded: SpendingTenant
let context: BrowserContext
let profileDir: string

beforeAll(async () => {
  const started = Date.now()
  mock = await startMock(openAiMock())
  gateway = await startGateway({
    SUPERGATE_ADMIN_TOKEN: ADMIN,
    SUPERGATE_OPENAI_API_KEY: 'upstream-dashboard-browser',
    SUPERGATE_OPENAI_BASE_URL: `${mock.url}/v1`,
    SUPERGATE_LOG_LEVEL: 'warn',
  })
  client = adminClient(gateway.url, ADMIN)
  seeded = await seedSpendingTenant(gateway.url, client)

  profileDir = mkdtempSync(join(tmpdir(), 'supergate-chromium-'))
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    // Without the background-networking flags Chromium dials out at start, and this closed network refuses it.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1440, height: 1000 },
    timeout: 60_000,
  })
  context.setDefaultTimeout(30_000)
  console.error(`[browser] gateway, seed data and Chromium ready in ${((Date.now() - started) / 1000).toFixed(1)} s`)
}, 180_000)

afterAll(async () => {
  await context?.close()
  if (profileDir !== undefined) rmSync(profileDir, { recursive: true, force: true })
  if (gateway !== undefined) expect(await gateway.stop()).toBe(0)
  await mock?.close()
})

/** A fresh tab, with every console error, page error and failed request it sees. */
async function openDashboard(): Promise<{ page: Page; problems: string[] }> {
  const page = await context.newPage()
  const problems: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`)
  })
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`))
  const response = await page.goto(`${gateway.url}/dashboard`)
  expect(response?.status()).toBe(200)
  await page.getByTestId('signin-key').waitFor()
  return { page, problems }
}

async function signIn(page: Page, key: string): Promise<void> {
  await page.getByTestId('signin-key').fill(key)
  await page.getByTestId('signin-submit').click()
}

async function waitUntilDrawn(page: Page): Promise<void> {
  await page.locator('#dashboard[data-state="ready"]').waitFor()
  for (const chart of ['chart-spend-per-day', 'chart-by-project', 'chart-by-key', 'chart-by-model', 'chart-cache']) {
    await page.locator(`[data-testid="${chart}"][data-rendered="true"]`).waitFor()
  }
}

const attribute = async (page: Page, testId: string, name: string) => (await page.getByTestId(testId).first().getAttribute(name)) ?? ''
const seriesOf = async (page: Page, testId: string) => JSON.parse(await attribute(page, testId, 'data-series')) as Series[]

/** What the pixel check reads of a canvas element (the project compiles without the DOM library). */
interface Canvas {
  width: number
  height: number
  getContext(kind: '2d'): { getImageData(x: number, y: number, width: number, height: number): { data: Uint8ClampedArray } } | null
}

/** How many of a canvas's pixels are painted, and how many of them in the given colour (within a little). */
function paintedPixels(page: Page, testId: string, rgb: [number, number, number]): Promise<{ painted: number; inColour: number; total: number }> {
  return page.getByTestId(testId).locator('canvas').evaluate((element, [r, g, b]) => {
    const canvas = element as unknown as Canvas
    const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height)
    let painted = 0
    let inColour = 0
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3]! === 0) continue
      painted++
      if (Math.abs(data[i]! - r) < 8 && Math.abs(data[i + 1]! - g) < 8 && Math.abs(data[i + 2]! - b) < 8) inColour++
    }
    return { painted, inColour, total: data.length / 4 }
  }, rgb)
}

describe('the spend dashboard in Chromium', () => {
  it('refuses a wrong key, the bootstrap token and a developer key at sign-in, with the reason', async () => {
    const { page, problems } = await openDashboard()
    await signIn(page, 'sg-not-a-real-key-0000000000000000')
    await expect.poll(() => page.getByTestId('signin-error').textContent()).toMatch(/\S/)
    expect(await page.getByTestId('signin-error').isVisible()).toBe(true)
    expect(await page.getByTestId('signin-error').textContent()).toMatch(/key/i)
    expect(await page.locator('#dashboard').isHidden()).toBe(true)

    await signIn(page, ADMIN)
    await expect.poll(() => page.getByTestId('signin-error').textContent()).toContain('bootstrap admin token')
    await signIn(page, seeded.developerKey)
    await expect.poll(() => page.getByTestId('signin-error').textContent()).toContain('A developer key may not read spend reports')
    // A refused key is not kept, and no key ever reaches a URL or localStorage.
    expect(await page.evaluate(() => [sessionStorage.length, localStorage.length])).toEqual([0, 0])
    expect(page.url()).toBe(`${gateway.url}/dashboard`)
    // The 401 of the wrong key is the only console error (Chromium logs failed fetches): no CSP violation, no script error.
    expect(problems.filter((p) => !/status of 401/.test(p))).toEqual([])
    await page.close()
  })

  it('draws the chargeback totals for the signed-in tenant, by day, project, key and model', async () => {
    const { page, problems } = await openDashboard()
    await signIn(page, seeded.billingKey)
    await waitUntilDrawn(page)
    expect(await page.getByTestId('tenant-id').textContent()).toBe(seeded.tenantId)

    // The same range the dashboard asked for (last 30 days by default), straight from the API.
    const from = await page.locator('#dashboard').getAttribute('data-from')
    const to = await page.locator('#dashboard').getAttribute('data-to')
    expect(from).toMatch(/^\d{4}-\d{2}-\d{2}$/)
    const [byDay, byProject, byKey, byModel] = await Promise.all(['day', 'project', 'key', 'model'].map((g) => client.report(seeded.tenantId, g, from!, to!)))
    const { totals } = byDay!
    expect(totals.costMicroUsd).toBeGreaterThan(0)
    expect(totals.costMicroUsd).toBe(seeded.expected.costMicroUsd)
    expect(totals.requests).toBe(seeded.expected.requests)

    // KPI tiles: the numbers and the text a person reads.
    expect(Number(await attribute(page, 'kpi-spend', 'data-micro-usd'))).toBe(totals.costMicroUsd)
    expect(await page.getByTestId('kpi-spend').locator('.value').textContent()).toBe(formatUsd(totals.costMicroUsd))
    expect(Number(await attribute(page, 'kpi-requests', 'data-value'))).toBe(totals.requests)
    expect(Number(await attribute(page, 'kpi-rejected', 'data-value'))).toBe(1)
    expect(Number(await attribute(page, 'kpi-cache-savings', 'data-micro-usd'))).toBe(totals.cacheSavingsMicroUsd)
    expect(totals.cacheSavingsMicroUsd).toBeGreaterThan(0)
    expect(Number(await attribute(page, 'kpi-balance', 'data-micro-usd'))).toBe(CREDITED_MICRO_USD - totals.costMicroUsd)

    // Spend per day: one bar a day of the range, summing to the report's total, each day's as the report has it.
    expect(Number(await attribute(page, 'chart-spend-per-day', 'data-total-micro-usd'))).toBe(totals.costMicroUsd)
    const perDay = await seriesOf(page, 'chart-spend-per-day')
    expect(perDay).toHaveLength(30)
    // The range ends at tomorrow (exclusive): the last bar is today.
    expect(perDay.at(-1)!.label).toBe(new Date(Date.parse(`${to!}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10))
    expect(perDay.filter((d) => d.microUsd > 0)).toEqual(byDay!.rows.filter((r) => r.costMicroUsd > 0).map((r) => ({ label: r.day, microUsd: r.costMicroUsd })))

    // Breakdowns: every slice as the report's rows give it, by name.
    const expectSeries = async (testId: string, rows: Report['rows'], label: (r: Report['rows'][number]) => string) => {
      const expected = rows.filter((r) => r.costMicroUsd > 0).map((r) => ({ label: label(r), microUsd: r.costMicroUsd }))
      expect(await seriesOf(page, testId)).toEqual(expected.sort((a, b) => b.microUsd - a.microUsd))
      expect(Number(await attribute(page, testId, 'data-total-micro-usd'))).toBe(totals.costMicroUsd)
    }
    await expectSeries('chart-by-project', byProject!.rows, (r) => r.projectName ?? '')
    await expectSeries('chart-by-key', byKey!.rows, (r) => r.keyName ?? '')
    await expectSeries('chart-by-model', byModel!.rows, (r) => r.model ?? '')
    const projects = await seriesOf(page, 'chart-by-project')
    expect(projects.map((p) => p.label).sort()).toEqual(['checkout-assistant', 'support-bot'])
    for (const p of projects) await expect.poll(() => page.getByTestId('legend-project').locator(`li[data-label="${p.label}"]`).textContent()).toContain(formatUsd(p.microUsd))
    expect(Number(await attribute(page, 'chart-cache', 'data-savings-micro-usd'))).toBe(totals.cacheSavingsMicroUsd)

    // Budgets and alerts: what the seed created, with the spend the projections counted.
    const budgets = page.getByTestId('budget')
    expect(await budgets.count()).toBe(2)
    const tenantBudget = page.locator('[data-testid="budget"][data-scope="tenant"]')
    expect(Number(await tenantBudget.getAttribute('data-spent-micro-usd'))).toBe(totals.costMicroUsd)
    expect(await tenantBudget.textContent()).toContain(`${formatUsd(totals.costMicroUsd)} of $50.00`)
    expect(await page.locator(`[data-testid="budget"][data-scope="project:${seeded.projects['checkout-assistant']}"]`).textContent()).toContain('Project checkout-assistant')
    expect(await page.getByTestId('alert').count()).toBe(2)
    const alerts = (await page.getByTestId('alerts').textContent()) ?? ''
    expect(alerts).toContain('Whole tenant: spend over $1.00')
    expect(alerts).toContain('Project checkout-assistant: 25% of budget')

    // The canvases hold a drawing: the bars in their colour, the doughnuts' rings.
    const bars = await paintedPixels(page, 'chart-spend-per-day', [0x4f, 0x46, 0xe5])
    expect(bars.inColour).toBeGreaterThan(100)
    for (const chart of ['chart-by-project', 'chart-by-key', 'chart-by-model', 'chart-cache']) {
      const ring = await paintedPixels(page, chart, [0x4f, 0x46, 0xe5])
      expect(ring.painted / ring.total, chart).toBeGreaterThan(0.1)
      expect(ring.inColour, chart).toBeGreaterThan(100)
    }

    mkdirSync(join(repoRoot, '.ci/artifacts'), { recursive: true })
    await page.screenshot({ path: SCREENSHOT, fullPage: true })
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(20_000)
    console.error(`[browser] dashboard screenshot: ${SCREENSHOT}`)

    // Another range redraws from its own reports; every call was today, so the totals hold.
    await page.getByTestId('range').selectOption('7d')
    await expect.poll(() => page.locator('#dashboard').getAttribute('data-from')).not.toBe(from)
    await waitUntilDrawn(page)
    expect(await seriesOf(page, 'chart-spend-per-day')).toHaveLength(7)
    expect(Number(await attribute(page, 'chart-spend-per-day', 'data-total-micro-usd'))).toBe(totals.costMicroUsd)

    // Signing out forgets the key and shows the sign-in form again.
    expect(page.url()).toBe(`${gateway.url}/dashboard`)
    expect(await page.evaluate(() => localStorage.length)).toBe(0)
    await page.getByTestId('signout').click()
    await page.getByTestId('signin-key').waitFor()
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0)
    expect(problems).toEqual([])
    await page.close()
  })
})
