import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import type { InjectOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { GatewayError } from '../errors.ts'
import { answerClientError, answerFrameworkError, errorsPlugin } from './errors.ts'

function appWithRoutes() {
  const app = Fastify({ bodyLimit: 1024 })
  void app.register(errorsPlugin)
  app.post('/echo', (request) => ({ got: request.body }))
  app.get('/zod', (request) => z.object({ model: z.string() }).parse(request.query))
  app.get('/gateway-error', () => {
    throw new GatewayError('service_unavailable', 'Upstream is draining')
  })
  app.get('/bug', () => {
    throw new Error('secret internals at /srv/app.ts:42')
  })
  return app
}

describe('the errors plugin', () => {
  const app = appWithRoutes()
  afterAll(() => app.close())

  const errorOf = async (options: InjectOptions) => {
    const response = await app.inject(options)
    return { status: response.statusCode, body: response.json<{ error: Record<string, unknown> }>() }
  }

  it('answers an unknown route with 404 in the OpenAI shape', async () => {
    expect(await errorOf({ method: 'GET', url: '/v1/nothing?x=1' })).toEqual({
      status: 404,
      body: { error: { message: 'Unknown route: GET /v1/nothing', type: 'not_found_error', param: null, code: 'route_not_found' } },
    })
  })

  it('answers malformed JSON with invalid_json', async () => {
    const { status, body } = await errorOf({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: '{"model":' })
    expect(status).toBe(400)
    expect(body.error).toMatchObject({ code: 'invalid_json', type: 'invalid_request_error' })
  })

  it('answers an oversized body with body_too_large', async () => {
    const { status, body } = await errorOf({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ text: 'x'.repeat(4096) }),
    })
    expect(status).toBe(413)
    expect(body.error.code).toBe('body_too_large')
  })

  it('answers a body that is not JSON with unsupported_media_type', async () => {
    const { status, body } = await errorOf({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/xml' }, payload: '<a/>' })
    expect(status).toBe(415)
    expect(body.error.code).toBe('unsupported_media_type')
  })

  it('names the offending field of a schema error', async () => {
    const { status, body } = await errorOf({ method: 'GET', url: '/zod' })
    expect(status).toBe(400)
    expect(body.error).toMatchObject({ code: 'invalid_request', param: 'model' })
  })

  it('passes a GatewayError through with its own status', async () => {
    expect(await errorOf({ method: 'GET', url: '/gateway-error' })).toEqual({
      status: 503,
      body: { error: { message: 'Upstream is draining', type: 'service_unavailable_error', param: null, code: 'service_unavailable' } },
    })
  })

  it('hides the message and stack of an unexpected error', async () => {
    const response = await app.inject({ method: 'GET', url: '/bug' })
    expect(response.statusCode).toBe(500)
    expect(response.json<{ error: { code: string } }>().error.code).toBe('internal_error')
    expect(response.body).not.toContain('secret internals')
    expect(response.body).not.toContain('.ts:')
  })
})

describe('errors before a route runs', () => {
  const app = Fastify({ clientErrorHandler: answerClientError, frameworkErrors: answerFrameworkError, requestTimeout: 300, http: { headersTimeout: 300, connectionsCheckingInterval: 50 } })
  void app.register(errorsPlugin)
  app.get('/v1/models/*', () => ({ ok: true }))
  beforeAll(() => app.listen({ port: 0, host: '127.0.0.1' }))
  afterAll(() => app.close())

  /** Writes raw bytes and reads what the server answers before it closes the connection. */
  const raw = (bytes: string): Promise<string> => {
    const { port } = app.server.address() as AddressInfo
    return new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(bytes))
      let text = ''
      socket.on('data', (d: Buffer) => (text += d.toString('latin1')))
      socket.on('close', () => resolve(text))
    })
  }
  const bodyOf = (text: string) => JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { error: { code: string; type: string } }

  it('answers a path that does not percent-decode with a 400 in the OpenAI shape', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/models/%' })
    expect(response.statusCode).toBe(400)
    expect(response.json<{ error: { code: string; type: string } }>().error).toMatchObject({ code: 'invalid_request', type: 'invalid_request_error' })
  })

  it('answers bytes that are not HTTP with a 400 in the OpenAI shape, and closes', async () => {
    const text = await raw('GET / HTTP/1.1\r\nhost: x\r\nbad header line\r\n\r\n')
    expect(text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/)
    expect(bodyOf(text).error.code).toBe('invalid_request')
  })

  it('answers a request not received within the timeout with a 408 in the OpenAI shape, and closes', async () => {
    const text = await raw('POST /v1/models/x HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 10\r\n\r\n{')
    expect(text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/)
    expect(bodyOf(text).error).toEqual({ message: 'The request was not received in time', type: 'invalid_request_error', param: null, code: 'request_timeout' })
  })
})
