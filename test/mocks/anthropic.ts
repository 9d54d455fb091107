import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { CallCounter, scenarioIn, sseFrames } from './mock-server.ts'
import type { MockHandler, MockReply, MockRequest } from './mock-server.ts'

const fixtures = new URL('../../gateway/providers/anthropic/fixtures/', import.meta.url)
const fixture = (name: string) => readFileSync(new URL(name, fixtures), 'utf8')

/** 2026-10-21 is current; 2023-06-01 is still served and is the last version with sampling parameters. */
const VERSIONS = ['2023-06-01', '2026-10-21']
const SAMPLING = ['temperature', 'top_p', 'top_k']

let requestCount = 0
const requestId = () => `req_011Mock${String(++requestCount).padStart(14, '0')}`

function error(status: number, type: string, message: string, headers: Record<string, string> = {}): MockReply {
  const id = requestId()
  return { kind: 'json', status, body: { type: 'error', error: { type, message }, request_id: id }, headers: { 'request-id': id, ...headers } }
}

const invalid = (message: string) => error(400, 'invalid_request_error', message)

// The request as the Messages API validates it: unknown fields anywhere are "Extra inputs are not permitted".
const cacheControl = z.object({ type: z.literal('ephemeral'), ttl: z.enum(['5m', '1h']).optional() }).strict().nullable().optional()
const text = z.object({ type: z.literal('text'), text: z.string().min(1, 'text content blocks must be non-empty'), cache_control: cacheControl, citations: z.null().optional() }).strict()
const image = z
  .object({
    type: z.literal('image'),
    source: z.discriminatedUnion('type', [
      z.object({ type: z.literal('base64'), media_type: z.enum(['image/jpeg', 'image/png', 'image/gif', 'image/webp']), data: z.string().min(1) }).strict(),
      z.object({ type: z.literal('url'), url: z.url() }).strict(),
    ]),
    cache_control: cacheControl,
  })
  .strict()
const document = z
  .object({
    type: z.literal('document'),
    source: z.discriminatedUnion('type', [
      z.object({ type: z.literal('base64'), media_type: z.literal('application/pdf'), data: z.string().min(1) }).strict(),
      z.object({ type: z.literal('url'), url: z.url() }).strict(),
    ]),
    title: z.string().optional(),
    cache_control: cacheControl,
  })
  .strict()
const toolUse = z.object({ type: z.literal('tool_use'), id: z.string().min(1), name: z.string().min(1), input: z.record(z.string(), z.unknown()), cache_control: cacheControl }).strict()
const toolResult = z
  .object({
    type: z.literal('tool_result'),
    tool_use_id: z.string().min(1),
    content: z.union([z.string(), z.array(z.discriminatedUnion('type', [text, image]))]).optional(),
    is_error: z.boolean().optional(),
    cache_control: cacheControl,
  })
  .strict()
const block = z.discriminatedUnion('type', [text, image, document, toolUse, toolResult])
const message = z.object({ role: z.enum(['user', 'assistant']), content: z.union([z.string().min(1), z.array(block).min(1)]) }).strict()
const serial = { disable_parallel_tool_use: z.boolean().optional() }

