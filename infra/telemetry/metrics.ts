import { Gauge, Registry } from 'prom-client'
import type { EventPublisher } from '../../events/publisher.ts'
import type { RequestMetrics } from './request-metrics.ts'

export interface MetricSources {
  publisher: EventPublisher
  /** The projections and the analytics sink: anything that follows the log and knows how far behind it is. */
  runners: readonly { name: string; lag(): Promise<Record<string, number>> }[]
  /** Rows the analytics sink has written to ClickHouse since start. */
  analyticsRowsWritten?: () => number
  /** Calls admitted (fail_open) or refused (fail_closed) because the limiter was unreachable, by policy. */
  limiterUnavailable?: () => Readonly<Record<'fail_open' | 'fail_closed', number>>
  /** Circuit breakers not closed, by provider and state. */
  breakers?: () => Record<string, { open: number; 'half-open': number }>
  /** Per-request families (requests, latency, tokens, spend, cache, rejections, upstream errors). */
  requests?: RequestMetrics
}

/** What /metrics serves: Prometheus text. */
export interface MetricsEndpoint {
  readonly contentType: string
  metrics(): Promise<string>
}

/**
 * What /metrics serves. A Prometheus registry of values read when scraped (the publisher's counters and spool,
 * each projection's lag, limiter outages, open breakers), labelled by projection, provider and fixed states;
 * then the per-request families, labelled by tenant too (request-metrics.ts says how they stay bounded).
 */
export function createMetrics(sources: MetricSources): MetricsEndpoint {
  const registry = new Registry()
  new Gauge({
    name: 'supergate_projection_lag_messages',
    help: 'Messages in the event log that a projection has not applied yet, summed over its partitions.',
    labelNames: ['projection'],
    registers: [registry],
    async collect() {
      this.reset()
      const lags = await Promise.allSettled(sources.runners.map(async (r) => ({ name: r.name, lag: await r.lag() })))
      for (const result of lags) {
        // An unreachable log leaves the projection without a sample rather than with a made-up zero.
        if (result.status !== 'fulfilled') continue
        this.set({ projection: result.value.name }, Object.values(result.value.lag).reduce((a, b) => a + b, 0))
      }
    },
  })
  const stats = () => sources.publisher.stats()
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read())
      },
    })
  gauge('supergate_event_publisher_queued_events', 'Usage events waiting in memory for the event log.', () => stats().queued)
  gauge('supergate_event_spool_events', 'Usage events in the durable spool, waiting for the broker.', () => stats().spooledEvents)
  gauge('supergate_event_spool_bytes', 'Bytes of usage events in the durable spool.', () => stats().spooledBytes)
  gauge('supergate_events_delivered', 'Usage events the event log acknowledged since start (a counter).', () => stats().delivered)
  gauge('supergate_events_dropped', 'Usage events lost because the spool and the memory bound were full (a counter).', () => stats().droppedEvents)
  gauge('supergate_event_publish_failures', 'Appends to the event log that failed or timed out (a counter).', () => stats().failures)
  if (sources.analyticsRowsWritten !== undefined) {
    gauge('supergate_analytics_rows_written', 'Usage rows the analytics sink wrote to ClickHouse since start (a counter).', sources.analyticsRowsWritten)
  }
  new Gauge({
    name: 'supergate_limiter_unavailable_calls',
    help: 'Calls that found the limiter (Redis) unreachable, by the tenant policy applied (a counter).',
    labelNames: ['policy'],
    registers: [registry],
    collect() {
      const counts = sources.limiterUnavailable?.()
      if (counts === undefined) return
      for (const [policy, n] of Object.entries(counts)) this.set({ policy }, n)
    },
  })
  if (sources.breakers !== undefined) {
    const read = sources.breakers
    new Gauge({
      name: 'supergate_circuit_breakers',
      help: 'Circuit breakers (one per provider and credential) that are open or half-open, by provider; closed ones are not counted.',
      labelNames: ['provider', 'state'],
      registers: [registry],
      collect() {
        this.reset()
        for (const [provider, states] of Object.entries(read())) {
          for (const [state, n] of Object.entries(states)) this.set({ provider, state }, n)
        }
      },
    })
  }
  const requests = sources.requests
  return {
    contentType: registry.contentType,
    metrics: async () => (await registry.metrics()) + (requests?.text() ?? ''),
  }
}
