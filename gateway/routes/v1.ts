import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { chatCompletionRequest } from '../api/chat-completions.ts'
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '../api/chat-completions.ts'
import { embeddingsRequest } from '../api/embeddings.ts'
import { isStorableText, unstorableText } from '../api/text.ts'
import { presentedSecret } from '../auth/api-keys.ts'
import type { KeyResolver, Principal } from '../auth/api-keys.ts'
import { can } from '../control/roles.ts'
import { GatewayError } from '../errors.ts'
import { toGatewayError } from '../plugins/errors.ts'
import { sseFrame } from '../providers/sse.ts'
import { FALLBACK_HEADER, completeChat, createEmbeddings, streamChat } from '../proxy/proxy.ts'
import type { CallInfo, ProxyDeps } from '../proxy/proxy.ts'
import { toCompletionUsage } from '../providers/usage.ts'
import { completedRecord, failedRecord, streamedRecord } from '../proxy/usage.ts'
import type { RecordBase, UsageMeter, UsageRecord } from '../proxy/usage.ts'
import { SseWriter } from './sse-writer.ts'
import { CompletionAssembler, replayChunks, servedFromCache } from '../cache/response-cache.ts'
import type { CacheDecision, ResponseCache } from '../cache/response-cache.ts'
import type { NormalizedUsage } from '../providers/types.ts'
import { estimatePrompt, maxOutputTokens } from '../limits/demand.ts'
import type { AdmissionTicket, Limits } from '../limits/limits.ts'

export interface V1RoutesOptions {
  proxy: ProxyDeps
  keys: KeyResolver
  meter: UsageMeter
  /** Rate limits, concurrency and budget admission; without it every call is admitted. */
  limits?: Limits
  /** The output cap assumed for a call that sets no max_tokens (for token limits and budget reservations). */
  defaultMaxOutputTokens?: number
  /** The response cache; without it every call goes to a provider. */
  cache?: ResponseCache
  /** What a call cost the tenant, in micro-USD: what a cache hit of it saves. */
  price?: (tenantId: string, model: string, usage: NormalizedUsage) => number
}

const NO_CACHE: CacheDecision = { status: 'bypass' }

/** The roles allowed to call models (gateway/control/roles.ts `chat.use`): billing and viewer keys may not. */
export function requireModelUse(principal: Principal): void {
  if (principal.role !== 'platform' && !can(principal.role, 'chat.use')) {
    throw new GatewayError('permission_denied', `A key with the ${principal.role} role may not call models`)
  }
}

const NO_LIMITS: AdmissionTicket = { headers: {}, settle: () => {} }

/**
 * Admits a call through the limits (gateway/limits/limits.ts): its models are the requested one and its
 * fallbacks, as the router resolves them for this key. Synchronous for a tenant without limits.
 */
export function admitCall(
  options: V1RoutesOptions,
  principal: Principal,
  request: FastifyRequest,
  body: { model: string; max_tokens?: number | null; max_completion_tokens?: number | null; messages?: unknown; tools?: unknown; input?: unknown },
): AdmissionTicket | Promise<AdmissionTicket> {
  const limits = options.limits
  if (limits === undefined) return NO_LIMITS
  return limits.admit(principal, () => {
    const models: string[] = []
    for (const requested of [body.model, ...(fallbackModels(request) ?? principal.fallbackModels ?? [])]) {
      try {
        models.push(options.proxy.router.resolve(requested, principal).qualified)
      } catch {
        // A model the router refuses is the proxy's error to give; it costs nothing here.
      }
    }
    const prompt = estimatePrompt(body)
    return {
      models,
      promptTokens: prompt.tokens,
      maxPromptTokens: prompt.maxTokens,
      maxOutputTokens: body.input !== undefined ? 0 : maxOutputTokens(body, options.defaultMaxOutputTokens ?? 4096),
    }
  })
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | undefined
  }
}

/** An AbortSignal that fires when the client goes away before its answer is complete. */
export function clientGone(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort()
  })
  request.raw.once('aborted', () => controller.abort())
  return controller.signal
}

export function fallbackModels(request: FastifyRequest): string[] | undefined {
  const header = request.headers[FALLBACK_HEADER]
  if (typeof header !== 'string' || header.trim() === '') return undefined
  const models = header.split(',').map((m) => m.trim()).filter((m) => m !== '')
  if (models.length > 5) throw new GatewayError('invalid_request', 'At most 5 fallback models', FALLBACK_HEADER)
  return models
}

