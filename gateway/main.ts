#!/usr/bin/env node
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { ConfigError, loadConfig } from '../infra/config/config.ts'
import type { Config } from '../infra/config/config.ts'
import { createLogger } from '../infra/telemetry/logger.ts'
import { startMetricsServer } from '../infra/telemetry/metrics-server.ts'
import { buildApp } from './app.ts'
import { closeDependencies, openDependencies } from './dependencies.ts'
import { parseRole, roleParts, roleProblems, UnknownRoleError } from './roles.ts'
import { redactUrls } from './routes/health.ts'
import type { Role } from './roles.ts'
import { createGateway } from './wiring.ts'

/**
 * The master key for provider credentials: from configuration, or, embedded, generated once per data
 * folder and kept in a file only its owner can read. Without one, credentials cannot be stored.
 */
function masterKeys(config: Config): { version: number; key: Buffer }[] {
  if (config.masterKeys !== undefined) return config.masterKeys
  if (config.databaseUrl !== undefined) return []
  if (config.dataDir === ':memory:') return [{ version: 1, key: randomBytes(32) }]
  const file = join(config.dataDir, 'master-key')
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true })
    writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 })
  }
  return [{ version: 1, key: Buffer.from(readFileSync(file, 'utf8').trim(), 'base64') }]
}

/**
 * The bootstrap admin token: from configuration, or generated once per embedded data folder and kept in
 * a file only its owner can read. It is never printed: the log says where to find it.
 */
function adminToken(config: Config): { token: string | undefined; generatedAt?: string } {
  if (config.adminToken !== undefined) return { token: config.adminToken }
  if (config.databaseUrl !== undefined) return { token: undefined }
  if (config.dataDir === ':memory:') return { token: `sg-admin-${randomBytes(32).toString('base64url')}` }
  const file = join(config.dataDir, 'admin-token')
  if (existsSync(file)) return { token: readFileSync(file, 'utf8').trim() }
  mkdirSync(config.dataDir, { recursive: true })
  const token = `sg-admin-${randomBytes(32).toString('base64url')}`
  writeFileSync(file, `${token}\n`, { mode: 0o600 })
  chmodSync(file, 0o600)
  return { token, generatedAt: file }
}

/** How often a draining server looks for connections gone idle. */
const IDLE_CHECK_MS = 100
/** After the shutdown deadline: how long cutting the open requests and flushing their usage may take. */
const FLUSH_AFTER_DEADLINE_MS = 5_000

