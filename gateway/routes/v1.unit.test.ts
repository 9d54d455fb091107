import type { FastifyRequest } from 'fastify'
import { describe, expect, it } from 'vitest'
import type { Principal } from '../auth/api-keys.ts'
import { baseRecord } from './v1.ts'

const principal: Principal = { keyId: 'key_1', name: 'app', tenantId: 'ten_1', role: 'developer', projectId: null }
const request = (headers: Record<string, string> = {}) => ({ id: 'req_1', headers }) as unknown as FastifyRequest

describe('the usage record of a call', () => {
  it('keeps the end user and the requested model as sent', () => {
    expect(baseRecord(request({ 'x-supergate-user': 'josé' }), principal, 'chat.completions', { model: 'openai/gpt-4o-mini' })).toMatchObject({ user: 'josé', model: 'openai/gpt-4o-mini' })
  })

  it('refuses an end user or a model that the event stores cannot hold (NUL, a lone surrogate), with a 400 naming it', () => {
    // A lone surrogate in a usage event stopped the analytics sink: ClickHouse refused the batch, which was delivered again forever.
    const refused = (body: { model: string; user?: string }) => {
      try {
        baseRecord(request(), principal, 'chat.completions', body)
      } catch (error) {
        return error
      }
      return undefined
    }
    expect(refused({ model: 'openai/gpt-4o-mini', user: 'u\ud800' })).toMatchObject({ code: 'invalid_request', status: 400, param: 'user' })
    expect(refused({ model: 'openai/gpt-4o-mini', user: 'u\u0000' })).toMatchObject({ code: 'invalid_request', param: 'user' })
    expect(refused({ model: 'openai/x\ud800' })).toMatchObject({ code: 'invalid_request', param: 'model' })
  })
})
