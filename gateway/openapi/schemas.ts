import { z } from 'zod'
import { ERROR_CODES } from '../errors.ts'
import type { ErrorCode } from '../errors.ts'

/**
 * The answers of the public API, as OpenAI's API reference defines them (chat.completion,
 * chat.completion.chunk, the embeddings list, model and model list), plus the gateway's own error and
 * probe bodies. Only the OpenAPI document uses them: the routes send the typed objects of gateway/api/,
 * and the OpenAPI tests check that those types fit these schemas and that real answers validate.
 */

export type JsonSchema = Record<string, unknown>

/**
 * JSON Schema 2020-12 (OpenAPI 3.1's dialect). A request body is what the route accepts (`input`: a
 * strict object stays closed). An answer is read as a client should read it (also `input`, so plain
 * objects stay open): OpenAI adds fields, and an OpenAI upstream's answer is passed on as it is.
 */
export function jsonSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' }) as JsonSchema
  return rest
}

const int = z.number().int()

const finishReason = z.enum(['stop', 'length', 'tool_calls', 'content_filter', 'function_call'])

const completionUsage = z.object({
  prompt_tokens: int,
  completion_tokens: int,
  total_tokens: int,
  prompt_tokens_details: z.object({ cached_tokens: int.optional(), audio_tokens: int.optional() }).optional(),
  completion_tokens_details: z
    .object({ reasoning_tokens: int.optional(), audio_tokens: int.optional(), accepted_prediction_tokens: int.optional(), rejected_prediction_tokens: int.optional() })
    .optional(),
})

const toolCall = z.object({ id: z.string(), type: z.literal('function'), function: z.object({ name: z.string(), arguments: z.string().describe('JSON text, as the model wrote it') }) })
const logprobs = z.record(z.string(), z.unknown()).nullable()

export const chatCompletion = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion'),
    created: int.describe('Unix time, in seconds'),
    model: z.string(),
    choices: z.array(
      z.object({
        index: int,
        message: z.object({
          role: z.literal('assistant'),
          content: z.string().nullable(),
          refusal: z.string().nullable(),
          tool_calls: z.array(toolCall).optional(),
        }),
        finish_reason: finishReason,
        logprobs,
      }),
    ),
    usage: completionUsage.optional(),
    system_fingerprint: z.string().nullable().optional(),
    service_tier: z.string().nullable().optional(),
  })
  .describe("OpenAI's chat.completion object")

export const chatCompletionChunk = z
  .object({
    id: z.string().describe('The same in every chunk of a completion'),
    object: z.literal('chat.completion.chunk'),
    created: int,
    model: z.string(),
    choices: z.array(
      z.object({
        index: int,
        delta: z.object({
          role: z.enum(['developer', 'system', 'user', 'assistant', 'tool']).optional(),
          content: z.string().nullable().optional(),
          refusal: z.string().nullable().optional(),
          tool_calls: z
            .array(z.object({ index: int, id: z.string().optional(), type: z.literal('function').optional(), function: z.object({ name: z.string().optional(), arguments: z.string().optional() }).optional() }))
            .optional(),
        }),
        finish_reason: finishReason.nullable(),
        logprobs: logprobs.optional(),
      }),
    ),
    usage: completionUsage
      .nullable()
      .optional()
      .describe('With stream_options.include_usage: null in every chunk but a last one whose choices are empty'),
    system_fingerprint: z.string().nullable().optional(),
  })
  .describe("OpenAI's chat.completion.chunk object: one per server-sent event")

export const embeddingsList = z
  .object({
    object: z.literal('list'),
    data: z.array(
      z.object({
        object: z.literal('embedding'),
        index: int,
        embedding: z.union([z.array(z.number()), z.string().describe('With encoding_format base64: the float32 values, little-endian, in base64')]),
      }),
    ),
    model: z.string(),
    usage: z.object({ prompt_tokens: int, total_tokens: int }),
  })
  .describe("OpenAI's embeddings list")

export const model = z
  .object({
    id: z.string().describe('provider/model, e.g. openai/gpt-4o'),
    object: z.literal('model'),
    created: int,
    owned_by: z.string().describe('The provider'),
  })
  .describe("OpenAI's model object")

export const modelList = z.object({ object: z.literal('list'), data: z.array(model) }).describe('The models this API key may call')

const errorTypes = [...new Set(Object.values(ERROR_CODES).map((spec) => spec.type))] as [string, ...string[]]

/** The gateway's own body, closed: OpenAI's shape with a code from docs/errors.md. */
export const errorBody = z.strictObject({
  error: z.strictObject({
    message: z.string().describe('For people: may change'),
    type: z.enum(errorTypes),
    param: z.string().nullable().describe('The offending field, header or parameter, when there is one'),
    code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]).describe('Stable: what programs should branch on'),
  }),
})

export const health = z.strictObject({ status: z.literal('ok') })

export const readiness = z.strictObject({
  status: z.enum(['ready', 'degraded', 'not_ready', 'draining']),
  dependencies: z.record(
    z.string(),
    z.strictObject({
      adapter: z.string().describe('The adapter in use, e.g. postgres or pglite'),
      status: z.enum(['up', 'down']),
      latencyMs: int,
      error: z.string().optional().describe('Why it is down (credentials in URLs are redacted)'),
      degraded: z.string().optional().describe('Down, and served without: how the process carries on'),
    }),
  ),
})
