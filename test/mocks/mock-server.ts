import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A wire-format mock of an LLM provider on loopback. Each provider module (./openai.ts, ./anthropic.ts …)
 * validates what it receives as strictly as the real API does and replays fixtures shaped like the real
 * responses. Tests pick a behaviour by putting `[scenario:NAME]` in the last user message's text.
 */

export interface MockRequest {
  method: string
  path: string
  query: URLSearchParams
  /** Lower-cased names. */
  headers: Record<string, string>
  body: unknown
}

export type MockReply =
  | { kind: 'json'; status: number; body: unknown; headers?: Record<string, string> }
  | { kind: 'text'; status: number; body: string; headers?: Record<string, string> }
  /**
   * Frames are written one by one; `dropAfter` destroys the socket after that many frames; `stallAfter` stops
   * writing after that many and holds the connection open, silent, until the client goes away.
   */
  | { kind: 'sse'; frames: string[]; frameDelayMs?: number; dropAfter?: number; stallAfter?: number; headers?: Record<string, string> }
  | { kind: 'delay'; ms: number; then: MockReply }
  /** Resets the connection before any response. */
  | { kind: 'reset' }

export type MockHandler = (request: MockRequest) => MockReply

export interface RunningMock {
  /** http://127.0.0.1:PORT */
  url: string
  requests: MockRequest[]
  /** Responses whose connection closed before the mock finished writing them (a client that went away). */
  closedEarly(): number
  close(): Promise<void>
}

export const SCENARIO = /\[scenario:([a-z0-9_-]+)\]/

/** The scenario named in a text, or 'default'. */
export function scenarioIn(text: string): string {
  return SCENARIO.exec(text)?.[1] ?? 'default'
}

/** Splits an SSE fixture into frames (events end at a blank line). */
export function sseFrames(text: string): string[] {
  return text
    .split(/\n\n/)
    .filter((frame) => frame.trim() !== '')
    .map((frame) => `${frame}\n\n`)
}

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = []
  for await (const part of req) parts.push(part as Buffer)
  return Buffer.concat(parts).toString('utf8')
}

async function send(res: ServerResponse, reply: MockReply): Promise<void> {
  switch (reply.kind) {
    case 'delay':
      await new Promise((r) => setTimeout(r, reply.ms))
      return send(res, reply.then)
    case 'reset':
      res.socket?.destroy()
      return
    case 'json':
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers })
      res.end(JSON.stringify(reply.body))
      return
    case 'text':
      res.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers })
      res.end(reply.body)
      return
    case 'sse': {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', ...reply.headers })
      // Node holds a response's writes until the next tick: a drop waits for them, so it comes mid-stream.
      let written: Promise<unknown> = Promise.resolve()
      for (const [i, frame] of reply.frames.entries()) {
        if (reply.dropAfter !== undefined && i >= reply.dropAfter) {
          await written
          res.socket?.destroy()
          return
        }
        if (reply.stallAfter !== undefined && i >= reply.stallAfter) {
          if (!res.destroyed) await new Promise((r) => res.once('close', r))
          return
        }
        if (res.destroyed) return
        written = new Promise((resolve) => res.write(frame, resolve))
        if (reply.frameDelayMs !== undefined) await new Promise((r) => setTimeout(r, reply.frameDelayMs))
      }
      res.end()
      return
    }
  }
}

export async function startMock(handler: MockHandler): Promise<RunningMock> {
  const requests: MockRequest[] = []
  let closedEarly = 0
  const server = createServer((req, res) => {
    res.once('close', () => {
      if (!res.writableFinished) closedEarly++
    })
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://mock')
      const raw = await readBody(req)
      let body: unknown = raw
      if ((req.headers['content-type'] ?? '').includes('application/json')) {
        try {
          body = JSON.parse(raw)
        } catch {
          body = raw
        }
      }
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]))
      const request: MockRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers, body }
      requests.push(request)
      await send(res, handler(request))
    })().catch(() => res.socket?.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    closedEarly: () => closedEarly,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** Counts calls per key, for scenarios that fail N times and then succeed. */
export class CallCounter {
  readonly #counts = new Map<string, number>()
  next(key: string): number {
    const n = (this.#counts.get(key) ?? 0) + 1
    this.#counts.set(key, n)
    return n
  }
}
