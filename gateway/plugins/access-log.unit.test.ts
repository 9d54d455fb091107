import { afterEach, describe, expect, it } from 'vitest'
import { API_KEY, startEmbeddedGateway } from '../../test/support/embedded-gateway.ts'
import type { EmbeddedGateway } from '../../test/support/embedded-gateway.ts'
import { loggedUrl } from './access-log.ts'

const PROMPT = 'my private prompt about patient 4711'
let gateway: EmbeddedGateway | undefined

afterEach(async () => {
  await gateway?.close()
  gateway = undefined
})

async function callAndLog(logPrompts: boolean): Promise<Record<string, unknown>[]> {
  const lines: string[] = []
  gateway = await startEmbeddedGateway({ logLines: lines, logPrompts })
  const answer = await gateway.app.inject({
    method: 'POST',
    url: '/v1/chat/completions?api_key=should-not-be-logged',
    headers: { authorization: `Bearer ${API_KEY}`, 'x-request-id': 'req-access-log-1' },
    payload: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }] },
  })
  expect(answer.statusCode).toBe(200)
  // A careless log call with a body is censored unless prompts are logged.
  gateway.app.log.warn({ body: { messages: [{ content: PROMPT }] } }, 'careless')
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>)
}

describe('logs', () => {
  it('writes one access line per request with its request id, tenant and key, and no query values', async () => {
    const lines = await callAndLog(false)
    const access = lines.filter((l) => l.msg === 'request' && l.requestId === 'req-access-log-1')
    expect(access).toHaveLength(1)
    expect(access[0]).toMatchObject({ method: 'POST', url: '/v1/chat/completions?api_key=…', status: 200, tenantId: expect.any(String) as unknown, keyId: expect.any(String) as unknown })
  }, 60_000)

  it('keeps prompts and keys out of the logs by default', async () => {
    const text = JSON.stringify(await callAndLog(false))
    expect(text).not.toContain(PROMPT)
    expect(text).not.toContain(API_KEY)
    expect(text).not.toContain('should-not-be-logged')
    expect(text).toContain('"body":"[redacted]"')
  }, 60_000)

  it('logs each call’s request body when SUPERGATE_LOG_PROMPTS is on, and still no key', async () => {
    const lines = await callAndLog(true)
    const body = lines.find((l) => l.msg === 'call body')
    expect(body).toMatchObject({ requestId: 'req-access-log-1', prompted: { messages: [{ role: 'user', content: PROMPT }] } })
    expect(JSON.stringify(lines)).not.toContain(API_KEY)
  }, 60_000)

  it('logs a stream the client abandoned as 499', async () => {
    const lines: string[] = []
    gateway = await startEmbeddedGateway({ logLines: lines })
    await gateway.app.listen({ port: 0, host: '127.0.0.1' })
    const address = gateway.app.server.address() as { port: number }
    const abort = new AbortController()
    const response = await fetch(`http://127.0.0.1:${address.port}/v1/chat/completions`, {
      method: 'POST',
      signal: abort.signal,
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', 'x-request-id': 'req-abandoned-1' },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', stream: true, messages: [{ role: 'user', content: '[scenario:slow_stream] tell me' }] }),
    })
    await response.body!.getReader().read()
    abort.abort()
    await expect
      .poll(() => lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'request' && l.requestId === 'req-abandoned-1'), { timeout: 10_000 })
      .toMatchObject({ status: 499, url: '/v1/chat/completions' })
  }, 60_000)

  it('names the query parameters of a logged URL without their values', () => {
    expect(loggedUrl('/v1/models?key=abc&x=1&flag')).toBe('/v1/models?key=…&x=…&flag=…')
    expect(loggedUrl('/v1/models')).toBe('/v1/models')
  })
})
