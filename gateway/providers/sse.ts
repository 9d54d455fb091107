import type { SseEvent } from './types.ts'

/**
 * Server-sent events framing, written once for every provider (WHATWG spec): lines end in LF, CRLF or
 * CR; `data:` lines join with LF; an event ends at a blank line; comments (`:`) and `retry:` are skipped.
 * Feed it bytes as they arrive; it returns the events completed so far. OpenAI-style `[DONE]` is an
 * ordinary event here: the adapter decides what it means.
 */
export class SseParser {
  readonly #decoder = new TextDecoder('utf-8')
  #buffer = ''
  #event: string | undefined
  #data: string[] = []

  push(chunk: Uint8Array): SseEvent[] {
    this.#buffer += this.#decoder.decode(chunk, { stream: true })
    return this.#drain(false)
  }

  /** The stream ended: an event not closed by a blank line is still delivered (Gemini ends without one). */
  end(): SseEvent[] {
    this.#buffer += this.#decoder.decode()
    return this.#drain(true)
  }

  #drain(final: boolean): SseEvent[] {
    const events: SseEvent[] = []
    let start = 0
    for (;;) {
      const lf = this.#buffer.indexOf('\n', start)
      const cr = this.#buffer.indexOf('\r', start)
      const end = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr)
      if (end === -1) break
      // A CR at the very end may be the first half of CRLF: wait for the next byte.
      if (end === cr && end === this.#buffer.length - 1 && !final) break
      const line = this.#buffer.slice(start, end)
      start = end + (this.#buffer[end] === '\r' && this.#buffer[end + 1] === '\n' ? 2 : 1)
      this.#line(line, events)
    }
    this.#buffer = this.#buffer.slice(start)
    if (final) {
      if (this.#buffer !== '') this.#line(this.#buffer, events)
      this.#buffer = ''
      this.#dispatch(events)
    }
    return events
  }

  #line(line: string, events: SseEvent[]): void {
    if (line === '') return this.#dispatch(events)
    if (line.startsWith(':')) return
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') this.#data.push(value)
    else if (field === 'event') this.#event = value
  }

  #dispatch(events: SseEvent[]): void {
    if (this.#data.length > 0) {
      const event: SseEvent = { data: this.#data.join('\n') }
      if (this.#event !== undefined) event.event = this.#event
      events.push(event)
    }
    this.#data = []
    this.#event = undefined
  }
}

/** One SSE frame as the gateway writes it to clients. */
export function sseFrame(data: string, event?: string): string {
  return event === undefined ? `data: ${data}\n\n` : `event: ${event}\ndata: ${data}\n\n`
}

/** Parses a whole SSE text at once: for fixtures and tests. */
export function parseSseText(text: string): SseEvent[] {
  const parser = new SseParser()
  return [...parser.push(Buffer.from(text)), ...parser.end()]
}
