import Fastify from 'fastify'
import type { InjectOptions } from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { GatewayError } from '../errors.ts'
import { errorsPlugin } from './errors.ts'

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