async function main(): Promise<void> {
  let config: Config
  let role: Role
  try {
    role = parseRole(process.argv.slice(2))
    config = loadConfig()
  } catch (error) {
    if (error instanceof ConfigError || error instanceof UnknownRoleError) {
      console.error(error.message)
      process.exit(error instanceof UnknownRoleError ? 2 : 1)
    }
    throw error
  }
  const parts = roleParts(role, config)
  const problems = roleProblems(role, config)
  if (problems.errors.length > 0) {
    console.error(problems.errors.join('\n'))
    process.exit(1)
  }
  const logger = createLogger({ level: config.logLevel, logPrompts: config.logPrompts })
  for (const warning of problems.warnings) logger.warn({ role }, warning)
  if (config.unknownVariables.length > 0) {
    logger.warn({ variables: config.unknownVariables }, 'ignoring unknown SUPERGATE_ variables (typos?)')
  }
  const admin = adminToken(config)
  if (admin.generatedAt !== undefined) logger.info({ file: admin.generatedAt }, 'generated a bootstrap admin token')
  if (admin.token === undefined) logger.warn('SUPERGATE_ADMIN_TOKEN is unset: no bootstrap admin access')

  const deps = await openDependencies(config, logger, { analytics: parts.analytics })
  let draining = false
  // Traces only where requests are served; the collector's address is logged, its credentials (OTEL_EXPORTER_OTLP_HEADERS) never.
  // The SDK and exporter are loaded only when traces are exported: tens of MiB a process without them does not need.
  const tracing =
    config.tracing === undefined || !parts.api
      ? undefined
      : (await import('../infra/telemetry/tracing.ts')).startTracing({ ...config.tracing, serviceName: `supergate-${role}` })
  // The address without credentials a collector's URL may carry (user:token@, ?api-key=).
  if (tracing !== undefined) logger.info({ otlpEndpoint: redactUrls(config.tracing!.endpoint.split('?', 1)[0]!), sampleRatio: config.tracing!.sampleRatio }, 'exporting traces over OTLP')
  const gateway = createGateway(config, {
    logger,
    deps,
    parts,
    masterKeys: masterKeys(config),
    ...(admin.token === undefined ? {} : { adminToken: admin.token }),
    ...(tracing === undefined ? {} : { tracer: tracing.tracer }),
  })
  await gateway.start()
  // A worker (projections, sink) serves its probes and metrics only.
  const api = parts.api
    ? {
        gateway,
        admin: { controlPlane: gateway.controlPlane, keys: gateway.keys, sql: deps.sql, analytics: { store: deps.analytics, pending: () => gateway.pending() } },
      }
    : {}
  const app = buildApp({
    deps,
    logger,
    ...api,
    bodyLimitBytes: config.bodyLimitBytes,
    requestTimeoutMs: config.requestTimeoutMs,
    isDraining: () => draining,
    ...(config.metricsPort === undefined ? { metrics: gateway.metrics } : {}),
    logPrompts: config.logPrompts,
    ...(gateway.tracing === undefined ? {} : { tracing: gateway.tracing }),
  })
  await app.listen({ port: config.port, host: config.host })
  const metricsServer = config.metricsPort === undefined ? undefined : await startMetricsServer(gateway.metrics, { port: config.metricsPort, host: config.host })
  logger.info(
    {
      role,
      node: process.version,
      adapters: {
        sql: deps.sql.adapter,
        eventLog: deps.eventLog.adapter,
        rateLimiter: deps.rateLimiter.adapter,
        analytics: deps.analytics.adapter,
      },
    },
    'Supergate is ready',
  )

  const shutdown = async (signal: string) => {
    if (draining) return
    draining = true
    logger.info({ signal, deadlineMs: config.shutdownTimeoutMs }, 'shutting down: draining requests')
    // A connection whose last response ends during the drain stays open, idle, for as long as its client keeps
    // it (a load balancer's pool: minutes), and the server's close waits for it: close each as it goes idle.
    const closeIdle = setInterval(() => app.server.closeIdleConnections(), IDLE_CHECK_MS)
    closeIdle.unref()
    // In-flight requests get until the deadline. Then their connections are cut, which ends their streams and
    // meters what they produced, and the producer is flushed; the exit code says the deadline passed.
    let cut = false
    const deadline = setTimeout(() => {
      cut = true
      logger.error('shutdown deadline passed; cutting the requests still open')
      app.server.closeAllConnections()
      setTimeout(() => {
        logger.error('shutdown did not finish after the deadline; exiting')
        process.exit(1)
      }, FLUSH_AFTER_DEADLINE_MS).unref()
    }, config.shutdownTimeoutMs)
    deadline.unref()
    try {
      await app.close()
      metricsServer?.close()
      clearInterval(closeIdle)
      await gateway.close()
      await tracing?.shutdown().catch((err: unknown) => logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not export the last traces'))
      await closeDependencies(deps)
      logger.info(cut ? 'shut down after cutting requests at the deadline' : 'shut down cleanly')
      logger.flush()
      process.exit(cut ? 1 : 0)
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed')
      process.exit(1)
    }
  }
  process.once('SIGTERM', (signal) => void shutdown(signal))
  process.once('SIGINT', (signal) => void shutdown(signal))
}

main().catch((error: unknown) => {
  console.error('Supergate failed to start:', error instanceof Error ? error.message : error)
  process.exit(1)
})
