import { createHash } from 'node:crypto'
import { textOf } from '../api/chat-completions.ts'
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '../api/chat-completions.ts'
import { inputTexts, toBase64Float32 } from '../api/embeddings.ts'
import type { EmbeddingsRequest, EmbeddingsResponse } from '../api/embeddings.ts'
import type { Principal } from '../auth/api-keys.ts'
import { GatewayError } from '../errors.ts'
import { toClientError } from '../providers/errors.ts'
import { estimateTokens } from '../providers/ids.ts'
import { SseParser } from '../providers/sse.ts'
import type { CallContext, NormalizedUsage, ProviderCredential, ProviderName } from '../providers/types.ts'
import type { CircuitBreakers } from '../routing/circuit-breaker.ts'
import { dispatch } from '../routing/dispatch.ts'
import type { DispatchOptions, Target } from '../routing/dispatch.ts'
import type { ModelRouter } from '../routing/models.ts'
import { UpstreamFailure, parseBody, transportFailure } from '../upstream/client.ts'
import type { UpstreamClient, UpstreamResponse } from '../upstream/client.ts'
import { toCompletionUsage } from '../providers/usage.ts'

/** Provider credentials: gateway-hosted from configuration now; BYOK per tenant joins here (issue 4). */
export interface CredentialStore {
  credentialFor(provider: ProviderName, principal: Principal): ProviderCredential | undefined
  has(provider: ProviderName, principal: Principal): boolean
}

export interface ProxyDeps {
  router: ModelRouter
  credentials: CredentialStore
  client: UpstreamClient
  breakers: CircuitBreakers
  retries: number
  /** Told of every failed attempt at a provider (for /metrics). */
  onUpstreamFailure?: DispatchOptions['onUpstreamFailure']
}

export interface CallInfo {
  requestId: string
  principal: Principal
  /** From the `x-supergate-fallback-models` header; the key's own chain applies when absent. */
  fallbackModels?: readonly string[]
  signal: AbortSignal
}

export const FALLBACK_HEADER = 'x-supergate-fallback-models'

function targetsFor(deps: ProxyDeps, model: string, call: CallInfo): Target[] {
  const chain = [model, ...(call.fallbackModels ?? call.principal.fallbackModels ?? [])]
  return chain.map((name, i) => {
    const resolved = deps.router.resolve(name, call.principal, i === 0 ? 'model' : FALLBACK_HEADER)
    const credential = deps.credentials.credentialFor(resolved.provider.name, call.principal)
    if (credential === undefined) {
      throw new GatewayError('model_not_found', `The model '${name}' does not exist or you do not have access to it.`, 'model')
    }
    const fingerprint = createHash('sha256').update(credential.apiKey).digest('hex').slice(0, 12)
    return { resolved, credential, breakerKey: `${resolved.provider.name}:${fingerprint}` }
  })
}

function contextFor(target: Target, call: CallInfo): CallContext {
  return { model: target.resolved.model, credential: target.credential, requestId: call.requestId, created: Math.floor(Date.now() / 1000) }
}

async function failIfError(target: Target, response: UpstreamResponse): Promise<void> {
  if (response.status < 400) return
  const text = await response.body.text().catch(() => '')
  throw new UpstreamFailure(target.resolved.provider.parseError(response.status, parseBody(text), response.headers))
}

/** The parsed JSON of a successful answer; an error answer, a cut body or broken JSON is an upstream failure. */
async function successBody(target: Target, response: UpstreamResponse): Promise<unknown> {
  await failIfError(target, response)
  let text: string
  try {
    text = await response.body.text()
  } catch (error) {
    throw transportFailure(error)
  }
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw malformed('JSON')
  }
}

function malformed(what: string): UpstreamFailure {
  return new UpstreamFailure({ upstreamStatus: 502, providerCode: null, message: `malformed ${what} from the provider`, param: null })
}

function truncatedStream(): UpstreamFailure {
  return new UpstreamFailure({ upstreamStatus: 502, providerCode: null, message: 'the provider ended the stream before the answer was complete', param: null })
}

export interface ChatOutcome {
  completion: ChatCompletion
  usage: NormalizedUsage
  target: Target
  attempts: number
}

/** A non-streamed chat completion, with retries and fallbacks. */
export async function completeChat(deps: ProxyDeps, request: ChatCompletionRequest, call: CallInfo): Promise<ChatOutcome> {
  const targets = targetsFor(deps, request.model, call)
  const { result, target, attempts } = await dispatch(targets, { breakers: deps.breakers, retries: deps.retries, onUpstreamFailure: deps.onUpstreamFailure }, async (t) => {
    const ctx = contextFor(t, call)
    const upstream = t.resolved.provider.chat.buildRequest(request, { ...ctx, stream: false })
    const body = await successBody(t, await deps.client.send(upstream, call.signal))
    try {
      return t.resolved.provider.chat.parseResponse(body, ctx)
    } catch {
      throw malformed('response')
    }
  })
  const completion = { ...result.completion, usage: toCompletionUsage(result.usage) }
  return { completion, usage: result.usage, target, attempts }
}

export interface ChatStream {
  target: Target
  attempts: number
  /** Canonical chunks, without usage. Throws a GatewayError if the upstream fails mid-stream. */
  chunks: AsyncGenerator<ChatCompletionChunk>
  /** Usage so far: as reported once `chunks` is done; after an abort before the report, estimated from what was produced. */
  usage(): NormalizedUsage
}

