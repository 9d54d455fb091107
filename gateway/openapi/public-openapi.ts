import type { FastifyInstance } from 'fastify'
import { ADMIN_PREFIX } from '../admin/openapi.ts'
import { errorBody as anthropicErrorBody, message as anthropicMessage, streamEvent as anthropicStreamEvent } from '../providers/anthropic/inbound/response-schema.ts'
import { DASHBOARD_PATH } from '../routes/dashboard.ts'
import { PARAMETERS, dataPlanePaths } from './data-plane-paths.ts'
import { HEADERS, baseHeaders, errorResponses, ref } from './responses.ts'
import { chatCompletion, chatCompletionChunk, embeddingsList, errorBody, health, jsonSchema, model, modelList, readiness } from './schemas.ts'
import type { JsonSchema } from './schemas.ts'

export const PUBLIC_OPENAPI_PATH = '/openapi.json'

/** What this process serves besides the probes: the document describes these parts and no others. */
export interface PublicSurface {
  /** /v1: chat completions, embeddings, models and messages. */
  dataPlane: boolean
  /** The admin API's own document and the dashboard that reads it (its operations are in that document). */
  admin: boolean
  metrics: boolean
}

const json = (schema: JsonSchema) => ({ 'application/json': { schema } })
const DRAINING = errorResponses(['service_unavailable'])

/** The probes, /metrics and the API descriptions: no key needed. */
function operationalPaths(surface: PublicSurface): Record<string, Record<string, JsonSchema>> {
  const ops = (operationId: string, summary: string, responses: JsonSchema) => ({ get: { operationId, tags: ['Operations'], summary, security: [], responses } })
  return {
    '/health': ops('getHealth', 'Liveness: the process answers (even while draining)', {
      '200': { description: 'Alive', headers: baseHeaders('openai'), content: json(ref('schemas', 'Health')) },
    }),
    '/ready': ops('getReadiness', 'Readiness: the process can serve traffic and is not shutting down', {
      '200': { description: 'Ready (every dependency answers) or degraded (only dependencies it serves without are down, each saying how)', headers: baseHeaders('openai'), content: json(ref('schemas', 'Readiness')) },
      '503': { description: 'A dependency it cannot serve without (the SQL store) is down, named with why, or the process is draining', headers: baseHeaders('openai'), content: json(ref('schemas', 'Readiness')) },
    }),
    ...(surface.metrics
      ? {
          '/metrics': ops('getMetrics', 'Prometheus metrics: calls, latency, tokens, spend, cache, rejections, upstream errors and breakers by tenant, provider and model; the event publisher and spool; projection lag; limiter outages', {
            '200': {
              description: 'Prometheus text exposition format 0.0.4. Not authenticated: expose it only where your scraper runs.',
              headers: baseHeaders('openai'),
              content: { 'text/plain; version=0.0.4': { schema: { type: 'string' } } },
            },
            ...DRAINING,
          }),
        }
      : {}),
    [PUBLIC_OPENAPI_PATH]: ops('getOpenApi', 'This document', {
      '200': { description: 'The OpenAPI 3.1 document of what this process serves outside /admin/v1', headers: baseHeaders('openai'), content: json({ type: 'object' }) },
      ...DRAINING,
    }),
    ...(surface.admin
      ? {
          [`${ADMIN_PREFIX}/openapi.json`]: ops('getAdminOpenApi', "The admin API's OpenAPI document", {
            '200': { description: `The OpenAPI 3.1 document of the admin API, whose server is ${ADMIN_PREFIX}`, headers: baseHeaders('openai'), content: json({ type: 'object' }) },
            ...DRAINING,
          }),
        }
      : {}),
  }
}

const DASHBOARD_ASSETS: readonly [name: string, mediaType: string][] = [
  ['dashboard.js', 'text/javascript'],
  ['api.js', 'text/javascript'],
  ['charts.js', 'text/javascript'],
  ['format.js', 'text/javascript'],
  ['dashboard.css', 'text/css'],
  ['chart.umd.min.js', 'text/javascript'],
]

