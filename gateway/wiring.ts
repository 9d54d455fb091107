import type { Logger } from 'pino'
import type { Config } from '../infra/config/config.ts'
import { join } from 'node:path'
import { CONTROL_TOPIC } from '../events/envelope.ts'
import { OutboxRelay } from '../events/outbox-relay.ts'
import { UsageSink } from '../analytics/usage-sink.ts'
import { createMetrics } from '../infra/telemetry/metrics.ts'
import type { MetricsEndpoint } from '../infra/telemetry/metrics.ts'
import { EventPublisher } from '../events/publisher.ts'
import { appendAuditRecords } from '../projections/audit/audit-trail.ts'
import { alertsProjection } from '../projections/alerts/alerts-projection.ts'
import { AlertEventRelay, ALERTS_TOPIC } from '../projections/alerts/alert-events.ts'
import { WebhookDispatcher, webhookSecret } from '../projections/alerts/webhooks.ts'
import { balancesProjection } from '../projections/balances/balances-projection.ts'
import { budgetsProjection } from '../projections/budgets/budgets-projection.ts'
import { ControlProjector } from '../projections/control/control-projector.ts'
import { ProjectionRunner } from '../projections/runner/projection-runner.ts'
import { ConfigKeyResolver } from './auth/api-keys.ts'
import { ControlPlaneAuth } from './auth/control-plane-auth.ts'
import { ControlPlane } from './control/control-plane.ts'
import { Limits } from './limits/limits.ts'
import { WorkerEmbedder } from './cache/worker-embedder.ts'
import { ProviderEmbedder } from './cache/provider-embedder.ts'
import { ResponseCache } from './cache/response-cache.ts'
import { SqlCacheStore } from './cache/sql-cache-store.ts'
import { costMicroUsd } from './pricing/cost.ts'
import type { NormalizedUsage } from './providers/types.ts'
import { readSpendSeeds } from './limits/spend-seeds.ts'
import type { Dependencies } from './dependencies.ts'
import { ADAPTERS } from './providers/registry.ts'
import type { ProviderAdapter } from './providers/types.ts'
import { ConfigCredentials } from './proxy/config-credentials.ts'
import type { UsageMeter } from './proxy/usage.ts'
import { USAGE_TOPIC, eventMeter } from './proxy/usage-events.ts'
import type { RequestTracing } from './plugins/tracing.ts'
import { requestTelemetry } from './request-telemetry.ts'
import type { Tracer } from '@opentelemetry/api'
import { CircuitBreakers } from './routing/circuit-breaker.ts'
import { ModelRouter } from './routing/models.ts'
import type { V1RoutesOptions } from './routes/v1.ts'
import type { MasterKey } from './security/envelope-encryption.ts'
import { roleParts } from './roles.ts'
import type { RoleParts } from './roles.ts'
import { UpstreamClient } from './upstream/client.ts'
import type { UpstreamFailure } from './upstream/client.ts'

export interface GatewayParts extends V1RoutesOptions {
  controlPlane: ControlPlane
  projector: ControlProjector
  auth: ControlPlaneAuth
  publisher: EventPublisher
  runners: ProjectionRunner[]
  /** Writes usage events to ClickHouse (analytics/). */
  sink: UsageSink
  /** How many events the sink and the balances projection have yet to read, for reconciliation. */
  pending(): Promise<{ sink: number; balances: number }>
  /** Rate limits, concurrency and budget admission on the hot path. */
  limits: Limits
  defaultMaxOutputTokens: number
  cache: ResponseCache
  price: (tenantId: string, model: string, usage: NormalizedUsage) => number
  /** Spans of each API request, when traces are exported: its hooks go on the app (buildApp's `tracing`). */
  tracing: RequestTracing | undefined
  /** Prometheus metrics: calls, latency, tokens, spend, cache, rejections, upstream errors, breakers; the publisher's queue and spool; lag. */
  metrics: MetricsEndpoint
  /**
   * Starts the background work of this process's parts (gateway/roles.ts): for the APIs the read-model projector
   * and the auth cache's change feed; the outbox relay; the projections, alert relay and webhooks; the sink.
   */
  start(): Promise<void>
  close(): Promise<void>
}

export interface GatewayOptions {
  logger: Logger
  deps: Dependencies
  adminToken?: string
  masterKeys?: readonly MasterKey[]
  meter?: UsageMeter
  adapters?: readonly ProviderAdapter[]
  /** How often each process looks for control changes (revoked keys, new credentials). */
  authPollIntervalMs?: number
  /** What this process runs (gateway/roles.ts); everything its configuration allows when absent. */
  parts?: Omit<RoleParts, 'analytics'>
  /** OpenTelemetry's tracer when traces are exported (SUPERGATE_OTLP_ENDPOINT). */
  tracer?: Tracer
}