const messagesRequest = z
  .object({
    model: z.string().min(1),
    max_tokens: z.number().int().min(0),
    messages: z.array(message).min(1),
    system: z.union([z.string(), z.array(text)]).optional(),
    metadata: z.object({ user_id: z.string().max(256).nullable().optional() }).strict().optional(),
    stop_sequences: z.array(z.string()).optional(),
    stream: z.boolean().optional(),
    tools: z
      .array(
        z
          .object({
            name: z.string().regex(/^[a-zA-Z0-9_-]{1,128}$/),
            description: z.string().optional(),
            input_schema: z.looseObject({ type: z.literal('object') }),
            strict: z.boolean().optional(),
            cache_control: cacheControl,
          })
          .strict(),
      )
      .optional(),
    tool_choice: z
      .discriminatedUnion('type', [
        z.object({ type: z.literal('auto'), ...serial }).strict(),
        z.object({ type: z.literal('any'), ...serial }).strict(),
        z.object({ type: z.literal('tool'), name: z.string().min(1), ...serial }).strict(),
        z.object({ type: z.literal('none') }).strict(),
      ])
      .optional(),
    thinking: z
      .discriminatedUnion('type', [
        z.object({ type: z.literal('enabled'), budget_tokens: z.number().int().min(1024), display: z.enum(['summarized', 'omitted']).optional() }).strict(),
        z.object({ type: z.literal('adaptive'), display: z.enum(['summarized', 'omitted']).optional() }).strict(),
        z.object({ type: z.literal('disabled') }).strict(),
        z.object({ type: z.literal('between_tools') }).strict(),
      ])
      .optional(),
    output_config: z
      .object({
        effort: z.enum(['low', 'medium', 'high', 'xhigh', 'max']).nullable().optional(),
        format: z.object({ type: z.literal('json_schema'), schema: z.record(z.string(), z.unknown()) }).strict().nullable().optional(),
      })
      .strict()
      .optional(),
    service_tier: z.enum(['auto', 'standard_only']).optional(),
    cache_control: cacheControl,
    inference_geo: z.string().nullable().optional(),
    speed: z.enum(['standard', 'fast']).nullable().optional(),
  })
  .strict()
type MessagesRequest = z.infer<typeof messagesRequest>

function schemaError(issues: z.core.$ZodIssue[]): MockReply {
  const issue = issues[0]!
  if (issue.code === 'unrecognized_keys') return invalid(`${[...issue.path, issue.keys[0]].join('.')}: Extra inputs are not permitted`)
  return invalid(`${issue.path.join('.') || 'body'}: ${issue.message}`)
}

const blocksOf = (content: MessagesRequest['messages'][number]['content']) => (typeof content === 'string' ? [{ type: 'text' as const, text: content }] : content)

/** The rules the schema cannot say: turn order, and tool results answering the tool uses just before them. */
function conversationError(body: MessagesRequest): string | undefined {
  if (body.messages[0]!.role !== 'user') return 'messages: first message must use the "user" role'
  for (const [i, turn] of body.messages.entries()) {
    if (i > 0 && body.messages[i - 1]!.role === turn.role) return `messages.${i}: roles must alternate between "user" and "assistant"`
    const blocks = blocksOf(turn.content)
    const misplaced = blocks.find((b) => (b.type === 'tool_use' && turn.role === 'user') || (b.type === 'tool_result' && turn.role === 'assistant'))
    if (misplaced !== undefined) return `messages.${i}: ${misplaced.type} blocks are not allowed in "${turn.role}" messages`
    const previous = i > 0 ? blocksOf(body.messages[i - 1]!.content) : []
    const uses = previous.flatMap((b) => (b.type === 'tool_use' ? [b.id] : []))
    const results = blocks.flatMap((b) => (b.type === 'tool_result' ? [b.tool_use_id] : []))
    const stray = results.find((id) => !uses.includes(id))
    if (stray !== undefined) return `messages.${i}.content: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${stray}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`
    if (results.length > 0 && blocks.slice(0, results.length).some((b) => b.type !== 'tool_result')) {
      return `messages.${i}.content: tool_result blocks must come first in the content array`
    }
    const unanswered = turn.role === 'user' ? uses.find((id) => !results.includes(id)) : undefined
    if (unanswered !== undefined) return `messages: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${unanswered}`
  }
  if (body.thinking?.type === 'enabled' && body.thinking.budget_tokens >= body.max_tokens) return '`max_tokens` must be greater than `thinking.budget_tokens`'
  if (body.tool_choice !== undefined && body.tool_choice.type !== 'none' && (body.tools ?? []).length === 0) return 'tool_choice: may only be specified while providing tools'
  return undefined
}

function lastUserText(body: MessagesRequest): string {
  const last = body.messages.findLast((m) => m.role === 'user')
  return last === undefined ? '' : blocksOf(last.content).flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('\n')
}

