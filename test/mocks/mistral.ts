import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { CallCounter, scenarioIn, sseFrames } from './mock-server.ts'
import type { MockHandler, MockReply, MockRequest } from './mock-server.ts'

const fixtures = new URL('../../gateway/providers/mistral/fixtures/', import.meta.url)
const fixture = (name: string) => readFileSync(new URL(name, fixtures), 'utf8')
const json = (name: string) => JSON.parse(fixture(name)) as unknown

/** `{ object: 'error', message, type, param, code }`: Mistral's body for 400, 429 and 5xx. */
function error(status: number, message: string, type: string, code: string | null, headers?: Record<string, string>): MockReply {
  return { kind: 'json', status, body: { object: 'error', message, type, param: null, code }, ...(headers === undefined ? {} : { headers }) }
}

const unauthorized: MockReply = { kind: 'json', status: 401, body: json('error-401.json') }

interface Issue {
  type: string
  loc: (string | number)[]
  msg: string
  input?: unknown
}

/** FastAPI/pydantic's 422 body, which is what Mistral answers for a request its schema rejects. */
function unprocessable(issues: Issue[]): MockReply {
  return { kind: 'json', status: 422, body: { detail: issues } }
}

function issuesOf(error: z.ZodError): Issue[] {
  return error.issues.flatMap((issue): Issue[] => {
    const loc = ['body', ...issue.path.map((p) => (typeof p === 'number' ? p : String(p)))]
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ type: 'extra_forbidden', loc: [...loc, key], msg: 'Extra inputs are not permitted' }))
    }
    if (issue.code === 'too_big') return [{ type: 'less_than_equal', loc, msg: `Input should be less than or equal to ${String(issue.maximum)}` }]
    return [{ type: issue.code, loc, msg: issue.message }]
  })
}

const text = z.object({ type: z.literal('text'), text: z.string() }).strict()
const thinking = z.object({ type: z.literal('thinking'), thinking: z.array(text), closed: z.boolean().optional() }).strict()
const part = z.discriminatedUnion('type', [
  text,
  thinking,
  z.object({ type: z.literal('image_url'), image_url: z.union([z.string(), z.object({ url: z.string(), detail: z.string().nullable().optional() }).strict()]) }).strict(),
  z.object({ type: z.literal('input_audio'), input_audio: z.string() }).strict(),
  z.object({ type: z.literal('document_url'), document_url: z.string(), document_name: z.string().nullable().optional() }).strict(),
])
const toolCall = z
  .object({
    id: z.string(),
    type: z.literal('function').optional(),
    function: z.object({ name: z.string(), arguments: z.union([z.string(), z.record(z.string(), z.unknown())]) }).strict(),
    index: z.number().int().optional(),
  })
  .strict()
const message = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content: z.union([z.string(), z.array(z.union([text, thinking]))]) }).strict(),
  z.object({ role: z.literal('user'), content: z.union([z.string(), z.array(part)]).nullable() }).strict(),
  z
    .object({ role: z.literal('assistant'), content: z.union([z.string(), z.array(part)]).nullable().optional(), tool_calls: z.array(toolCall).nullable().optional(), prefix: z.boolean().optional() })
    .strict(),
  z.object({ role: z.literal('tool'), content: z.union([z.string(), z.array(part)]).nullable(), tool_call_id: z.string().nullable().optional(), name: z.string().nullable().optional() }).strict(),
])
const roles = ['system', 'user', 'assistant', 'tool']

