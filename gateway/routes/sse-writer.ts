import { once } from 'node:events'
import type { ServerResponse } from 'node:http'

/**
 * Writes SSE frames to a client with back-pressure: when the socket's buffer is full, waits for it to
 * drain instead of piling the stream up in memory. Resolves false once the client has gone.
 */
export class SseWriter {
  readonly #raw: ServerResponse
  readonly #signal: AbortSignal

  constructor(raw: ServerResponse, signal: AbortSignal) {
    this.#raw = raw
    this.#signal = signal
  }

  open(headers: Record<string, string>): void {
    this.#raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      // Proxies such as nginx would otherwise buffer the stream.
      'x-accel-buffering': 'no',
      ...headers,
    })
  }

  get opened(): boolean {
    return this.#raw.headersSent
  }

  async write(frame: string): Promise<boolean> {
    if (this.#signal.aborted || this.#raw.destroyed) return false
    if (this.#raw.write(frame)) return true
    try {
      await once(this.#raw, 'drain', { signal: this.#signal })
      return true
    } catch {
      return false
    }
  }

  end(): void {
    if (!this.#raw.destroyed) this.#raw.end()
  }
}
