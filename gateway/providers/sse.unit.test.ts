import { describe, expect, it } from 'vitest'
import { SseParser, parseSseText } from './sse.ts'

describe('SseParser', () => {
  it('parses named events, multi-line data, comments and CRLF', () => {
    expect(parseSseText(': ping\r\nevent: message_start\r\ndata: {"a":1}\r\n\r\ndata: line1\ndata: line2\n\n')).toEqual([
      { event: 'message_start', data: '{"a":1}' },
      { data: 'line1\nline2' },
    ])
  })

  it('reassembles events split at any byte, including inside a multi-byte character', () => {
    const text = 'event: delta\ndata: {"text":"héllo 👋"}\n\ndata: [DONE]\n\n'
    const bytes = Buffer.from(text)
    for (let cut = 1; cut < bytes.length; cut++) {
      const parser = new SseParser()
      const events = [...parser.push(bytes.subarray(0, cut)), ...parser.push(bytes.subarray(cut)), ...parser.end()]
      expect(events, `cut at ${cut}`).toEqual([{ event: 'delta', data: '{"text":"héllo 👋"}' }, { data: '[DONE]' }])
    }
  })

  it('delivers a last event that no blank line closed', () => {
    expect(parseSseText('data: {"done":true}')).toEqual([{ data: '{"done":true}' }])
  })
})
