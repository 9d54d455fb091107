import type { FastifyInstance } from 'fastify'
import type { FinishReason } from '../api/chat-completions.ts'
import { GatewayError } from '../errors.ts'
import { toGatewayError } from '../plugins/errors.ts'
import {
  createMessagesStreamEncoder,
  messageIdFor,
  parseMessagesRequest,
  toAnthropicError,
  toAnthropicStreamError,
  toMessagesResponse,
} from '../providers/anthropic/inbound/index.ts'
import type { SseOut } from '../providers/anthropic/inbound/index.ts'
import { sseFrame } from '../providers/sse.ts'
import { completeChat, streamChat } from '../proxy/proxy.ts'
import type { CallInfo } from '../proxy/proxy.ts'
import { completedRecord, failedRecord, streamedRecord } from '../proxy/usage.ts'
import type { UsageRecord } from '../proxy/usage.ts'
import { SseWriter } from './sse-writer.ts'
import type { AdmissionTicket } from '../limits/limits.ts'
import { CompletionAssembler, replayChunks, servedFromCache } from '../cache/response-cache.ts'
import type { CacheDecision } from '../cache/response-cache.ts'
import { admitCall, authenticate, baseRecord, cacheHitHeaders, cacheHitRecord, clientGone, fallbackModels, lookupCache, requireModelUse } from './v1.ts'
import type { V1RoutesOptions } from './v1.ts'

const frame = (out: SseOut) => sseFrame(out.data, out.event)

/**
 * Anthropic's Messages API (`POST /v1/messages`) in front of every provider, for Anthropic SDK users.
 * Errors, including bad JSON and bad keys, answer in Anthropic's own shape, so the SDK raises its typed errors.
 */