/** The gateway's parts: data plane (keys, credentials, routing, upstream HTTP, breakers) and control plane. */
export function createGateway(config: Config, options: GatewayOptions): GatewayParts {
  const adapters = options.adapters ?? ADAPTERS
  const { deps, logger } = options
  const parts = options.parts ?? roleParts('all', config)
  const configCredentials = new ConfigCredentials(config.providers, adapters)
  const configKeys = new ConfigKeyResolver(config.apiKeys, options.adminToken)
  const masterKeys = () => options.masterKeys ?? []
  const projector = new ControlProjector(deps.sql, {
    alsoApply: appendAuditRecords,
    onError: (err) => logger.error({ err }, 'control projection failed; retrying'),
  })
  const relay = parts.relay
    ? new OutboxRelay({
        eventStore: deps.eventStore,
        eventLog: deps.eventLog,
        sql: deps.sql,
        onError: (err) => logger.error({ err }, 'outbox relay failed; retrying'),
      })
    : undefined
  const controlPlane = new ControlPlane({ eventStore: deps.eventStore, sql: deps.sql, projector, masterKeys, onAppended: () => relay?.notify() })
  const auth = new ControlPlaneAuth({
    sql: deps.sql,
    fallback: {
      authenticate: (secret) => configKeys.authenticate(secret),
      credentialFor: (p, principal) => configCredentials.credentialFor(p, principal),
      has: (p, principal) => configCredentials.has(p, principal),
    },
    masterKeys,
    baseUrlFor: (provider) => (config.providers[provider].baseUrl ?? adapters.find((a) => a.name === provider)?.defaultBaseUrl ?? '').replace(/\/+$/, ''),
    ...(options.authPollIntervalMs === undefined ? {} : { pollIntervalMs: options.authPollIntervalMs }),
    onError: (err) => logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'control-plane auth'),
  })
  // A durable spool only where the log can be unreachable (Kafka); the in-process log is the database itself.
  const publisher = new EventPublisher({
    eventLog: deps.eventLog,
    topic: USAGE_TOPIC,
    spoolDir: deps.eventLog.adapter === 'kafka' ? join(config.dataDir === ':memory:' ? '.supergate' : config.dataDir, 'spool') : undefined,
    logger: logger.child({ component: 'publisher' }),
  })
  // Spend projections follow both topics: credits arrive with the control events, spend with the usage events.
  const runners = [
    { name: 'balances', projection: balancesProjection },
    { name: 'budgets', projection: budgetsProjection },
    { name: 'alerts', projection: alertsProjection },
  ].map(
    ({ name, projection }) =>
      new ProjectionRunner({
        name,
        eventLog: deps.eventLog,
        sql: deps.sql,
        topics: [CONTROL_TOPIC, USAGE_TOPIC],
        projection,
        onError: (err, context) => logger.error({ err, ...context }, 'projection batch failed; it is delivered again'),
      }),
  )
  const sink = new UsageSink({
    eventLog: deps.eventLog,
    analytics: deps.analytics,
    sql: deps.sql,
    topics: [USAGE_TOPIC],
    onError: (err) => logger.error({ err }, 'analytics sink flush failed; its batches are delivered again'),
  })
  const totalLag = async (lag: Promise<Record<string, number>>) => Object.values(await lag).reduce((a, b) => a + b, 0)
  // Webhooks are signed with a per-tenant secret derived from the newest master key (rotating it changes them).
  const newestMasterKey = () => [...masterKeys()].sort((a, b) => b.version - a.version)[0]
  const webhooks = new WebhookDispatcher({
    sql: deps.sql,
    secretFor: (tenantId) => {
      const key = newestMasterKey()
      if (key === undefined) throw new Error('No master key is configured (SUPERGATE_MASTER_KEY)')
      return webhookSecret(key.key, tenantId)
    },
    onError: (err) => logger.error({ err }, 'webhook dispatch failed; retrying'),
  })
  const alertEvents = new AlertEventRelay({
    sql: deps.sql,
    eventLog: deps.eventLog,
    onError: (err) => logger.error({ err }, 'alert event relay failed; retrying'),
  })
  let closed = false
  let relayRetry: NodeJS.Timeout | undefined
  let runnersRetry: NodeJS.Timeout | undefined
  let sinkRetry: NodeJS.Timeout | undefined
  const started = new Set<ProjectionRunner>()
  const limiterUnavailable = { fail_open: 0, fail_closed: 0 }
  const limits = new Limits({
    limiter: deps.rateLimiter,
    limitsFor: (tenantId) => auth.limitsFor(tenantId),
    priceOverride: (tenantId, model) => auth.priceOverride(tenantId, model),
    seed: (requests) => readSpendSeeds(deps.sql, requests),
    onUnavailable: (tenantId, policy, err) => {
      limiterUnavailable[policy]++
      logger.warn({ tenantId, policy, err: err instanceof Error ? err.message : String(err) }, 'limiter unreachable: the tenant policy decides (fail_open admits unlimited, fail_closed refuses)')
    },
  })
  const client = new UpstreamClient(config.upstream)
  const localEmbedder = new WorkerEmbedder()
  const router = new ModelRouter({ adapters, aliases: config.modelAliases, isAvailable: (p, principal) => auth.has(p, principal) })
  const telemetry = requestTelemetry({ adapters, aliases: config.modelAliases, router, keyLabels: config.metricsKeyLabels, ...(options.tracer === undefined ? {} : { tracer: options.tracer }) })
  const breakers = new CircuitBreakers({ threshold: config.breaker.failures, cooldownMs: config.breaker.cooldownMs })
  const proxy = {
    router,
    credentials: auth,
    client,
    breakers,
    retries: config.upstream.retries,
    onUpstreamFailure: (provider: string, failure: UpstreamFailure) => telemetry.metrics.upstreamFailure(provider, failure),
  }
  const meter = options.meter ?? eventMeter(publisher, logger, (tenantId, model) => auth.priceOverride(tenantId, model), telemetry.observer)
  const cacheStore = new SqlCacheStore(deps.sql)
  const cache = new ResponseCache({
    store: cacheStore,
    settingsFor: (tenantId) => auth.cacheSettingsFor(tenantId),
    embedderFor: (settings, principal) => (settings.embeddingModel === 'local' ? localEmbedder : new ProviderEmbedder(proxy, principal, settings.embeddingModel, meter)),
    onError: (err, stage) => logger.warn({ err: err instanceof Error ? err.message : String(err), stage }, 'response cache unavailable; the call goes to the provider'),
  })
  return {
    proxy,
    keys: auth,
    meter,
    publisher,
    runners,
    sink,
    tracing: telemetry.tracing,
    pending: async () => {
      const balances = runners.find((r) => r.name === 'balances')!
      const [sinkLag, balancesLag] = await Promise.all([totalLag(sink.lag()), totalLag(balances.lag())])
      return { sink: sinkLag, balances: balancesLag }
    },
    limits,
    defaultMaxOutputTokens: config.defaultMaxOutputTokens,
    cache,
    price: (tenantId, model, usage) => {
      try {
        return costMicroUsd(model, usage, auth.priceOverride(tenantId, model)).costMicroUsd
      } catch {
        return 0
      }
    },
    // Lag is reported by the process that does the following: every gateway of a deployment would repeat it.
    metrics: createMetrics({
      publisher,
      runners: [...(parts.projections ? runners : []), ...(parts.sink ? [sink] : [])],
      ...(parts.sink ? { analyticsRowsWritten: () => sink.written } : {}),
      limiterUnavailable: () => limiterUnavailable,
      ...(parts.api ? { breakers: () => breakers.notClosed(), requests: telemetry.metrics } : {}),
    }),
    controlPlane,
    projector,
    auth,
    start: async () => {
      // The read models of the control plane and the auth cache serve the APIs.
      if (parts.api) {
        projector.start()
        auth.start()
      }
      // The relay needs the event log to find where to resume; an unreachable broker must not keep the
      // gateway from serving, so it keeps trying in the background (events wait safely in the store).
      const startRelay = async (): Promise<void> => {
        if (relay === undefined || closed) return
        try {
          await relay.start()
        } catch (err) {
          logger.error({ err }, 'outbox relay could not start; retrying in 5 s')
          relayRetry = setTimeout(() => void startRelay(), 5_000)
        }
      }
      void startRelay()
      // ClickHouse unreachable must keep neither the gateway nor the projections from running: usage waits in the log.
      const startSink = async (): Promise<void> => {
        if (closed) return
        try {
          await sink.start()
        } catch (err) {
          logger.error({ err }, 'analytics sink could not start; retrying in 5 s')
          sinkRetry = setTimeout(() => void startSink(), 5_000)
        }
      }
      // Projections and the sink need their topics; with Kafka unreachable they start once it answers.
      const startRunners = async (): Promise<void> => {
        if (closed) return
        try {
          await deps.eventLog.ensureTopics([
            { name: CONTROL_TOPIC, partitions: 3 },
            { name: USAGE_TOPIC, partitions: 3 },
            { name: ALERTS_TOPIC, partitions: 3 },
          ])
          for (const runner of parts.projections ? runners : []) {
            if (started.has(runner)) continue
            await runner.start()
            started.add(runner)
          }
          if (parts.projections) alertEvents.start()
          if (parts.sink) void startSink()
        } catch (err) {
          logger.error({ err }, 'projections could not start; retrying in 5 s')
          runnersRetry = setTimeout(() => void startRunners(), 5_000)
        }
      }
      // A process may leave the projections, the alert relay, webhooks and the sink to other processes of the deployment.
      if (parts.projections || parts.sink) void startRunners()
      if (parts.projections) webhooks.start()
      return Promise.resolve()
    },
    close: async () => {
      closed = true
      clearTimeout(relayRetry)
      clearTimeout(runnersRetry)
      clearTimeout(sinkRetry)
      await Promise.allSettled([...runners.map((r) => r.stop()), sink.stop()])
      await Promise.allSettled([projector.stop(), auth.stop(), relay?.stop()])
      await Promise.allSettled([webhooks.stop(), alertEvents.stop()])
      // Flushes what the gateway metered; what cannot be delivered stays in the spool for the next start.
      await publisher.close()
      // Hits and entries written behind the calls; a database that is gone loses them, which costs only misses.
      await cacheStore.flush().catch(() => {})
      await client.close()
      await localEmbedder.close()
    },
  }
}

