import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import type { FastifyInstance } from 'fastify'
import type { MeterObserver } from '../proxy/usage-events.ts'
import type { UsageRecord } from '../proxy/usage.ts'

/** gen_ai.provider.name, as the GenAI semantic conventions spell each provider. */
const PROVIDER_NAMES: Record<string, string> = { openai: 'openai', anthropic: 'anthropic', gemini: 'gcp.gemini', cohere: 'cohere', mistral: 'mistral_ai' }
const OPERATIONS: Record<UsageRecord['endpoint'], string> = { 'chat.completions': 'chat', messages: 'chat', embeddings: 'embeddings' }
/** Probes and scrapes would drown the traces that matter. */
const UNTRACED = new Set(['/health', '/ready', '/metrics'])
/** A request never metered nor answered through Fastify's hooks is ended and dropped after this long. */
const ABANDONED_MS = 15 * 60_000

interface LiveRequest {
  span: Span
  context: Context
  startedAt: number
  /** gen_ai.request.* from the body, for the client span. */
  params: Attributes
  /** The caller's key once authenticated: a metered call of another key with the same request id is not this one's. */
  keyId?: string
  /** gen_ai.response.* from an answer sent in one piece (a stream's chunks do not pass through Fastify's hooks). */
  response?: Attributes
}

const propagator = new W3CTraceContextPropagator()
const headerGetter = {
  keys: (carrier: Record<string, unknown>) => Object.keys(carrier),
  get: (carrier: Record<string, unknown>, key: string) => {
    const value = carrier[key]
    return typeof value === 'string' || Array.isArray(value) ? (value as string | string[]) : undefined
  },
}

