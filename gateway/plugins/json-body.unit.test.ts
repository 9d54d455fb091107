import Fastify from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'
import { errorsPlugin } from './errors.ts'
import { MAX_JSON_DEPTH, jsonBodyPlugin, nestsDeeperThan } from './json-body.ts'

const nested = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`

describe('the JSON body parser', () => {
  const app = Fastify()
  void app.register(errorsPlugin)
  void app.register(jsonBodyPlugin)
  app.post('/echo', (request) => ({ depthOk: true, keys: Object.keys(request.body as object) }))
  afterAll(() => app.close())

  const post = (payload: string) => app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json; charset=utf-8' }, payload })

  it('accepts a body nested exactly as deep as the limit', async () => {
    const response = await post(`{"a":${nested(MAX_JSON_DEPTH - 1)}}`)
    expect(response.statusCode).toBe(200)
  })

  it('refuses a body nested deeper, even 100,000 levels, with a 400 in the error shape', async () => {
    for (const depth of [MAX_JSON_DEPTH, 100_000]) {
      const response = await post(`{"a":${nested(depth)}}`)
      expect(response.statusCode).toBe(400)
      expect(response.json()).toEqual({ error: { message: `The JSON body nests deeper than ${MAX_JSON_DEPTH} levels`, type: 'invalid_request_error', param: null, code: 'invalid_request' } })
    }
  })

  it('still refuses prototype poisoning and bad or empty JSON', async () => {
    for (const payload of ['{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '{"a":', '']) {
      const response = await post(payload)
      expect(response.statusCode, payload).toBe(400)
      expect(response.json<{ error: { code: string } }>().error.code, payload).toBe('invalid_json')
    }
  })

  it('counts objects and arrays alike', () => {
    expect(nestsDeeperThan({ a: [{ b: [1] }] }, 4)).toBe(false)
    expect(nestsDeeperThan({ a: [{ b: [1] }] }, 3)).toBe(true)
    expect(nestsDeeperThan('text', 0)).toBe(false)
  })
})
