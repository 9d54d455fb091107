import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { AnalyticsStore } from '../../analytics/analytics-store.ts'
import { chargebackReport, FIELD, MEASURES } from '../../analytics/chargeback.ts'
import type { GroupBy, Measures } from '../../analytics/chargeback.ts'
import { chargebackCsv } from '../../analytics/csv.ts'
import { migrateAnalytics } from '../../analytics/schema.ts'
import { usageRow } from '../../analytics/usage-rows.ts'
import { buildEvent } from '../../events/catalogue/registry.ts'
import type { Envelope } from '../../events/envelope.ts'
import { ClickHouseAnalyticsStore } from '../../infra/clickhouse/clickhouse-analytics-store.ts'

/** Chargeback reports against a hand-computed set of events, and against a brute-force sum of random ones. */
const clickhouseUrl = inject('services').clickhouseUrl
const stores: { name: string; open: () => Promise<AnalyticsStore> }[] = [{ name: 'chdb', open: () => ClickHouseAnalyticsStore.open({ chdbPath: ':memory:' }) }]
if (clickhouseUrl !== undefined) stores.push({ name: 'clickhouse server', open: () => ClickHouseAnalyticsStore.open({ url: clickhouseUrl }) })

interface Spec {
  at: string
  projectId?: string | null
  keyId?: string
  user?: string | null
  model?: string
  cost?: number
  kind?: 'request' | 'cache_hit' | 'rejection' | 'failed'
  saved?: number
  tokens?: [number, number]
}

/** The events of one spec: a cache hit is a free request.completed and its cache.hit, as the gateway emits them. */
function eventsOf(tenantId: string, s: Spec): Envelope[] {
  const meta = { tenantId, correlationId: null, actor: { type: 'key' as const, id: s.keyId ?? 'key_1' } }
  const at = new Date(s.at)
  const model = s.model ?? 'openai/gpt-4o'
  const [prompt, completion] = s.tokens ?? [100, 10]
  const usage = { promptTokens: prompt, completionTokens: completion, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false }
  const common = { requestId: randomUUID(), projectId: s.projectId === undefined ? 'prj_a' : s.projectId, keyId: s.keyId ?? 'key_1', user: s.user === undefined ? 'alice' : s.user }
  if (s.kind === 'rejection') {
    return [buildEvent('request.rejected', { ...common, model, endpoint: 'chat.completions', reason: 'budget', errorCode: 'budget_exceeded', httpStatus: 402 }, meta, at)]
  }
  const completed = buildEvent(
    'request.completed',
    {
      ...common, provider: s.kind === 'cache_hit' ? null : model.split('/')[0]!, model, endpoint: 'chat.completions', stream: false,
      outcome: s.kind === 'failed' ? 'failed' : 'completed', httpStatus: s.kind === 'failed' ? 502 : 200,
      cacheOutcome: s.kind === 'cache_hit' ? 'exact_hit' : 'miss', usage, costMicroUsd: s.cost ?? 0, priceVersion: 't',
      latencyMs: 5, timeToFirstTokenMs: null, keySource: 'gateway', errorCode: s.kind === 'failed' ? 'upstream_error' : null,
    },
    meta,
    at,
  )
  if (s.kind !== 'cache_hit') return [completed]
  return [completed, buildEvent('cache.hit', { ...common, model, cacheOutcome: 'exact_hit', savedMicroUsd: s.saved ?? 0, usage }, meta, at)]
}

const HAND: Spec[] = [
  { at: '2026-02-28T23:59:59.999Z', cost: 999 },
  { at: '2026-03-01T09:15:00.000Z', projectId: 'prj_a', keyId: 'key_1', user: 'alice', model: 'openai/gpt-4o', cost: 1_250_000, tokens: [1_000, 200] },
  { at: '2026-03-01T09:45:00.000Z', projectId: 'prj_a', keyId: 'key_2', user: 'bob', model: 'anthropic/claude-sonnet-4-5', cost: 300_000, tokens: [400, 40] },
  { at: '2026-03-01T10:05:00.000Z', projectId: 'prj_b', keyId: 'key_3', user: 'alice', model: 'openai/gpt-4o', cost: 2_000_001, tokens: [2_000, 100] },
  { at: '2026-03-02T00:00:00.000Z', projectId: 'prj_b', keyId: 'key_3', user: null, model: 'mistral/mistral-small-latest', cost: 5, tokens: [7, 3] },
  { at: '2026-03-02T13:30:00.000Z', projectId: 'prj_a', keyId: 'key_1', user: 'alice', kind: 'cache_hit', saved: 1_250_000, tokens: [1_000, 200] },
  { at: '2026-03-02T14:00:00.000Z', projectId: 'prj_a', keyId: 'key_1', user: 'alice', kind: 'rejection' },
  { at: '2026-03-03T08:00:00.000Z', projectId: 'prj_b', keyId: 'key_3', user: 'carol', kind: 'failed', tokens: [0, 0] },
  { at: '2026-03-04T00:00:00.000Z', projectId: 'prj_b', cost: 777 },
]

