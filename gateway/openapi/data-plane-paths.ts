import { chatCompletionRequest } from '../api/chat-completions.ts'
import { embeddingsRequest } from '../api/embeddings.ts'
import { ERROR_CODES } from '../errors.ts'
import type { ErrorCode } from '../errors.ts'
import { customTool, legacyRequestSchema } from '../providers/anthropic/inbound/request-schema.ts'
import { CURRENT_ANTHROPIC_VERSION } from '../providers/anthropic/inbound/wire.ts'
import { FALLBACK_HEADER } from '../proxy/proxy.ts'
import { END_USER_HEADER } from '../routes/v1.ts'
import { baseHeaders, errorResponses, rateLimitHeaders, ref } from './responses.ts'
import { jsonSchema } from './schemas.ts'
import type { JsonSchema } from './schemas.ts'

/** The data plane's operations: OpenAI's Chat Completions, Embeddings and Models, and Anthropic's Messages. */

export const PARAMETERS: Record<string, JsonSchema> = {
  RequestId: {
    name: 'x-request-id',
    in: 'header',
    required: false,
    description: 'Your id for this request, echoed in the answer and kept in logs and usage events; anything else gets a new UUIDv7',
    schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
  },
  EndUser: {
    name: END_USER_HEADER,
    in: 'header',
    required: false,
    description: "The end user the call is for, for chargeback by user. Wins over the body's user (OpenAI) or metadata.user_id (Anthropic), then safety_identifier. Read as UTF-8.",
    schema: { type: 'string', maxLength: 256 },
  },
  FallbackModels: {
    name: FALLBACK_HEADER,
    in: 'header',
    required: false,
    description: "Models to try, in order, when the requested one fails with a retryable error (otherwise the key's own fallbacks): comma-separated, at most 5",
    schema: { type: 'string' },
    example: 'mistral/mistral-small-latest,openai/gpt-4o-mini',
  },
  CacheControl: {
    name: 'cache-control',
    in: 'header',
    required: false,
    description: 'no-store: the response cache is neither read nor written; no-cache: not read, but the fresh answer is stored',
    schema: { type: 'string' },
  },
  AnthropicVersion: {
    name: 'anthropic-version',
    in: 'header',
    required: false,
    description: `2023-06-01 accepts temperature, top_p and top_k; any other value, or none, is validated as ${CURRENT_ANTHROPIC_VERSION}, where they are unknown fields (400)`,
    schema: { type: 'string' },
  },
}

/** Either of the two ways to present a key: the route accepts both. */
export const KEY_SECURITY = [{ bearer: [] }, { apiKey: [] }]

/** Codes a model call can fail with: every code but the admin API's own and the unknown route's. */
const CALL_CODES = (Object.keys(ERROR_CODES) as ErrorCode[]).filter((code) => !['route_not_found', 'not_found', 'conflict'].includes(code))
const MODELS_CODES: ErrorCode[] = ['invalid_api_key', 'service_unavailable', 'internal_error']

const params = (...names: string[]) => names.map((name) => ref('parameters', name))
const jsonBody = (schema: JsonSchema) => ({ required: true, content: { 'application/json': { schema } } })

const CALL_PARAMETERS = params('RequestId', 'EndUser', 'FallbackModels')

/** /v1/messages validates each tool on its own (server tools are refused by name): the document shows the tool it accepts. */
function messagesBody(): JsonSchema {
  const body = jsonSchema(legacyRequestSchema) as { properties: Record<string, JsonSchema> }
  body.properties.tools = { type: 'array', items: jsonSchema(customTool), description: 'Client tools only: a server tool (a type other than custom) is refused as unsupported_parameter' }
  for (const legacy of ['temperature', 'top_p', 'top_k']) {
    body.properties[legacy] = { ...body.properties[legacy], description: 'Only with anthropic-version: 2023-06-01' }
  }
  return body
}

const sse = (description: string) => ({ 'text/event-stream': { schema: { type: 'string', description } } })

