import { Ajv2020 } from 'ajv/dist/2020.js'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import type { z } from 'zod'
import { API_KEY, startEmbeddedGateway } from '../../test/support/embedded-gateway.ts'
import type { EmbeddedGateway } from '../../test/support/embedded-gateway.ts'
import type { ChatCompletion, ChatCompletionChunk } from '../api/chat-completions.ts'
import type { EmbeddingsResponse } from '../api/embeddings.ts'
import type { ErrorBody } from '../errors.ts'
import type { errorBody as anthropicErrorBody, errorType, message, stopReason, streamEvent } from '../providers/anthropic/inbound/response-schema.ts'
import type { AnthropicErrorBody, AnthropicErrorType, MessageOut, StopReason, StreamEventOut } from '../providers/anthropic/inbound/wire.ts'
import { publicOpenApiDocument } from './public-openapi.ts'
import type { chatCompletion, chatCompletionChunk, embeddingsList, errorBody } from './schemas.ts'

type Schema = Record<string, unknown>
interface DocumentedResponse {
  description: string
  headers?: Record<string, unknown>
  content?: Record<string, { schema: Schema }>
}
interface Operation {
  requestBody?: { content: Record<string, { schema: Schema }> }
  responses: Record<string, DocumentedResponse>
}
interface Document {
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, Schema> }
}

const doc = publicOpenApiDocument({ dataPlane: true, admin: true, metrics: true }) as unknown as Document
const operations = Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op })))

// strictTypes off: the narrowing half of an `allOf` names `properties` without repeating `type: object`.
const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false })
ajv.addVocabulary(['components'])
ajv.addSchema({ $id: 'openapi', components: doc.components })
/** A schema of the document, its `#/components/...` references resolved in the document. */
const compile = (schema: Schema) => ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/')) as Schema)

function expectValid(schema: Schema, value: unknown, what: string): void {
  const validate = compile(schema)
  expect(validate(value), `${what}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value)}`).toBe(true)
}

/** The gateway's own headers: each that an answer carries must be documented on it. */
const OWN_HEADER = /^(x-request-id|request-id|retry-after(-ms)?|x-supergate-.*|x-ratelimit-.*)$/

/** Checks an answer against its operation: the expected status, documented, with documented headers and media type, and a JSON body valid against its schema. */
function expectDocumented(path: string, method: string, response: LightMyRequestResponse, status: number): void {
  const what = `${method.toUpperCase()} ${path} → ${response.statusCode}`
  expect(response.statusCode, `${what}: ${response.body.slice(0, 300)}`).toBe(status)
  const documented = doc.paths[path]?.[method]?.responses[String(response.statusCode)]
  expect(documented, `${what} is not documented: ${response.body.slice(0, 300)}`).toBeDefined()
  for (const name of Object.keys(response.headers).filter((h) => OWN_HEADER.test(h))) expect(Object.keys(documented!.headers ?? {}), what).toContain(name)
  if (documented!.content === undefined) return expect(response.body, what).toBe('')
  const mediaType = String(response.headers['content-type']).split(';')[0]!.trim()
  const key = Object.keys(documented!.content).find((k) => k.split(';')[0]!.trim() === mediaType)
  expect(key, `${what}: ${mediaType} is not among ${Object.keys(documented!.content).join(', ')}`).toBeDefined()
  if (mediaType === 'application/json') expectValid(documented!.content[key!]!.schema, response.json(), what)
}

/** The `data:` of each server-sent event, with its `event:` name when it has one. */
function sseEvents(body: string): { event: string | undefined; data: string }[] {
  return body
    .split('\n\n')
    .filter((frame) => frame.trim() !== '')
    .map((frame) => {
      const lines = frame.split('\n')
      const field = (name: string) => lines.find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2)
      return { event: field('event'), data: field('data') ?? '' }
    })
}

describe('the public OpenAPI document', () => {
  it('compiles, every schema in it, as JSON Schema 2020-12', () => {
    for (const [name, schema] of Object.entries(doc.components.schemas)) expect(() => compile(schema), name).not.toThrow()
    for (const { path, method, op } of operations) {
      const schemas = [op.requestBody, ...Object.values(op.responses)].flatMap((part) => Object.values(part?.content ?? {}).map((c) => c.schema))
      for (const schema of schemas) expect(() => compile(schema), `${method} ${path}`).not.toThrow()
    }
  })

  it('gives every operation an id and answers, and keys only to the data plane', () => {
    const ids = operations.map(({ op }) => (op as { operationId?: string }).operationId)
    expect(new Set(ids).size).toBe(operations.length)
    for (const { path, op } of operations) {
      const security = (op as { security?: unknown[] }).security
      expect(security, path).toEqual(path.startsWith('/v1/') ? [{ bearer: [] }, { apiKey: [] }] : [])
      expect(Object.keys(op.responses).some((status) => status.startsWith('2') || status.startsWith('3')), path).toBe(true)
    }
  })

  it('refuses unknown request fields, as the routes do', () => {
    for (const { path, op } of operations.filter(({ op }) => op.requestBody !== undefined)) {
      expect(op.requestBody!.content['application/json']!.schema.additionalProperties, path).toBe(false)
    }
  })

  it('describes the objects the routes send (checked by tsc)', () => {
    expectTypeOf<ChatCompletion>().toExtend<z.input<typeof chatCompletion>>()
    expectTypeOf<ChatCompletionChunk>().toExtend<z.input<typeof chatCompletionChunk>>()
    expectTypeOf<EmbeddingsResponse>().toExtend<z.input<typeof embeddingsList>>()
    expectTypeOf<ErrorBody>().toExtend<z.input<typeof errorBody>>()
    expectTypeOf<MessageOut>().toExtend<z.input<typeof message>>()
    expectTypeOf<StreamEventOut>().toExtend<z.input<typeof streamEvent>>()
    expectTypeOf<AnthropicErrorBody>().toExtend<z.input<typeof anthropicErrorBody>>()
    expectTypeOf<z.input<typeof errorType>>().toEqualTypeOf<AnthropicErrorType>()
    expectTypeOf<z.input<typeof stopReason>>().toEqualTypeOf<StopReason>()
  })
})

