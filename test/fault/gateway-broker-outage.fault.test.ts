import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { startMock } from '../mocks/mock-server.ts'
import type { RunningMock } from '../mocks/mock-server.ts'
import { openAiMock } from '../mocks/openai.ts'
import { servicesGatewayEnv } from '../support/gateway-env.ts'
import { startGateway } from '../support/gateway-process.ts'
import { dumpOnMismatch, eventsInKafka, HELLO_COST_MICRO_USD, OutageClient } from '../support/outage-client.ts'
import type { Outcome } from '../support/outage-client.ts'
import type { RunningGateway } from '../support/gateway-process.ts'

/**
 * Kafka stopped under load through a real gateway (issue 9): the gateway keeps serving, its events wait in
 * the spool, and once Kafka is back every served request is one request.completed event in Kafka, one fact
 * in ClickHouse and its cost in the Postgres balance; then the same with the gateway restarted while events
 * sit in its spool. It stops the shared broker, so it runs in the fault tier, alone.
 */
const repoRoot = new URL('../../', import.meta.url).pathname
const kafka = (action: 'up' | 'down') => execFileSync('bash', ['infra/services.sh', action, 'kafka'], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] })
const ADMIN = 'sg-admin-gateway-outage-token-000000001'
const COST = HELLO_COST_MICRO_USD

const dataDir = mkdtempSync(join(tmpdir(), 'sg-gateway-outage-'))
let mock: RunningMock
let gateway: RunningGateway
let kafkaDown = false
const client = new OutageClient(() => gateway.url, ADMIN)

function env(): Record<string, string> {
  return servicesGatewayEnv({ admin: ADMIN, masterKeyByte: 9, mockUrl: mock.url, upstreamKey: 'upstream-gateway-outage', dataDir }, { SUPERGATE_LOG_LEVEL: 'warn' })
}

beforeAll(async () => {
  mock = await startMock(openAiMock())
  gateway = await startGateway(env())
}, 60_000)

afterAll(async () => {
  if (kafkaDown) kafka('up')
  await gateway.stop()
  await mock.close()
  rmSync(dataDir, { recursive: true, force: true })
})

describe('Kafka stopped under load, through the gateway', () => {
  it('keeps serving; afterwards every served request is one event in Kafka, one fact in ClickHouse and its cost in Postgres', { timeout: 240_000 }, async () => {
    const t = await client.tenant(`outage-${Date.now()}`)
    const outcomes: Outcome[] = []
    let running = true
    const worker = async () => {
      while (running) outcomes.push(await client.chat(t.key))
    }
    const load = Promise.all([worker(), worker(), worker(), worker()])
    await new Promise((r) => setTimeout(r, 2_000))
    const before = outcomes.length
    kafka('down')
    kafkaDown = true
    await new Promise((r) => setTimeout(r, 5_000))
    const whileDown = outcomes.length - before
    kafka('up')
    kafkaDown = false
    await new Promise((r) => setTimeout(r, 3_000))
    running = false
    await load

    const served = outcomes.filter((o) => o.status === 200)
    const fiveHundreds = outcomes.filter((o) => o.status >= 500 || o.status === 0).length
    expect(fiveHundreds).toBe(0)
    expect(whileDown).toBeGreaterThan(20)
    const inKafka = await eventsInKafka(inject('services').kafkaBrokers, t.id, served.length)
    const found = await client.settledStores(t, served.length)
    const duplicates = inKafka.total - inKafka.ids.size
    console.error(
      `[fault] Kafka down 5 s under load: ${outcomes.length} requests (${whileDown} while down), ${served.length} served, ${fiveHundreds} × 5xx; ` +
        `events expected ${served.length}; in Kafka ${inKafka.ids.size} (${duplicates} duplicates), ClickHouse ${found.clickhouseRequests}, ` +
        `Postgres ${found.postgresSpent / COST} (${found.postgresSpent} µUSD); reconciled ${found.reconciled}`,
    )
    await dumpOnMismatch(gateway, served.length, found)
    expect(served.every((o) => inKafka.requestIds.get(o.requestId!) === 1)).toBe(true)
    expect({ kafka: inKafka.ids.size, duplicates, requestIds: inKafka.requestIds.size }).toEqual({ kafka: served.length, duplicates: 0, requestIds: served.length })
    expect(found).toEqual({ clickhouseRequests: served.length, clickhouseSpent: served.length * COST, postgresSpent: served.length * COST, reconciled: true })
  })

  it('replays the spool after a restart: events metered while Kafka was down and the gateway stopped are delivered once', { timeout: 240_000 }, async () => {
    const t = await client.tenant(`spool-${Date.now()}`)
    kafka('down')
    kafkaDown = true
    const outcomes: Outcome[] = []
    for (let i = 0; i < 40; i++) outcomes.push(await client.chat(t.key))
    const served = outcomes.filter((o) => o.status === 200)
    expect(served).toHaveLength(40)
    // SIGTERM: the producer hands what it could not deliver to the spool, and the process exits.
    const exit = await gateway.stop()
    expect(exit, gateway.output().split('\n').slice(-30).join('\n')).toBe(0)
    kafka('up')
    kafkaDown = false
    gateway = await startGateway(env())
    const inKafka = await eventsInKafka(inject('services').kafkaBrokers, t.id, served.length)
    const found = await client.settledStores(t, served.length)
    await dumpOnMismatch(gateway, served.length, found)
    const duplicates = inKafka.total - inKafka.ids.size
    console.error(
      `[fault] gateway restarted with its spool: ${outcomes.length} requests, ${served.length} served, 0 × 5xx; events expected ${served.length}; ` +
        `in Kafka ${inKafka.ids.size} (${duplicates} duplicates), ClickHouse ${found.clickhouseRequests}, Postgres ${found.postgresSpent / COST}; reconciled ${found.reconciled}`,
    )
    expect({ kafka: inKafka.ids.size, duplicates, requestIds: inKafka.requestIds.size }).toEqual({ kafka: served.length, duplicates: 0, requestIds: served.length })
    expect(found).toEqual({ clickhouseRequests: served.length, clickhouseSpent: served.length * COST, postgresSpent: served.length * COST, reconciled: true })
  })
})