/** Mistral's chat request (SDK 2.x `ChatCompletionRequest`); pydantic forbids any other field. */
const chatRequest = z
  .object({
    model: z.string(),
    messages: z.array(message).min(1),
    temperature: z.number().min(0).max(1.5).nullable().optional(),
    top_p: z.number().min(0).max(1).nullable().optional(),
    max_tokens: z.number().int().min(0).nullable().optional(),
    stream: z.boolean().optional(),
    stop: z.union([z.string(), z.array(z.string())]).nullable().optional(),
    random_seed: z.number().int().nullable().optional(),
    metadata: z.record(z.string(), z.unknown()).nullable().optional(),
    response_format: z
      .object({
        type: z.enum(['text', 'json_object', 'json_schema']).optional(),
        json_schema: z.object({ name: z.string(), description: z.string().nullable().optional(), schema: z.record(z.string(), z.unknown()), strict: z.boolean().optional() }).strict().nullable().optional(),
      })
      .strict()
      .optional(),
    tools: z
      .array(
        z
          .object({
            type: z.literal('function'),
            function: z.object({ name: z.string(), description: z.string().optional(), strict: z.boolean().optional(), parameters: z.record(z.string(), z.unknown()) }).strict(),
          })
          .strict(),
      )
      .nullable()
      .optional(),
    tool_choice: z
      .union([z.enum(['auto', 'none', 'any', 'required']), z.object({ type: z.literal('function'), function: z.object({ name: z.string() }).strict() }).strict()])
      .optional(),
    presence_penalty: z.number().min(-2).max(2).nullable().optional(),
    frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
    n: z.number().int().min(1).nullable().optional(),
    prediction: z.object({ type: z.literal('content'), content: z.string() }).strict().optional(),
    parallel_tool_calls: z.boolean().optional(),
    reasoning_effort: z.enum(['none', 'high']).nullable().optional(),
    prompt_mode: z.literal('reasoning').nullable().optional(),
    prompt_cache_key: z.string().nullable().optional(),
    service_tier: z.enum(['auto', 'standard_only']).nullable().optional(),
    safe_prompt: z.boolean().optional(),
  })
  .strict()
type ChatRequest = z.infer<typeof chatRequest>

const embeddingsRequest = z
  .object({
    model: z.string(),
    input: z.union([z.string(), z.array(z.string()).min(1)]),
    metadata: z.record(z.string(), z.unknown()).nullable().optional(),
    output_dimension: z.number().int().min(1).nullable().optional(),
    output_dtype: z.enum(['float', 'int8', 'uint8', 'binary', 'ubinary']).optional(),
    encoding_format: z.enum(['float', 'base64']).optional(),
  })
  .strict()

/** A role the schema does not know is a union-tag error in pydantic, reported here the same way. */
function unknownRole(body: unknown): MockReply | undefined {
  const messages = (body as { messages?: unknown } | null)?.messages
  if (!Array.isArray(messages)) return undefined
  const i = messages.findIndex((m) => !roles.includes((m as { role?: unknown } | null)?.role as string))
  if (i === -1) return undefined
  const role = String((messages[i] as { role?: unknown }).role)
  return unprocessable([
    {
      type: 'union_tag_invalid',
      loc: ['body', 'messages', i],
      msg: `Input tag '${role}' found using 'role' does not match any of the expected tags: 'system', 'user', 'assistant', 'tool'`,
      input: messages[i],
    },
  ])
}

/** Rules Mistral checks after the schema, with its own 400 messages. */
function conversationError(body: ChatRequest): MockReply | undefined {
  const ids = new Set<string>()
  for (const [i, m] of body.messages.entries()) {
    const previous = body.messages[i - 1]
    if (m.role === 'user' && previous?.role === 'tool') return error(400, "Unexpected role 'user' after role 'tool'", 'invalid_request_message_order', '3230')
    const own = m.role === 'assistant' ? (m.tool_calls ?? []).map((c) => c.id) : m.role === 'tool' ? [m.tool_call_id ?? ''] : []
    for (const id of own) {
      if (!/^[A-Za-z0-9]{9}$/.test(id)) return error(400, `Tool call id was ${id} but must be a-z, A-Z, 0-9, with a length of 9.`, 'invalid_function_call', '3280')
    }
    if (m.role === 'assistant') for (const id of own) ids.add(id)
    // The mock's own, stricter check: a tool result must answer a call made earlier in the conversation,
    // which proves the gateway maps a foreign id the same way in both places.
    if (m.role === 'tool' && !ids.has(own[0]!)) return error(400, `Tool call id ${own[0]} answers no earlier tool call`, 'invalid_request_message_order', '3230')
  }
  const last = body.messages.at(-1)!
  if (last.role !== 'user' && last.role !== 'tool' && !(last.role === 'assistant' && last.prefix === true)) {
    return error(400, `Expected last role User or Tool (or Assistant with prefix True) for serving but got ${last.role}`, 'invalid_request_message_order', '3230')
  }
  return undefined
}

