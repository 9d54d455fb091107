import type { Tracer } from '@opentelemetry/api'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider } from '@opentelemetry/sdk-trace'

export interface TracingOptions {
  /** The collector's OTLP/HTTP base URL (`http://collector:4318`): spans go to `<endpoint>/v1/traces` as JSON. */
  endpoint: string
  /** Share of new traces recorded, 0 to 1; a caller's sampled `traceparent` is always followed. */
  sampleRatio: number
  serviceName?: string
  version?: string
}

export interface Tracing {
  tracer: Tracer
  /** Exports what is buffered, then stops. */
  shutdown(): Promise<void>
}

/**
 * OpenTelemetry traces exported over OTLP/HTTP (off unless SUPERGATE_OTLP_ENDPOINT is set). Spans are batched
 * and sent each second, off the request path; the exporter reads OTEL_EXPORTER_OTLP_HEADERS (a collector's
 * credentials) as OpenTelemetry documents. No global provider or context manager is installed: the gateway
 * passes each span's parent explicitly.
 */
export function startTracing(options: TracingOptions): Tracing {
  const exporter = new OTLPTraceExporter({ url: `${options.endpoint.replace(/\/+$/, '')}/v1/traces` })
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName ?? 'supergate', 'service.version': options.version ?? '0.1.0' }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio) }),
    spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: 1_000 })],
  })
  return {
    tracer: provider.getTracer('supergate'),
    shutdown: () => provider.shutdown(),
  }
}
