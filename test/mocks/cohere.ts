import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { CallCounter, scenarioIn, sseFrames } from './mock-server.ts'
import type { MockHandler, MockReply, MockRequest } from './mock-server.ts'

const fixtures = new URL('../../gateway/providers/cohere/fixtures/', import.meta.url)
const fixture = (name: string) => readFileSync(new URL(name, fixtures), 'utf8')
const jsonFixture = (name: string) => JSON.parse(fixture(name)) as unknown

/** Cohere's error body: `{ id, message }`. */
function error(status: number, message: string, headers?: Record<string, string>): MockReply {
  return { kind: 'json', status, body: { id: randomUUID(), message }, ...(headers === undefined ? {} : { headers }) }
}

function fixtureError(status: number, name: string, headers?: Record<string, string>): MockReply {
  return { kind: 'json', status, body: jsonFixture(name), ...(headers === undefined ? {} : { headers }) }
}

// Cohere API v2 request schemas, after its reference and the official SDK's serialisers: unknown fields
// are refused, enums are checked with their exact casing (roles lower-case, tool_choice upper-case).
const text = z.object({ type: z.literal('text'), text: z.string() }).strict()
const image = z.object({ type: z.literal('image_url'), image_url: z.object({ url: z.string().min(1), detail: z.enum(['auto', 'low', 'high']).optional() }).strict() }).strict()
const thinking = z.object({ type: z.literal('thinking'), thinking: z.string() }).strict()
const document = z.object({ type: z.literal('document'), document: z.object({ data: z.record(z.string(), z.unknown()), id: z.string().optional() }).strict() }).strict()
const toolCall = z.object({ id: z.string().min(1), type: z.literal('function'), function: z.object({ name: z.string().min(1), arguments: z.string() }).strict() }).strict()

const message = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content: z.union([z.string(), z.array(text)]) }).strict(),
  z.object({ role: z.literal('user'), content: z.union([z.string(), z.array(z.discriminatedUnion('type', [text, image]))]) }).strict(),
  z
    .object({
      role: z.literal('assistant'),
      content: z.union([z.string(), z.array(z.discriminatedUnion('type', [text, thinking]))]).optional(),
      tool_calls: z.array(toolCall).optional(),
      tool_plan: z.string().optional(),
      citations: z.array(z.unknown()).optional(),
    })
    .strict(),
  z.object({ role: z.literal('tool'), tool_call_id: z.string().min(1), content: z.union([z.string(), z.array(z.discriminatedUnion('type', [text, document]))]) }).strict(),
])

const chatRequest = z
  .object({
    model: z.string().min(1),
    messages: z.array(message).min(1),
    stream: z.boolean().optional(),
    tools: z
      .array(z.object({ type: z.literal('function'), function: z.object({ name: z.string().min(1), description: z.string().optional(), parameters: z.record(z.string(), z.unknown()) }).strict() }).strict())
      .optional(),
    strict_tools: z.boolean().optional(),
    documents: z.array(z.union([z.string(), z.object({ data: z.record(z.string(), z.unknown()), id: z.string().optional() }).strict()])).optional(),
    citation_options: z.object({ mode: z.enum(['ENABLED', 'DISABLED', 'FAST', 'ACCURATE', 'OFF']).optional() }).strict().optional(),
    response_format: z
      .discriminatedUnion('type', [
        z.object({ type: z.literal('text') }).strict(),
        z.object({ type: z.literal('json_object'), json_schema: z.record(z.string(), z.unknown()).optional() }).strict(),
      ])
      .optional(),
    safety_mode: z.enum(['CONTEXTUAL', 'STRICT', 'OFF']).optional(),
    max_tokens: z.number().int().min(1).optional(),
    stop_sequences: z.array(z.string()).max(5).optional(),
    temperature: z.number().min(0).optional(),
    seed: z.number().int().optional(),
    frequency_penalty: z.number().min(0).max(1).optional(),
    presence_penalty: z.number().min(0).max(1).optional(),
    k: z.number().int().min(0).max(500).optional(),
    p: z.number().min(0.01).max(0.99).optional(),
    logprobs: z.boolean().optional(),
    tool_choice: z.enum(['REQUIRED', 'NONE']).optional(),
    thinking: z.object({ type: z.enum(['enabled', 'disabled']), token_budget: z.number().int().min(1).optional() }).strict().optional(),
    priority: z.number().int().min(0).optional(),
  })
  .strict()
  .superRefine((body, issues) => {
    if (body.tool_choice === 'REQUIRED' && (body.tools ?? []).length === 0) {
      issues.addIssue({ code: 'custom', path: ['tool_choice'], message: 'tool_choice REQUIRED needs tools' })
    }
    // A tool result must answer a tool call made earlier in the conversation.
    const calls = new Set<string>()
    body.messages.forEach((m, i) => {
      if (m.role === 'assistant') for (const c of m.tool_calls ?? []) calls.add(c.id)
      if (m.role === 'tool' && !calls.has(m.tool_call_id)) {
        issues.addIssue({ code: 'custom', path: ['messages', i, 'tool_call_id'], message: `no tool call with id ${m.tool_call_id}` })
      }
    })
  })

