import { expect } from 'vitest'

/**
 * A tenant that has spent: two projects, negotiated prices, an exact cache, credits, budgets, alert rules
 * and chat calls through the gateway, with what its chargeback report must then show. Seeded through the
 * admin API with the bootstrap token, as an operator would.
 */

/** Tenant prices (per million tokens) that make each call cost cents, so the screenshot shows real dollars. */
const PRICES = {
  'openai/gpt-4o': { inputMicroUsdPerMillion: 5_000_000_000, outputMicroUsdPerMillion: 10_000_000_000 },
  'openai/gpt-4o-mini': { inputMicroUsdPerMillion: 1_000_000_000, outputMicroUsdPerMillion: 2_000_000_000 },
}
/** Every mock answer uses 19 prompt and 10 completion tokens. */
const COST = { 'openai/gpt-4o': 19 * 5_000 + 10 * 10_000, 'openai/gpt-4o-mini': 19 * 1_000 + 10 * 2_000 }
export const CREDITED_MICRO_USD = 25_000_000

export interface Measures {
  requests: number
  rejectedRequests: number
  cacheHits: number
  costMicroUsd: number
  cacheSavingsMicroUsd: number
}
export interface Report {
  rows: (Measures & { projectId?: string | null; projectName?: string | null; keyName?: string | null; model?: string | null; day?: string })[]
  totals: Measures
}

export interface SpendingTenant {
  tenantId: string
  projects: Record<string, string>
  /** Signs in to the dashboard. */
  billingKey: string
  /** May call models, not read reports. */
  developerKey: string
  /** What the calls add up to, counted as they were answered. */
  expected: { requests: number; cacheHits: number; costMicroUsd: number }
}

export type AdminClient = ReturnType<typeof adminClient>

export function adminClient(baseUrl: string, token: string) {
  async function api<T = Record<string, unknown>>(method: string, path: string, body?: unknown, key = token): Promise<{ status: number; json: T }> {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await response.text()
    return { status: response.status, json: (text === '' ? {} : JSON.parse(text)) as T }
  }
  async function admin<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
    const { status, json } = await api<T>(method, `/admin/v1${path}`, body)
    expect(status, `${method} ${path}: ${JSON.stringify(json)}`).toBeLessThan(300)
    return json
  }
  const report = (tenantId: string, groupBy: string, from: string, to: string) =>
    admin<Report>('GET', `/tenants/${tenantId}/reports/chargeback?${new URLSearchParams({ groupBy, from, to }).toString()}`)
  return { api, admin, report }
}

/** Reads until `done` holds of the value (expect.poll is for tests, and this runs in beforeAll). */
export async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (done(value)) return value
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** Yesterday to tomorrow (UTC): a range that holds every call made now, even if midnight passes meanwhile. */
export function aroundNow(): { from: string; to: string } {
  const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10)
  return { from: day(-1), to: day(1) }
}

