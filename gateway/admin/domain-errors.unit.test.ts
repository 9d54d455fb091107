import Fastify from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'
import { DomainError } from '../control/decider.ts'
import { errorsPlugin, toGatewayError } from '../plugins/errors.ts'

describe("the control plane's errors over HTTP", () => {
  it('maps each kind to its code, status and type, keeping the message and param', () => {
    expect(toGatewayError(new DomainError('invalid', 'expiresAt must be in the future', 'expiresAt')).toBody()).toEqual({
      error: { message: 'expiresAt must be in the future', type: 'invalid_request_error', param: 'expiresAt', code: 'invalid_request' },
    })
    const notFound = toGatewayError(new DomainError('not_found', 'No such key'))
    expect([notFound.status, notFound.code, notFound.type, notFound.param]).toEqual([404, 'not_found', 'not_found_error', null])
    const conflict = toGatewayError(new DomainError('conflict', 'The key is revoked'))
    expect([conflict.status, conflict.code, conflict.type]).toEqual([409, 'conflict', 'invalid_request_error'])
  })

  const app = Fastify()
  void app.register(errorsPlugin)
  app.get('/conflict', () => {
    throw new DomainError('conflict', 'Someone else changed this resource at the same time; read it again and retry')
  })
  afterAll(() => app.close())

  it('answers a thrown DomainError in the OpenAI shape', async () => {
    const response = await app.inject({ method: 'GET', url: '/conflict' })
    expect(response.statusCode).toBe(409)
    expect(response.json()).toEqual({
      error: { message: 'Someone else changed this resource at the same time; read it again and retry', type: 'invalid_request_error', param: null, code: 'conflict' },
    })
  })
})
