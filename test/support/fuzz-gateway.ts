import type { FastifyInstance } from 'fastify'
import { InProcessEventLog } from '../../events/in-process-event-log.ts'
import { SqlEventStore } from '../../events/sql-event-store.ts'
import { buildApp } from '../../gateway/app.ts'
import { closeDependencies } from '../../gateway/dependencies.ts'
import type { Dependencies } from '../../gateway/dependencies.ts'
import { MemoryRateLimiter } from '../../gateway/limits/memory-rate-limiter.ts'
import { createGateway } from '../../gateway/wiring.ts'
import { ClickHouseAnalyticsStore } from '../../infra/clickhouse/clickhouse-analytics-store.ts'
import { loadConfig } from '../../infra/config/config.ts'
import { migrate } from '../../infra/postgres/migrate.ts'
import { createLogger } from '../../infra/telemetry/logger.ts'
import { anthropicMock } from '../mocks/anthropic.ts'
import { cohereMock } from '../mocks/cohere.ts'
import { geminiMock } from '../mocks/gemini.ts'
import { mistralMock } from '../mocks/mistral.ts'
import type { MockHandler } from '../mocks/mock-server.ts'
import { startMock } from '../mocks/mock-server.ts'
import { openAiMock } from '../mocks/openai.ts'
import { openPglite } from './sql.ts'

/**
 * The embedded gateway the fuzz tests attack: PGlite, the in-process event log, the memory limiter and an
 * in-memory chDB, with a wire-format mock of every provider upstream. It holds a tenant, a project and keys
 * of several roles, so generated requests pass authentication and reach validation and the handlers.
 */

export const ADMIN_TOKEN = 'sg-admin-fuzz-token-0000000000000000000001'
/** Each provider's mock, the version path of its base URL, and the gateway's key for it. */
const PROVIDERS: { name: string; mock: () => MockHandler; versionPath: string }[] = [
  { name: 'openai', mock: openAiMock, versionPath: '/v1' },
  { name: 'anthropic', mock: anthropicMock, versionPath: '/v1' },
  { name: 'gemini', mock: geminiMock, versionPath: '/v1beta' },
  { name: 'mistral', mock: mistralMock, versionPath: '/v1' },
  { name: 'cohere', mock: cohereMock, versionPath: '/v2' },
]
const upstreamKey = (provider: string) => `sk-upstream-${provider}-fuzz-secret-000000000001`
const MASTER_KEY = Buffer.alloc(32, 0x5a)

/** Short enough for a test to wait for, long enough that no generated request trips it. */
export const REQUEST_TIMEOUT_MS = 1_500

export interface FuzzGateway {
  app: FastifyInstance
  tenantId: string
  projectId: string
  /** An owner key of the tenant (every admin action), a developer key (calls models), a viewer key (neither). */
  ownerKey: string
  developerKey: string
  viewerKey: string
  /** Values no response may ever contain: the admin token, every key's secret, the upstream keys, the master key. */
  secrets: string[]
  /** Events the analytics sink and the balances projection have yet to read: both reach 0 unless one is stuck. */
  pending(): Promise<{ sink: number; balances: number }>
  /** The admin API, authenticated with the admin token. */
  admin(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: object): Promise<Record<string, unknown>>
  close(): Promise<void>
}

export async function startFuzzGateway(): Promise<FuzzGateway> {
  const opened = await openPglite()
  await migrate(opened.store)
  const mocks = await Promise.all(PROVIDERS.map((p) => startMock(p.mock())))
  const analytics = await ClickHouseAnalyticsStore.open({ chdbPath: ':memory:' })
  const deps: Dependencies = {
    sql: opened.store,
    eventStore: new SqlEventStore(opened.store),
    eventLog: new InProcessEventLog(opened.store, { pollIntervalMs: 50 }),
    rateLimiter: new MemoryRateLimiter(),
    analytics,
  }
  const upstream = Object.fromEntries(
    PROVIDERS.flatMap((p, i) => [
      [`SUPERGATE_${p.name.toUpperCase()}_API_KEY`, upstreamKey(p.name)],
      [`SUPERGATE_${p.name.toUpperCase()}_BASE_URL`, `${mocks[i]!.url}${p.versionPath}`],
    ]),
  )
  const config = loadConfig({
    SUPERGATE_ADMIN_TOKEN: ADMIN_TOKEN,
    ...upstream,
    // A fuzzed request may well be refused upstream; that must not open a breaker for the requests after it.
    SUPERGATE_BREAKER_FAILURES: '100000',
  })
  // FUZZ_LOG=error shows the server side of a failure (the stack the client never sees).
  const logger = createLogger({ level: process.env.FUZZ_LOG ?? 'silent' })
  const gateway = createGateway(config, { logger, deps, adminToken: ADMIN_TOKEN, masterKeys: [{ version: 1, key: MASTER_KEY }], authPollIntervalMs: 50 })
  await gateway.start()
  const app = buildApp({
    deps,
    logger,
    gateway,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    admin: { controlPlane: gateway.controlPlane, keys: gateway.keys, sql: deps.sql, analytics: { store: analytics, pending: () => gateway.pending() } },
    metrics: gateway.metrics,
  })

  const admin: FuzzGateway['admin'] = async (method, url, body) => {
    const response = await app.inject({ method, url: `/admin/v1${url}`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, ...(body === undefined ? {} : { payload: body }) })
    if (response.statusCode >= 300) throw new Error(`set-up call ${method} ${url} answered ${response.statusCode}: ${response.body}`)
    return response.body === '' ? {} : response.json<Record<string, unknown>>()
  }
  const tenantId = String((await admin('POST', '/tenants', { name: 'Fuzzed' })).id)
  const projectId = String((await admin('POST', `/tenants/${tenantId}/projects`, { name: 'web' })).id)
  const issue = async (role: string) => String((await admin('POST', `/tenants/${tenantId}/keys`, { name: role, role, projectId })).key)
  const ownerKey = await issue('owner')
  const developerKey = await issue('developer')
  const viewerKey = await issue('viewer')
  const secrets = [ADMIN_TOKEN, ...PROVIDERS.map((p) => upstreamKey(p.name)), MASTER_KEY.toString('hex'), MASTER_KEY.toString('base64'), ownerKey, developerKey, viewerKey]

  return {
    app,
    tenantId,
    projectId,
    ownerKey,
    developerKey,
    viewerKey,
    secrets,
    pending: () => gateway.pending(),
    admin,
    close: async () => {
      await app.close()
      await gateway.close()
      await closeDependencies(deps)
      await Promise.all(mocks.map((m) => m.close()))
    },
  }
}