/** The dashboard's static files: no data in them, so no key; the page signs in to the admin API itself. */
function dashboardPaths(): Record<string, Record<string, JsonSchema>> {
  const file = (operationId: string, summary: string, mediaType: string) => ({
    get: {
      operationId,
      tags: ['Dashboard'],
      summary,
      security: [],
      parameters: [{ name: 'if-none-match', in: 'header', required: false, description: 'The ETag of a copy the browser holds', schema: { type: 'string' } }],
      responses: {
        '200': { description: 'The file, with its ETag and cache-control: no-cache', headers: baseHeaders('openai'), content: { [mediaType]: { schema: { type: 'string' } } } },
        '304': { description: 'Unchanged since the ETag sent in if-none-match', headers: baseHeaders('openai') },
        ...DRAINING,
      },
    },
  })
  const assets = DASHBOARD_ASSETS.map(([name, mediaType]) => {
    const id = name.replace(/\.(\w)/g, (_all, c: string) => c.toUpperCase()).replace(/^\w/, (c) => c.toUpperCase())
    return [`${DASHBOARD_PATH}/assets/${name}`, file(`getDashboardAsset${id}`, `The dashboard's ${name}`, mediaType)] as const
  })
  return {
    [DASHBOARD_PATH]: file('getDashboard', 'The spend dashboard page', 'text/html'),
    [`${DASHBOARD_PATH}/`]: {
      get: {
        operationId: 'redirectDashboard',
        tags: ['Dashboard'],
        summary: `Redirects to ${DASHBOARD_PATH}`,
        security: [],
        responses: { '301': { description: `Moved to ${DASHBOARD_PATH}`, headers: { ...baseHeaders('openai'), location: { schema: { type: 'string', const: DASHBOARD_PATH } } } }, ...DRAINING },
      },
    },
    ...Object.fromEntries(assets),
  }
}

/** The OpenAPI 3.1 document of the public API: request bodies come from the zod schemas that validate them. */
export function publicOpenApiDocument(surface: PublicSurface): JsonSchema {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Supergate public API',
      version: '1',
      description:
        "OpenAI's Chat Completions, Embeddings and Models APIs and Anthropic's Messages API, in front of every provider, with the gateway's probes and metrics. " +
        'Errors have OpenAI\'s shape `{error: {message, type, param, code}}` with the codes of docs/errors.md (Anthropic\'s shape on /v1/messages). ' +
        'A client that goes away is recorded with status 499, which no client receives. The admin API has its own document at ' +
        `${ADMIN_PREFIX}/openapi.json.`,
    },
    tags: ['Chat', 'Embeddings', 'Models', 'Messages', 'Operations', 'Dashboard'].map((name) => ({ name })),
    paths: {
      ...operationalPaths(surface),
      ...(surface.dataPlane ? dataPlanePaths() : {}),
      ...(surface.admin ? dashboardPaths() : {}),
    },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API key (or the bootstrap admin token): Authorization: Bearer <key>' },
        apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: "The same key in x-api-key, as Anthropic's clients send it; Authorization wins when both are sent" },
      },
      parameters: PARAMETERS,
      headers: HEADERS,
      schemas: {
        ChatCompletion: jsonSchema(chatCompletion),
        ChatCompletionChunk: jsonSchema(chatCompletionChunk),
        EmbeddingsList: jsonSchema(embeddingsList),
        Model: jsonSchema(model),
        ModelList: jsonSchema(modelList),
        AnthropicMessage: jsonSchema(anthropicMessage),
        AnthropicStreamEvent: jsonSchema(anthropicStreamEvent),
        AnthropicError: jsonSchema(anthropicErrorBody),
        Error: jsonSchema(errorBody),
        Health: jsonSchema(health),
        Readiness: jsonSchema(readiness),
      },
    },
  }
}

/**
 * Serves the document at /openapi.json. Public, as the admin API serves its own: it holds no data, and
 * clients generate code from it. Built once, for the parts this process serves.
 */
export function publicOpenApiRoute(app: FastifyInstance, surface: PublicSurface): void {
  const document = publicOpenApiDocument(surface)
  app.get(PUBLIC_OPENAPI_PATH, (_request, reply) => reply.send(document))
}
