import { z } from 'zod'

/**
 * The gateway's own API: OpenAI's Chat Completions, as the official reference and SDK define it. Every
 * provider adapter translates from this request and to these responses, so it is the one canonical shape.
 * Unknown request fields are rejected by name, as OpenAI does, rather than dropped.
 */

const textPart = z.object({ type: z.literal('text'), text: z.string() }).strict()
const imagePart = z
  .object({
    type: z.literal('image_url'),
    image_url: z.object({ url: z.string().min(1), detail: z.enum(['auto', 'low', 'high']).optional() }).strict(),
  })
  .strict()
const audioPart = z
  .object({ type: z.literal('input_audio'), input_audio: z.object({ data: z.string(), format: z.enum(['wav', 'mp3']) }).strict() })
  .strict()
const filePart = z
  .object({
    type: z.literal('file'),
    file: z.object({ file_data: z.string().optional(), file_id: z.string().optional(), filename: z.string().optional() }).strict(),
  })
  .strict()
const refusalPart = z.object({ type: z.literal('refusal'), refusal: z.string() }).strict()

export const userContentPart = z.discriminatedUnion('type', [textPart, imagePart, audioPart, filePart])
export type UserContentPart = z.infer<typeof userContentPart>

export const toolCall = z
  .object({
    id: z.string().min(1),
    type: z.literal('function'),
    function: z.object({ name: z.string().min(1), arguments: z.string() }).strict(),
  })
  .strict()
export type ToolCall = z.infer<typeof toolCall>

const systemMessage = z
  .object({ role: z.enum(['system', 'developer']), content: z.union([z.string(), z.array(textPart).min(1)]), name: z.string().optional() })
  .strict()
const userMessage = z
  .object({ role: z.literal('user'), content: z.union([z.string(), z.array(userContentPart).min(1)]), name: z.string().optional() })
  .strict()
const assistantMessage = z
  .object({
    role: z.literal('assistant'),
    content: z.union([z.string(), z.array(z.discriminatedUnion('type', [textPart, refusalPart])), z.null()]).optional(),
    tool_calls: z.array(toolCall).optional(),
    refusal: z.string().nullable().optional(),
    name: z.string().optional(),
  })
  .strict()
const toolMessage = z
  .object({ role: z.literal('tool'), content: z.union([z.string(), z.array(textPart).min(1)]), tool_call_id: z.string().min(1) })
  .strict()

export const chatMessage = z.discriminatedUnion('role', [systemMessage, userMessage, assistantMessage, toolMessage])
export type ChatMessage = z.infer<typeof chatMessage>
export type SystemMessage = z.infer<typeof systemMessage>
export type UserMessage = z.infer<typeof userMessage>
export type AssistantMessage = z.infer<typeof assistantMessage>
export type ToolMessage = z.infer<typeof toolMessage>

export const tool = z
  .object({
    type: z.literal('function'),
    function: z
      .object({
        name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, underscores or dashes'),
        description: z.string().optional(),
        parameters: z.record(z.string(), z.unknown()).optional(),
        strict: z.boolean().nullable().optional(),
      })
      .strict(),
  })
  .strict()
export type Tool = z.infer<typeof tool>

export const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.object({ type: z.literal('function'), function: z.object({ name: z.string().min(1) }).strict() }).strict(),
])
export type ToolChoice = z.infer<typeof toolChoice>

export const responseFormat = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }).strict(),
  z.object({ type: z.literal('json_object') }).strict(),
  z
    .object({
      type: z.literal('json_schema'),
      json_schema: z
        .object({
          name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, underscores or dashes'),
          description: z.string().optional(),
          schema: z.record(z.string(), z.unknown()).optional(),
          strict: z.boolean().nullable().optional(),
        })
        .strict(),
    })
    .strict(),
])
export type ResponseFormat = z.infer<typeof responseFormat>

const int = (min: number, max?: number) => {
  const base = z.number().int().min(min)
  return max === undefined ? base : base.max(max)
}

export const chatCompletionRequest = z
  .object({
    model: z.string().min(1),
    messages: z.array(chatMessage).min(1),
    frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
    presence_penalty: z.number().min(-2).max(2).nullable().optional(),
    logit_bias: z.record(z.string(), z.number().min(-100).max(100)).nullable().optional(),
    logprobs: z.boolean().nullable().optional(),
    top_logprobs: int(0, 20).nullable().optional(),
    max_tokens: int(1).nullable().optional(),
    max_completion_tokens: int(1).nullable().optional(),
    n: int(1, 128).nullable().optional(),
    response_format: responseFormat.optional(),
    seed: z.number().int().nullable().optional(),
    stop: z.union([z.string(), z.array(z.string()).max(4)]).nullable().optional(),
    stream: z.boolean().nullable().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional(), include_obfuscation: z.boolean().optional() }).strict().nullable().optional(),
    temperature: z.number().min(0).max(2).nullable().optional(),
    top_p: z.number().min(0).max(1).nullable().optional(),
    tools: z.array(tool).optional(),
    tool_choice: toolChoice.optional(),
    parallel_tool_calls: z.boolean().optional(),
    user: z.string().optional(),
    reasoning_effort: z.enum(['none', 'minimal', 'low', 'medium', 'high']).nullable().optional(),
    // OpenAI-only features: accepted so that they reach OpenAI; every other provider refuses them by name.
    metadata: z.record(z.string(), z.string()).nullable().optional(),
    store: z.boolean().nullable().optional(),
    service_tier: z.enum(['auto', 'default', 'flex', 'scale', 'priority']).nullable().optional(),
    modalities: z.array(z.enum(['text', 'audio'])).nullable().optional(),
    prediction: z.record(z.string(), z.unknown()).nullable().optional(),
    prompt_cache_key: z.string().optional(),
    safety_identifier: z.string().optional(),
    verbosity: z.enum(['low', 'medium', 'high']).nullable().optional(),
  })
  .strict()
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequest>

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call'

export interface CompletionUsage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
  prompt_tokens_details?: { cached_tokens?: number; audio_tokens?: number }
  completion_tokens_details?: { reasoning_tokens?: number; audio_tokens?: number; accepted_prediction_tokens?: number; rejected_prediction_tokens?: number }
}

export interface ChatCompletion {
  id: string
  object: 'chat.completion'
  created: number
  model: string
  choices: {
    index: number
    message: { role: 'assistant'; content: string | null; refusal: string | null; tool_calls?: ToolCall[] }
    finish_reason: FinishReason
    logprobs: null
  }[]
  usage?: CompletionUsage
  system_fingerprint?: string | null
  service_tier?: string | null
}

export interface ChunkToolCallDelta {
  index: number
  id?: string
  type?: 'function'
  function?: { name?: string; arguments?: string }
}

export interface ChatCompletionChunk {
  id: string
  object: 'chat.completion.chunk'
  created: number
  model: string
  choices: {
    index: number
    delta: { role?: 'assistant'; content?: string | null; refusal?: string | null; tool_calls?: ChunkToolCallDelta[] }
    finish_reason: FinishReason | null
    logprobs?: null
  }[]
  usage?: CompletionUsage | null
  system_fingerprint?: string | null
}

/** Text of a content field that may be a string or a list of text parts. */
export function textOf(content: string | readonly { type: string; text?: string }[] | null | undefined): string {
  if (content === null || content === undefined) return ''
  if (typeof content === 'string') return content
  return content.map((p) => (p.type === 'text' ? (p.text ?? '') : '')).join('')
}