function rejected(secret: string | undefined): GatewayError {
  return new GatewayError(
    'invalid_api_key',
    secret === undefined ? "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'." : 'Incorrect API key provided.',
  )
}

/** The caller's principal; a cached key answers synchronously, so the hot path awaits nothing. */
export function authenticate(keys: KeyResolver, request: FastifyRequest): Principal | Promise<Principal> {
  const secret = presentedSecret(request.headers)
  if (secret === undefined) throw rejected(secret)
  const found = keys.authenticate(secret)
  if (found instanceof Promise) {
    return found.then((principal) => {
      if (principal === undefined) throw rejected(secret)
      return principal
    })
  }
  if (found === undefined) throw rejected(secret)
  return found
}

export const END_USER_HEADER = 'x-supergate-user'
const END_USER_MAX = 256

/**
 * The end user a call is for, for chargeback by user: the `x-supergate-user` header, else the body's `user`
 * (OpenAI; Anthropic's `metadata.user_id` arrives as it) or `safety_identifier`. Too long an id is refused
 * rather than cut, which would merge two users' spend.
 */
export function endUser(request: FastifyRequest, body: { user?: string | undefined; safety_identifier?: string | undefined }): string | null {
  const raw = request.headers[END_USER_HEADER]
  // Node reads header bytes as Latin-1; a client sends UTF-8, so 'josé' in the header is the body's 'josé'.
  const header = typeof raw === 'string' && raw !== '' ? utf8Header(raw) : undefined
  const [user, param] = header !== undefined ? [header, END_USER_HEADER] : body.user !== undefined && body.user !== '' ? [body.user, 'user'] : [body.safety_identifier, 'safety_identifier']
  if (user === undefined || user === '') return null
  if (user.length > END_USER_MAX) throw new GatewayError('invalid_request', `The end-user id may be at most ${END_USER_MAX} characters`, param)
  if (!isStorableText(user)) throw unstorableText(param)
  return user
}

function utf8Header(latin1: string): string {
  const decoded = Buffer.from(latin1, 'latin1').toString('utf8')
  // Not UTF-8 after all (a Latin-1 client): keep what was sent.
  return decoded.includes('\uFFFD') ? latin1 : decoded
}

export function baseRecord(
  request: FastifyRequest,
  principal: Principal,
  endpoint: UsageRecord['endpoint'],
  body: { model: string; stream?: boolean | null | undefined; user?: string | undefined; safety_identifier?: string | undefined },
): RecordBase {
  const user = endUser(request, body)
  // The requested model goes into the usage event even when the call fails: it must be storable too.
  if (!isStorableText(body.model)) throw unstorableText('model')
  return { requestId: request.id, tenantId: principal.tenantId, keyId: principal.keyId, projectId: principal.projectId ?? null, endpoint, model: body.model, stream: body.stream === true, user }
}

/** The usage record of a call answered from the cache: nothing spent, the cached call's cost saved. */
export function cacheHitRecord(base: RecordBase, cache: CacheDecision, started: number, firstAt?: number): UsageRecord {
  const cached = cache.hit!.response
  return {
    ...base,
    model: cached.model,
    provider: undefined,
    keySource: null,
    httpStatus: 200,
    outcome: 'completed',
    usage: cached.usage,
    attempts: 0,
    latencyMs: performance.now() - started,
    ...(firstAt === undefined ? {} : { timeToFirstTokenMs: firstAt - started }),
    cache: { outcome: cache.status === 'hit-exact' ? 'exact_hit' : 'semantic_hit', savedMicroUsd: cached.costMicroUsd },
  }
}

/** The cache's decision for a chat request (`bypass` without a cache); throws model_not_found for an unknown model. */
export function lookupCache(options: V1RoutesOptions, principal: Principal, request: FastifyRequest, body: ChatCompletionRequest): CacheDecision | Promise<CacheDecision> {
  if (options.cache === undefined) return NO_CACHE
  return options.cache.lookup(principal, body, options.proxy.router.resolve(body.model, principal).qualified, request.headers['cache-control'])
}

/** Headers of a response served from the cache. */
export function cacheHitHeaders(cache: CacheDecision): Record<string, string> {
  const hit = cache.hit!
  return {
    'x-supergate-cache': cache.status,
    'x-supergate-provider': hit.response.model.split('/')[0]!,
    'x-supergate-model': hit.response.model,
    ...(hit.similarity === null ? {} : { 'x-supergate-cache-similarity': hit.similarity.toFixed(4) }),
  }
}

