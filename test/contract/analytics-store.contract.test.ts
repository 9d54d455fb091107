import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { AnalyticsStore } from '../../analytics/analytics-store.ts'
import { ClickHouseAnalyticsStore } from '../../infra/clickhouse/clickhouse-analytics-store.ts'

const clickhouseUrl = inject('services').clickhouseUrl
const adapters: { name: string; open: () => Promise<AnalyticsStore> }[] = [
  { name: 'chdb', open: () => ClickHouseAnalyticsStore.open({ chdbPath: ':memory:' }) },
]
// A ClickHouse server runs only where the services came from testcontainers or were given by URL.
if (clickhouseUrl !== undefined) adapters.push({ name: 'clickhouse server', open: () => ClickHouseAnalyticsStore.open({ url: clickhouseUrl }) })
else console.error('[analytics contract] no ClickHouse server in this run (SUPERGATE_CLICKHOUSE_URL unset): chdb only')

describe.each(adapters)('AnalyticsStore contract: $name', ({ open }) => {
  let store: AnalyticsStore
  const table = `usage_${randomBytes(4).toString('hex')}`
  const rows = Array.from({ length: 1_000 }, (_, i) => ({
    tenant_id: `t${i % 3}`,
    event_id: `e${i}`,
    at: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString().replace('T', ' ').replace('Z', ''),
    model: i % 2 === 0 ? 'gpt-4o' : 'claude-sonnet-4',
    cost_micro_usd: i === 999 ? '9007199254740993' : String(i * 17),
  }))

  beforeAll(async () => {
    store = await open()
    await store.command(`
      CREATE TABLE ${table} (
        tenant_id String, event_id String, at DateTime64(3, 'UTC'), model LowCardinality(String), cost_micro_usd UInt64
      ) ENGINE = ReplacingMergeTree ORDER BY (tenant_id, at, event_id)`)
  })
  afterAll(async () => {
    await store.command(`DROP TABLE IF EXISTS ${table}`)
    await store.close()
  })

  it('inserts into a MergeTree table and aggregates exactly, even past 2^53 micro-USD', async () => {
    await store.insert(table, rows)
    const sums = await store.query<{ tenant_id: string; requests: string; spend: string }>(
      `SELECT tenant_id, count() AS requests, sum(cost_micro_usd) AS spend FROM ${table} GROUP BY tenant_id ORDER BY tenant_id`,
    )
    const expected = ['t0', 't1', 't2'].map((t) => {
      const mine = rows.filter((r) => r.tenant_id === t)
      return { tenant_id: t, requests: String(mine.length), spend: mine.reduce((s, r) => s + BigInt(r.cost_micro_usd), 0n).toString() }
    })
    expect(sums).toEqual(expected)
  })

  it('binds typed query parameters', async () => {
    const counted = await store.query<{ n: string }>(
      `SELECT count() AS n FROM ${table} WHERE tenant_id = {tenant:String} AND model = {model:String}`,
      { tenant: 't1', model: 'gpt-4o' },
    )
    const expected = rows.filter((r) => r.tenant_id === 't1' && r.model === 'gpt-4o').length
    expect(expected).toBeGreaterThan(0)
    expect(counted).toEqual([{ n: String(expected) }])
  })

  it('collapses re-inserted rows with the same key under FINAL', async () => {
    const duplicate = { tenant_id: 'dup', event_id: 'same', at: '2026-02-01 00:00:00.000', model: 'm', cost_micro_usd: '5' }
    await store.insert(table, [duplicate])
    await store.insert(table, [duplicate])
    const [row] = await store.query<{ n: string; spend: string }>(
      `SELECT count() AS n, sum(cost_micro_usd) AS spend FROM ${table} FINAL WHERE tenant_id = 'dup'`,
    )
    expect(row).toEqual({ n: '1', spend: '5' })
  })

  it('binds parameters in commands too', async () => {
    await store.command(`ALTER TABLE ${table} DELETE WHERE tenant_id = {tenant:String} SETTINGS mutations_sync = 2`, { tenant: "o'hara" })
    await store.insert(table, [{ tenant_id: "o'hara", event_id: 'x', at: '2026-03-01 00:00:00.000', model: 'm', cost_micro_usd: '1' }])
    await store.command(`ALTER TABLE ${table} DELETE WHERE tenant_id = {tenant:String} SETTINGS mutations_sync = 2`, { tenant: "o'hara" })
    expect(await store.query(`SELECT count() AS n FROM ${table} WHERE tenant_id = {tenant:String}`, { tenant: "o'hara" })).toEqual([{ n: '0' }])
  })

  it('answers its health check', async () => {
    await expect(store.check()).resolves.toBeUndefined()
  })
})
