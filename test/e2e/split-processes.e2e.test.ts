import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMock } from '../mocks/mock-server.ts'
import type { RunningMock } from '../mocks/mock-server.ts'
import { openAiMock } from '../mocks/openai.ts'
import { servicesGatewayEnv } from '../support/gateway-env.ts'
import { startGateway } from '../support/gateway-process.ts'
import type { RunningGateway } from '../support/gateway-process.ts'
import { HELLO_COST_MICRO_USD, OutageClient } from '../support/outage-client.ts'

/**
 * A split deployment on the real services (issue 10): two `supergate gateway` processes, one
 * `supergate projections` worker and one `supergate sink`, each with its own data folder, sharing PostgreSQL,
 * Redis and Kafka. Calls served by either gateway are counted once by the worker's balances and once in the
 * sink's ClickHouse (embedded chdb here, which only the sink may open: the gateways say so when asked for a
 * report, and the test reads the sink's store after stopping it).
 */
const repoRoot = new URL('../../', import.meta.url).pathname
const ADMIN = 'sg-admin-split-processes-token-00000001'
const CALLS = 60
const CREDIT = 5_000_000

const dirs: string[] = []
let sinkDir = ''
let mock: RunningMock
const processes: Record<'gatewayA' | 'gatewayB' | 'projections' | 'sink', RunningGateway | undefined> = { gatewayA: undefined, gatewayB: undefined, projections: undefined, sink: undefined }

/** A process's settings: the shared services and secrets, a data folder of its own. */
function env(): Record<string, string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sg-split-'))
  dirs.push(dataDir)
  return servicesGatewayEnv({ admin: ADMIN, masterKeyByte: 11, mockUrl: mock.url, upstreamKey: 'upstream-split-processes', dataDir })
}

/** Requests and spend of a tenant in a chdb folder, read by a process of its own (chdb is one per process). */
function chdbTotals(path: string, tenantId: string): { requests: number; spent: number } {
  const script = `
    import { ClickHouseAnalyticsStore } from './infra/clickhouse/clickhouse-analytics-store.ts'
    const store = await ClickHouseAnalyticsStore.open({ chdbPath: process.argv[1] })
    const [row] = await store.query("SELECT count() AS n, sum(cost_micro_usd) AS spent FROM usage_events WHERE tenant_id = {t:String} AND kind = 'request'", { t: process.argv[2] })
    console.log(JSON.stringify({ requests: Number(row.n), spent: Number(row.spent) }))
    await store.close()`
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script, path, tenantId], { cwd: repoRoot, encoding: 'utf8' })
  return JSON.parse(out.trim().split('\n').at(-1)!) as { requests: number; spent: number }
}

async function metricLines(url: string, prefix: string): Promise<string[]> {
  return (await (await fetch(`${url}/metrics`)).text()).split('\n').filter((l) => l.startsWith(prefix))
}

beforeAll(async () => {
  mock = await startMock(openAiMock())
  const sinkEnv = env()
  ;[processes.projections, processes.sink, processes.gatewayA, processes.gatewayB] = await Promise.all([
    startGateway(env(), { role: 'projections' }),
    startGateway(sinkEnv, { role: 'sink' }),
    startGateway(env(), { role: 'gateway' }),
    startGateway(env(), { role: 'gateway' }),
  ])
  sinkDir = join(sinkEnv.SUPERGATE_DATA_DIR!, 'chdb')
}, 90_000)

afterAll(async () => {
  await Promise.all(Object.values(processes).flatMap((p) => (p === undefined ? [] : [p.stop()])))
  await mock.close()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

describe('two gateways, a projections worker and a sink as separate processes', () => {
  it('count every call once: in the worker’s balances and in the sink’s ClickHouse', { timeout: 180_000 }, async () => {
    const { gatewayA, gatewayB, projections, sink } = processes as Record<keyof typeof processes, RunningGateway>
    const viaA = new OutageClient(() => gatewayA.url, ADMIN)
    const viaB = new OutageClient(() => gatewayB.url, ADMIN)
    const t = await viaA.tenant(`split-${Date.now()}`)
    await viaB.admin('POST', `/tenants/${t.id}/credits`, { amountMicroUsd: CREDIT, reason: 'split deployment' })

    // A key issued through one gateway is known to the other (the control plane's read models are shared).
    await expect.poll(async () => (await viaB.chat(t.key)).status, { timeout: 15_000 }).toBe(200)
    const outcomes = await Promise.all(Array.from({ length: CALLS - 1 }, (_, i) => (i % 2 === 0 ? viaA : viaB).chat(t.key)))
    expect(outcomes.filter((o) => o.status !== 200)).toEqual([])

    // Balances: the grant went through the worker's outbox relay, the spend through both gateways' events.
    const balance = async () => (await viaA.admin('GET', `/tenants/${t.id}/balance`, undefined, t.billing)) as { creditedMicroUsd: number; spentMicroUsd: number }
    await expect.poll(balance, { timeout: 60_000, interval: 500 }).toMatchObject({ creditedMicroUsd: CREDIT, spentMicroUsd: CALLS * HELLO_COST_MICRO_USD })

    // Each process reports what it runs: the worker its projections' lag, the sink its rows, the gateways neither.
    await expect.poll(() => metricLines(projections.url, 'supergate_projection_lag_messages{projection="balances"}'), { timeout: 30_000 }).toEqual([
      'supergate_projection_lag_messages{projection="balances"} 0',
    ])
    expect(await metricLines(gatewayA.url, 'supergate_projection_lag_messages{')).toEqual([])
    await expect.poll(async () => (await metricLines(sink.url, 'supergate_projection_lag_messages{projection="analytics-sink"}'))[0], { timeout: 60_000 }).toBe(
      'supergate_projection_lag_messages{projection="analytics-sink"} 0',
    )

    // Workers serve no API; a gateway without a ClickHouse server says why it has no reports.
    const onWorker = await fetch(`${sink.url}/v1/models`, { headers: { authorization: `Bearer ${t.key}` } })
    expect(onWorker.status).toBe(404)
    const report = await fetch(`${gatewayB.url}/admin/v1/tenants/${t.id}/reports/chargeback?groupBy=model`, { headers: { authorization: `Bearer ${t.billing}` } })
    expect(report.status).toBe(503)
    expect(((await report.json()) as { error: { message: string } }).error.message).toMatch(/SUPERGATE_CLICKHOUSE_URL/)

    // The sink's ClickHouse, read once the sink has stopped and let go of it.
    await sink.stop()
    processes.sink = undefined
    expect(chdbTotals(sinkDir, t.id)).toEqual({ requests: CALLS, spent: CALLS * HELLO_COST_MICRO_USD })
    console.error(
      `[split e2e] ${CALLS} calls over 2 gateway processes; worker balance ${(await balance()).spentMicroUsd} µUSD; sink ClickHouse ${CALLS} facts`,
    )
  })
})