/** Seeds the tenant, then waits until the report, the alerts, the budgets and the balance all count every call. */
export async function seedSpendingTenant(baseUrl: string, client: AdminClient): Promise<SpendingTenant> {
  const { admin, api, report } = client
  const expected = { requests: 0, cacheHits: 0, costMicroUsd: 0 }
  const chat = async (key: string, model: keyof typeof COST, content: string): Promise<string> => {
    const response = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, max_tokens: 50, messages: [{ role: 'user', content }] }),
    })
    expect(response.status, await response.clone().text()).toBe(200)
    const cache = response.headers.get('x-supergate-cache') ?? 'bypass'
    expected.requests++
    if (cache.startsWith('hit')) expected.cacheHits++
    else expected.costMicroUsd += COST[model]
    return cache
  }

  const tenantId = (await admin<{ id: string }>('POST', '/tenants', { name: 'Acme Robotics' })).id
  const projects: Record<string, string> = {}
  for (const name of ['checkout-assistant', 'support-bot']) projects[name] = (await admin<{ id: string }>('POST', `/tenants/${tenantId}/projects`, { name })).id
  for (const [model, price] of Object.entries(PRICES)) await admin('PUT', `/tenants/${tenantId}/price-overrides/${encodeURIComponent(model)}`, price)
  await admin('PUT', `/tenants/${tenantId}/cache-settings`, { mode: 'exact' })
  await admin('POST', `/tenants/${tenantId}/credits`, { amountMicroUsd: CREDITED_MICRO_USD, reason: 'December prepayment' })
  const checkout = `project:${projects['checkout-assistant']}`
  await admin('PUT', `/tenants/${tenantId}/budgets/tenant`, { period: 'month', limitMicroUsd: 50_000_000 })
  await admin('PUT', `/tenants/${tenantId}/budgets/${checkout}`, { period: 'day', limitMicroUsd: 3_000_000 })
  await admin('POST', `/tenants/${tenantId}/alert-rules`, { kind: 'absolute_spend', scope: 'tenant', threshold: 1_000_000, period: 'month' })
  await admin('POST', `/tenants/${tenantId}/alert-rules`, { kind: 'budget_percent', scope: checkout, threshold: 25, period: 'day' })
  // Settings are read with the tenant at a key's first use: wait until they are projected before any call.
  await until('cache mode', async () => (await admin<{ mode: string }>('GET', `/tenants/${tenantId}/cache-settings`)).mode, (mode) => mode === 'exact')
  await until('price overrides', async () => (await admin<{ data: unknown[] }>('GET', `/tenants/${tenantId}/price-overrides`)).data.length, (n) => n === 2)
  await until('alert rules', async () => (await admin<{ data: unknown[] }>('GET', `/tenants/${tenantId}/alert-rules`)).data.length, (n) => n === 2)

  const issue = async (name: string, role: string, project?: string) =>
    (await admin<{ key: string }>('POST', `/tenants/${tenantId}/keys`, { name, role, ...(project === undefined ? {} : { projectId: projects[project] }) })).key
  const checkoutKey = await issue('checkout-web', 'developer', 'checkout-assistant')
  const supportKey = await issue('support-agent', 'developer', 'support-bot')
  const billingKey = await issue('finance-dashboard', 'billing')

  for (const topic of ['cart', 'shipping', 'returns', 'payment', 'coupons']) await chat(checkoutKey, 'openai/gpt-4o', `Help with ${topic}`)
  for (const topic of ['sizes', 'colours']) await chat(checkoutKey, 'openai/gpt-4o-mini', `Which ${topic}?`)
  // The same question again: the cache answers once the first answer is stored (it is written after the reply).
  await chat(supportKey, 'openai/gpt-4o-mini', 'Where is my order?')
  await until('a cache hit', () => chat(supportKey, 'openai/gpt-4o-mini', 'Where is my order?'), (cache) => cache.startsWith('hit'))
  await chat(supportKey, 'openai/gpt-4o-mini', 'Where is my order?')
  for (const topic of ['refunds', 'warranty']) await chat(supportKey, 'openai/gpt-4o-mini', `Explain ${topic}`)
  await chat(supportKey, 'openai/gpt-4o', 'Escalate this ticket')
  // A model that does not exist: refused by the gateway, a rejected request in the report.
  expect((await api('POST', '/v1/chat/completions', { model: 'acme/unknown', messages: [{ role: 'user', content: 'x' }] }, supportKey)).status).toBe(404)

  // The analytics sink writes usage to ClickHouse in batches, the projections to Postgres: wait for both.
  const { from, to } = aroundNow()
  await until(
    'the chargeback totals',
    async () => (await report(tenantId, 'day', from, to)).totals,
    (t) => t.requests === expected.requests && t.cacheHits === expected.cacheHits && t.rejectedRequests === 1 && t.costMicroUsd === expected.costMicroUsd,
  )
  await until('the alerts', async () => (await admin<{ data: unknown[] }>('GET', `/tenants/${tenantId}/alerts`)).data.length, (n) => n === 2)
  await until(
    "the tenant budget's spend",
    async () => (await admin<{ data: { scope: string; spentMicroUsd: number }[] }>('GET', `/tenants/${tenantId}/budgets/status`)).data.find((b) => b.scope === 'tenant')?.spentMicroUsd,
    (spent) => spent === expected.costMicroUsd,
  )
  await until('the balance', async () => (await admin<{ spentMicroUsd: number }>('GET', `/tenants/${tenantId}/balance`)).spentMicroUsd, (spent) => spent === expected.costMicroUsd)
  return { tenantId, projects, billingKey, developerKey: supportKey, expected }
}
