import type { Logger } from 'pino'
import { buildEvent } from '../../events/catalogue/registry.ts'
import type { EventPublisher } from '../../events/publisher.ts'
import type { PriceOverride } from '../control/settings.ts'
import { costMicroUsd } from '../pricing/cost.ts'
import { PRICE_TABLE_VERSION } from '../pricing/price-table.ts'
import type { UsageMeter, UsageRecord } from './usage.ts'

export const USAGE_TOPIC = 'supergate.usage.v1'

const NO_USAGE = { promptTokens: 0, completionTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false }

/**
 * Every metered call becomes a `request.completed` event (DESIGN.md §4), priced from the versioned price
 * table, handed to the publisher without waiting: the client's answer never waits for Kafka. A log line
 * (counts and ids, never content) goes with it.
 */
const QUALIFIED = /^[a-z0-9-]+\/\S+$/

/** A call the gateway refused itself (bad input, unknown model, auth), as opposed to one a provider failed. */
function rejectionReason(entry: UsageRecord): 'auth' | 'rate_limit' | 'budget' | 'validation' | undefined {
  if (entry.outcome !== 'failed' || entry.provider !== undefined || entry.httpStatus >= 500) return undefined
  const code = entry.errorCode ?? ''
  if (code.startsWith('upstream_')) return undefined
  if (code === 'invalid_api_key') return 'auth'
  if (code === 'rate_limit_exceeded' || code === 'concurrency_limit_exceeded') return 'rate_limit'
  if (code === 'budget_exceeded') return 'budget'
  return 'validation'
}

/** Told of each call as it is metered, with what it cost: the request metrics (infra/telemetry/request-metrics.ts). */
export interface MeterObserver {
  metered(entry: UsageRecord, costMicroUsd: number): void
  rejected(entry: UsageRecord, reason: string): void
}

export function eventMeter(
  publisher: EventPublisher,
  logger: Logger,
  priceOverride: (tenantId: string, model: string) => PriceOverride | undefined = () => undefined,
  observer?: MeterObserver,
): UsageMeter {
  // After the event is published: metrics and traces failing must not cost the usage event.
  const observe = (notify: () => void): void => {
    try {
      notify()
    } catch (err) {
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'metrics or tracing failed for a call')
    }
  }
  const record = (entry: UsageRecord): void => {
    const meta = { tenantId: entry.tenantId, correlationId: entry.requestId, actor: { type: 'key' as const, id: entry.keyId } }
    const reason = rejectionReason(entry)
    if (reason !== undefined) {
      logger.info({ rejected: { requestId: entry.requestId, errorCode: entry.errorCode, reason } }, 'call rejected')
      publisher.publish(
        buildEvent(
          'request.rejected',
          {
            requestId: entry.requestId,
            projectId: entry.projectId,
            keyId: entry.keyId,
            model: QUALIFIED.test(entry.model) ? entry.model : null,
            endpoint: entry.endpoint,
            reason,
            errorCode: entry.errorCode ?? 'invalid_request',
            httpStatus: entry.httpStatus,
            user: entry.user,
          },
          meta,
        ),
      )
      observe(() => observer?.rejected(entry, reason))
      return
    }
    const usage = entry.usage ?? NO_USAGE
    // A provider failure may come before the model was resolved to provider/model: name it as asked.
    const model = QUALIFIED.test(entry.model) ? entry.model : `unresolved/${entry.model}`
    const cache = entry.cache
    if (cache !== undefined && cache.outcome !== 'miss') {
      // Answered from the cache: no provider was paid, so the request costs nothing and saves the original cost.
      logger.info({ metered: { requestId: entry.requestId, model, cache: cache.outcome, savedMicroUsd: cache.savedMicroUsd } }, 'call answered from cache')
      publisher.publish(
        buildEvent('cache.hit', { requestId: entry.requestId, projectId: entry.projectId, keyId: entry.keyId, model, cacheOutcome: cache.outcome, savedMicroUsd: cache.savedMicroUsd, usage, user: entry.user }, meta),
      )
    }
    let priced: ReturnType<typeof costMicroUsd>
    try {
      priced =
        cache !== undefined && cache.outcome !== 'miss'
          ? { costMicroUsd: 0, priceVersion: PRICE_TABLE_VERSION, priced: true }
          : costMicroUsd(model, usage, priceOverride(entry.tenantId, model))
    } catch (err) {
      // Inconsistent usage from a provider must not lose the event: it is recorded unpriced, and logged.
      logger.error({ err, requestId: entry.requestId }, 'could not price a call; recorded at 0')
      priced = { costMicroUsd: 0, priceVersion: 'unpriced', priced: false }
    }
    if (!priced.priced && entry.outcome !== 'failed') logger.warn({ model, requestId: entry.requestId }, 'no price for this model; recorded at 0')
    if (logger.isLevelEnabled('info')) {
      // The end user's id is often an e-mail address: it goes to the events (chargeback), not to the logs.
      const { user: _user, ...logged } = entry
      logger.info({ metered: { ...logged, endUser: entry.user !== null, latencyMs: Math.round(entry.latencyMs), costMicroUsd: priced.costMicroUsd } }, 'call metered')
    }
    publisher.publish(
      buildEvent(
        'request.completed',
        {
          requestId: entry.requestId,
          projectId: entry.projectId,
          keyId: entry.keyId,
          provider: entry.provider ?? null,
          model,
          endpoint: entry.endpoint,
          stream: entry.stream,
          outcome: entry.outcome,
          httpStatus: entry.httpStatus,
          cacheOutcome: cache?.outcome ?? 'bypass',
          usage,
          costMicroUsd: priced.costMicroUsd,
          priceVersion: priced.priceVersion,
          latencyMs: Math.round(entry.latencyMs),
          timeToFirstTokenMs: entry.timeToFirstTokenMs === undefined ? null : Math.round(entry.timeToFirstTokenMs),
          keySource: entry.keySource ?? 'gateway',
          errorCode: entry.errorCode ?? null,
          user: entry.user,
        },
        meta,
      ),
    )
    observe(() => observer?.metered(entry, priced.costMicroUsd))
  }
  return {
    record(entry: UsageRecord): void {
      // The call has been answered already: metering must never turn it into an error.
      try {
        record(entry)
      } catch (err) {
        logger.error({ err, requestId: entry.requestId }, 'could not record a usage event')
      }
    },
  }
}
