import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { chatCompletionRequest, textOf } from '../../gateway/api/chat-completions.ts'
import { embeddingsRequest } from '../../gateway/api/embeddings.ts'
import { CallCounter, scenarioIn, sseFrames } from './mock-server.ts'
import type { MockHandler, MockReply, MockRequest } from './mock-server.ts'

const fixtures = new URL('../../gateway/providers/openai/fixtures/', import.meta.url)
const fixture = (name: string) => readFileSync(new URL(name, fixtures), 'utf8')

function error(status: number, message: string, type: string, code: string | null, param: string | null = null, headers?: Record<string, string>): MockReply {
  return { kind: 'json', status, body: { error: { message, type, param, code } }, ...(headers === undefined ? {} : { headers }) }
}

/** Replies shared by every scenario name that is about failures rather than content. */
function failure(scenario: string, counter: CallCounter, marker: string): MockReply | undefined {
  // burst_N: an outage that ends. The first N calls naming it (whatever their prompts) answer 500, then it answers.
  const burst = /^burst_(\d+)$/.exec(scenario)
  if (burst !== null) {
    return counter.next(scenario) <= Number(burst[1]) ? error(500, 'The server had an error while processing your request.', 'server_error', null) : undefined
  }
  switch (scenario) {
    case 'error_400':
      return error(400, "Invalid value for 'temperature'.", 'invalid_request_error', 'invalid_value', 'temperature')
    case 'error_401':
      return error(401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key')
    case 'error_429':
      return error(429, 'Rate limit reached for requests', 'requests', 'rate_limit_exceeded', null, { 'retry-after': '1' })
    case 'error_500':
      return error(500, 'The server had an error while processing your request.', 'server_error', null)
    case 'overloaded':
      return error(503, 'The engine is currently overloaded, please try again later.', 'server_error', null)
    case 'flaky':
      // Fails twice for each distinct prompt, then answers: retries must get through.
      return counter.next(marker) <= 2 ? error(500, 'The server had an error while processing your request.', 'server_error', null) : undefined
    case 'slow':
      return { kind: 'delay', ms: 5_000, then: error(500, 'too late', 'server_error', null) }
    case 'reset':
      return { kind: 'reset' }
    case 'malformed':
      return { kind: 'text', status: 200, body: '{"id":"chatcmpl-1","object":"chat.comp', headers: { 'content-type': 'application/json' } }
    default:
      return undefined
  }
}

function validationError(issues: { path: PropertyKey[]; message: string }[]): MockReply {
  const issue = issues[0]
  return error(400, `Invalid request: ${issue?.message ?? 'unknown'}`, 'invalid_request_error', null, issue?.path.join('.') ?? null)
}

/** A mock of OpenAI's API under `/v1`: Chat Completions (streamed or not) and Embeddings. */
export function openAiMock(): MockHandler {
  const counter = new CallCounter()
  return (request: MockRequest): MockReply => {
    if (!/^Bearer \S+$/.test(request.headers.authorization ?? '')) {
      return error(401, 'You didn\'t provide an API key.', 'invalid_request_error', null)
    }
    if (request.method === 'POST' && request.path === '/v1/embeddings') {
      const parsed = embeddingsRequest.safeParse(request.body)
      if (!parsed.success) return validationError(parsed.error.issues)
      const inputs = typeof parsed.data.input === 'string' ? [parsed.data.input] : parsed.data.input
      const first = typeof inputs[0] === 'string' ? inputs[0] : ''
      const failed = failure(scenarioIn(first), counter, first)
      if (failed !== undefined) return failed
      return {
        kind: 'json',
        status: 200,
        body: {
          object: 'list',
          data: inputs.map((input, index) => ({
            object: 'embedding',
            index,
            // With `dimensions`, as text-embedding-3 models do: a unit vector of that size that depends only on the
            // text's letters and digits (case and punctuation aside), so tests can make two prompts embed alike.
            embedding: parsed.data.dimensions === undefined ? [0.25 * (index + 1), -0.5, 0.125] : textVector(String(input), parsed.data.dimensions),
          })),
          model: parsed.data.model,
          usage: { prompt_tokens: 4 * inputs.length, total_tokens: 4 * inputs.length },
        },
      }
    }
    if (request.method !== 'POST' || request.path !== '/v1/chat/completions') {
      return error(404, `Invalid URL (${request.method} ${request.path})`, 'invalid_request_error', null)
    }
    const parsed = chatCompletionRequest.safeParse(request.body)
    if (!parsed.success) return validationError(parsed.error.issues)
    const body = parsed.data
    const lastUser = [...body.messages].reverse().find((m) => m.role === 'user')
    const text = lastUser === undefined ? '' : typeof lastUser.content === 'string' ? lastUser.content : textOf(lastUser.content.filter((p) => p.type === 'text'))
    // A model that always fails: fallback chains are tested with it. After tool results, the model answers.
    const afterTools = body.messages.at(-1)?.role === 'tool'
    const scenario = body.model === 'broken-model' ? 'error_500' : afterTools ? 'default' : scenarioIn(text)
    const failed = failure(scenario, counter, text)
    if (failed !== undefined) return failed
    const toolCall = scenario === 'tool_call'
    if (body.stream === true) {
      if (body.stream_options?.include_usage !== true) {
        return error(400, 'The gateway must always ask for usage', 'invalid_request_error', null, 'stream_options')
      }
      const frames = sseFrames(fixture(toolCall ? 'chat-stream-tool-calls.sse' : 'chat-stream.sse'))
      if (scenario === 'drop') return { kind: 'sse', frames, dropAfter: 2 }
      if (scenario === 'truncated') return { kind: 'sse', frames: frames.slice(0, 3) }
      if (scenario === 'slow_stream') return { kind: 'sse', frames, frameDelayMs: 300 }
      // A provider that stops sending mid-answer but keeps the connection open.
      if (scenario === 'stall') return { kind: 'sse', frames, stallAfter: 2 }
      return { kind: 'sse', frames }
    }
    return { kind: 'json', status: 200, body: JSON.parse(fixture(toolCall ? 'chat-completion-tool-calls.json' : 'chat-completion.json')) as unknown }
  }
}

/** A deterministic unit vector for a text, from a hash of its lower-cased letters and digits. */
function textVector(text: string, dimensions: number): number[] {
  let seed = createHash('sha256').update(text.toLowerCase().replace(/[^a-z0-9]/g, '')).digest().readUInt32LE(0)
  const v = Array.from({ length: dimensions }, () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
    return seed / 2 ** 32 - 0.5
  })
  const norm = Math.hypot(...v)
  return v.map((x) => x / norm)
}