const measures = (m: Partial<Measures>): Measures => ({
  requests: 0, failedRequests: 0, rejectedRequests: 0, cacheHits: 0, promptTokens: 0, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0, costMicroUsd: 0, cacheSavingsMicroUsd: 0, ...m,
})

describe.each(stores)('chargeback reports on $name', ({ open }) => {
  let store: AnalyticsStore
  const tenant = `ten_${randomUUID()}`
  const other = `ten_${randomUUID()}`

  beforeAll(async () => {
    store = await open()
    await migrateAnalytics(store)
    const events = [...HAND.flatMap((s) => eventsOf(tenant, s)), ...eventsOf(other, { at: '2026-03-01T12:00:00.000Z', cost: 50_000_000 })]
    // Two inserts, so the rollups hold several parts per key until they merge: queries must still sum.
    await store.insert('usage_events', events.slice(0, 4).map(usageRow))
    await store.insert('usage_events', events.slice(4).map(usageRow))
  })
  afterAll(async () => {
    await store.close()
  })

  it('groups three days by project (whole days: the daily rollup), to the micro-USD, with cache savings and rejections', async () => {
    const report = await chargebackReport(store, { tenantId: tenant, from: new Date('2026-03-01'), to: new Date('2026-03-04'), groupBy: ['project'] })
    expect(report.rows).toEqual([
      { projectId: 'prj_b', ...measures({ requests: 3, failedRequests: 1, promptTokens: 2_007, completionTokens: 103, costMicroUsd: 2_000_006 }) },
      { projectId: 'prj_a', ...measures({ requests: 3, rejectedRequests: 1, cacheHits: 1, promptTokens: 2_400, completionTokens: 440, costMicroUsd: 1_550_000, cacheSavingsMicroUsd: 1_250_000 }) },
    ])
    expect(report.totals).toEqual(measures({ requests: 6, failedRequests: 1, rejectedRequests: 1, cacheHits: 1, promptTokens: 4_407, completionTokens: 543, costMicroUsd: 3_550_006, cacheSavingsMicroUsd: 1_250_000 }))
  })

  it('counts ragged bounds exactly: part hours from the facts, whole hours from the hourly rollup', async () => {
    const report = await chargebackReport(store, { tenantId: tenant, from: new Date('2026-03-01T09:30:00Z'), to: new Date('2026-03-02T00:00:00.001Z'), groupBy: ['model'] })
    expect(report.rows.map((r) => [r.model, r.costMicroUsd, r.requests])).toEqual([
      ['openai/gpt-4o', 2_000_001, 1],
      ['anthropic/claude-sonnet-4-5', 300_000, 1],
      ['mistral/mistral-small-latest', 5, 1],
    ])
    const inside = await chargebackReport(store, { tenantId: tenant, from: new Date('2026-03-01T09:10:00Z'), to: new Date('2026-03-01T09:20:00Z'), groupBy: ['key'] })
    expect(inside.rows).toEqual([{ keyId: 'key_1', ...measures({ requests: 1, promptTokens: 1_000, completionTokens: 200, costMicroUsd: 1_250_000 }) }])
  })

  it('groups by day and user (a user-less request is null), and by provider, and never shows another tenant', async () => {
    const byDayUser = await chargebackReport(store, { tenantId: tenant, from: new Date('2026-03-01'), to: new Date('2026-03-03'), groupBy: ['day', 'user'] })
    expect(byDayUser.rows.map((r) => [r.day, r.user, r.costMicroUsd, r.requests, r.rejectedRequests])).toEqual([
      ['2026-03-01', 'alice', 3_250_001, 2, 0],
      ['2026-03-01', 'bob', 300_000, 1, 0],
      ['2026-03-02', null, 5, 1, 0],
      ['2026-03-02', 'alice', 0, 1, 1],
    ])
    const byProvider = await chargebackReport(store, { tenantId: tenant, from: new Date('2026-03-01'), to: new Date('2026-03-05'), groupBy: ['provider'] })
    expect(byProvider.rows.map((r) => [r.provider, r.costMicroUsd])).toEqual([
      ['openai', 3_250_001 + 777],
      ['anthropic', 300_000],
      ['mistral', 5],
    ])
    expect(byProvider.totals.costMicroUsd).toBe(3_550_006 + 777)
  })

  it('writes CSV with names, exact decimal USD and quoted fields', async () => {
    const report = await chargebackReport(store, { tenantId: tenant, from: new Date('2026-03-01'), to: new Date('2026-03-04'), groupBy: ['project'] })
    const csv = chargebackCsv(report, { [FIELD.project]: new Map([['prj_a', 'Web, "beta"']]) })
    expect(csv.split('\r\n')).toEqual([
      'project_id,project_name,requests,failed_requests,rejected_requests,cache_hits,prompt_tokens,completion_tokens,cached_tokens,reasoning_tokens,cost_micro_usd,cache_savings_micro_usd,cost_usd,cache_savings_usd',
      'prj_b,,3,1,0,0,2007,103,0,0,2000006,0,2.000006,0.000000',
      'prj_a,"Web, ""beta""",3,0,1,1,2400,440,0,0,1550000,1250000,1.550000,1.250000',
      '',
    ])
  })

  it('agrees with a brute-force sum over random events, for random windows and groupings', async () => {
    const seeded = `ten_${randomUUID()}`
    let seed = 42
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!
    const start = Date.parse('2026-05-01T00:00:00Z')
    const specs: Spec[] = Array.from({ length: 600 }, () => ({
      at: new Date(start + Math.floor(random() * 5 * 86_400_000)).toISOString(),
      projectId: pick(['prj_1', 'prj_2', null]),
      keyId: pick(['key_a', 'key_b', 'key_c']),
      user: pick(['u1', 'u2', null]),
      model: pick(['openai/gpt-4o', 'anthropic/claude-haiku-4-5', 'gemini/gemini-2.5-flash']),
      kind: pick(['request', 'request', 'request', 'cache_hit', 'rejection', 'failed'] as const),
      cost: Math.floor(random() * 5_000_000),
      saved: Math.floor(random() * 100_000),
      tokens: [Math.floor(random() * 5_000), Math.floor(random() * 500)],
    }))
    const events = specs.flatMap((s) => eventsOf(seeded, s))
    await store.insert('usage_events', events.map(usageRow))
    const rows = events.map(usageRow)
    const dims: GroupBy[][] = [['project'], ['key'], ['user'], ['model'], ['provider'], ['day'], ['hour'], ['project', 'model'], ['day', 'key', 'user']]
    for (let i = 0; i < 12; i++) {
      const a = start + Math.floor(random() * 5 * 86_400_000)
      const b = start + Math.floor(random() * 5 * 86_400_000)
      // Every third window on midnight bounds, to take the daily rollup's path too.
      const [from, to] = i % 3 === 0 ? [Math.floor(Math.min(a, b) / 86_400_000) * 86_400_000, Math.ceil((Math.max(a, b) + 1) / 86_400_000) * 86_400_000] : [Math.min(a, b), Math.max(a, b) + 1]
      const groupBy = dims[i % dims.length]!
      const report = await chargebackReport(store, { tenantId: seeded, from: new Date(from), to: new Date(to), groupBy })
      const expected = new Map<string, Measures>()
      for (const r of rows) {
        const t = Date.parse(`${r.occurred_at.replace(' ', 'T')}Z`)
        if (t < from || t >= to) continue
        const key = JSON.stringify(groupBy.map((g) => (g === 'day' ? r.occurred_at.slice(0, 10) : g === 'hour' ? `${r.occurred_at.slice(0, 13).replace(' ', 'T')}:00:00Z` : ({ project: r.project_id, key: r.key_id, user: r.user, model: r.model, provider: r.provider } as Record<string, string>)[g]! || null)))
        const m = expected.get(key) ?? measures({})
        m.requests += r.kind === 'request' ? 1 : 0
        m.failedRequests += r.kind === 'request' && r.outcome === 'failed' ? 1 : 0
        m.rejectedRequests += r.kind === 'rejection' ? 1 : 0
        m.cacheHits += r.kind === 'cache_hit' ? 1 : 0
        m.promptTokens += r.prompt_tokens
        m.completionTokens += r.completion_tokens
        m.costMicroUsd += r.cost_micro_usd
        m.cacheSavingsMicroUsd += r.saved_micro_usd
        expected.set(key, m)
      }
      const got = new Map(report.rows.map((r) => [JSON.stringify(groupBy.map((g) => r[FIELD[g]])), Object.fromEntries(MEASURES.map((m) => [m, r[m]]))]))
      expect(got, `window ${new Date(from).toISOString()}..${new Date(to).toISOString()} by ${groupBy.join(',')}`).toEqual(expected)
    }
  })
})
