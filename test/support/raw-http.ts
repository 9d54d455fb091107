import { connect } from 'node:net'
import type { Socket } from 'node:net'

/**
 * HTTP/1.1 written by hand over a socket, for what `inject()` and fetch cannot send: invalid bytes, CR/LF
 * inside a header, a body that trickles in or stops, a body larger than it says.
 */

export interface RawAnswer {
  /** What the server wrote, as Latin-1 text. */
  text: string
  /** Whether the server closed the connection before `waitMs` passed. */
  closed: boolean
}

/** Writes `bytes`, lets `then` go on writing, and collects the answer until the server closes or `waitMs` passes. */
export function rawExchange(url: string, bytes: Buffer | string, options: { waitMs?: number; then?: (socket: Socket) => void } = {}): Promise<RawAnswer> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    const parts: Buffer[] = []
    let timer: NodeJS.Timeout | undefined
    const done = (closed: boolean) => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ text: Buffer.concat(parts).toString('latin1'), closed })
    }
    socket.on('data', (d: Buffer) => parts.push(d))
    socket.on('close', () => done(true))
    socket.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? done(true) : reject(e)))
    socket.on('connect', () => {
      socket.write(bytes)
      options.then?.(socket)
      timer = setTimeout(() => done(false), options.waitMs ?? 5_000)
    })
  })
}

/** A request head; a header given as '' is left out. */
export function rawHead(method: string, path: string, headers: Record<string, string>): string {
  const lines = Object.entries({ host: 'localhost', connection: 'close', ...headers })
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}: ${v}`)
  return `${method} ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`
}

/** The status, headers and (de-chunked) body of the first response in `text`; what follows it is left out. */
export function parseRaw(text: string): { status: number; headers: Record<string, string>; body: string } {
  const end = text.indexOf('\r\n\r\n')
  const [statusLine = '', ...lines] = text.slice(0, end === -1 ? text.length : end).split('\r\n')
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]))
  let body = end === -1 ? '' : text.slice(end + 4)
  if (headers['content-length'] !== undefined) body = body.slice(0, Number(headers['content-length']))
  else if (headers['transfer-encoding'] === 'chunked') body = body.slice(0, body.indexOf('\r\n0\r\n\r\n') + 2).replace(/(?:^|\r\n)[0-9a-f]+\r\n/gi, '').replace(/\r\n$/, '')
  return { status: Number(statusLine.split(' ')[1]), headers, body }
}
