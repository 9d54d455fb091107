import { z } from 'zod'

/**
 * What `POST /v1/messages` answers, as Anthropic's API reference defines it (`Message`, the stream's
 * events, `ErrorResponse`): the schemas the gateway's OpenAPI document publishes. wire.ts holds the types
 * the encoder writes; the OpenAPI tests check that they fit these schemas and that real answers validate.
 * Objects are open: Anthropic adds fields, and clients must ignore the ones they do not know.
 */

const int = z.number().int()
const nullableObject = z.record(z.string(), z.unknown()).nullable()

export const stopReason = z.enum(['end_turn', 'max_tokens', 'stop_sequence', 'tool_use', 'pause_turn', 'refusal', 'model_context_window_exceeded'])

const textBlock = z.object({ type: z.literal('text'), text: z.string(), citations: z.array(z.record(z.string(), z.unknown())).nullable() })
const toolUseBlock = z.object({
  type: z.literal('tool_use'),
  id: z.string(),
  name: z.string(),
  input: z.record(z.string(), z.unknown()),
  caller: z.object({ type: z.string() }).optional(),
})
/** The blocks the gateway produces: text and client tool calls (never thinking or server-tool blocks). */
const contentBlock = z.discriminatedUnion('type', [textBlock, toolUseBlock])

const stopDetails = z.object({ type: z.literal('refusal'), category: z.string().nullable(), explanation: z.string().nullable() }).nullable()
const outputTokensDetails = z.object({ thinking_tokens: int }).nullable().optional()

const usage = z.object({
  input_tokens: int.describe('Uncached input tokens: cache reads and writes are counted apart'),
  output_tokens: int,
  cache_creation_input_tokens: int.nullable(),
  cache_read_input_tokens: int.nullable(),
  cache_creation: nullableObject,
  server_tool_use: nullableObject,
  service_tier: z.string().nullable(),
  inference_geo: z.string().nullable().optional(),
  speed: z.string().nullable().optional(),
  output_tokens_details: outputTokensDetails,
})

export const message = z
  .object({
    id: z.string(),
    type: z.literal('message'),
    role: z.literal('assistant'),
    model: z.string().describe('The model the request named'),
    content: z.array(contentBlock),
    stop_reason: stopReason.nullable(),
    stop_sequence: z.string().nullable(),
    stop_details: stopDetails.optional(),
    container: nullableObject.optional(),
    diagnostics: nullableObject.optional(),
    usage,
  })
  .describe("Anthropic's Message object")

export const errorType = z.enum([
  'invalid_request_error',
  'authentication_error',
  'billing_error',
  'permission_error',
  'not_found_error',
  'request_too_large',
  'rate_limit_error',
  'api_error',
  'timeout_error',
  'overloaded_error',
])

export const errorBody = z
  .object({
    type: z.literal('error'),
    error: z.object({ type: errorType, message: z.string() }),
    request_id: z.string().nullable().describe('The same id as the request-id and x-request-id headers'),
  })
  .describe("Anthropic's error shape")

const deltaUsage = z.object({
  input_tokens: int.nullable(),
  output_tokens: int,
  cache_creation_input_tokens: int.nullable(),
  cache_read_input_tokens: int.nullable(),
  output_tokens_details: outputTokensDetails,
  server_tool_use: nullableObject,
})

/** One server-sent event's `data`; its `event:` line repeats `type`. */
export const streamEvent = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('message_start'), message }),
    z.object({ type: z.literal('ping') }),
    z.object({ type: z.literal('content_block_start'), index: int, content_block: contentBlock }),
    z.object({
      type: z.literal('content_block_delta'),
      index: int,
      delta: z.discriminatedUnion('type', [
        z.object({ type: z.literal('text_delta'), text: z.string() }),
        z.object({ type: z.literal('input_json_delta'), partial_json: z.string() }),
      ]),
    }),
    z.object({ type: z.literal('content_block_stop'), index: int }),
    z.object({
      type: z.literal('message_delta'),
      delta: z.object({ stop_reason: stopReason.nullable(), stop_sequence: z.string().nullable(), stop_details: stopDetails.optional(), container: nullableObject.optional() }),
      usage: deltaUsage.describe('Cumulative totals for the whole message'),
    }),
    z.object({ type: z.literal('message_stop') }),
    errorBody,
  ])
  .describe('One event of a streamed Message')
