import type { Tracer } from '@opentelemetry/api'
import { RequestMetrics } from '../infra/telemetry/request-metrics.ts'
import { RequestTracing } from './plugins/tracing.ts'
import type { ProviderAdapter } from './providers/types.ts'
import type { MeterObserver } from './proxy/usage-events.ts'
import type { ModelRouter } from './routing/models.ts'

export interface RequestTelemetry {
  metrics: RequestMetrics
  /** Present when traces are exported. */
  tracing: RequestTracing | undefined
  /** What the meter tells of each call: the metrics, and the spans when traced. */
  observer: MeterObserver
}

/** Per-request metrics and, with a tracer, spans: both fed by the meter once each call is answered. */
export function requestTelemetry(options: {
  adapters: readonly ProviderAdapter[]
  aliases: Record<string, string>
  router: ModelRouter
  keyLabels: boolean
  tracer?: Tracer
}): RequestTelemetry {
  // Listed models and alias targets are labels without limit; any other model takes one of a bounded few.
  const catalogue = new Set([...options.adapters.flatMap((a) => a.models.map((m) => `${a.name}/${m.id}`)), ...Object.values(options.aliases)])
  const metrics = new RequestMetrics({ keyLabels: options.keyLabels, catalogue, qualify: (requested) => options.router.qualify(requested) })
  const tracing = options.tracer === undefined ? undefined : new RequestTracing(options.tracer)
  const observer: MeterObserver =
    tracing === undefined
      ? metrics
      : {
          metered: (entry, cost) => (metrics.metered(entry, cost), tracing.metered(entry, cost)),
          rejected: (entry, reason) => (metrics.rejected(entry, reason), tracing.rejected(entry, reason)),
        }
  return { metrics, tracing, observer }
}
