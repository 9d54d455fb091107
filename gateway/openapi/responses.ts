import { ERROR_CODES, GatewayError } from '../errors.ts'
import type { ErrorCode } from '../errors.ts'
import { toAnthropicError } from '../providers/anthropic/inbound/errors.ts'
import type { JsonSchema } from './schemas.ts'

/**
 * The parts every operation of the public document shares: its headers and its error responses. Error
 * responses are derived from ERROR_CODES (and, for /v1/messages, from the mapping the route answers with),
 * so a status and its codes cannot be documented apart from what the gateway sends.
 */

export const ref = (kind: 'schemas' | 'headers' | 'parameters', name: string) => ({ $ref: `#/components/${kind}/${name}` })

const header = (description: string, schema: JsonSchema = { type: 'string' }) => ({ description, schema })
const RATE_LIMIT_KINDS = ['requests', 'tokens'] as const

export const HEADERS: Record<string, JsonSchema> = {
  RequestId: header("This request's id: the caller's x-request-id when it is 1 to 128 of A-Z a-z 0-9 . _ : -, else a new UUIDv7. Logs and usage events carry it."),
  RetryAfter: header('Seconds to wait before retrying, rounded up', { type: 'integer', minimum: 1 }),
  RetryAfterMs: header('Milliseconds to wait before retrying', { type: 'integer', minimum: 0 }),
  ...Object.fromEntries(
    RATE_LIMIT_KINDS.flatMap((kind) => [
      [`RateLimitLimit-${kind}`, header(`The ${kind}-per-minute limit of the most constrained scope (key, project or tenant); sent when one is set`, { type: 'integer' })],
      [`RateLimitRemaining-${kind}`, header(`What remains of it`, { type: 'integer' })],
      [`RateLimitReset-${kind}`, header('When it is full again, as OpenAI writes durations: 20ms, 1.5s, 6m0s')],
    ]),
  ),
  SupergateProvider: header('The provider that answered (after fallbacks), e.g. openai'),
  SupergateModel: header('The provider/model that answered'),
  SupergateCache: header('The response cache: hit-exact, hit-semantic, miss, or bypass (no cache, or cache-control: no-store or no-cache)', { type: 'string', enum: ['hit-exact', 'hit-semantic', 'miss', 'bypass'] }),
  SupergateCacheSimilarity: header('On a semantic hit: the similarity of the cached prompt, 0 to 1'),
  AnthropicRequestId: header("The request id again, under Anthropic's name"),
}

export const rateLimitHeaders = () =>
  Object.fromEntries(
    RATE_LIMIT_KINDS.flatMap((kind) => [
      [`x-ratelimit-limit-${kind}`, ref('headers', `RateLimitLimit-${kind}`)],
      [`x-ratelimit-remaining-${kind}`, ref('headers', `RateLimitRemaining-${kind}`)],
      [`x-ratelimit-reset-${kind}`, ref('headers', `RateLimitReset-${kind}`)],
    ]),
  )

export type ErrorShape = 'openai' | 'anthropic'

/** Every response carries the request id; Anthropic's clients read it as request-id. */
export function baseHeaders(shape: ErrorShape): Record<string, JsonSchema> {
  return { 'x-request-id': ref('headers', 'RequestId'), ...(shape === 'anthropic' ? { 'request-id': ref('headers', 'AnthropicRequestId') } : {}) }
}

const STATUS_MEANING: Record<number, string> = {
  400: 'Malformed request: `param` names the field or header',
  401: 'No API key, or one the gateway does not know, has revoked or that has expired',
  402: 'The call may cost more than remains of a budget or of the prepaid balance',
  403: "The key's role may not call models",
  404: 'No such model here (or one this key may not use), or the provider does not know it',
  408: 'The whole request was not received in time; the connection is closed',
  413: 'The body is larger than the gateway accepts',
  415: 'The body is not JSON',
  429: 'A rate or concurrency limit of the gateway, or of the provider, refused the call',
  431: 'The request headers are too large; the connection is closed',
  500: 'A bug: x-request-id finds it in the logs',
  502: 'The provider failed, or refused the credential the gateway holds for it',
  503: 'The gateway is shutting down, cannot check limits, or the provider is overloaded or cut off by the circuit breaker',
  504: 'The provider did not answer in time',
  529: 'The provider is overloaded, or cut off by the circuit breaker: retry shortly',
}

/** Answered by Node's HTTP parser before any route runs: always in OpenAI's shape, even on /v1/messages. */
const BEFORE_ROUTING: readonly ErrorCode[] = ['request_timeout', 'headers_too_large']

function errorHeaders(status: number, shape: ErrorShape): Record<string, JsonSchema> {
  const retry = { 'retry-after': ref('headers', 'RetryAfter'), ...(shape === 'openai' ? { 'retry-after-ms': ref('headers', 'RetryAfterMs') } : {}) }
  return {
    ...baseHeaders(shape),
    ...(status === 429 || status === 503 || status === 529 ? retry : {}),
    ...(status === 402 || status === 429 ? rateLimitHeaders() : {}),
  }
}

/** The body's discriminating field narrowed to what this status can hold. */
function narrowed(schema: string, field: 'code' | 'type', values: readonly string[]): JsonSchema {
  return { allOf: [ref('schemas', schema), { properties: { error: { properties: { [field]: { enum: [...new Set(values)] } } } } }] }
}

const list = (values: readonly string[]) => [...new Set(values)].map((v) => `\`${v}\``).join(', ')

/**
 * The error responses of an operation that can fail with `codes`, by status. In OpenAI's shape the body's
 * `code` is one of the status's codes (docs/errors.md); in Anthropic's, `error.type` is what the route maps
 * them to, and the gateway's code is not sent.
 */
export function errorResponses(codes: readonly ErrorCode[], shape: ErrorShape = 'openai'): Record<string, JsonSchema> {
  const byStatus = new Map<number, { shape: ErrorShape; codes: ErrorCode[]; types: string[] }>()
  for (const code of codes) {
    const asSent: ErrorShape = shape === 'anthropic' && !BEFORE_ROUTING.includes(code) ? 'anthropic' : 'openai'
    const { status, body } = asSent === 'anthropic' ? toAnthropicError(new GatewayError(code, '')) : { status: ERROR_CODES[code].status, body: undefined }
    const entry = byStatus.get(status) ?? { shape: asSent, codes: [], types: [] }
    entry.codes.push(code)
    if (body !== undefined) entry.types.push(body.error.type)
    byStatus.set(status, entry)
  }
  const responses: Record<string, JsonSchema> = {}
  for (const [status, entry] of [...byStatus].sort(([a], [b]) => a - b)) {
    const anthropic = entry.shape === 'anthropic'
    const schema = anthropic ? narrowed('AnthropicError', 'type', entry.types) : narrowed('Error', 'code', entry.codes)
    // No request exists yet, so no request id either.
    const beforeRouting = entry.codes.every((code) => BEFORE_ROUTING.includes(code))
    responses[String(status)] = {
      description: `${STATUS_MEANING[status] ?? 'Error'}. ${anthropic ? `Error types ${list(entry.types)}, for the gateway's codes` : 'Codes'} ${list(entry.codes)} (docs/errors.md).`,
      headers: beforeRouting ? {} : errorHeaders(status, entry.shape),
      content: { 'application/json': { schema } },
    }
  }
  return responses
}
