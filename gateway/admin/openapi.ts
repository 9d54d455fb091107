import { z } from 'zod'
import { ERROR_CODES } from '../errors.ts'
import { REASON_HEADER } from './route.ts'
import type { AdminRoute } from './route.ts'
import { ADMIN_ROUTES } from './routes/index.ts'

export const ADMIN_PREFIX = '/admin/v1'

type JsonSchema = Record<string, unknown>
type AnyRoute = AdminRoute<z.ZodType, z.ZodType, z.ZodType>

const errorBody = z.strictObject({
  error: z.strictObject({
    message: z.string(),
    type: z.string(),
    param: z.string().nullable().describe('The offending field, header or parameter, when there is one'),
    code: z.enum(Object.keys(ERROR_CODES) as [keyof typeof ERROR_CODES, ...(keyof typeof ERROR_CODES)[]]),
  }),
})

/** JSON Schema 2020-12 (OpenAPI 3.1's dialect) of what a client sends (`input`) or receives (`output`). */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as JsonSchema
  return rest
}

function shapeOf(schema: z.ZodType | undefined): Record<string, z.ZodType> {
  // An object checked as a whole afterwards (`.transform`) is a pipe whose input is the object.
  if (schema instanceof z.ZodPipe) return shapeOf(schema.in as z.ZodType)
  return schema instanceof z.ZodObject ? schema.shape : {}
}

function parameters(route: AnyRoute): JsonSchema[] {
  const path = Object.entries(shapeOf(route.params)).map(([name, schema]) => ({
    name,
    in: 'path',
    required: true,
    schema: jsonSchema(schema, 'input'),
    ...(name === route.greedyParam ? { description: "May contain '/' (e.g. openai/gpt-4o): send it URL-encoded" } : {}),
  }))
  const query = Object.entries(shapeOf(route.query)).map(([name, schema]) => ({
    name,
    in: 'query',
    // Optional and defaulted fields accept nothing.
    required: !schema.safeParse(undefined).success,
    schema: jsonSchema(schema, 'input'),
  }))
  const reason =
    route.method === 'GET'
      ? []
      : [{ name: REASON_HEADER, in: 'header', required: false, description: 'Why: stored in the audit trail with the change', schema: { type: 'string', maxLength: 1000 } }]
  return [...path, ...query, ...reason]
}

const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } })

function responses(route: AnyRoute): JsonSchema {
  const success: JsonSchema =
    route.status === 204
      ? { description: 'Done' }
      : {
          description: 'OK',
          content: {
            'application/json': { schema: route.response === undefined ? {} : jsonSchema(route.response, 'output') },
            ...(route.alsoProduces === undefined ? {} : { [route.alsoProduces]: { schema: { type: 'string' } } }),
          },
        }
  return {
    [String(route.status)]: success,
    '400': errorResponse('Malformed input: `param` names the field, parameter or header'),
    '401': errorResponse('No admin token or API key, or an unknown one'),
    ...(route.access === 'self' ? {} : { '403': errorResponse("The key's role does not allow this") }),
    ...(route.access === 'platform' || route.access === 'self' ? {} : { '404': errorResponse('No such tenant (or one this key may not see), or no such resource') }),
    ...(route.method === 'GET' ? {} : { '409': errorResponse('A concurrent change won, or the resource is in a state that forbids this') }),
  }
}

/** `POST /tenants/{tenantId}/keys/{keyId}/rotate` → `postTenantsKeysRotate`. */
export function operationId(route: Pick<AdminRoute, 'method' | 'path'>): string {
  const words = route.path
    .split('/')
    .filter((segment) => segment !== '' && !segment.startsWith('{'))
    .flatMap((segment) => segment.split('-'))
  return [route.method.toLowerCase(), ...words.map((w) => w[0]!.toUpperCase() + w.slice(1))].join('')
}

/** The OpenAPI 3.1 document of the admin API, written from the same definitions that register the routes. */
export function openApiDocument(routes: readonly AnyRoute[] = ADMIN_ROUTES): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {}
  for (const route of routes) {
    paths[route.path] ??= {}
    paths[route.path]![route.method.toLowerCase()] = {
      operationId: operationId(route),
      summary: route.summary,
      tags: [route.tag],
      parameters: parameters(route),
      ...(route.body === undefined
        ? {}
        : { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } } }),
      responses: responses(route),
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Supergate admin API',
      version: '1',
      description:
        'Tenants, projects, members, API keys, provider credentials, credits, budgets, alert rules, price overrides and the audit trail. ' +
        'Money is in whole micro-USD (fields ending in MicroUsd). Every change is recorded with its actor, source IP and the reason given in ' +
        `${REASON_HEADER}.`,
    },
    servers: [{ url: ADMIN_PREFIX }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'The bootstrap admin token (SUPERGATE_ADMIN_TOKEN) or an API key' } },
      schemas: { Error: jsonSchema(errorBody, 'output') },
    },
  }
}