/**
 * Starts a streamed chat completion. Retries and fallbacks apply until the provider answers 200; after
 * that the stream is the client's, and a failure ends it with an error event.
 */
export async function streamChat(deps: ProxyDeps, request: ChatCompletionRequest, call: CallInfo): Promise<ChatStream> {
  const targets = targetsFor(deps, request.model, call)
  const { result, target, attempts } = await dispatch(targets, { breakers: deps.breakers, retries: deps.retries, onUpstreamFailure: deps.onUpstreamFailure }, async (t) => {
    const ctx = contextFor(t, call)
    const upstream = t.resolved.provider.chat.buildRequest(request, { ...ctx, stream: true })
    const response = await deps.client.send(upstream, call.signal)
    await failIfError(t, response)
    return { response, ctx }
  })
  const adapter = target.resolved.provider
  const translator = adapter.chat.stream
  const state = translator.init(result.ctx)
  // What reached the client, for an estimate when a stream is cut before the provider reported usage.
  let outputChars = 0
  // Choices begun and not finished: a body that ends with one still open, or before any finished, was cut short.
  const open = new Set<number>()
  const finished = new Set<number>()
  const counted = function* (out: readonly ChatCompletionChunk[]) {
    for (const chunk of out) {
      for (const choice of chunk.choices) {
        if (choice.finish_reason !== null) {
          finished.add(choice.index)
          open.delete(choice.index)
        } else if (!finished.has(choice.index)) open.add(choice.index)
        outputChars += choice.delta.content?.length ?? 0
        for (const call of choice.delta.tool_calls ?? []) outputChars += (call.function?.name?.length ?? 0) + (call.function?.arguments?.length ?? 0)
      }
      yield chunk
    }
  }
  async function* chunks(): AsyncGenerator<ChatCompletionChunk> {
    const parser = new SseParser()
    const translate = function* (events: ReturnType<SseParser['push']>) {
      for (const event of events) {
        const streamError = adapter.streamError?.(event)
        if (streamError !== undefined) throw toClientError(adapter.name, streamError)
        let out: ChatCompletionChunk[]
        try {
          out = translator.onEvent(event, state)
        } catch {
          throw toClientError(adapter.name, malformed('stream event').error)
        }
        yield* counted(out)
      }
    }
    try {
      for await (const bytes of result.response.body) yield* translate(parser.push(bytes as Buffer))
    } catch (error) {
      if (error instanceof GatewayError || call.signal.aborted) throw error
      throw toClientError(adapter.name, transportFailure(error).error)
    }
    yield* translate(parser.end())
    yield* counted(translator.onEnd(state))
    // The connection closed cleanly but the answer did not end (no finish_reason): passing [DONE] on would
    // present a cut answer as whole, so the client gets an error event and the call is metered as failed.
    if (finished.size === 0 || open.size > 0) throw toClientError(adapter.name, truncatedStream().error)
  }
  const usage = (): NormalizedUsage => {
    const reported = translator.usage(state)
    if (reported !== undefined) return reported
    const prompt = request.messages.map((m) => textOf(m.content)).join('\n')
    return { promptTokens: estimateTokens(prompt), completionTokens: Math.ceil(outputChars / 4), cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: true }
  }
  return { target, attempts, chunks: chunks(), usage }
}

export interface EmbeddingsOutcome {
  response: EmbeddingsResponse
  usage: NormalizedUsage
  target: Target
  attempts: number
}

export async function createEmbeddings(deps: ProxyDeps, request: EmbeddingsRequest, call: CallInfo): Promise<EmbeddingsOutcome> {
  const targets = targetsFor(deps, request.model, call)
  for (const t of targets) {
    if (t.resolved.provider.embeddings === undefined) {
      throw new GatewayError('invalid_request', `Provider '${t.resolved.provider.name}' has no embeddings API`, 'model')
    }
    if (t.resolved.provider.name !== 'openai' && inputTexts(request.input) === undefined) {
      throw new GatewayError('unsupported_parameter', `Token-array input is not supported by provider '${t.resolved.provider.name}'`, 'input')
    }
  }
  const count = typeof request.input === 'string' ? 1 : request.input.length
  const { result, target, attempts } = await dispatch(targets, { breakers: deps.breakers, retries: deps.retries, onUpstreamFailure: deps.onUpstreamFailure }, async (t) => {
    const ctx = contextFor(t, call)
    const embeddings = t.resolved.provider.embeddings!
    const body = await successBody(t, await deps.client.send(embeddings.buildRequest(request, ctx), call.signal))
    try {
      return embeddings.parseResponse(body, { ...ctx, inputCount: count })
    } catch {
      throw malformed('embeddings response')
    }
  })
  const base64 = request.encoding_format === 'base64'
  return {
    response: {
      object: 'list',
      data: result.vectors.map((v, index) => ({ object: 'embedding', index, embedding: base64 ? toBase64Float32(v) : v })),
      model: target.resolved.qualified,
      usage: { prompt_tokens: result.usage.promptTokens, total_tokens: result.usage.promptTokens },
    },
    usage: result.usage,
    target,
    attempts,
  }
}
