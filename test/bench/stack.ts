import { startFastMock } from './fast-mock.ts'
import type { RunningFastMock } from './fast-mock.ts'
import { startGateway } from '../support/gateway-process.ts'
import type { RunningGateway } from '../support/gateway-process.ts'
import { nativeServicesEnv } from '../support/services-env.ts'

/**
 * What the benchmarks run against: the real services (PostgreSQL, Redis, Kafka from infra/services.sh), a fast
 * OpenAI-format mock as the upstream (./fast-mock.ts), and one gateway process wired to them as production would be, with tenants set
 * through the admin API:
 *
 *   pass-through   a configured key (SUPERGATE_API_KEYS): no limits, no cache; auth, routing, events
 *   limited        a tenant's key with request and token buckets at key and tenant scope, a concurrency limit, a
 *                  day budget and a prepaid balance (one Redis round trip to admit, one to settle); no cache
 *   full           the same limits, and the exact cache on
 *   semantic       the semantic cache on (the offline embedder), no limits
 */

export interface BenchStack {
  env: Record<string, string>
  mock: RunningFastMock
  gateway: RunningGateway
  keys: { passThrough: string; limited: string; full: string; semantic: string }
  close(): Promise<void>
}

const ADMIN = 'sg-admin-bench-token-000000000000000001'
const PASS_KEY = 'sg-bench-pass-through-key-000000001'

export async function startBenchStack(options: { projections: boolean; gatewayCpus?: string; mockCpus?: string }): Promise<BenchStack> {
  const env = nativeServicesEnv()
  const mock = await startFastMock(options.mockCpus)
  const gateway = await startGateway({
    ...env,
    SUPERGATE_ADMIN_TOKEN: ADMIN,
    SUPERGATE_MASTER_KEY: Buffer.alloc(32, 11).toString('base64'),
    SUPERGATE_API_KEYS: PASS_KEY,
    SUPERGATE_OPENAI_API_KEY: 'upstream-bench-key',
    SUPERGATE_OPENAI_BASE_URL: `${mock.url}/v1`,
    // Per-call log lines would measure the terminal, not the gateway.
    SUPERGATE_LOG_LEVEL: 'warn',
    SUPERGATE_PROJECTIONS: options.projections ? 'on' : 'off',
  }, options.gatewayCpus === undefined ? {} : { cpus: options.gatewayCpus })
  const admin = async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const response = await fetch(`${gateway.url}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`)
    return (await response.json().catch(() => ({}))) as Record<string, unknown>
  }
  const tenant = async (name: string) => String((await admin('POST', '/tenants', { name: `${name}-${Date.now()}` })).id)

  /** A tenant with buckets, a concurrency limit, a budget and a balance, all far above what the bench spends. */
  const limitedTenant = async (name: string) => {
    const id = await tenant(name)
    const issued = await admin('POST', `/tenants/${id}/keys`, { name: 'bench', role: 'developer' })
    await admin('PUT', `/tenants/${id}/rate-limits/tenant`, { requestsPerMinute: 10_000_000, tokensPerMinute: 1_000_000_000, concurrentRequests: 1000 })
    await admin('PUT', `/tenants/${id}/rate-limits/key:${String(issued.id)}`, { requestsPerMinute: 10_000_000, tokensPerMinute: 1_000_000_000 })
    await admin('PUT', `/tenants/${id}/budgets/tenant`, { period: 'day', limitMicroUsd: 1_000_000_000_000 })
    await admin('POST', `/tenants/${id}/credits`, { amountMicroUsd: 1_000_000_000_000 })
    return { id, key: String(issued.key) }
  }
  const limited = await limitedTenant('bench-limited')
  const full = await limitedTenant('bench-full')
  // Room for every miss of a run: the hits' entry must not be evicted as the least recently used one.
  await admin('PUT', `/tenants/${full.id}/cache-settings`, { mode: 'exact', maxEntries: 10_000_000 })

  const semantic = await tenant('bench-semantic')
  const semanticKey = await admin('POST', `/tenants/${semantic}/keys`, { name: 'bench', role: 'developer' })
  await admin('PUT', `/tenants/${semantic}/cache-settings`, { mode: 'semantic', similarityThreshold: 0.85 })
  // The gateway follows control-plane changes within a fraction of a second.
  await new Promise((resolve) => setTimeout(resolve, 1_000))
  return {
    env,
    mock,
    gateway,
    keys: { passThrough: PASS_KEY, limited: limited.key, full: full.key, semantic: String(semanticKey.key) },
    close: async () => {
      await gateway.stop()
      await mock.stop()
    },
  }
}
