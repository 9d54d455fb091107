import Fastify from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import type { Principal } from '../auth/api-keys.ts'
import { errorsPlugin } from '../plugins/errors.ts'
import { defineRoute, registerRoute } from './route.ts'
import type { AdminServices } from './route.ts'

const caller: Principal = { keyId: 'key_1', name: 'owner', tenantId: 'ten_1', role: 'owner' }

describe('an admin route', () => {
  const app = Fastify()
  void app.register(errorsPlugin)
  const route = defineRoute({
    method: 'PUT',
    path: '/things/{name}',
    summary: 'Echo',
    tag: 'test',
    access: 'self',
    params: z.strictObject({ name: z.string() }),
    query: z.strictObject({ q: z.string().optional() }),
    body: z.strictObject({ label: z.string(), tags: z.record(z.string(), z.string()).optional() }),
    status: 200,
    handle: ({ params, body }) => Promise.resolve({ name: params.name, ...body }),
  })
  registerRoute(app, route, { authenticate: (secret) => (secret === 'good' ? caller : undefined) }, {} as AdminServices)
  afterAll(() => app.close())

  const put = (url: string, payload: object, headers: Record<string, string> = {}) =>
    app.inject({ method: 'PUT', url, headers: { authorization: 'Bearer good', ...headers }, payload })

  it('refuses text the stores cannot hold, in the path, the query, the body or a header, as a 400 naming it', async () => {
    const cases: [string, object, Record<string, string>, string][] = [
      ['/things/a%00b', { label: 'x' }, {}, 'name'],
      ['/things/a?q=%00', { label: 'x' }, {}, 'q'],
      ['/things/a', { label: 'x\u0000' }, {}, 'label'],
      ['/things/a', { label: 'x', tags: { '\ud800': 'y' } }, {}, 'tags.\ud800'],
      ['/things/a', { label: 'x' }, { 'x-supergate-reason': 'why\u0000' }, 'x-supergate-reason'],
    ]
    for (const [url, body, headers, param] of cases) {
      const response = await put(url, body, headers)
      expect(response.statusCode, url).toBe(400)
      expect(response.json<{ error: { param: string; code: string } }>().error, url).toMatchObject({ code: 'invalid_request', param })
    }
  })

  it('passes ordinary Unicode through', async () => {
    const response = await put('/things/caf%C3%A9', { label: 'josé 🙂', tags: { clé: 'valeur' } })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ name: 'café', label: 'josé 🙂', tags: { clé: 'valeur' } })
  })
})