/** Replies shared by every scenario name that is about failures rather than content. */
function failure(scenario: string, counter: CallCounter, marker: string, reply: () => MockReply): MockReply | undefined {
  const replay = (status: number, name: string, headers: Record<string, string> = {}): MockReply => {
    const body = JSON.parse(fixture(name)) as { request_id: string }
    return { kind: 'json', status, body, headers: { 'request-id': body.request_id, ...headers } }
  }
  switch (scenario) {
    case 'error_400':
      return replay(400, 'error-400.json')
    case 'error_401':
      return replay(401, 'error-401.json')
    case 'error_429':
      return replay(429, 'error-429.json', { 'retry-after': '1', 'anthropic-ratelimit-requests-limit': '50', 'anthropic-ratelimit-requests-remaining': '0' })
    case 'error_500':
      return replay(500, 'error-500.json')
    case 'overloaded':
      return replay(529, 'error-529.json')
    case 'flaky':
      // Fails twice for each distinct prompt, then answers: retries must get through.
      return counter.next(marker) <= 2 ? replay(500, 'error-500.json') : undefined
    case 'slow':
      return { kind: 'delay', ms: 5_000, then: reply() }
    case 'reset':
      return { kind: 'reset' }
    case 'malformed':
      return { kind: 'text', status: 200, body: '{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"mess', headers: { 'content-type': 'application/json' } }
    default:
      return undefined
  }
}

function validate(request: MockRequest): MockReply | MessagesRequest {
  const auth = request.headers.authorization ?? ''
  if (!/^Bearer \S+$/.test(auth) && (request.headers['x-api-key'] ?? '') === '') {
    return error(401, 'authentication_error', auth === '' ? 'x-api-key header is required' : 'invalid authorization header')
  }
  const version = request.headers['anthropic-version']
  if (version === undefined) return invalid('anthropic-version: header is required')
  if (!VERSIONS.includes(version)) return invalid(`anthropic-version: "${version}" is not a valid version`)
  if (request.method !== 'POST' || request.path !== '/v1/messages') return error(404, 'not_found_error', `Not found: ${request.method} ${request.path}`)
  if (typeof request.body !== 'object' || request.body === null) return invalid('The request body is not valid JSON')
  const body = { ...(request.body as Record<string, unknown>) }
  if (version === '2023-06-01') for (const key of SAMPLING) delete body[key]
  const parsed = messagesRequest.safeParse(body)
  if (!parsed.success) return schemaError(parsed.error.issues)
  const problem = conversationError(parsed.data)
  return problem === undefined ? parsed.data : invalid(problem)
}

/**
 * A mock of Anthropic's Messages API under `/v1`, validating requests as the real API does (auth,
 * anthropic-version, the body's fields and turn order) and replaying the adapter's fixtures. It is
 * stricter than Anthropic in one way: consecutive turns of one role are refused rather than combined,
 * so an adapter that forgets to merge them is caught.
 */
export function anthropicMock(): MockHandler {
  const counter = new CallCounter()
  return (request: MockRequest): MockReply => {
    const validated = validate(request)
    if ('kind' in validated) return validated
    const text = lastUserText(validated)
    const scenario = scenarioIn(text)
    const headers = () => ({ 'request-id': requestId() })
    const reply = (): MockReply => {
      if (validated.stream === true) {
        const frames = sseFrames(fixture(scenario === 'tool_call' ? 'stream-tool-use.sse' : scenario === 'stream_error' ? 'stream-error.sse' : 'stream.sse'))
        if (scenario === 'drop') return { kind: 'sse', frames, dropAfter: 2, headers: headers() }
        // Ends cleanly, but without message_delta and message_stop.
        if (scenario === 'truncated') return { kind: 'sse', frames: frames.slice(0, -2), headers: headers() }
        if (scenario === 'slow_stream') return { kind: 'sse', frames, frameDelayMs: 300, headers: headers() }
        return { kind: 'sse', frames, headers: headers() }
      }
      const body = JSON.parse(fixture(scenario === 'tool_call' ? 'message-tool-use.json' : 'message.json')) as Record<string, unknown>
      return { kind: 'json', status: 200, body: { ...body, model: validated.model }, headers: headers() }
    }
    return failure(scenario, counter, text, reply) ?? reply()
  }
}