export function dataPlanePaths(): Record<string, Record<string, JsonSchema>> {
  const callHeaders = { ...baseHeaders('openai'), ...rateLimitHeaders(), 'x-supergate-provider': ref('headers', 'SupergateProvider') }
  const chatHeaders = {
    ...callHeaders,
    'x-supergate-model': ref('headers', 'SupergateModel'),
    'x-supergate-cache': ref('headers', 'SupergateCache'),
    'x-supergate-cache-similarity': ref('headers', 'SupergateCacheSimilarity'),
  }
  return {
    '/v1/chat/completions': {
      post: {
        operationId: 'createChatCompletion',
        tags: ['Chat'],
        summary: 'Creates a chat completion, from any provider',
        description:
          "OpenAI's Chat Completions API in front of every provider. `model` is provider/model (e.g. anthropic/claude-sonnet-4-5), a bare model id or a configured alias. " +
          'A parameter the chosen provider cannot honour is refused (unsupported_parameter), never dropped.',
        security: KEY_SECURITY,
        parameters: [...CALL_PARAMETERS, ...params('CacheControl')],
        requestBody: jsonBody(jsonSchema(chatCompletionRequest)),
        responses: {
          '200': {
            description: 'The completion; with `stream: true`, a stream of chunks',
            headers: chatHeaders,
            content: {
              'application/json': { schema: ref('schemas', 'ChatCompletion') },
              ...sse(
                'Server-sent events: each `data:` holds a ChatCompletionChunk (components/schemas) as JSON; the stream ends with `data: [DONE]`. ' +
                  'An error after the stream began arrives as one `data:` holding an Error, and the stream ends without [DONE].',
              ),
            },
          },
          ...errorResponses(CALL_CODES),
        },
      },
    },
    '/v1/embeddings': {
      post: {
        operationId: 'createEmbedding',
        tags: ['Embeddings'],
        summary: 'Creates embeddings, from any provider that has them',
        security: KEY_SECURITY,
        parameters: CALL_PARAMETERS,
        requestBody: jsonBody(jsonSchema(embeddingsRequest)),
        responses: {
          '200': { description: 'The embeddings, in input order', headers: callHeaders, content: { 'application/json': { schema: ref('schemas', 'EmbeddingsList') } } },
          ...errorResponses(CALL_CODES),
        },
      },
    },
    '/v1/models': {
      get: {
        operationId: 'listModels',
        tags: ['Models'],
        summary: 'Lists the models this API key may call, and the aliases',
        security: KEY_SECURITY,
        parameters: params('RequestId'),
        responses: {
          '200': { description: 'The models', headers: baseHeaders('openai'), content: { 'application/json': { schema: ref('schemas', 'ModelList') } } },
          ...errorResponses(MODELS_CODES),
        },
      },
    },
    '/v1/models/{model}': {
      get: {
        operationId: 'retrieveModel',
        tags: ['Models'],
        summary: 'Describes one model this API key may call',
        security: KEY_SECURITY,
        parameters: [
          {
            name: 'model',
            in: 'path',
            required: true,
            description: "provider/model, or the id without its provider; it may contain '/' (send it as it is or URL-encoded)",
            schema: { type: 'string', minLength: 1 },
          },
          ...params('RequestId'),
        ],
        responses: {
          '200': { description: 'The model', headers: baseHeaders('openai'), content: { 'application/json': { schema: ref('schemas', 'Model') } } },
          ...errorResponses([...MODELS_CODES, 'invalid_request', 'model_not_found']),
        },
      },
    },
    '/v1/messages': {
      post: {
        operationId: 'createMessage',
        tags: ['Messages'],
        summary: "Creates a message with Anthropic's Messages API, from any provider",
        description:
          "For Anthropic's SDKs: the request and the answer are Anthropic's, translated to and from the provider that serves `model`. " +
          "Errors, including bad JSON and bad keys, are in Anthropic's shape with its statuses, so the SDK raises its own error types.",
        security: KEY_SECURITY,
        parameters: [...CALL_PARAMETERS, ...params('CacheControl', 'AnthropicVersion')],
        requestBody: jsonBody(messagesBody()),
        responses: {
          '200': {
            description: 'The message; with `stream: true`, a stream of events',
            headers: { ...chatHeaders, ...baseHeaders('anthropic') },
            content: {
              'application/json': { schema: ref('schemas', 'AnthropicMessage') },
              ...sse(
                'Server-sent events, each an `event:` line naming its type and a `data:` holding an AnthropicStreamEvent (components/schemas): ' +
                  'message_start, ping, then content_block_start, content_block_delta… and content_block_stop per block, then message_delta and message_stop; ' +
                  'or an error event after the stream began.',
              ),
            },
          },
          ...errorResponses(CALL_CODES, 'anthropic'),
        },
      },
    },
  }
}
