import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { startGateway } from '../support/gateway-process.ts'
import type { RunningGateway } from '../support/gateway-process.ts'

/**
 * Two gateway processes on one PostgreSQL: a key revoked through one must stop working on the other
 * within a second (each process follows the control events it did not see).
 */
const ADMIN = 'sg-admin-revocation-test-token-0000000001'
const gateways: RunningGateway[] = []

beforeAll(async () => {
  const env = {
    SUPERGATE_DATABASE_URL: inject('services').databaseUrl,
    SUPERGATE_ADMIN_TOKEN: ADMIN,
    SUPERGATE_MASTER_KEY: Buffer.alloc(32, 9).toString('base64'),
  }
  // One process relays control events to the event log; the other must not send them a second time.
  gateways.push(await startGateway(env), await startGateway({ ...env, SUPERGATE_OUTBOX_RELAY: 'off' }))
}, 90_000)

afterAll(async () => {
  for (const g of gateways) expect(await g.stop()).toBe(0)
})

async function admin(gateway: RunningGateway, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${gateway.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await response.text()
  return { status: response.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) }
}

describe('key revocation across gateway processes', () => {
  it('stops a revoked key on the other process within one second', async () => {
    const [a, b] = gateways as [RunningGateway, RunningGateway]
    const tenant = await admin(a, 'POST', '/tenants', { name: `revocation-${Date.now()}` })
    expect(tenant.status).toBe(201)
    const issued = await admin(a, 'POST', `/tenants/${String(tenant.json.id)}/keys`, { name: 'to-revoke', role: 'developer' })
    expect(issued.status).toBe(201)
    const key = String(issued.json.key)
    const models = () => fetch(`${b.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.status)
    await expect.poll(models, { timeout: 5_000 }).toBe(200)

    const revoked = await admin(a, 'DELETE', `/tenants/${String(tenant.json.id)}/keys/${String(issued.json.id)}`)
    expect(revoked.status).toBeLessThan(300)
    const started = performance.now()
    while ((await models()) !== 401) {
      if (performance.now() - started > 5_000) throw new Error('the revoked key still works after 5 s')
      await new Promise((r) => setTimeout(r, 10))
    }
    const tookMs = performance.now() - started
    console.error(`[e2e] revoked key stopped working on the other gateway process after ${tookMs.toFixed(0)} ms`)
    expect(tookMs).toBeLessThan(1_000)
  })
})