/** Answers a chat request from the cache: the cached completion as JSON, or replayed as an SSE stream. */
async function answerFromCache(
  request: FastifyRequest,
  reply: FastifyReply,
  body: ChatCompletionRequest,
  base: RecordBase,
  cache: CacheDecision,
  started: number,
  meter: UsageMeter,
): Promise<FastifyReply> {
  const cached = cache.hit!.response
  const completion = servedFromCache(cached.completion, request.id, new Date())
  const headers = cacheHitHeaders(cache)
  const record = (firstAt?: number): UsageRecord => cacheHitRecord(base, cache, started, firstAt)
  if (body.stream !== true) {
    void reply.headers(headers).send(completion)
    meter.record(record())
    return reply
  }
  void reply.hijack()
  const writer = new SseWriter(reply.raw, clientGone(request, reply))
  writer.open({ ...headers, 'x-request-id': request.id })
  let firstAt: number | undefined
  for (const chunk of replayChunks(completion, cached.usage, body.stream_options?.include_usage === true)) {
    if (!(await writer.write(sseFrame(JSON.stringify(chunk))))) break
    firstAt ??= performance.now()
  }
  await writer.write(sseFrame('[DONE]'))
  writer.end()
  meter.record(record(firstAt))
  return reply
}

/** The OpenAI-compatible API: chat completions (JSON or SSE), embeddings and the model list. */
export function v1Routes(app: FastifyInstance, options: V1RoutesOptions): void {
  const { proxy, meter } = options
  app.decorateRequest('principal', undefined)
  app.addHook('onRequest', (request, _reply, done) => {
    if (!request.url.startsWith('/v1/') || request.url.startsWith('/v1/messages')) return done()
    try {
      const principal = authenticate(options.keys, request)
      if (principal instanceof Promise) {
        principal.then((p) => {
          request.principal = p
          done()
        }, (error: unknown) => done(error as Error))
        return
      }
      request.principal = principal
      done()
    } catch (error) {
      done(error as GatewayError)
    }
  })

  app.post('/v1/chat/completions', async (request, reply) => {
    const principal = request.principal!
    requireModelUse(principal)
    const body = chatCompletionRequest.parse(request.body)
    const started = performance.now()
    const signal = clientGone(request, reply)
    const fallbacks = fallbackModels(request)
    const call: CallInfo = { requestId: request.id, principal, signal, ...(fallbacks === undefined ? {} : { fallbackModels: fallbacks }) }
    const base = baseRecord(request, principal, 'chat.completions', body)
    let ticket: AdmissionTicket
    let cache: CacheDecision = NO_CACHE
    try {
      const looked = lookupCache(options, principal, request, body)
      cache = looked instanceof Promise ? await looked : looked
      if (cache.hit !== undefined) return await answerFromCache(request, reply, body, base, cache, started, meter)
      const admitted = admitCall(options, principal, request, body)
      ticket = admitted instanceof Promise ? await admitted : admitted
    } catch (error) {
      meter.record(failedRecord(base, toGatewayError(error), signal.aborted, started))
      throw error
    }
    const cacheRecord = cache.status === 'miss' ? { cache: { outcome: 'miss' as const } } : {}
    const fill = (model: string, completion: ChatCompletion | undefined, usage: NormalizedUsage | undefined) => {
      if (cache.store === undefined || completion === undefined || usage === undefined) return
      cache.store({ completion, model, usage, costMicroUsd: options.price?.(principal.tenantId, model, usage) ?? 0 })
    }
    if (body.stream !== true) {
      let outcome: Awaited<ReturnType<typeof completeChat>>
      try {
        outcome = await completeChat(proxy, body, call)
      } catch (error) {
        ticket.settle(undefined, undefined)
        meter.record(failedRecord(base, toGatewayError(error), signal.aborted, started))
        throw error
      }
      void reply
        .headers(ticket.headers)
        .header('x-supergate-cache', cache.status)
        .header('x-supergate-provider', outcome.target.resolved.provider.name)
        .header('x-supergate-model', outcome.target.resolved.qualified)
        .send(outcome.completion)
      // The answer is written: metering, settling and filling the cache never hold it up.
      meter.record({ ...completedRecord(base, outcome, started), ...cacheRecord })
      ticket.settle(outcome.target.resolved.qualified, outcome.usage)
      fill(outcome.target.resolved.qualified, outcome.completion, outcome.usage)
      return reply
    }

    let stream: Awaited<ReturnType<typeof streamChat>>
    try {
      stream = await streamChat(proxy, body, call)
    } catch (error) {
      ticket.settle(undefined, undefined)
      meter.record(failedRecord(base, toGatewayError(error), signal.aborted, started))
      throw error
    }
    // From here the gateway writes the response itself, frame by frame.
    void reply.hijack()
    const writer = new SseWriter(reply.raw, signal)
    writer.open({
      ...ticket.headers,
      'x-supergate-cache': cache.status,
      'x-request-id': request.id,
      'x-supergate-provider': stream.target.resolved.provider.name,
      'x-supergate-model': stream.target.resolved.qualified,
    })
    const includeUsage = body.stream_options?.include_usage === true
    let last: ChatCompletionChunk | undefined
    let firstAt: number | undefined
    let outcome: UsageRecord['outcome'] = 'completed'
    let errorCode: string | undefined
    const assembler = cache.store === undefined ? undefined : new CompletionAssembler()
    try {
      for await (const chunk of stream.chunks) {
        last = chunk
        assembler?.add(chunk)
        const out = includeUsage ? { ...chunk, usage: null } : chunk
        if (!(await writer.write(sseFrame(JSON.stringify(out))))) break
        firstAt ??= performance.now()
      }
      if (signal.aborted) outcome = 'client_disconnected'
      else {
        const usage = stream.usage()
        if (includeUsage && usage !== undefined) {
          const id = last?.id ?? `chatcmpl-${request.id}`
          await writer.write(sseFrame(JSON.stringify({ id, object: 'chat.completion.chunk', created: last?.created ?? Math.floor(Date.now() / 1000), model: last?.model ?? body.model, choices: [], usage: toCompletionUsage(usage) })))
        }
        await writer.write(sseFrame('[DONE]'))
      }
    } catch (error) {
      if (signal.aborted) outcome = 'client_disconnected'
      else {
        const gatewayError = toGatewayError(error)
        outcome = 'failed'
        errorCode = gatewayError.code
        await writer.write(sseFrame(JSON.stringify(gatewayError.toBody())))
      }
    } finally {
      writer.end()
      const record = streamedRecord(base, stream, { outcome, started, firstAt, errorCode })
      meter.record({ ...record, ...cacheRecord })
      ticket.settle(stream.target.resolved.qualified, record.usage)
      if (outcome === 'completed') fill(stream.target.resolved.qualified, assembler?.completion(), record.usage)
    }
  })

  app.post('/v1/embeddings', async (request, reply) => {
    const principal = request.principal!
    requireModelUse(principal)
    const body = embeddingsRequest.parse(request.body)
    const started = performance.now()
    const signal = clientGone(request, reply)
    const fallbacks = fallbackModels(request)
    const base = baseRecord(request, principal, 'embeddings', { ...body, stream: false })
    let ticket: AdmissionTicket = NO_LIMITS
    try {
      const admitted = admitCall(options, principal, request, body)
      ticket = admitted instanceof Promise ? await admitted : admitted
      const outcome = await createEmbeddings(proxy, body, { requestId: request.id, principal, signal, ...(fallbacks === undefined ? {} : { fallbackModels: fallbacks }) })
      void reply.headers(ticket.headers).header('x-supergate-provider', outcome.target.resolved.provider.name).send(outcome.response)
      meter.record(completedRecord(base, outcome, started))
      ticket.settle(outcome.target.resolved.qualified, outcome.usage)
      return reply
    } catch (error) {
      ticket.settle(undefined, undefined)
      meter.record(failedRecord(base, toGatewayError(error), signal.aborted, started))
      throw error
    }
  })

  const toModel = (m: { id: string; provider: string }) => ({ id: m.id, object: 'model' as const, created: 0, owned_by: m.provider })
  app.get('/v1/models', (request) => ({ object: 'list', data: proxy.router.list(request.principal!).map(toModel) }))
  app.get('/v1/models/*', (request) => {
    // The router has percent-decoded the id already: decoding it again would turn '%25' into a URIError.
    const id = (request.params as { '*': string })['*']
    const found = proxy.router.list(request.principal!).find((m) => m.id === id || m.id.endsWith(`/${id}`))
    if (found === undefined) throw new GatewayError('model_not_found', `The model '${id}' does not exist or you do not have access to it.`, 'model')
    return toModel(found)
  })
}