/** Replies shared by every scenario name that is about failures rather than content. */
function failure(scenario: string, counter: CallCounter, marker: string): MockReply | undefined {
  switch (scenario) {
    case 'error_400':
      return { kind: 'json', status: 400, body: json('error-400.json') }
    case 'error_401':
      return unauthorized
    case 'error_429':
      return { kind: 'json', status: 429, body: json('error-429.json'), headers: { 'retry-after': '1' } }
    case 'error_500':
      return { kind: 'json', status: 500, body: json('error-500.json') }
    case 'overloaded':
      return { kind: 'json', status: 429, body: json('error-429-capacity.json') }
    case 'flaky':
      // Fails twice for each distinct prompt, then answers: retries must get through.
      return counter.next(marker) <= 2 ? { kind: 'json', status: 500, body: json('error-500.json') } : undefined
    case 'slow':
      return { kind: 'delay', ms: 5_000, then: { kind: 'json', status: 500, body: json('error-500.json') } }
    case 'reset':
      return { kind: 'reset' }
    case 'malformed':
      return { kind: 'text', status: 200, body: '{"id":"5319bd0299614c679a0068a4f2c8ffd0","object":"chat.comp', headers: { 'content-type': 'application/json' } }
    default:
      return undefined
  }
}

function lastUserText(body: ChatRequest): string {
  const last = [...body.messages].reverse().find((m) => m.role === 'user')
  const content = last?.content ?? ''
  return typeof content === 'string' ? content : content.map((p) => (p.type === 'text' ? p.text : '')).join('')
}

function embeddings(request: MockRequest, counter: CallCounter): MockReply {
  const parsed = embeddingsRequest.safeParse(request.body)
  if (!parsed.success) return unprocessable(issuesOf(parsed.error))
  const inputs = typeof parsed.data.input === 'string' ? [parsed.data.input] : parsed.data.input
  const failed = failure(scenarioIn(inputs[0]!), counter, inputs[0]!)
  if (failed !== undefined) return failed
  const size = parsed.data.output_dimension ?? 3
  return {
    kind: 'json',
    status: 200,
    body: {
      id: 'fe87621011b544829fe9f966488f3d84',
      object: 'list',
      data: inputs.map((_, index) => ({ object: 'embedding', embedding: Array.from({ length: size }, (_, k) => (index + 1) / (k + 2)), index })),
      model: parsed.data.model,
      usage: { prompt_tokens: 4 * inputs.length, total_tokens: 4 * inputs.length, completion_tokens: 0 },
    },
  }
}

/** A mock of Mistral's API under `/v1`: Chat Completions (streamed or not) and Embeddings. */
export function mistralMock(): MockHandler {
  const counter = new CallCounter()
  return (request: MockRequest): MockReply => {
    if (!/^Bearer \S+$/.test(request.headers.authorization ?? '')) return unauthorized
    if (request.method === 'POST' && request.path === '/v1/embeddings') return embeddings(request, counter)
    if (request.method !== 'POST' || request.path !== '/v1/chat/completions') return { kind: 'json', status: 404, body: { detail: 'Not Found' } }
    const badRole = unknownRole(request.body)
    if (badRole !== undefined) return badRole
    const parsed = chatRequest.safeParse(request.body)
    if (!parsed.success) return unprocessable(issuesOf(parsed.error))
    const body = parsed.data
    const invalid = conversationError(body)
    if (invalid !== undefined) return invalid
    const text = lastUserText(body)
    // After tool results the model answers with text, whatever the question asked for.
    const scenario = body.messages.at(-1)?.role === 'tool' ? 'default' : scenarioIn(text)
    const failed = failure(scenario, counter, text)
    if (failed !== undefined) return failed
    const toolCall = scenario === 'tool_call'
    if (body.stream === true) {
      const frames = sseFrames(fixture(toolCall ? 'chat-stream-tool-calls.sse' : 'chat-stream.sse'))
      if (scenario === 'drop') return { kind: 'sse', frames, dropAfter: 2 }
      // Without the last content chunk (finish_reason and usage) and `[DONE]`.
      if (scenario === 'truncated') return { kind: 'sse', frames: frames.slice(0, -2) }
      if (scenario === 'slow_stream') return { kind: 'sse', frames, frameDelayMs: 300 }
      return { kind: 'sse', frames }
    }
    return { kind: 'json', status: 200, body: json(toolCall ? 'chat-completion-tool-calls.json' : 'chat-completion.json') }
  }
}