function number(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

/** The request parameters the GenAI conventions name; never the prompt. */
function requestParams(body: unknown): Attributes {
  if (typeof body !== 'object' || body === null) return {}
  const b = body as Record<string, unknown>
  const params: Attributes = {}
  const maxTokens = number(b.max_completion_tokens) ?? number(b.max_tokens)
  if (maxTokens !== undefined) params['gen_ai.request.max_tokens'] = maxTokens
  for (const [field, attribute] of [['temperature', 'gen_ai.request.temperature'], ['top_p', 'gen_ai.request.top_p'], ['frequency_penalty', 'gen_ai.request.frequency_penalty'], ['presence_penalty', 'gen_ai.request.presence_penalty'], ['seed', 'gen_ai.request.seed']] as const) {
    const value = number(b[field])
    if (value !== undefined) params[attribute] = value
  }
  return params
}

/** gen_ai.response.id, .model and .finish_reasons of an OpenAI chat completion or an Anthropic message. */
function responseAttributes(payload: unknown): Attributes | undefined {
  if (typeof payload !== 'object' || payload === null) return undefined
  const p = payload as { id?: unknown; model?: unknown; choices?: unknown; stop_reason?: unknown }
  const attributes: Attributes = {}
  if (typeof p.id === 'string') attributes['gen_ai.response.id'] = p.id
  if (typeof p.model === 'string') attributes['gen_ai.response.model'] = p.model
  const reasons = Array.isArray(p.choices)
    ? p.choices.flatMap((c: { finish_reason?: unknown }) => (typeof c?.finish_reason === 'string' ? [c.finish_reason] : []))
    : typeof p.stop_reason === 'string'
      ? [p.stop_reason]
      : []
  if (reasons.length > 0) attributes['gen_ai.response.finish_reasons'] = reasons
  return attributes
}

/**
 * Traces each API request (issue 10): a SERVER span from arrival, a child of the caller's `traceparent` when
 * there is one, and under it a CLIENT span for the provider call, named and attributed as the OpenTelemetry
 * GenAI semantic conventions say (gen_ai.operation.name, gen_ai.provider.name, gen_ai.request.*,
 * gen_ai.usage.*). Both are written when the call is metered, which is when its usage is known; the client
 * span covers the call's time as the meter measured it, retries and fallbacks included. Prompts, answers and
 * keys are never attributes. Registered only when tracing is on: otherwise it costs the hot path nothing.
 */
export class RequestTracing implements MeterObserver {
  readonly #tracer: Tracer
  readonly #live = new Map<string, LiveRequest>()
  #sweep: NodeJS.Timeout | undefined

  constructor(tracer: Tracer) {
    this.#tracer = tracer
  }

  register(app: FastifyInstance): void {
    app.addHook('onRequest', (request, _reply, done) => {
      const path = request.url.split('?', 1)[0]!
      // A client may send the request id of a call still in flight (x-request-id): that second call is not traced,
      // rather than mixed up with the first.
      if (!UNTRACED.has(path) && !this.#live.has(request.id)) {
        const parent = propagator.extract(ROOT_CONTEXT, request.headers, headerGetter)
        // Unknown paths share one name: a span name per path a client makes up would be unbounded.
        const route = request.routeOptions.url
        const span = this.#tracer.startSpan(
          `${request.method} ${route ?? 'unmatched'}`,
          {
            kind: SpanKind.SERVER,
            attributes: { 'http.request.method': request.method, ...(route === undefined ? {} : { 'http.route': route }), 'url.path': path, 'supergate.request.id': request.id },
          },
          parent,
        )
        this.#live.set(request.id, { span, context: trace.setSpan(parent, span), startedAt: Date.now(), params: {} })
      }
      done()
    })
    app.addHook('preHandler', (request, _reply, done) => {
      const live = this.#live.get(request.id)
      if (live !== undefined) {
        live.params = requestParams(request.body)
        live.keyId = request.principal?.keyId
      }
      done()
    })
    // The answer as an object, before it is serialised: its id, model and finish reasons, with nothing parsed again.
    app.addHook('preSerialization', (request, reply, payload, done) => {
      const live = this.#live.get(request.id)
      if (live !== undefined && reply.statusCode === 200 && request.url.startsWith('/v1/')) live.response = responseAttributes(payload)
      done(null, payload)
    })
    // Requests that are not metered (admin, unknown routes) end here; a metered one has ended already.
    app.addHook('onResponse', (request, reply, done) => {
      const live = this.#live.get(request.id)
      if (live !== undefined) this.#end(request.id, live, reply.statusCode)
      done()
    })
    // A client gone before the answer: a model call is ended by its metering (it is metered as disconnected).
    app.addHook('onRequestAbort', (request, done) => {
      const live = this.#live.get(request.id)
      if (live !== undefined && !request.url.startsWith('/v1/')) this.#end(request.id, live, 499)
      done()
    })
    this.#sweep = setInterval(() => {
      const before = Date.now() - ABANDONED_MS
      for (const [id, live] of this.#live) if (live.startedAt < before) this.#end(id, live, 0)
    }, 60_000)
    this.#sweep.unref()
    app.addHook('onClose', (_app, done) => {
      clearInterval(this.#sweep)
      done()
    })
  }

  metered(entry: UsageRecord, costMicroUsd: number): void {
    const live = this.#mine(entry)
    if (live === undefined) return
    const hit = entry.cache !== undefined && entry.cache.outcome !== 'miss'
    if (entry.provider !== undefined) this.#clientSpan(entry, live)
    live.span.setAttributes({
      'supergate.tenant.id': entry.tenantId,
      'supergate.key.id': entry.keyId,
      ...(entry.projectId === null ? {} : { 'supergate.project.id': entry.projectId }),
      'supergate.outcome': entry.outcome,
      'supergate.cost_micro_usd': costMicroUsd,
      ...(entry.cache === undefined ? {} : { 'supergate.cache.outcome': entry.cache.outcome }),
      ...(hit ? { 'supergate.model': entry.model } : {}),
    })
    this.#end(entry.requestId, live, entry.httpStatus, entry.errorCode)
  }

  rejected(entry: UsageRecord, reason: string): void {
    const live = this.#mine(entry)
    if (live === undefined) return
    live.span.setAttributes({ 'supergate.tenant.id': entry.tenantId, 'supergate.rejection.reason': reason })
    this.#end(entry.requestId, live, entry.httpStatus, entry.errorCode)
  }

  #mine(entry: UsageRecord): LiveRequest | undefined {
    const live = this.#live.get(entry.requestId)
    return live === undefined || (live.keyId !== undefined && live.keyId !== entry.keyId) ? undefined : live
  }

  #clientSpan(entry: UsageRecord, live: LiveRequest): void {
    const provider = entry.provider!
    const model = entry.model.slice(entry.model.indexOf('/') + 1)
    const operation = OPERATIONS[entry.endpoint]
    const end = Date.now()
    const attributes: Attributes = {
      'gen_ai.operation.name': operation,
      'gen_ai.provider.name': PROVIDER_NAMES[provider] ?? provider,
      'gen_ai.request.model': model,
      ...live.params,
      ...live.response,
      'supergate.attempts': entry.attempts,
      'supergate.stream': entry.stream,
    }
    const usage = entry.usage
    if (usage !== undefined) {
      attributes['gen_ai.usage.input_tokens'] = usage.promptTokens
      attributes['gen_ai.usage.output_tokens'] = usage.completionTokens
      if (usage.cachedTokens > 0) attributes['gen_ai.usage.cache_read.input_tokens'] = usage.cachedTokens
    }
    if (entry.errorCode !== undefined) attributes['error.type'] = entry.errorCode
    const span = this.#tracer.startSpan(`${operation} ${model}`, { kind: SpanKind.CLIENT, attributes, startTime: end - entry.latencyMs }, live.context)
    if (entry.outcome === 'failed') span.setStatus({ code: SpanStatusCode.ERROR })
    span.end(end)
  }

  #end(requestId: string, live: LiveRequest, status: number, errorCode?: string): void {
    this.#live.delete(requestId)
    if (status > 0) live.span.setAttribute('http.response.status_code', status)
    if (status >= 500 || status === 0) {
      live.span.setStatus({ code: SpanStatusCode.ERROR })
      live.span.setAttribute('error.type', errorCode ?? (status === 0 ? 'abandoned' : String(status)))
    }
    live.span.end()
  }
}
