import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../gateway/app.ts'
import type { AppOptions } from '../../gateway/app.ts'
import { closeDependencies, openDependencies } from '../../gateway/dependencies.ts'
import type { Dependencies } from '../../gateway/dependencies.ts'
import { createGateway } from '../../gateway/wiring.ts'
import { loadConfig } from '../../infra/config/config.ts'
import { createLogger } from '../../infra/telemetry/logger.ts'
import { startMock } from '../mocks/mock-server.ts'
import { openAiMock } from '../mocks/openai.ts'

/**
 * The whole gateway on its embedded adapters, all in memory (PGlite, the in-process log, the memory limiter,
 * chDB), with the OpenAI wire-format mock as its one provider and one configured developer key: every route
 * exists (data plane, admin API, dashboard, metrics) and no service is needed.
 */

export const API_KEY = 'sg-test-embedded-key-000000000000000001'
export const ADMIN_TOKEN = 'sg-test-embedded-admin-0000000000000001'

export interface EmbeddedGateway {
  app: FastifyInstance
  deps: Dependencies
  close(): Promise<void>
}

/**
 * `onRoute` sees every route as it is registered, which the app's own registration order makes impossible from
 * outside. `logLines`, when given, receives the gateway's log lines at level info.
 */
export async function startEmbeddedGateway(options: Pick<AppOptions, 'onRoute' | 'logPrompts'> & { logLines?: string[] } = {}): Promise<EmbeddedGateway> {
  const { logLines, ...appOptions } = options
  const mock = await startMock(openAiMock())
  const config = loadConfig({
    SUPERGATE_DATA_DIR: ':memory:',
    SUPERGATE_API_KEYS: API_KEY,
    SUPERGATE_OPENAI_API_KEY: 'sk-upstream-openai-embedded-000000000001',
    SUPERGATE_OPENAI_BASE_URL: `${mock.url}/v1`,
  })
  const destination = logLines === undefined ? undefined : new Writable({ write: (chunk: Buffer, _encoding, done) => (logLines.push(...chunk.toString().split('\n').filter((l) => l !== '')), done()) })
  const logger = createLogger({
    level: logLines === undefined ? (process.env.EMBEDDED_LOG ?? 'silent') : 'info',
    logPrompts: options.logPrompts ?? false,
    ...(destination === undefined ? {} : { destination }),
  })
  const deps = await openDependencies(config, logger)
  const gateway = createGateway(config, { logger, deps, adminToken: ADMIN_TOKEN })
  await gateway.start()
  const app = buildApp({
    deps,
    logger,
    gateway,
    admin: { controlPlane: gateway.controlPlane, keys: gateway.keys, sql: deps.sql },
    metrics: gateway.metrics,
    ...appOptions,
  })
  return {
    app,
    deps,
    close: async () => {
      await app.close()
      await gateway.close()
      await closeDependencies(deps)
      await mock.close()
    },
  }
}
