import { z } from 'zod'

/**
 * Anthropic's Messages request (`MessageCreateParams` of the official SDK), validated as strictly as the
 * API does: unknown fields are rejected by name. Block types and parameters that Anthropic accepts but the
 * gateway cannot route to other providers are part of the schema on purpose, so that request.ts can refuse
 * them as `unsupported_parameter` rather than calling them unknown.
 */

const cacheControl = z.strictObject({ type: z.literal('ephemeral'), ttl: z.enum(['5m', '1h']).optional() }).nullable().optional()
const citations = z.array(z.looseObject({ type: z.string() })).nullable().optional()

export const textBlock = z.strictObject({ type: z.literal('text'), text: z.string(), cache_control: cacheControl, citations })

export const imageBlock = z.strictObject({
  type: z.literal('image'),
  source: z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('base64'), media_type: z.enum(['image/jpeg', 'image/png', 'image/gif', 'image/webp']), data: z.string().min(1) }),
    z.strictObject({ type: z.literal('url'), url: z.string().min(1) }),
    z.strictObject({ type: z.literal('file'), file_id: z.string().min(1) }),
  ]),
  cache_control: cacheControl,
  transformations: z.strictObject({ oversized_image: z.enum(['downsize', 'error']).optional() }).nullable().optional(),
})

const toolUseBlock = z.strictObject({
  type: z.literal('tool_use'),
  id: z.string().min(1),
  name: z.string().min(1),
  input: z.record(z.string(), z.unknown()),
  cache_control: cacheControl,
  caller: z.looseObject({ type: z.string() }).optional(),
  toolset_name: z.string().nullable().optional(),
})

/** A block type Anthropic knows and the gateway cannot translate: accepted here, refused by name later. */
const untranslatable = <T extends string>(type: T) => z.looseObject({ type: z.literal(type) })

const toolResultBlock = z.strictObject({
  type: z.literal('tool_result'),
  tool_use_id: z.string().min(1),
  content: z
    .union([
      z.string(),
      z.array(
        z.discriminatedUnion('type', [
          textBlock,
          imageBlock,
          untranslatable('document'),
          untranslatable('search_result'),
          untranslatable('tool_reference'),
          untranslatable('browser_state'),
        ]),
      ),
    ])
    .optional(),
  is_error: z.boolean().optional(),
  cache_control: cacheControl,
  toolset_name: z.string().nullable().optional(),
})

export const contentBlock = z.discriminatedUnion('type', [
  textBlock,
  imageBlock,
  toolUseBlock,
  toolResultBlock,
  z.strictObject({ type: z.literal('thinking'), thinking: z.string(), signature: z.string() }),
  z.strictObject({ type: z.literal('redacted_thinking'), data: z.string() }),
  untranslatable('document'),
  untranslatable('search_result'),
  untranslatable('server_tool_use'),
  untranslatable('web_search_tool_result'),
  untranslatable('web_fetch_tool_result'),
  untranslatable('code_execution_tool_result'),
  untranslatable('bash_code_execution_tool_result'),
  untranslatable('text_editor_code_execution_tool_result'),
  untranslatable('tool_search_tool_result'),
  untranslatable('container_upload'),
])
export type ContentBlock = z.infer<typeof contentBlock>
export type ToolResultBlock = z.infer<typeof toolResultBlock>

const turnContent = z.union([z.string(), z.array(contentBlock)])
const message = z.discriminatedUnion('role', [
  z.strictObject({ role: z.literal('user'), content: turnContent }),
  z.strictObject({ role: z.literal('assistant'), content: turnContent }),
  // The SDK's MessageParam includes system messages inside `messages` (Claude Code sends them).
  z.strictObject({ role: z.literal('system'), content: z.union([z.string(), z.array(textBlock)]) }),
])
export type MessageParam = z.infer<typeof message>

/** Client tools only; server tools (a `type` other than `custom`) are refused before this schema runs. */
export const customTool = z.strictObject({
  type: z.enum(['custom']).nullable().optional(),
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, underscores or dashes'),
  description: z.string().optional(),
  input_schema: z.looseObject({ type: z.literal('object') }),
  cache_control: cacheControl,
  strict: z.boolean().optional(),
  defer_loading: z.boolean().optional(),
  eager_input_streaming: z.boolean().nullable().optional(),
  input_examples: z.array(z.record(z.string(), z.unknown())).optional(),
  allowed_callers: z.array(z.string()).optional(),
})

const disableParallel = { disable_parallel_tool_use: z.boolean().optional() }
const toolChoice = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('auto'), ...disableParallel }),
  z.strictObject({ type: z.literal('any'), ...disableParallel }),
  z.strictObject({ type: z.literal('tool'), name: z.string().min(1), ...disableParallel }),
  z.strictObject({ type: z.literal('none') }),
])

const thinkingDisplay = z.enum(['summarized', 'omitted']).nullable().optional()
const thinking = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('enabled'), budget_tokens: z.number().int(), display: thinkingDisplay }),
  z.strictObject({ type: z.literal('disabled') }),
  z.strictObject({ type: z.literal('adaptive'), display: thinkingDisplay }),
  z.strictObject({ type: z.literal('between_tools') }),
])

const baseFields = {
  model: z.string().min(1),
  // 0 is valid on Anthropic (it pre-warms the prompt cache); request.ts refuses it.
  max_tokens: z.number().int().min(0),
  messages: z.array(message).min(1),
  cache_control: cacheControl,
  container: z.union([z.string(), z.record(z.string(), z.unknown())]).nullable().optional(),
  diagnostics: z.strictObject({ previous_message_id: z.string().nullable().optional() }).nullable().optional(),
  inference_geo: z.string().nullable().optional(),
  metadata: z.strictObject({ user_id: z.string().nullable().optional() }).optional(),
  output_config: z
    .strictObject({
      effort: z.enum(['low', 'medium', 'high', 'xhigh', 'max']).nullable().optional(),
      format: z.strictObject({ type: z.literal('json_schema'), schema: z.record(z.string(), z.unknown()) }).nullable().optional(),
    })
    .optional(),
  service_tier: z.enum(['auto', 'standard_only']).optional(),
  speed: z.enum(['standard', 'fast']).nullable().optional(),
  stop_sequences: z.array(z.string()).optional(),
  stream: z.boolean().optional(),
  system: z.union([z.string(), z.array(textBlock)]).optional(),
  thinking: thinking.optional(),
  tool_choice: toolChoice.optional(),
  // Each tool is checked in request.ts: a server tool must be refused by name, not as a schema mismatch.
  tools: z.array(z.unknown()).optional(),
}

/** API version 2026-10-21 removed the sampling parameters: sending one is an unknown-field 400. */
export const currentRequestSchema = z.strictObject(baseFields)

/** API version 2023-06-01 still has them (Anthropic's temperature range is 0-1). */
export const legacyRequestSchema = z.strictObject({
  ...baseFields,
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
})

export type MessagesRequest = z.infer<typeof legacyRequestSchema>