describe('real answers of the embedded gateway, against the public document', () => {
  let gateway: EmbeddedGateway
  const auth = { authorization: `Bearer ${API_KEY}` }
  const call = (method: 'GET' | 'POST', url: string, payload?: object, headers: Record<string, string> = auth) =>
    gateway.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) })
  const chat = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] }
  const anthropic = { model: 'openai/gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }] }

  beforeAll(async () => {
    gateway = await startEmbeddedGateway()
  }, 60_000)
  afterAll(async () => {
    await gateway?.close()
  })

  it('chat completions: the completion, and the stream chunk by chunk', async () => {
    expectDocumented('/v1/chat/completions', 'post', await call('POST', '/v1/chat/completions', chat), 200)
    const streamed = await call('POST', '/v1/chat/completions', { ...chat, stream: true, stream_options: { include_usage: true } })
    expectDocumented('/v1/chat/completions', 'post', streamed, 200)
    const events = sseEvents(streamed.body)
    expect(events.at(-1)?.data).toBe('[DONE]')
    for (const { data } of events.slice(0, -1)) expectValid(doc.components.schemas.ChatCompletionChunk!, JSON.parse(data), 'chunk')
  })

  it('embeddings', async () => {
    expectDocumented('/v1/embeddings', 'post', await call('POST', '/v1/embeddings', { model: 'openai/text-embedding-3-small', input: ['a', 'b'] }), 200)
    expectDocumented('/v1/embeddings', 'post', await call('POST', '/v1/embeddings', { model: 'openai/text-embedding-3-small', input: 'a', encoding_format: 'base64' }), 200)
  })

  it('models: the list, one model by its id with a slash, and one that does not exist', async () => {
    const list = await call('GET', '/v1/models')
    expectDocumented('/v1/models', 'get', list, 200)
    const first = list.json<{ data: { id: string }[] }>().data[0]!.id
    expect(first).toContain('/')
    expectDocumented('/v1/models/{model}', 'get', await call('GET', `/v1/models/${first}`), 200)
    expectDocumented('/v1/models/{model}', 'get', await call('GET', '/v1/models/openai/no-such-model'), 404)
  })

  it("messages: Anthropic's message, its stream event by event, and its error shape", async () => {
    expectDocumented('/v1/messages', 'post', await call('POST', '/v1/messages', anthropic), 200)
    const streamed = await call('POST', '/v1/messages', { ...anthropic, stream: true })
    expectDocumented('/v1/messages', 'post', streamed, 200)
    const events = sseEvents(streamed.body)
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(['message_start', 'content_block_delta', 'message_delta', 'message_stop']))
    for (const { event, data } of events) {
      const parsed = JSON.parse(data) as { type: string }
      expect(parsed.type).toBe(event)
      expectValid(doc.components.schemas.AnthropicStreamEvent!, parsed, `event ${event}`)
    }
    expectDocumented('/v1/messages', 'post', await call('POST', '/v1/messages', { ...anthropic, max_tokens: 'many' }), 400)
    expectDocumented('/v1/messages', 'post', await call('POST', '/v1/messages', anthropic, { 'x-api-key': 'sg-not-a-key-00000000000000000000' }), 401)
  })

  it('errors in OpenAI shape: a bad body, bad JSON, no key, a model without a provider here', async () => {
    expectDocumented('/v1/chat/completions', 'post', await call('POST', '/v1/chat/completions', { ...chat, temperature: 9 }), 400)
    expectDocumented('/v1/chat/completions', 'post', await call('POST', '/v1/chat/completions', { ...chat, unknown_field: 1 }), 400)
    const badJson = await gateway.app.inject({ method: 'POST', url: '/v1/embeddings', headers: { ...auth, 'content-type': 'application/json' }, payload: '{' })
    expectDocumented('/v1/embeddings', 'post', badJson, 400)
    expectDocumented('/v1/chat/completions', 'post', await call('POST', '/v1/chat/completions', chat, {}), 401)
    expectDocumented('/v1/chat/completions', 'post', await call('POST', '/v1/chat/completions', { ...chat, model: 'mistral/mistral-small-latest' }), 404)
  })

  it('every operation that needs no key: the probes, metrics, both documents and the dashboard', async () => {
    const open = operations.filter(({ op }) => (op as { security?: unknown[] }).security?.length === 0)
    expect(open.length).toBeGreaterThan(10)
    const redirects: Record<string, number> = { '/dashboard/': 301 }
    for (const { path, method } of open) expectDocumented(path, method, await gateway.app.inject({ method: 'GET', url: path }), redirects[path] ?? 200)
    expect((await gateway.app.inject({ method: 'GET', url: '/openapi.json' })).json()).toEqual(doc)
  })
})
