import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, inject, it } from 'vitest'
import { startMock } from '../mocks/mock-server.ts'
import type { RunningMock } from '../mocks/mock-server.ts'
import { openAiMock } from '../mocks/openai.ts'
import { servicesGatewayEnv } from '../support/gateway-env.ts'
import { startGateway } from '../support/gateway-process.ts'
import type { RunningGateway } from '../support/gateway-process.ts'
import { dumpOnMismatch, eventsInKafka, HELLO_COST_MICRO_USD, OutageClient } from '../support/outage-client.ts'
import type { Outcome } from '../support/outage-client.ts'

/**
 * PostgreSQL restarted under load through a real gateway (issue 9): admin calls in flight fail cleanly (an
 * error in the API's shape, no hang, no stack trace), chat calls keep being served from the gateway's caches
 * (keys, credentials, limits; Redis and Kafka are up), and once PostgreSQL is back the admin API answers and
 * every served call reaches the balance, without restarting the gateway. It stops the shared PostgreSQL, so
 * it runs in the fault tier, alone.
 */
const repoRoot = new URL('../../', import.meta.url).pathname
const postgres = (action: 'up' | 'down') => execFileSync('bash', ['infra/services.sh', action, 'postgres'], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] })
const ADMIN = 'sg-admin-postgres-restart-token-0000001'
const dataDir = mkdtempSync(join(tmpdir(), 'sg-postgres-restart-'))
let mock: RunningMock
let gateway: RunningGateway
let postgresDown = false
const client = new OutageClient(() => gateway.url, ADMIN)

beforeAll(async () => {
  mock = await startMock(openAiMock())
  gateway = await startGateway(servicesGatewayEnv({ admin: ADMIN, masterKeyByte: 7, mockUrl: mock.url, upstreamKey: 'upstream-postgres-restart', dataDir }, { SUPERGATE_LOG_LEVEL: 'warn' }))
}, 60_000)

afterAll(async () => {
  if (postgresDown) postgres('up')
  await gateway.stop()
  await mock.close()
  rmSync(dataDir, { recursive: true, force: true })
})

interface AdminOutcome {
  status: number
  ms: number
  body: string
}

async function adminCall(t: { id: string; billing: string }): Promise<AdminOutcome> {
  const started = performance.now()
  try {
    const response = await fetch(`${gateway.url}/admin/v1/tenants/${t.id}/balance`, { headers: { authorization: `Bearer ${ADMIN}` }, signal: AbortSignal.timeout(30_000) })
    return { status: response.status, ms: performance.now() - started, body: await response.text() }
  } catch (error) {
    return { status: 0, ms: performance.now() - started, body: String(error) }
  }
}

it('serves chat from its caches while PostgreSQL restarts, fails admin calls cleanly, and recovers without a restart', { timeout: 240_000 }, async () => {
  const t = await client.tenant(`pg-restart-${Date.now()}`)
  // Warm: the key and the tenant's settings are in the gateway's caches.
  expect((await client.chat(t.key)).status).toBe(200)
  const outcomes: Outcome[] = [{ status: 200, requestId: null }]
  const admins: AdminOutcome[] = []
  let phase: 'before' | 'down' | 'after' = 'before'
  const duringDown: { chat: Outcome[]; admin: AdminOutcome[] } = { chat: [], admin: [] }
  let running = true
  const chatLoop = async () => {
    while (running) {
      const o = await client.chat(t.key)
      outcomes.push(o)
      if (phase === 'down') duringDown.chat.push(o)
    }
  }
  const adminLoop = async () => {
    while (running) {
      const o = await adminCall(t)
      admins.push(o)
      if (phase === 'down') duringDown.admin.push(o)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  const load = Promise.all([chatLoop(), chatLoop(), adminLoop()])
  await new Promise((r) => setTimeout(r, 2_000))
  postgres('down')
  postgresDown = true
  phase = 'down'
  await new Promise((r) => setTimeout(r, 5_000))
  phase = 'after'
  postgres('up')
  postgresDown = false
  // The admin API answers again by itself: the pool reconnects.
  const recoveredAt = performance.now()
  let recovered = await adminCall(t)
  while (recovered.status !== 200 && performance.now() - recoveredAt < 30_000) {
    await new Promise((r) => setTimeout(r, 250))
    recovered = await adminCall(t)
  }
  const recoveryMs = performance.now() - recoveredAt
  await new Promise((r) => setTimeout(r, 2_000))
  running = false
  await load

  if (outcomes.some((o) => o.status === 0)) console.error(gateway.output().split('\n').slice(-60).join('\n'))
  const served = outcomes.filter((o) => o.status === 200).length
  const chat5xx = outcomes.filter((o) => o.status >= 500 || o.status === 0)
  const adminFailures = admins.filter((a) => a.status !== 200)
  const inKafka = await eventsInKafka(inject('services').kafkaBrokers, t.id, served)
  const found = await client.settledStores(t, served)
  await dumpOnMismatch(gateway, served, found)
  console.error(
    `[fault] PostgreSQL down 5 s under load: ${outcomes.length} chat requests (${duringDown.chat.length} while down), ${served} served, ${chat5xx.length} chat 5xx; ` +
      `${admins.length} admin calls (${duringDown.admin.length} while down), statuses ${JSON.stringify(Object.fromEntries([...new Set(admins.map((a) => a.status))].map((s) => [s, admins.filter((a) => a.status === s).length])))}, ` +
      `slowest ${Math.round(Math.max(...admins.map((a) => a.ms)))} ms; admin back ${Math.round(recoveryMs)} ms after PostgreSQL; ` +
      `events expected ${served}, in Kafka ${inKafka.ids.size} (${inKafka.total - inKafka.ids.size} duplicates), ClickHouse ${found.clickhouseRequests}, Postgres ${found.postgresSpent / HELLO_COST_MICRO_USD}; reconciled ${found.reconciled}`,
  )
  // Chat: served throughout, no error at all.
  expect(duringDown.chat.length).toBeGreaterThan(20)
  expect(chat5xx).toEqual([])
  // Admin while down: a clean 503 in the OpenAI shape, within its timeout, never a stack trace or a hang.
  expect(duringDown.admin.length).toBeGreaterThan(0)
  for (const failure of adminFailures) {
    expect(failure.status, failure.body).toBe(503)
    expect(JSON.parse(failure.body)).toMatchObject({ error: { type: 'service_unavailable_error', code: 'service_unavailable' } })
    expect(failure.body).not.toMatch(/ at |node_modules|\/work\/|postgres:\/\//)
    expect(failure.ms).toBeLessThan(15_000)
  }
  expect(recovered.status).toBe(200)
  // Every served call, metered while PostgreSQL was away, is one event in Kafka.
  expect({ kafka: inKafka.ids.size, duplicates: inKafka.total - inKafka.ids.size }).toEqual({ kafka: served, duplicates: 0 })
  // ... and once in each store: ClickHouse's facts, the Postgres balance, and the two agree.
  const spent = served * HELLO_COST_MICRO_USD
  expect(found).toEqual({ clickhouseRequests: served, clickhouseSpent: spent, postgresSpent: spent, reconciled: true })
})