const embedRequest = z
  .object({
    model: z.string().min(1),
    input_type: z.enum(['search_document', 'search_query', 'classification', 'clustering', 'image']),
    texts: z.array(z.string()).min(1).max(96).optional(),
    images: z.array(z.string()).min(1).optional(),
    inputs: z.array(z.object({ content: z.array(z.record(z.string(), z.unknown())) }).strict()).min(1).max(96).optional(),
    embedding_types: z.array(z.enum(['float', 'int8', 'uint8', 'binary', 'ubinary', 'base64'])).min(1).optional(),
    output_dimension: z.union([z.literal(256), z.literal(512), z.literal(1024), z.literal(1536)]).optional(),
    max_tokens: z.number().int().min(1).optional(),
    truncate: z.enum(['NONE', 'START', 'END']).optional(),
    priority: z.number().int().min(0).optional(),
  })
  .strict()
  .superRefine((body, issues) => {
    const given = [body.texts, body.images, body.inputs].filter((x) => x !== undefined).length
    if (given !== 1) issues.addIssue({ code: 'custom', path: ['texts'], message: 'exactly one of texts, images or inputs must be provided' })
    if (body.output_dimension !== undefined && !body.model.startsWith('embed-v4')) {
      issues.addIssue({ code: 'custom', path: ['output_dimension'], message: `output_dimension is not supported by ${body.model}` })
    }
  })

function invalid(issues: readonly { path: PropertyKey[]; message: string }[]): MockReply {
  const issue = issues[0]
  const where = issue === undefined || issue.path.length === 0 ? '' : `${issue.path.map(String).join('.')}: `
  return error(400, `invalid request: ${where}${issue?.message ?? 'unknown'}`)
}

/** Replies for the scenarios that are about failures rather than content. */
function failure(scenario: string, counter: CallCounter, marker: string): MockReply | undefined {
  switch (scenario) {
    case 'error_400':
      return fixtureError(400, 'error-400.json')
    case 'error_401':
      return fixtureError(401, 'error-401.json')
    case 'error_429':
      return fixtureError(429, 'error-429.json', { 'retry-after': '1' })
    case 'error_500':
      return fixtureError(500, 'error-500.json')
    case 'overloaded':
      return fixtureError(503, 'error-503.json')
    case 'flaky':
      // Fails twice for each distinct prompt, then answers: retries must get through.
      return counter.next(marker) <= 2 ? fixtureError(500, 'error-500.json') : undefined
    case 'slow':
      return { kind: 'delay', ms: 5_000, then: fixtureError(500, 'error-500.json') }
    case 'reset':
      return { kind: 'reset' }
    case 'malformed':
      return { kind: 'text', status: 200, body: '{"id":"c14c80c3-18eb-4519","message":{"role":"assis', headers: { 'content-type': 'application/json' } }
    default:
      return undefined
  }
}

function lastUserText(messages: z.infer<typeof message>[]): string {
  const last = [...messages].reverse().find((m) => m.role === 'user')
  if (last === undefined) return ''
  if (typeof last.content === 'string') return last.content
  return last.content.map((p) => (p.type === 'text' ? p.text : '')).join('')
}

function embed(body: z.infer<typeof embedRequest>): MockReply {
  const texts = body.texts ?? []
  const count = texts.length > 0 ? texts.length : (body.images ?? body.inputs ?? []).length
  const size = body.output_dimension ?? 4
  const vector = (i: number) => Array.from({ length: size }, (_, d) => Math.round(Math.sin(i * 7 + d + 1) * 1e6) / 1e7)
  const embeddings: Record<string, number[][]> = {}
  for (const type of body.embedding_types ?? ['float']) embeddings[type] = Array.from({ length: count }, (_, i) => vector(i))
  return {
    kind: 'json',
    status: 200,
    body: { id: randomUUID(), texts, embeddings, meta: { api_version: { version: '2' }, billed_units: { input_tokens: texts.reduce((n, t) => n + Math.max(1, Math.ceil(t.length / 4)), 0) } } },
  }
}

/** A mock of Cohere's API v2: POST /v2/chat (streamed or not) and POST /v2/embed. */
export function cohereMock(): MockHandler {
  const counter = new CallCounter()
  return (request: MockRequest): MockReply => {
    const auth = request.headers.authorization
    if (auth === undefined || auth === '') return error(401, 'no api key supplied')
    if (!/^bearer \S+$/i.test(auth)) return error(401, 'invalid api token')
    const route = `${request.method} ${request.path}`
    if (route === 'POST /v2/embed') {
      const parsed = embedRequest.safeParse(request.body)
      if (!parsed.success) return invalid(parsed.error.issues)
      const first = parsed.data.texts?.[0] ?? ''
      return failure(scenarioIn(first), counter, first) ?? embed(parsed.data)
    }
    if (route !== 'POST /v2/chat') return error(404, `${request.method} ${request.path} not found`)
    const parsed = chatRequest.safeParse(request.body)
    if (!parsed.success) return invalid(parsed.error.issues)
    const body = parsed.data
    const text = lastUserText(body.messages)
    // After tool results the model answers with text, whatever the question asked for.
    const scenario = body.messages.at(-1)?.role === 'tool' ? 'default' : scenarioIn(text)
    const failed = failure(scenario, counter, text)
    if (failed !== undefined) return failed
    const toolCall = scenario === 'tool_call'
    if (body.stream === true) {
      const frames = sseFrames(fixture(toolCall ? 'chat-stream-tool-calls.sse' : 'chat-stream.sse'))
      if (scenario === 'drop') return { kind: 'sse', frames, dropAfter: 2 }
      // Ends cleanly but without content-end / tool-call-end and message-end.
      if (scenario === 'truncated') return { kind: 'sse', frames: frames.slice(0, -2) }
      if (scenario === 'slow_stream') return { kind: 'sse', frames, frameDelayMs: 300 }
      return { kind: 'sse', frames }
    }
    return { kind: 'json', status: 200, body: jsonFixture(toolCall ? 'chat-response-tool-calls.json' : 'chat-response.json') }
  }
}
