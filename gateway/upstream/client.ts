import { Agent, errors as undiciErrors, request } from 'undici'
import type { Dispatcher } from 'undici'
import type { UpstreamError, UpstreamRequest } from '../providers/types.ts'

export interface UpstreamResponse {
  status: number
  /** Lower-cased names; repeated headers joined with ', '. */
  headers: Record<string, string>
  body: Dispatcher.ResponseData['body']
}

export interface UpstreamClientOptions {
  connectTimeoutMs: number
  /** Until the response headers arrive: covers a provider that accepts the connection and then stalls. */
  timeoutMs: number
  /** Longest silence while a body (or stream) is arriving. */
  idleTimeoutMs: number
}

/** A failed attempt at a provider: what it said (or that it did not answer), for retries, breakers and the client. */
export class UpstreamFailure extends Error {
  readonly error: UpstreamError
  /** A timeout or connection failure rather than an HTTP answer. */
  readonly transport: 'timeout' | 'connection' | undefined

  constructor(error: UpstreamError, transport?: 'timeout' | 'connection') {
    super(error.message)
    this.name = 'UpstreamFailure'
    this.error = error
    this.transport = transport
  }
}

/** Maps undici's transport errors; rethrows anything else (an abort by our own client, a bug). */
export function transportFailure(error: unknown): UpstreamFailure {
  if (error instanceof undiciErrors.ConnectTimeoutError || error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError) {
    return new UpstreamFailure({ upstreamStatus: 504, providerCode: null, message: 'the provider did not answer in time', param: null }, 'timeout')
  }
  const code = (error as { code?: string }).code
  if (error instanceof undiciErrors.SocketError || (code !== undefined && /^(ECONN|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|UND_ERR)/.test(code))) {
    return new UpstreamFailure({ upstreamStatus: 0, providerCode: code ?? null, message: 'the connection to the provider failed', param: null }, 'connection')
  }
  throw error
}

/**
 * HTTP to providers through undici with keep-alive pools (one pool per origin, reused across requests):
 * no TLS or TCP handshake per call on the hot path.
 */
export class UpstreamClient {
  readonly #agent: Agent

  constructor(options: UpstreamClientOptions) {
    this.#agent = new Agent({
      connect: { timeout: options.connectTimeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.idleTimeoutMs,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 300_000,
    })
  }

  async send(upstream: UpstreamRequest, signal?: AbortSignal): Promise<UpstreamResponse> {
    try {
      const response = await request(upstream.url, {
        method: upstream.method,
        headers: upstream.headers,
        ...(upstream.body === undefined ? {} : { body: JSON.stringify(upstream.body) }),
        dispatcher: this.#agent,
        ...(signal === undefined ? {} : { signal }),
      })
      const headers: Record<string, string> = {}
      for (const [name, value] of Object.entries(response.headers)) {
        if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value
      }
      return { status: response.statusCode, headers, body: response.body }
    } catch (error) {
      if (signal?.aborted === true) throw error
      throw transportFailure(error)
    }
  }

  async close(): Promise<void> {
    await this.#agent.close()
  }
}

/** A body as JSON when it parses, else its text (error bodies are not always JSON). */
export function parseBody(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}