export function messagesRoutes(app: FastifyInstance, options: V1RoutesOptions): void {
  const { proxy, meter } = options
  void app.register((scope, _opts, done) => {
    scope.setErrorHandler((error, request, reply) => {
      const gatewayError = toGatewayError(error)
      if (gatewayError.code === 'internal_error') request.log.error({ err: error, tenantId: request.principal?.tenantId }, 'request failed')
      const { status, body } = toAnthropicError(gatewayError, request.id)
      if (gatewayError.headers !== undefined) void reply.headers(gatewayError.headers)
      if (gatewayError.retryAfterMs !== undefined) void reply.header('retry-after', String(Math.max(1, Math.ceil(gatewayError.retryAfterMs / 1000))))
      return reply.status(status).header('request-id', request.id).send(body)
    })

    scope.post('/v1/messages', async (request, reply) => {
      const principal = await authenticate(options.keys, request)
      requireModelUse(principal)
      const version = request.headers['anthropic-version']
      const chat = parseMessagesRequest(request.body, typeof version === 'string' ? { anthropicVersion: version } : {})
      const requestedModel = chat.model
      const started = performance.now()
      const signal = clientGone(request, reply)
      const fallbacks = fallbackModels(request)
      const call: CallInfo = { requestId: request.id, principal, signal, ...(fallbacks === undefined ? {} : { fallbackModels: fallbacks }) }
      const base = baseRecord(request, principal, 'messages', chat)
      let ticket: AdmissionTicket | undefined
      const fail = (error: unknown): never => {
        ticket?.settle(undefined, undefined)
        meter.record(failedRecord(base, toGatewayError(error), signal.aborted, started))
        throw error
      }
      let cache: CacheDecision = { status: 'bypass' }
      try {
        const looked = lookupCache(options, principal, request, chat)
        cache = looked instanceof Promise ? await looked : looked
        if (cache.hit !== undefined) {
          // Answered from the cache, in Anthropic's shape: no admission, no provider, nothing spent.
          const cached = cache.hit.response
          const completion = servedFromCache(cached.completion, request.id, new Date())
          if (chat.stream !== true) {
            void reply.headers(cacheHitHeaders(cache)).header('request-id', request.id).send(toMessagesResponse(completion, cached.usage, requestedModel))
            meter.record(cacheHitRecord(base, cache, started))
            return reply
          }
          void reply.hijack()
          const writer = new SseWriter(reply.raw, signal)
          writer.open({ ...cacheHitHeaders(cache), 'request-id': request.id, 'x-request-id': request.id })
          const encoder = createMessagesStreamEncoder(requestedModel, messageIdFor(completion.id))
          let firstAt: number | undefined
          let finish: FinishReason | null = null
          for (const chunk of replayChunks(completion, cached.usage, false)) {
            finish = chunk.choices[0]?.finish_reason ?? finish
            for (const out of encoder.onChunk(chunk)) await writer.write(frame(out))
            firstAt ??= performance.now()
          }
          for (const out of encoder.finish(cached.usage, finish)) await writer.write(frame(out))
          writer.end()
          meter.record(cacheHitRecord(base, cache, started, firstAt))
          return reply
        }
        const admitted = admitCall(options, principal, request, chat)
        ticket = admitted instanceof Promise ? await admitted : admitted
      } catch (error) {
        fail(error)
      }
      const admitted = ticket!
      const cacheRecord = cache.status === 'miss' ? { cache: { outcome: 'miss' as const } } : {}

      if (chat.stream !== true) {
        const outcome = await completeChat(proxy, chat, call).catch(fail)
        void reply
          .headers(admitted.headers)
          .header('x-supergate-cache', cache.status)
          .header('request-id', request.id)
          .header('x-supergate-provider', outcome.target.resolved.provider.name)
          .header('x-supergate-model', outcome.target.resolved.qualified)
          .send(toMessagesResponse(outcome.completion, outcome.usage, requestedModel))
        // The answer is written: metering, settling and filling the cache never hold it up.
        meter.record({ ...completedRecord(base, outcome, started), ...cacheRecord })
        admitted.settle(outcome.target.resolved.qualified, outcome.usage)
        cache.store?.({ completion: outcome.completion, model: outcome.target.resolved.qualified, usage: outcome.usage, costMicroUsd: options.price?.(principal.tenantId, outcome.target.resolved.qualified, outcome.usage) ?? 0 })
        return reply
      }

      const stream = await streamChat(proxy, chat, call).catch(fail)
      void reply.hijack()
      const writer = new SseWriter(reply.raw, signal)
      writer.open({
        ...admitted.headers,
        'x-supergate-cache': cache.status,
        'request-id': request.id,
        'x-request-id': request.id,
        'x-supergate-provider': stream.target.resolved.provider.name,
        'x-supergate-model': stream.target.resolved.qualified,
      })
      let encoder: ReturnType<typeof createMessagesStreamEncoder> | undefined
      let finishReason: FinishReason | null = null
      let outcome: UsageRecord['outcome'] = 'completed'
      let errorCode: string | undefined
      let firstAt: number | undefined
      const assembler = cache.store === undefined ? undefined : new CompletionAssembler()
      const write = async (frames: SseOut[]) => {
        for (const out of frames) if (!(await writer.write(frame(out)))) return false
        return true
      }
      try {
        for await (const chunk of stream.chunks) {
          assembler?.add(chunk)
          encoder ??= createMessagesStreamEncoder(requestedModel, messageIdFor(chunk.id))
          finishReason = chunk.choices[0]?.finish_reason ?? finishReason
          if (!(await write(encoder.onChunk(chunk)))) break
          firstAt ??= performance.now()
        }
        if (signal.aborted) outcome = 'client_disconnected'
        else {
          encoder ??= createMessagesStreamEncoder(requestedModel, messageIdFor(`chatcmpl-${request.id}`))
          await write(encoder.finish(stream.usage(), finishReason))
        }
      } catch (error) {
        if (signal.aborted) outcome = 'client_disconnected'
        else {
          const gatewayError = error instanceof GatewayError ? error : toGatewayError(error)
          outcome = 'failed'
          errorCode = gatewayError.code
          await write([toAnthropicStreamError(gatewayError, request.id)])
        }
      } finally {
        writer.end()
        const record = streamedRecord(base, stream, { outcome, started, firstAt, errorCode })
        meter.record({ ...record, ...cacheRecord })
        admitted.settle(stream.target.resolved.qualified, record.usage)
        const completion = outcome === 'completed' ? assembler?.completion() : undefined
        const model = stream.target.resolved.qualified
        if (completion !== undefined && record.usage !== undefined) {
          cache.store?.({ completion, model, usage: record.usage, costMicroUsd: options.price?.(principal.tenantId, model, record.usage) ?? 0 })
        }
      }
    })
    done()
  })
}
