import { describe, expect, it } from 'vitest'
import { ADMIN_PREFIX, openApiDocument, operationId } from './openapi.ts'
import { fastifyPath } from './route.ts'
import { ADMIN_ROUTES } from './routes/index.ts'

interface Operation {
  operationId: string
  parameters: { name: string; in: string; required: boolean; schema: Record<string, unknown> }[]
  requestBody?: { content: { 'application/json': { schema: Schema } } }
  responses: Record<string, { content?: Record<string, unknown> }>
}
interface Schema {
  type?: string
  properties?: Record<string, Schema>
  additionalProperties?: boolean | Schema
  propertyNames?: Schema
}

const doc = openApiDocument() as { openapi: string; servers: { url: string }[]; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown> } }
const operations = Object.entries(doc.paths).flatMap(([path, byMethod]) => Object.entries(byMethod).map(([method, op]) => ({ path, method, op })))

/** Every property of a schema, at any depth, with its dotted name. */
function properties(schema: Schema, prefix = ''): [string, Schema][] {
  return Object.entries(schema.properties ?? {}).flatMap(([name, child]) => [[`${prefix}${name}`, child] as [string, Schema], ...properties(child, `${prefix}${name}.`)])
}

describe('the admin OpenAPI document', () => {
  it('is OpenAPI 3.1 under /admin/v1 with one operation per route', () => {
    expect(doc.openapi).toBe('3.1.0')
    expect(doc.servers).toEqual([{ url: ADMIN_PREFIX }])
    expect(operations).toHaveLength(ADMIN_ROUTES.length)
    expect(new Set(operations.map((o) => o.op.operationId)).size).toBe(operations.length)
  })

  it('declares exactly the path parameters each path template has', () => {
    for (const { path, op } of operations) {
      const inTemplate = [...path.matchAll(/\{([A-Za-z]+)\}/g)].map((m) => m[1])
      const declared = op.parameters.filter((p) => p.in === 'path').map((p) => p.name)
      expect(declared, path).toEqual(inTemplate)
    }
  })

  it('refuses unknown fields in every request body, as the server does', () => {
    for (const { path, method, op } of operations) {
      const body = op.requestBody?.content['application/json'].schema
      if (body === undefined) continue
      expect(body.additionalProperties, `${method} ${path}`).toBe(false)
      // Objects with named fields refuse others; a map (no named fields, its keys constrained by propertyNames) holds any key.
      for (const [name, schema] of properties(body)) {
        if (schema.type !== 'object') continue
        const isMap = schema.properties === undefined && schema.propertyNames !== undefined
        expect(isMap ? schema.additionalProperties : false, name).not.toBe(true)
        if (!isMap) expect(schema.additionalProperties, name).toBe(false)
      }
    }
  })

  it('types every money field as an integer', () => {
    const money = operations.flatMap(({ op }) => properties(op.requestBody?.content['application/json'].schema ?? {})).filter(([name]) => /MicroUsd/.test(name))
    expect(money.map(([name]) => name)).toEqual(expect.arrayContaining(['amountMicroUsd', 'limitMicroUsd']))
    for (const [name, schema] of money) expect(JSON.stringify(schema), name).toMatch(/"type":"integer"/)
  })

  it('documents the error shape, and answers 204 with no body', () => {
    expect(doc.components.schemas.Error).toBeDefined()
    expect(JSON.stringify(doc)).not.toMatch(/"\$ref":"#\/components\/schemas\/(?!Error")/)
    const revoke = doc.paths['/tenants/{tenantId}/keys/{keyId}']!.delete!
    expect(revoke.responses['204']).toEqual({ description: 'Done' })
    expect(Object.keys(revoke.responses)).toEqual(expect.arrayContaining(['400', '401', '403', '404', '409']))
  })

  it('marks optional and defaulted query parameters as not required', () => {
    const audit = doc.paths['/tenants/{tenantId}/audit']!.get!
    expect(audit.parameters.find((p) => p.name === 'format')).toMatchObject({ in: 'query', required: false })
    const removeBudget = doc.paths['/tenants/{tenantId}/budgets/{scope}']!.delete!
    expect(removeBudget.parameters.find((p) => p.name === 'period')).toMatchObject({ in: 'query', required: true })
  })
})

describe('route paths', () => {
  it('turns {param} into :param, and a greedy last parameter into a wildcard', () => {
    expect(fastifyPath({ path: '/tenants/{tenantId}/keys/{keyId}/rotate' })).toBe('/tenants/:tenantId/keys/:keyId/rotate')
    expect(fastifyPath({ path: '/tenants/{tenantId}/price-overrides/{model}', greedyParam: 'model' })).toBe('/tenants/:tenantId/price-overrides/*')
  })

  it('names operations after their method and path', () => {
    expect(operationId({ method: 'POST', path: '/tenants/{tenantId}/keys/{keyId}/rotate' })).toBe('postTenantsKeysRotate')
    expect(operationId({ method: 'GET', path: '/tenants/{tenantId}/alert-rules' })).toBe('getTenantsAlertRules')
  })

  it('registers no method and path twice', () => {
    const keys = ADMIN_ROUTES.map((r) => `${r.method} ${fastifyPath(r)}`)
    expect(new Set(keys).size).toBe(keys.length)
  })
})
